"""A Keras 3 twin of any slim ResNet V2, and the weight mapping both ways.

The twin is a functional ``keras.Model`` with ``keras.applications``'
ResNetV2 layer names where they correspond (``conv1_conv``,
``conv2_block1_preact_bn``, ``conv2_block1_0_conv``, ``..._1_conv`` +
``_1_bn``, ``..._2_conv`` + ``_2_bn``, ``..._3_conv``, ``post_bn``) and two
outputs, ``logits`` then ``predictions``: the frozen graph's interface. It
computes what the slim graph computes, which the stock
``keras.applications.ResNet50V2`` does not quite: slim max-pools ``pool1``
with ``'SAME'`` padding (pad 0 before, 1 after) where Keras pads 1 on both
sides, shifting the pooling grid by one pixel; and slim's batch norm
epsilon is 1e-5 (Keras: 1.001e-5). The twin uses slim's; the stock model
is available as ``layout='applications'`` (1000 outputs: slim's background
row 0 is dropped), with the difference measured by the caller.

Only the mapping is written by hand: ``slim_to_keras`` (names and layouts)
and its inverse ``keras_to_slim``. Building uses Keras' own layers and
``keras.applications``.

Typical use::

    from resnet_v2_slim.inference import keras_twin

    model = keras_twin.from_checkpoint('resnet_v2_50.ckpt')
    logits, predictions = model(images)          # images preprocessed
    model.save('resnet_v2_50.keras')
"""

import os
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, Union

import numpy as np

from resnet_v2_slim import checkpoints
from resnet_v2_slim import errors
from resnet_v2_slim.nets import resnet_v2

if TYPE_CHECKING:   # Keras is imported when first used (``_keras``)
  import keras

BN_EPSILON = 1e-5          # slim's resnet_arg_scope default
APPLICATIONS = {'resnet_v2_50': 'ResNet50V2', 'resnet_v2_101': 'ResNet101V2',
                'resnet_v2_152': 'ResNet152V2'}
LAYOUTS = ('twin', 'applications')


class KerasError(errors.Error):
  """A Keras model that cannot be made, or read back as a slim ResNet V2."""


def _keras():
  import keras  # pylint: disable=g-import-not-at-top
  return keras


def _bn(keras, name, epsilon):
  return keras.layers.BatchNormalization(axis=-1, epsilon=epsilon,
                                         momentum=0.997, name=name)


def build(model: str, num_classes: int, image_size: Optional[int] = None, *,
          use_shortcut: bool = True, layout: str = 'twin') -> 'keras.Model':
  """Builds the Keras model of a registered network (weights not loaded).

  Args:
    model: a registered network name (``resnet_v2_18`` ... ``_200``).
    num_classes: outputs of the logits layer.
    image_size: input height and width, or None for any size.
    use_shortcut: False builds the plain twin.
    layout: 'twin' (exact: SAME pool1, epsilon 1e-5) or 'applications'
      (``keras.applications.ResNet{50,101,152}V2``, 1000 classes).

  Returns:
    A ``keras.Model``: images ``[N, H, W, 3]`` -> ``[logits,
    predictions]``.

  Raises:
    KerasError: for a layout that does not exist for this network.
  """
  keras = _keras()
  if layout == 'applications':
    # An ImageNet head (1001 classes become the stock 1000), or a stock
    # model's own (import-keras reads a 10-class ResNet50V2 too).
    return _applications_model(keras, model, image_size, use_shortcut,
                               1000 if num_classes == 1001 else num_classes)
  if layout != 'twin':
    raise KerasError('`keras_layout` must be one of %s, got %r.'
                     % (', '.join(LAYOUTS), layout))
  family, units_per_block = resnet_v2.NETWORKS[model]
  layers = keras.layers
  inputs = keras.Input((image_size, image_size, 3), name='input')
  x = layers.ZeroPadding2D(((3, 3), (3, 3)), name='conv1_pad')(inputs)
  x = layers.Conv2D(64, 7, strides=2, name='conv1_conv')(x)
  # slim's SAME max pool: the grid keras.applications' ZeroPadding2D(1)
  # would shift by one pixel.
  x = layers.MaxPooling2D(3, strides=2, padding='same', name='pool1_pool')(x)
  for b, (base, units, stride) in enumerate(
      resnet_v2.block_specs(units_per_block)):
    for u in range(units):
      x = _unit(keras, x, 'conv%d_block%d' % (b + 2, u + 1), family=family,
                base=base, stride=stride if u == units - 1 else 1,
                use_shortcut=use_shortcut)
  x = _bn(keras, 'post_bn', BN_EPSILON)(x)
  x = layers.Activation('relu', name='post_relu')(x)
  x = layers.GlobalAveragePooling2D(name='avg_pool')(x)
  logits = layers.Dense(num_classes, name='logits')(x)
  predictions = layers.Activation('softmax', name='predictions')(logits)
  return keras.Model(inputs, [logits, predictions], name=model)


