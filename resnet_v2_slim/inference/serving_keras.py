"""The Keras 3 serving model: decoded uint8 pixels in, class scores out.

The checkpoint's evaluation preprocessing runs inside, in a layer that
calls the very function the other serving artifacts are built from
(``preprocessing.preprocess_batch``), in front of the exact Keras twin of
the network (``keras_twin``); softmax and the top k follow. The facts
(``serving.Facts``) travel in that layer's config, Keras' own place for
what a layer needs.

The two layers are registered with Keras under ``resnet_v2_slim``, so
loading the file needs this module imported (Keras refuses unknown
layers; nothing in the file is executable Python, so ``safe_mode`` stays
on):

Typical use::

    import keras
    from resnet_v2_slim.inference import serving_keras

    model = keras.saving.load_model('served.keras',
                                    custom_objects=serving_keras.LAYERS)
    out = model.predict_on_batch(pixels)   # {'probabilities', 'classes', ...}
    serving_keras.facts(model).labels[out['classes'][0, 0]]
"""

from typing import Any, Dict, List, Tuple

import keras

from resnet_v2_slim.data import preprocessing
from resnet_v2_slim.inference import keras_twin
from resnet_v2_slim.inference import serving

PACKAGE = 'resnet_v2_slim'   # Keras' registration namespace


@keras.saving.register_keras_serializable(package=PACKAGE)
class SlimEvalPreprocessing(keras.layers.Layer):
  """uint8 ``[N, H, W, 3]`` -> the checkpoint's evaluation preprocessing.

  Args:
    facts_json: ``serving.Facts.to_json()``: the method and size run here,
      and the artifact's facts, kept in this layer's config.
  """

  def __init__(self, facts_json: str, **kwargs: Any) -> None:
    super().__init__(**kwargs)
    self.facts_json = facts_json
    facts = serving.Facts.from_json(facts_json, 'the Keras serving layer')
    self.method, self.size = facts.preprocessing, facts.image_size

  def call(self, pixels: Any) -> Any:  # pylint: disable=arguments-differ
    return preprocessing.preprocess_batch(pixels, self.method, self.size)

  def compute_output_shape(self, input_shape: Tuple) -> Tuple:
    return (input_shape[0], self.size, self.size, 3)

  def get_config(self) -> Dict[str, Any]:
    return dict(super().get_config(), facts_json=self.facts_json)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SlimTopK(keras.layers.Layer):
  """``[logits, probabilities]`` -> ``[scores, classes]``: the top ``k``
  by logits (probabilities that underflow still rank), scored by their
  probabilities, as the serving graph does."""

  def __init__(self, k: int, **kwargs: Any) -> None:
    super().__init__(**kwargs)
    self.k = k

  def call(self, inputs: List[Any]) -> List[Any]:  # pylint: disable=arguments-differ
    logits, probabilities = inputs
    _, classes = keras.ops.top_k(logits, self.k)
    scores = keras.ops.take_along_axis(probabilities, classes, axis=1)
    return [scores, keras.ops.cast(classes, 'int32')]

  def compute_output_shape(self, input_shape: List[Tuple]) -> List[Tuple]:
    return [(input_shape[0][0], self.k)] * 2

  def get_config(self) -> Dict[str, Any]:
    return dict(super().get_config(), k=self.k)


# For ``keras.saving.load_model(..., custom_objects=LAYERS)``.
LAYERS = {'SlimEvalPreprocessing': SlimEvalPreprocessing, 'SlimTopK': SlimTopK}


def build(facts: serving.Facts, checkpoint: Any, *,
          moving_averages: bool = False) -> 'keras.Model':
  """The Keras serving model of a checkpoint, weights loaded.

  Args:
    facts: what to build (``serving.facts_for`` with ``input='pixels'``).
    checkpoint: anything ``checkpoints.resolve`` accepts.
    moving_averages: take the weights' moving averages where present.

  Returns:
    A ``keras.Model``: ``pixels`` -> a dict of ``facts.outputs``.
  """
  twin = keras_twin.from_checkpoint(
      checkpoint, model=facts.network, num_classes=facts.num_classes,
      image_size=facts.image_size, moving_averages=moving_averages)
  inner = keras.Model(twin.inputs, [twin.get_layer('logits').output,
                                    twin.get_layer('avg_pool').output],
                      name=facts.network)
  pixels = keras.Input((None, None, 3), dtype='uint8', name=serving.PIXELS)
  images = SlimEvalPreprocessing(facts.to_json(), name='preprocessing')(
      pixels)
  logits, features = inner(images)
  probabilities = keras.layers.Activation('softmax', name='probabilities')(
      logits)
  scores, classes = SlimTopK(facts.top_k, name='top_k')(
      [logits, probabilities])
  outputs = {'probabilities': probabilities, 'classes': classes,
             'scores': scores, 'logits': logits}
  if facts.features:
    outputs[serving.FEATURES] = features
  return keras.Model(pixels, outputs, name=facts.network + '_serving')


def facts(model: 'keras.Model') -> serving.Facts:
  """The facts a loaded Keras serving model carries.

  Raises:
    ServingError: a model without this package's preprocessing layer.
  """
  for layer in model.layers:
    if isinstance(layer, SlimEvalPreprocessing):
      return serving.Facts.from_json(layer.facts_json, model.name)
  raise serving.ServingError(
      'Keras model %s has no resnet_v2_slim preprocessing layer: a '
      'preprocessed-form export, or not one of this package.' % model.name)
