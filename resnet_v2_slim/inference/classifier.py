"""Classifies image files with a slim ResNet V2 checkpoints.

Builds one inference graph (decode -> preprocess -> network -> softmax),
restores the checkpoint once (after checking it fits) and classifies files
one by one. Model, classes, preprocessing and size default to what the
published slim ResNet V2 checkpoints need: read from the checkpoint, and
Inception preprocessing at 299x299.

Typical use::

    from resnet_v2_slim.inference.classifier import Classifier

    with Classifier('resnet_v2_50.ckpt') as clf:
      for hit in clf.classify('cat.jpg', top_k=5):
        print(hit['probability'], hit['label'])
"""

import os
from typing import Dict, List, Optional, Union

import numpy as np

import tensorflow.compat.v1 as tf

from resnet_v2_slim import errors
from resnet_v2_slim import checkpoints
from resnet_v2_slim.data import labels as labels_lib
from resnet_v2_slim.inference import inputs
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.nets import precision as precision_lib
from resnet_v2_slim.data import images as images_lib
from resnet_v2_slim.data import preprocessing


class ImageError(errors.Error):
  """An image file that cannot be read or decoded."""


class Classifier:
  """A restored network that classifies image files.

  Args:
    checkpoint_path: anything ``checkpoints.resolve`` accepts.
    model: network name, or 'auto' (from the checkpoint).
    num_classes: class count, or 'auto' (from the checkpoint). A number that
      disagrees with the checkpoint fails with the restore report.
    preprocessing_method: 'inception' or 'vgg'; 'auto' takes the published
      checkpoint's (``nets.pretrained``), else 'inception'.
    image_size: network input size; 'auto' takes the published checkpoint's
      (299), else the network's default (224).
    labels_file: optional names file, one per line.
    raw_weights: restore the raw weights where the checkpoint also holds
      moving averages (used by default).
    precision: 'fp32' or 'bf16' (bfloat16 compute, the weights cast once
      at restore).

  Raises:
    CheckpointError: unusable or mismatching checkpoints.
    LabelsError: labels that do not fit the classes.
    ValueError: unknown model or preprocessing.
  """

  def __init__(self, checkpoint_path: Union[str, os.PathLike,
                                             checkpoints.CheckpointInfo],
               *, model: str = 'auto', num_classes: Union[int, str] = 'auto',
               preprocessing_method: str = 'auto',
               image_size: Union[int, str] = 'auto',
               labels_file: Optional[str] = None, raw_weights: bool = False,
               precision: str = 'fp32') -> None:
    self.model, self.num_classes, self.info = checkpoints.choose_model(
        checkpoint_path, model, num_classes)
    # Moving averages of the weights (train --moving_average_decay) where
    # the checkpoint has them, as research/slim's eval restores them.
    self.moving_averages = (checkpoints.has_moving_averages(self.info) and
                            not raw_weights)
    self.precision = inputs.check_precision(precision)
    self.labels = labels_lib.labels_for(self.num_classes, labels_file)
    preprocessing_method, image_size = self.info.input_defaults(
        self.model, preprocessing_method, image_size)
    self.preprocessing = preprocessing.check_method(preprocessing_method)
    self.image_size = nets_factory.check_image_size(image_size,
                                                    model=self.model)
    self._graph = tf.Graph()
    with self._graph.as_default():
      self._contents = tf.placeholder(tf.string, [], name='contents')
      image = preprocessing.preprocess(
          preprocessing.decode_image(self._contents), self.preprocessing,
          self.image_size)
      network_fn = nets_factory.get_network_fn(self.model, self.num_classes)
      logits, _ = precision_lib.build(
          network_fn, image[tf.newaxis], self.precision, cast_once=True,
          spatial_squeeze=True, use_shortcut=self.info.use_shortcut)
      self._probabilities = tf.nn.softmax(logits)[0]
      self.report, restore_fn = checkpoints.restorer(
          self.info, scope=self.model, moving_averages=self.moving_averages)
    self._graph.finalize()
    self._sess = tf.Session(graph=self._graph)
    try:
      restore_fn(self._sess)
    except checkpoints.CheckpointError:
      self._sess.close()
      raise

  def close(self) -> None:
    self._sess.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()

  def probabilities(self, path: str) -> np.ndarray:
    """Class probabilities for one image file.

    Raises:
      ImageError: if the file cannot be read or is not a decodable image.
    """
    try:
      with open(path, 'rb') as f:
        contents = f.read()
    except OSError as exc:
      raise ImageError('cannot read %s: %s' % (path, exc.strerror)) from None
    try:
      return self._sess.run(self._probabilities, {self._contents: contents})
    except tf.errors.InvalidArgumentError as exc:
      raise ImageError('%s is not a decodable image (%s): %s'
                       % (path, images_lib.FORMAT_NAMES,
                          errors.quoted(exc, 160))) from None

  def classify(self, path: str, top_k: int = 5
               ) -> List[Dict[str, Union[int, str, float]]]:
    """The ``top_k`` classes of one image file, most probable first.

    Returns:
      A list of ``{'index', 'label', 'probability'}`` dicts; ``index`` is
      the network's output index (with 1001 classes, 0 is background).
    """
    probs = self.probabilities(path)
    order = np.argsort(-probs, kind='stable')[:top_k]
    return [{'index': int(i), 'label': self.labels[i],
             'probability': float(probs[i])} for i in order]