def _applications_model(keras, model: str, image_size: Optional[int],
                        use_shortcut: bool, classes: int):
  """The stock ``keras.applications`` ResNet V2 with a logits output.

  Args:
    keras: the Keras module.
    model: a network name in ``APPLICATIONS``.
    image_size: input height and width, or None for any size.
    use_shortcut: must be True (the stock models have shortcuts).
    classes: outputs of the stock head.

  Returns:
    A ``keras.Model``: images -> ``[logits, predictions]``.

  Raises:
    KerasError: the network has no ``keras.applications`` model.
  """
  if model not in APPLICATIONS or not use_shortcut:
    raise KerasError('`keras_layout` applications exists for %s only '
                     '(with shortcuts); %s%s has no keras.applications '
                     'model. Use `keras_layout` twin.'
                     % (', '.join(APPLICATIONS), model,
                        '' if use_shortcut else ' without shortcuts'))
  stock = getattr(keras.applications, APPLICATIONS[model])(
      weights=None, classes=classes, classifier_activation=None,
      input_shape=(image_size, image_size, 3) if image_size else None)
  predictions = keras.layers.Activation('softmax', name='softmax')(
      stock.output)
  return keras.Model(stock.input, [stock.output, predictions],
                     name=model + '_applications')


def _unit(keras, x, name: str, *, family: str, base: int, stride: int,
          use_shortcut: bool):
  """One pre-activation residual unit, its layers named as Keras' ResNetV2.

  Args:
    keras: the Keras module.
    x: the unit's input tensor.
    name: the layer name prefix, e.g. ``conv2_block1``.
    family: 'bottleneck' or 'basic' (``resnet_v2.NETWORKS``).
    base: the block's base depth.
    stride: the unit's stride (the block's stride on its last unit).
    use_shortcut: False leaves the identity path out (the plain twin).

  Returns:
    The unit's output tensor.
  """
  layers = keras.layers
  depth = base * 4 if family == 'bottleneck' else base
  preact = _bn(keras, name + '_preact_bn', BN_EPSILON)(x)
  preact = layers.Activation('relu', name=name + '_preact_relu')(preact)
  shortcut = None
  if use_shortcut:
    if x.shape[-1] == depth:
      shortcut = (layers.MaxPooling2D(1, strides=stride,
                                      name=name + '_0_pool')(x)
                  if stride > 1 else x)
    else:
      shortcut = layers.Conv2D(depth, 1, strides=stride,
                               name=name + '_0_conv')(preact)
  if family == 'bottleneck':
    r = layers.Conv2D(base, 1, use_bias=False, name=name + '_1_conv')(preact)
    r = _bn(keras, name + '_1_bn', BN_EPSILON)(r)
    r = layers.Activation('relu', name=name + '_1_relu')(r)
    r = _same_conv(layers, r, base, stride, name + '_2')
    r = _bn(keras, name + '_2_bn', BN_EPSILON)(r)
    r = layers.Activation('relu', name=name + '_2_relu')(r)
    r = layers.Conv2D(depth, 1, name=name + '_3_conv')(r)
  else:
    r = _same_conv(layers, preact, depth, stride, name + '_1')
    r = _bn(keras, name + '_1_bn', BN_EPSILON)(r)
    r = layers.Activation('relu', name=name + '_1_relu')(r)
    r = layers.Conv2D(depth, 3, padding='same', name=name + '_2_conv')(r)
  return r if shortcut is None else layers.Add(name=name + '_out')(
      [shortcut, r])


def _same_conv(layers, x, depth, stride, name):
  """slim's ``conv2d_same`` 3x3 without bias: explicit padding when strided."""
  if stride == 1:
    return layers.Conv2D(depth, 3, padding='same', use_bias=False,
                         name=name + '_conv')(x)
  x = layers.ZeroPadding2D(((1, 1), (1, 1)), name=name + '_pad')(x)
  return layers.Conv2D(depth, 3, strides=stride, use_bias=False,
                       name=name + '_conv')(x)


_BN = ('gamma', 'beta', 'moving_mean', 'moving_variance')


def slim_to_keras(model: str, *, use_shortcut: bool = True,
                  scope: Optional[str] = None) -> Dict[str, List[str]]:
  """The hand-written mapping: Keras layer -> the slim variables it holds.

  Args:
    model: a registered network name.
    use_shortcut: whether the network has shortcut projections.
    scope: the checkpoint's scope (default: ``model``).

  Returns:
    ``{keras layer name: [slim variable names in Keras' weight order]}``.
  """
  scope = scope or model
  family, units_per_block = resnet_v2.NETWORKS[model]
  unit = 'bottleneck_v2' if family == 'bottleneck' else 'basic_v2'
  table = {'conv1_conv': [scope + '/conv1/weights', scope + '/conv1/biases'],
           'post_bn': ['%s/postnorm/%s' % (scope, v) for v in _BN],
           'logits': [scope + '/logits/weights', scope + '/logits/biases']}
  depth_in = 64
  for b, (base, units, _) in enumerate(
      resnet_v2.block_specs(units_per_block)):
    depth = base * 4 if family == 'bottleneck' else base
    for u in range(units):
      keras_name = 'conv%d_block%d' % (b + 2, u + 1)
      slim_name = '%s/block%d/unit_%d/%s' % (scope, b + 1, u + 1, unit)
      table[keras_name + '_preact_bn'] = ['%s/preact/%s' % (slim_name, v)
                                          for v in _BN]
      if use_shortcut and depth_in != depth:
        table[keras_name + '_0_conv'] = [slim_name + '/shortcut/weights',
                                         slim_name + '/shortcut/biases']
      table[keras_name + '_1_conv'] = [slim_name + '/conv1/weights']
      table[keras_name + '_1_bn'] = ['%s/conv1/BatchNorm/%s' % (slim_name, v)
                                     for v in _BN]
      if family == 'bottleneck':
        table[keras_name + '_2_conv'] = [slim_name + '/conv2/weights']
        table[keras_name + '_2_bn'] = ['%s/conv2/BatchNorm/%s'
                                       % (slim_name, v) for v in _BN]
        table[keras_name + '_3_conv'] = [slim_name + '/conv3/weights',
                                         slim_name + '/conv3/biases']
      else:
        table[keras_name + '_2_conv'] = [slim_name + '/conv2/weights',
                                         slim_name + '/conv2/biases']
      depth_in = depth
  return table


def _applications_name(layer):
  """Twin layer name -> keras.applications' (they differ only at the top)."""
  return {'logits': 'predictions'}.get(layer, layer)


def load_weights(keras_model: 'keras.Model', values: Dict[str, np.ndarray],
                 model: str, *, use_shortcut: bool = True,
                 scope: Optional[str] = None, layout: str = 'twin') -> None:
  """Sets ``keras_model``'s weights from slim variable values.

  Args:
    keras_model: from ``build`` with the same network.
    values: ``{slim variable name: numpy array}``.
    model, use_shortcut, scope: as ``slim_to_keras``.
    layout: as ``build``; 'applications' drops slim's background class
      from a 1001-way head.

  Raises:
    KerasError: if a variable is missing or a shape does not fit.
  """
  for layer_name, names in slim_to_keras(model, use_shortcut=use_shortcut,
                                         scope=scope).items():
    target = (_applications_name(layer_name) if layout == 'applications'
              else layer_name)
    layer = keras_model.get_layer(target)
    missing = [n for n in names if n not in values]
    if missing:
      raise KerasError('the checkpoint has no %s (for Keras layer %s).'
                       % (', '.join(missing), target))
    arrays = [np.asarray(values[n]) for n in names]
    if layer_name == 'logits':
      arrays[0] = arrays[0].reshape(arrays[0].shape[-2:])   # 1x1 conv->Dense
      if layout == 'applications' and arrays[0].shape[1] == 1001:
        arrays = [arrays[0][:, 1:], arrays[1][1:]]      # drop background
      elif layout == 'applications' and arrays[0].shape[1] != 1000:
        raise KerasError('`keras_layout` applications needs an ImageNet head '
                         '(1001 or 1000 classes), not %d classes.'
                         % arrays[0].shape[1])
    want = [tuple(w.shape) for w in layer.get_weights()]
    if want != [a.shape for a in arrays]:
      raise KerasError('Keras layer %s wants shapes %s, the checkpoint has '
                       '%s.' % (target, want, [a.shape for a in arrays]))
    layer.set_weights(arrays)


def from_checkpoint(path: Union[str, os.PathLike, checkpoints.CheckpointInfo],
                    *, model: str = 'auto',
                    num_classes: Union[int, str] = 'auto',
                    image_size: Optional[int] = None, layout: str = 'twin',
                    moving_averages: bool = False) -> 'keras.Model':
  """The Keras model of a slim checkpoint, weights loaded.

  Args:
    path: anything ``checkpoints.resolve`` accepts.
    model, num_classes: 'auto' (from the checkpoint) or a value.
    image_size: fixed input size, or None for any.
    layout: 'twin' or 'applications' (see ``build``).
    moving_averages: take each variable's ExponentialMovingAverage shadow
      where the checkpoint has one.

  Returns:
    A ``keras.Model``.
  """
  import tensorflow as tf2  # pylint: disable=g-import-not-at-top
  model, num_classes, info = checkpoints.choose_model(path, model,
                                                     num_classes)
  reader = tf2.train.load_checkpoint(info.path)
  shadow = checkpoints.EMA_SUFFIX   # declared once, with restore
  values = {name: reader.get_tensor(
      name + shadow if moving_averages and name + shadow in info.variables
      else name) for name in info.variables}
  keras_model = build(model, num_classes if layout == 'twin' else 1000,
                      image_size, use_shortcut=info.use_shortcut,
                      layout=layout)
  load_weights(keras_model, values, model, use_shortcut=info.use_shortcut,
               scope=info.scope, layout=layout)
  return keras_model


# --- the reverse: a Keras ResNetV2 -> a slim checkpoint ---------------------

def _candidates():
  """(model, use_shortcut, layout) of every ResNetV2 this maps, twins first."""
  for model in resnet_v2.NETWORKS:
    for use_shortcut in (True, False):
      yield model, use_shortcut, 'twin'
  for model in APPLICATIONS:
    yield model, True, 'applications'


def _layer_weights(keras_model):
  return {layer.name: [np.asarray(w) for w in layer.get_weights()]
          for layer in keras_model.layers if layer.get_weights()}


def _identify(weights):
  """Which network a {layer name: arrays} holds: (model, shortcut, layout)."""
  names = set(weights)
  head = 'logits' if 'logits' in names else 'predictions'
  if head not in names or 'conv1_conv' not in names:
    return None
  for model, use_shortcut, layout in _candidates():
    table = slim_to_keras(model, use_shortcut=use_shortcut)
    wanted = {(_applications_name(k) if layout == 'applications' else k)
              for k in table}
    if wanted == names and (layout == 'applications') == (
        head == 'predictions'):
      return model, use_shortcut, layout
  return None


def read_keras(path: str) -> Tuple[str, int, bool, str, 'keras.Model']:
  """A user's Keras file as slim facts and weights, never running its code.

  A ``.keras`` file is loaded with ``safe_mode=True`` (no Lambda layers or
  other Python from the file); a ``.weights.h5`` file holds only arrays, so
  it is read into each candidate architecture (the twins of every
  registered network, with and without shortcuts, and
  ``keras.applications``' ResNet{50,101,152}V2) until one fits.

  Args:
    path: a ``.keras`` or ``.weights.h5`` file.

  Returns:
    ``(model, num_classes, use_shortcut, layout, keras_model)``.

  Raises:
    KerasError: unreadable, or not a ResNetV2 of a known depth (naming what
      the file holds).
  """
  keras = _keras()
  if not os.path.isfile(path):
    raise KerasError('`model` file %s does not exist.' % path)
  if path.endswith('.keras'):
    try:
      keras_model = keras.saving.load_model(path, safe_mode=True,
                                            compile=False)
    except Exception as exc:  # pylint: disable=broad-except
      # Keras raises many kinds for a broken or unsafe file.
      raise KerasError('cannot read %s as a Keras model (safe mode): %s'
                       % (path, errors.quoted(exc))) from None
    found = _identify(_layer_weights(keras_model))
    if found is None:
      raise KerasError(
          '%s holds a Keras model %r with %d weighted layers (%s ...), not a '
          'ResNetV2 of a known depth (%s) in the twin or keras.applications '
          'layout.' % (path, keras_model.name,
                       len(_layer_weights(keras_model)),
                       ', '.join(sorted(_layer_weights(keras_model))[:3]),
                       ', '.join(resnet_v2.NETWORKS)))
    model, use_shortcut, layout = found
    classes = _layer_weights(keras_model)[
        'logits' if layout == 'twin' else 'predictions'][1].shape[0]
    return model, classes, use_shortcut, layout, keras_model
  if not path.endswith('.weights.h5'):
    raise KerasError('`model` %s: give a .keras or .weights.h5 file.' % path)
  import h5py  # pylint: disable=g-import-not-at-top
  try:
    with h5py.File(path, 'r') as f:
      shapes = []
      f.visititems(lambda name, obj: shapes.append(obj.shape) if isinstance(
          obj, h5py.Dataset) else None)
  except OSError as exc:
    raise KerasError('cannot read %s as HDF5 weights: %s' % (path, exc)
                     ) from None
  classes = shapes[-1][0] if shapes else 0    # the last bias: the head
  for model, use_shortcut, layout in _candidates():
    table = slim_to_keras(model, use_shortcut=use_shortcut)
    if sum(len(v) for v in table.values()) != len(shapes):
      continue   # counted without building the candidate
    candidate = build(model, classes if layout == 'twin' else 1000,
                      use_shortcut=use_shortcut, layout=layout)
    if sorted(tuple(w.shape) for w in candidate.weights) != sorted(
        tuple(s) for s in shapes):
      continue
    try:
      candidate.load_weights(path)
    except ValueError:
      continue
    return model, classes, use_shortcut, layout, candidate
  raise KerasError('%s holds %d arrays that fit no ResNetV2 of a known depth '
                   '(%s) in the twin or keras.applications layout.'
                   % (path, len(shapes), ', '.join(resnet_v2.NETWORKS)))


def keras_to_slim(keras_model: 'keras.Model', model: str, *,
                  use_shortcut: bool = True, layout: str = 'twin'
                  ) -> Dict[str, np.ndarray]:
  """The inverse of ``load_weights``: {slim variable name: array}."""
  weights = _layer_weights(keras_model)
  values = {}
  for layer_name, names in slim_to_keras(model,
                                         use_shortcut=use_shortcut).items():
    source = (_applications_name(layer_name) if layout == 'applications'
              else layer_name)
    arrays = weights[source]
    if layer_name == 'logits':
      arrays = [arrays[0].reshape((1, 1) + arrays[0].shape), arrays[1]]
    values.update(zip(names, arrays))
  return values
