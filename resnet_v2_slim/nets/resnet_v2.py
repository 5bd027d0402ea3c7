"""ResNet V2: full pre-activation residual networks (He et al., 2016).

Identity Mappings in Deep Residual Networks, arXiv:1603.05027. Every unit
applies batch norm and ReLU *before* its convolutions ("preact"), leaving the
shortcut path a clean identity; a final ``postnorm`` normalizes the output of
the last block. Downsampling happens in the last unit of blocks 1-3.

The functions keep the book's names. The units take official TF-Slim's
positional order (``bottleneck(inputs, depth, depth_bottleneck, stride,
rate, outputs_collections, scope)``); ``resnet_v2`` and the
``resnet_v2_<depth>`` networks keep the book's order, and what the official
version adds there (``is_training``, ``output_stride``) and a few extras
(``spatial_squeeze``, ``use_shortcut``, ``data_format``) are keyword-only.
Every network is declared once, as a row of ``NETWORKS`` (unit family and
units per block; the base depths and strides are shared by all), and is a
function written out as in the book, which builds its blocks from that row
and calls ``resnet_v2``. ``@register_network`` only stores the function in
``NETWORK_FNS``; the factory, checkpoint detection, the Keras twin and the
command line all read ``NETWORKS``. Variable names, shapes and end_points
keys are those of the official TF-Slim networks, so their checkpoints
restore with a plain ``tf.train.Saver()``.

Typical use (book style)::

    import tensorflow.compat.v1 as tf
    import tf_slim as slim
    from resnet_v2_slim.nets.resnet_v2 import resnet_arg_scope, resnet_v2_152

    tf.disable_eager_execution()
    inputs = tf.random_uniform((32, 224, 224, 3))
    with slim.arg_scope(resnet_arg_scope(is_training=False)):
      net, end_points = resnet_v2_152(inputs, 1000)   # net: [32, 1, 1, 1000]

Typical use (official style)::

    with slim.arg_scope(resnet_v2.resnet_arg_scope()):
      logits, end_points = resnet_v2.resnet_v2_50(
          images, num_classes=1001, is_training=False, spatial_squeeze=True)
"""

import enum
import numbers
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import tensorflow.compat.v1 as tf
import tf_slim as slim

from resnet_v2_slim import names
from resnet_v2_slim.nets import resnet_utils
from resnet_v2_slim.nets.resnet_utils import Block
from resnet_v2_slim.nets.resnet_utils import conv2d_same
from resnet_v2_slim.nets.resnet_utils import resnet_arg_scope  # re-exported, as in the book
from resnet_v2_slim.nets.resnet_utils import stack_blocks_dense
from resnet_v2_slim.nets.resnet_utils import subsample

default_image_size = 224

# THE table of networks, {name: (unit family, units per block)}, declared
# once in resnet_v2_slim/names.py (without TensorFlow, so the command line
# lists the networks in --help before TensorFlow loads); this is that very
# dict. Each row has a function of the same name at the end of this
# module, which builds its blocks from the row.
NETWORKS = names.NETWORKS
# What every network's four blocks share: base depths (a bottleneck unit
# outputs 4x its base depth, a basic unit the base depth itself) and the
# stride of each block's last unit. Read through `block_specs`.
BLOCK_BASE_DEPTHS = (64, 128, 256, 512)
BLOCK_STRIDES = (2, 2, 2, 1)
ROOT_STRIDE = 4  # conv1 (stride 2) and pool1 (stride 2)
# {name: network function}, filled by @register_network (which only stores).
NETWORK_FNS: Dict[str, Callable] = {}
# What ``reuse`` takes: None, True, False or tf.AUTO_REUSE (an enum.Enum).
_Reuse = Optional[Union[bool, enum.Enum]]
# A variable scope argument: a name or a ``tf.VariableScope``.
_Scope = Optional[Union[str, tf.VariableScope]]
# What a network returns: ``(net, end_points)``.
_NetOutput = Tuple[tf.Tensor, Dict[str, tf.Tensor]]


def _shortcut(inputs, preact, depth, stride, use_shortcut, data_format):
  """The unit's shortcut: identity (subsampled) or a 1x1 projection.

  The identity takes the raw input, so the path from unit to unit stays
  free of any nonlinearity (the point of the V2 design); a projection is
  needed only when the depth changes, and reads ``preact`` like the
  residual branch. Returns None when ``use_shortcut`` is False.
  """
  if not use_shortcut:
    return None
  if inputs.get_shape()[resnet_utils.channel_axis(data_format)] == depth:
    return subsample(inputs, stride, 'shortcut')
  return slim.conv2d(preact, depth, [1, 1], stride=stride, normalizer_fn=None,
                     activation_fn=None, scope='shortcut')


def _check_unit(unit, depth, stride, rate, use_shortcut):
  """Checks the arguments every unit takes; returns (depth, stride)."""
  depth = resnet_utils.check_positive_int(depth, '%s depth' % unit)
  stride = resnet_utils.check_positive_int(stride, '%s stride' % unit)
  resnet_utils.check_rate(rate, unit)
  resnet_utils.check_bool(use_shortcut, '%s use_shortcut' % unit)
  return depth, stride


def _preact_and_shortcut(inputs, depth, stride, use_shortcut, data_format):
  """The unit's BN-ReLU ``preact`` and its shortcut (None without one)."""
  preact = slim.batch_norm(inputs, activation_fn=tf.nn.relu, scope='preact')
  return preact, _shortcut(inputs, preact, depth, stride, use_shortcut,
                           data_format)


@slim.add_arg_scope
def bottleneck(inputs: tf.Tensor, depth: int, depth_bottleneck: int,
               stride: int, rate: int = 1,
               outputs_collections: Optional[Union[str, List[str]]] = None,
               scope: _Scope = None, *, use_shortcut: bool = True,
               data_format: str = 'NHWC') -> tf.Tensor:
  """The pre-activation bottleneck unit: BN-ReLU, 1x1, 3x3, 1x1, plus shortcut.

  ``preact = relu(batch_norm(inputs))`` feeds the residual branch
  (``conv1`` 1x1 -> ``conv2`` 3x3 with the stride -> ``conv3`` 1x1, the first
  two followed by BN-ReLU from the arg_scope). The shortcut is the raw input
  (subsampled if strided) when the depth is unchanged, otherwise a 1x1
  projection of ``preact``.

  Args:
    inputs: a 4-D tensor.
    depth: output channels of the unit.
    depth_bottleneck: channels of the two inner convolutions.
    stride: the unit's stride (applied in ``conv2`` and the shortcut).
    rate: atrous rate of ``conv2``.
    outputs_collections: collection to add the unit's output to.
    scope: optional variable scope (default ``bottleneck_v2``).
    use_shortcut: False drops the shortcut (and its projection variables),
      giving the "plain" network used to show what residuals are for.
    data_format: 'NHWC' or 'NCHW'.

  Returns:
    The unit's output tensor.

  Raises:
    ValueError: on non-positive depths, stride or rate.
  """
  depth, stride = _check_unit('bottleneck', depth, stride, rate,
                               use_shortcut)
  depth_bottleneck = resnet_utils.check_positive_int(
      depth_bottleneck, 'bottleneck depth_bottleneck')
  with tf.variable_scope(scope, 'bottleneck_v2', [inputs]) as sc:
    preact, shortcut = _preact_and_shortcut(inputs, depth, stride,
                                            use_shortcut, data_format)
    residual = slim.conv2d(preact, depth_bottleneck, [1, 1], stride=1,
                           scope='conv1')
    residual = conv2d_same(residual, depth_bottleneck, 3, stride, rate=rate,
                           data_format=data_format, scope='conv2')
    residual = slim.conv2d(residual, depth, [1, 1], stride=1,
                           normalizer_fn=None, activation_fn=None,
                           scope='conv3')
    output = residual if shortcut is None else shortcut + residual
    return slim.utils.collect_named_outputs(outputs_collections, sc.name,
                                            output)


bottleneck.unit_arg_names = resnet_utils.DEFAULT_UNIT_ARG_NAMES


@slim.add_arg_scope
def basic(inputs: tf.Tensor, depth: int, stride: int, rate: int = 1,
          outputs_collections: Optional[Union[str, List[str]]] = None,
          scope: _Scope = None, *, use_shortcut: bool = True,
          data_format: str = 'NHWC') -> tf.Tensor:
  """The pre-activation basic unit of ResNet-18/34: BN-ReLU, 3x3, 3x3.

  Same pattern as ``bottleneck`` with two 3x3 convolutions of ``depth``
  channels (the first strided, followed by BN-ReLU from the arg_scope).
  Block args are ``(depth, stride)`` tuples or dicts.

  Args:
    inputs: a 4-D tensor.
    depth: output channels of both convolutions.
    stride: the unit's stride (applied in ``conv1`` and the shortcut).
    rate: atrous rate of both convolutions.
    outputs_collections: collection to add the unit's output to.
    scope: optional variable scope (default ``basic_v2``).
    use_shortcut: False drops the shortcut (the plain twin).
    data_format: 'NHWC' or 'NCHW'.

  Returns:
    The unit's output tensor.

  Raises:
    ValueError: on a non-positive depth, stride or rate.
  """
  depth, stride = _check_unit('basic', depth, stride, rate, use_shortcut)
  with tf.variable_scope(scope, 'basic_v2', [inputs]) as sc:
    preact, shortcut = _preact_and_shortcut(inputs, depth, stride,
                                            use_shortcut, data_format)
    residual = conv2d_same(preact, depth, 3, stride, rate=rate,
                           data_format=data_format, scope='conv1')
    residual = slim.conv2d(residual, depth, [3, 3], stride=1, rate=rate,
                           normalizer_fn=None, activation_fn=None,
                           scope='conv2')
    output = residual if shortcut is None else shortcut + residual
    return slim.utils.collect_named_outputs(outputs_collections, sc.name,
                                            output)


basic.unit_arg_names = ('depth', 'stride')


def _check_inputs(inputs, data_format, include_root_block):
  """Returns ``inputs`` as a tensor if it is a float 4-D image batch."""
  if tf.executing_eagerly():
    raise RuntimeError(
        'resnet_v2_slim builds TF1 graphs, but eager execution is on. Call '
        '`tf.compat.v1.disable_eager_execution()` first, or build inside '
        '`with tf.Graph().as_default():`.')
  inputs = tf.convert_to_tensor(inputs)
  shape = inputs.get_shape()
  layout = '[batch, channels, height, width]' if data_format == 'NCHW' else (
      '[batch, height, width, channels]')
  if shape.rank != 4:
    raise resnet_utils.NetworkError(
        'inputs must be a rank-4 tensor %s, got shape %s. Give placeholders '
        'a static rank, e.g. tf.placeholder(tf.float32, [None, None, None, '
        '3]); add a batch axis to single images with tf.expand_dims.'
        % (layout, shape))
  channels = resnet_utils.channel_axis(data_format)
  if shape[channels] is None:
    raise resnet_utils.NetworkError(
        'inputs must have a known number of channels (%s), got shape %s. '
        'Set it statically, e.g. with inputs.set_shape or a placeholder '
        'shaped %s.' % (layout, shape,
                        '[None, 3, None, None]' if data_format == 'NCHW'
                        else '[None, None, None, 3]'))
  if not inputs.dtype.is_floating:
    raise TypeError('inputs must be a float tensor (float32, bfloat16 or '
                    'float16), got %s. Cast images with tf.cast(images, '
                    'tf.float32) after decoding.' % inputs.dtype.name)
  dims = shape.as_list()
  spatial = [dims[a] for a in resnet_utils.spatial_axes(data_format)]
  if any(d is not None and d < 1 for d in spatial):
    raise resnet_utils.NetworkError('inputs have an empty image (height x width %s x %s, '
                     'shape %s): every image needs at least one pixel.'
                     % (spatial[0], spatial[1], shape))
  # Images have 1-4 channels; with the root block, a layout mix-up shows as
  # a tiny channel axis on the wrong side (e.g. NHWC [N, 224, 224, 3] given
  # with data_format='NCHW' would be read as 224 channels).
  other = 3 if data_format == 'NCHW' else 1
  if include_root_block and dims[other] in (1, 3, 4) and (
      dims[channels] not in (1, 3, 4)):
    raise resnet_utils.NetworkError(
        'inputs of shape %s look like %s, but data_format=%r expects %s. '
        'Transpose the images (tf.transpose(x, %s)) or pass data_format=%r.'
        % (shape, 'NHWC' if data_format == 'NCHW' else 'NCHW', data_format,
           layout, '[0, 3, 1, 2]' if data_format == 'NCHW' else
           '[0, 2, 3, 1]', 'NHWC' if data_format == 'NCHW' else 'NCHW'))
  return inputs


def _check_book_order(function, global_pool, include_root_block, reuse,
                      scope):
  """TypeErrors for official-order values in the book's positional slots.

  Official TF-Slim's ``resnet_v2`` puts is_training, global_pool,
  output_stride and include_root_block where the book has global_pool,
  include_root_block, reuse and scope; the kinds tell most mix-ups apart.
  """
  conflict = resnet_utils.positional_conflict
  resnet_utils.check_bool(global_pool, '%s global_pool' % function,
                          orders=conflict(function, 4 if function ==
                                          'resnet_v2' else 3, 'global_pool',
                                          'is_training', 'is_training'))
  if include_root_block is not None:
    resnet_utils.check_bool(include_root_block,
                            '%s include_root_block' % function)
  if isinstance(reuse, numbers.Number) and not isinstance(reuse, bool):
    raise TypeError('%s reuse must be None, True, False or tf.AUTO_REUSE, '
                    'got %r. %s' % (function, reuse, conflict(
                        function, 6 if function == 'resnet_v2' else 4,
                        'reuse', 'output_stride' if function == 'resnet_v2'
                        else 'global_pool', 'output_stride')))
  if scope is not None and not isinstance(scope, (str, tf.VariableScope)):
    raise TypeError('%s scope must be a string, got %r. %s' % (
        function, scope, conflict(
            function, 7 if function == 'resnet_v2' else 5, 'scope',
            'include_root_block' if function == 'resnet_v2' else
            'output_stride', 'output_stride' if function != 'resnet_v2'
            else 'include_root_block')))


def _shortcut_scope(blocks, use_shortcut):
  """An arg_scope that passes ``use_shortcut=False`` to every unit_fn."""
  if use_shortcut:
    return slim.arg_scope([])
  unit_fns = {block.unit_fn for block in blocks}
  for fn in unit_fns:
    if not slim.has_arg_scope(fn):
      raise resnet_utils.NetworkError(
          'use_shortcut=False needs unit functions decorated with '
          '@slim.add_arg_scope that accept use_shortcut; %r is not.' % (fn,))
  return slim.arg_scope(list(unit_fns), use_shortcut=False)


def _root_block(inputs):
  """The stem before the blocks: ``conv1`` 7x7/2 (64 channels), ``pool1`` 3x3/2.

  Called inside ``resnet_v2``'s arg_scopes, which give both layers the data
  format and collect ``conv1`` as an end point.

  Args:
    inputs: the checked input images.

  Returns:
    The pooled ``conv1`` features, at 1/4 (``ROOT_STRIDE``) of the input size.
  """
  # No BN-ReLU after conv1: the first unit's preact does it (paper, appendix).
  with slim.arg_scope([slim.conv2d], activation_fn=None, normalizer_fn=None):
    net = conv2d_same(inputs, 64, 7, stride=2, scope='conv1')
  return slim.max_pool2d(net, [3, 3], stride=2, scope='pool1')


def resnet_v2(inputs: tf.Tensor, blocks: Sequence[Block],
              num_classes: Optional[int] = None, global_pool: bool = True,
              include_root_block: bool = True, reuse: _Reuse = None,
              scope: _Scope = None, *,
              is_training: Optional[Union[bool, tf.Tensor]] = None,
              output_stride: Optional[int] = None,
              spatial_squeeze: bool = False, use_shortcut: bool = True,
              data_format: str = 'NHWC') -> _NetOutput:
  """Builds a ResNet V2 network from a list of blocks.

  Layout: optional root block (``conv1`` 7x7/2 without BN, ``pool1`` 3x3/2),
  the blocks, ``postnorm`` (BN-ReLU), optional global average pool
  (``pool5``), optional 1x1 ``logits`` convolution and softmax
  ``predictions``.

  Args:
    inputs: a float 4-D tensor ``[batch, height, width, channels]`` (or
      ``[batch, channels, height, width]`` with ``data_format='NCHW'``);
      batch, height and width may be unknown.
    blocks: a list of ``resnet_utils.Block``.
    num_classes: number of classes for the ``logits`` layer; None returns the
      features instead.
    global_pool: whether to average the final features over space.
    include_root_block: whether to build ``conv1`` and ``pool1``.
    reuse: whether to reuse the variables of ``scope``.
    scope: the network's variable scope (default ``resnet_v2``).
    is_training: batch norm mode. None (default) keeps whatever the
      enclosing arg_scope says, e.g. ``resnet_arg_scope(is_training=False)``
      as in the book; True or False overrides it, as in official TF-Slim.
    output_stride: None for the nominal stride (32 with the root block), or a
      smaller reachable one (multiple of 4 with the root block) to compute
      denser features with atrous convolution.
    spatial_squeeze: whether to squeeze logits ``[N, 1, 1, C]`` to ``[N, C]``
      (off by default, as in the book and tf-slim 1.1.0).
    use_shortcut: False builds the plain twin with no shortcut connections.
    data_format: 'NHWC' (default) or 'NCHW' (faster on GPUs).

  Returns:
    ``(net, end_points)``: ``net`` is the logits if ``num_classes`` is set,
    otherwise the (pooled) features; ``end_points`` maps names such as
    ``'resnet_v2_50/block1'``, ``'global_pool'`` and ``'predictions'`` to
    tensors.

  Raises:
    RuntimeError: if called in eager mode.
    TypeError, ValueError: on malformed inputs, blocks, ``num_classes`` or an
      unreachable ``output_stride``. Nothing is added to the graph then.
  """
  resnet_utils.check_data_format(data_format)
  _check_book_order('resnet_v2', global_pool, include_root_block, reuse,
                    scope)
  is_training = resnet_utils.check_bool(is_training, 'is_training',
                                        allow_none=True, allow_tensor=True)
  use_shortcut = resnet_utils.check_bool(use_shortcut, 'use_shortcut')
  spatial_squeeze = resnet_utils.check_bool(spatial_squeeze,
                                            'spatial_squeeze')
  resnet_utils.checked_blocks(blocks)   # before any layer exists
  inputs = _check_inputs(inputs, data_format, include_root_block)
  if num_classes is not None:
    num_classes = resnet_utils.check_positive_int(num_classes, 'num_classes')
  root_stride = ROOT_STRIDE if include_root_block else 1
  output_stride = resnet_utils.check_output_stride(output_stride, blocks,
                                                   root_stride)
  block_output_stride = (None if output_stride is None
                         else output_stride // root_stride)
  spatial = resnet_utils.spatial_axes(data_format)
  with tf.variable_scope(scope, 'resnet_v2', [inputs], reuse=reuse) as sc:
    end_points_collection = sc.original_name_scope + '_end_points'
    # Units report their outputs as end points if they can take the arg.
    unit_fns = sorted({b.unit_fn for b in blocks
                       if slim.has_arg_scope(b.unit_fn)}, key=id)
    with slim.arg_scope([slim.conv2d, stack_blocks_dense] + unit_fns,
                        outputs_collections=end_points_collection), \
        slim.arg_scope([slim.conv2d, slim.max_pool2d, slim.batch_norm,
                        conv2d_same, bottleneck, basic],
                       data_format=data_format), \
        _shortcut_scope(blocks, use_shortcut):
      bn_mode = ({} if is_training is None
                 else {'is_training': is_training})
      with slim.arg_scope([slim.batch_norm], **bn_mode):
        net = _root_block(inputs) if include_root_block else inputs
        net = stack_blocks_dense(net, blocks,
                                 output_stride=block_output_stride)
        # Units end in a bare addition, so the features need a last BN-ReLU.
        net = slim.batch_norm(net, activation_fn=tf.nn.relu, scope='postnorm')
        end_points = {}
        if global_pool:
          net = tf.reduce_mean(net, spatial, name='pool5', keepdims=True)
          end_points['global_pool'] = net
        if num_classes is not None:
          net = slim.conv2d(net, num_classes, [1, 1], activation_fn=None,
                            normalizer_fn=None, scope='logits')
          if data_format == 'NCHW':  # logits are [N, C, 1, 1]: report NHWC
            net = tf.transpose(net, [0, 2, 3, 1])
          if spatial_squeeze:
            net = tf.squeeze(net, [1, 2], name='SpatialSqueeze')
            end_points[sc.name + '/spatial_squeeze'] = net
        end_points.update(
            slim.utils.convert_collection_to_dict(end_points_collection))
        if num_classes is not None:
          end_points['predictions'] = slim.softmax(net, scope='predictions')
        return net, end_points


resnet_v2.default_image_size = default_image_size


def resnet_v2_block(scope: str, base_depth: int, num_units: int,
                    stride: int) -> Block:
  """A block of ``num_units`` bottleneck units, strided in the last unit.

  Args:
    scope: the block's scope name, e.g. ``'block1'``.
    base_depth: bottleneck depth; the unit output depth is 4x this.
    num_units: number of units in the block.
    stride: stride of the last unit (all others use 1).

  Returns:
    A ``Block`` whose args are dicts, as in official TF-Slim.

  Raises:
    TypeError, ValueError: if an argument is not a positive integer.
  """
  base_depth = resnet_utils.check_positive_int(base_depth, 'base_depth')
  num_units = resnet_utils.check_positive_int(num_units, 'num_units')
  stride = resnet_utils.check_positive_int(stride, 'stride')
  unit = {'depth': base_depth * 4, 'depth_bottleneck': base_depth,
          'stride': 1}
  return Block(scope, bottleneck,
               [unit] * (num_units - 1) + [dict(unit, stride=stride)])


def resnet_v2_basic_block(scope: str, depth: int, num_units: int,
                          stride: int) -> Block:
  """A block of ``num_units`` basic units (ResNet-18/34), strided last.

  Args:
    scope: the block's scope name, e.g. ``'block1'``.
    depth: channels of every convolution in the block.
    num_units: number of units in the block.
    stride: stride of the last unit (all others use 1).

  Returns:
    A ``Block`` of ``basic`` units with ``(depth, stride)`` args.

  Raises:
    TypeError, ValueError: if an argument is not a positive integer.
  """
  depth = resnet_utils.check_positive_int(depth, 'depth')
  num_units = resnet_utils.check_positive_int(num_units, 'num_units')
  stride = resnet_utils.check_positive_int(stride, 'stride')
  return Block(scope, basic, [(depth, 1)] * (num_units - 1) + [(depth, stride)])


def block_specs(units_per_block: Sequence[int]
                ) -> List[Tuple[int, int, int]]:
  """The ``(base_depth, num_units, stride)`` of each of the four blocks.

  Where the shared ``BLOCK_BASE_DEPTHS`` and ``BLOCK_STRIDES`` meet a
  network's unit counts; the blocks built here, the Keras twin and the
  factory's memory estimate all read them through it.

  Args:
    units_per_block: four positive integers, e.g. ``NETWORKS[name][1]``.

  Returns:
    A list of four ``(base_depth, num_units, stride)`` tuples.

  Raises:
    NetworkError: if ``units_per_block`` does not have four entries.
  """
  if len(units_per_block) != len(BLOCK_BASE_DEPTHS):
    raise resnet_utils.NetworkError(
        'units_per_block must have %d entries (one per block), got %r.'
        % (len(BLOCK_BASE_DEPTHS), units_per_block))
  return list(zip(BLOCK_BASE_DEPTHS, units_per_block, BLOCK_STRIDES))


def _blocks(block_fn, units_per_block):
  return [block_fn('block%d' % (i + 1), depth, units, stride)
          for i, (depth, units, stride) in enumerate(
              block_specs(units_per_block))]


def bottleneck_blocks(units_per_block: Sequence[int]) -> List[Block]:
  """The four blocks of a bottleneck ResNet V2 with the given unit counts.

  Args:
    units_per_block: four positive integers, e.g. ``(3, 4, 6, 3)``.

  Returns:
    A list of four ``Block`` (base depths 64-128-256-512, strides 2-2-2-1).
  """
  return _blocks(resnet_v2_block, units_per_block)


def basic_blocks(units_per_block: Sequence[int]) -> List[Block]:
  """The four blocks of a basic-unit ResNet V2 (ResNet-18/34 style).

  Widths 64-128-256-512; like the bottleneck nets, the last unit of blocks
  1-3 strides, so feature map sizes match theirs block for block.

  Args:
    units_per_block: four positive integers, e.g. ``(2, 2, 2, 2)``.

  Returns:
    A list of four ``Block`` of ``basic`` units.
  """
  return _blocks(resnet_v2_basic_block, units_per_block)


# Unit family (the first column of NETWORKS) -> how its blocks are built.
_FAMILY_BLOCKS = {'bottleneck': bottleneck_blocks, 'basic': basic_blocks}


def network_blocks(name: str) -> List[Block]:
  """The four blocks of a network of ``NETWORKS``, built from its row.

  Args:
    name: a name in ``NETWORKS``, e.g. ``'resnet_v2_50'``.

  Returns:
    A list of four ``Block``.

  Raises:
    KeyError: if ``name`` has no row in ``NETWORKS``.
  """
  family, units_per_block = NETWORKS[name]
  return _FAMILY_BLOCKS[family](units_per_block)


def register_network(network: Callable) -> Callable:
  """Stores a ``resnet_v2_<depth>`` function in ``NETWORK_FNS`` (decorator).

  Like timm's ``register_model``, it only stores the function; nothing is
  called or built at import. The architecture is the network's row of
  ``NETWORKS``, declared once above; the function also gets the row as its
  ``family`` and ``units_per_block`` attributes, and ``default_image_size``.

  Args:
    network: the network function; its ``__name__`` is the registered name.

  Returns:
    ``network`` itself.

  Raises:
    NetworkError: if the name has no row in ``NETWORKS`` or is registered
      already.
  """
  name = network.__name__
  if name not in NETWORKS or name in NETWORK_FNS:
    raise resnet_utils.NetworkError(
        'register_network(%s): %s.' % (name, 'the name is registered already'
                                       if name in NETWORK_FNS else
                                       'declare its row in NETWORKS first'))
  NETWORK_FNS[name] = network
  network.family, network.units_per_block = NETWORKS[name]
  network.default_image_size = default_image_size
  return network


def _build(name, inputs, blocks, num_classes, global_pool, reuse, scope,
           **options):
  """Builds a registered network: ``resnet_v2`` with the root block.

  Args:
    name: the calling network's name (for messages about argument order).
    inputs: the network's ``inputs``.
    blocks: its blocks (``network_blocks(name)``).
    num_classes: its ``num_classes``.
    global_pool: its ``global_pool``.
    reuse: its ``reuse``.
    scope: its ``scope``.
    **options: its keyword-only arguments, passed on to ``resnet_v2``.

  Returns:
    What ``resnet_v2`` returns.
  """
  # The networks' positional slots differ from resnet_v2's, so they are
  # checked here, where the messages can name the network's own order.
  _check_book_order(name, global_pool, None, reuse, scope)
  return resnet_v2(inputs, blocks, num_classes, global_pool,
                   include_root_block=True, reuse=reuse, scope=scope,
                   **options)


# --- the networks: one function each, as in the book and TF-Slim ----------
# Each builds its blocks from its row of NETWORKS and passes every argument
# on by name. The signature is the book's positional order plus resnet_v2's
# keyword-only options; see `resnet_v2` for the arguments and return values.


@register_network
def resnet_v2_18(inputs: tf.Tensor, num_classes: Optional[int] = None,
                 global_pool: bool = True, reuse: _Reuse = None,
                 scope: _Scope = 'resnet_v2_18', *,
                 is_training: Optional[Union[bool, tf.Tensor]] = None,
                 output_stride: Optional[int] = None,
                 spatial_squeeze: bool = False, use_shortcut: bool = True,
                 data_format: str = 'NHWC') -> _NetOutput:
  """ResNet-18 V2; its blocks are its row of ``NETWORKS``."""
  blocks = network_blocks('resnet_v2_18')
  return _build('resnet_v2_18', inputs, blocks, num_classes, global_pool,
                reuse, scope, is_training=is_training,
                output_stride=output_stride, spatial_squeeze=spatial_squeeze,
                use_shortcut=use_shortcut, data_format=data_format)


@register_network
def resnet_v2_34(inputs: tf.Tensor, num_classes: Optional[int] = None,
                 global_pool: bool = True, reuse: _Reuse = None,
                 scope: _Scope = 'resnet_v2_34', *,
                 is_training: Optional[Union[bool, tf.Tensor]] = None,
                 output_stride: Optional[int] = None,
                 spatial_squeeze: bool = False, use_shortcut: bool = True,
                 data_format: str = 'NHWC') -> _NetOutput:
  """ResNet-34 V2; its blocks are its row of ``NETWORKS``."""
  blocks = network_blocks('resnet_v2_34')
  return _build('resnet_v2_34', inputs, blocks, num_classes, global_pool,
                reuse, scope, is_training=is_training,
                output_stride=output_stride, spatial_squeeze=spatial_squeeze,
                use_shortcut=use_shortcut, data_format=data_format)


@register_network
def resnet_v2_50(inputs: tf.Tensor, num_classes: Optional[int] = None,
                 global_pool: bool = True, reuse: _Reuse = None,
                 scope: _Scope = 'resnet_v2_50', *,
                 is_training: Optional[Union[bool, tf.Tensor]] = None,
                 output_stride: Optional[int] = None,
                 spatial_squeeze: bool = False, use_shortcut: bool = True,
                 data_format: str = 'NHWC') -> _NetOutput:
  """ResNet-50 V2; its blocks are its row of ``NETWORKS``."""
  blocks = network_blocks('resnet_v2_50')
  return _build('resnet_v2_50', inputs, blocks, num_classes, global_pool,
                reuse, scope, is_training=is_training,
                output_stride=output_stride, spatial_squeeze=spatial_squeeze,
                use_shortcut=use_shortcut, data_format=data_format)


@register_network
def resnet_v2_101(inputs: tf.Tensor, num_classes: Optional[int] = None,
                  global_pool: bool = True, reuse: _Reuse = None,
                  scope: _Scope = 'resnet_v2_101', *,
                  is_training: Optional[Union[bool, tf.Tensor]] = None,
                  output_stride: Optional[int] = None,
                  spatial_squeeze: bool = False, use_shortcut: bool = True,
                  data_format: str = 'NHWC') -> _NetOutput:
  """ResNet-101 V2; its blocks are its row of ``NETWORKS``."""
  blocks = network_blocks('resnet_v2_101')
  return _build('resnet_v2_101', inputs, blocks, num_classes, global_pool,
                reuse, scope, is_training=is_training,
                output_stride=output_stride, spatial_squeeze=spatial_squeeze,
                use_shortcut=use_shortcut, data_format=data_format)


@register_network
def resnet_v2_152(inputs: tf.Tensor, num_classes: Optional[int] = None,
                  global_pool: bool = True, reuse: _Reuse = None,
                  scope: _Scope = 'resnet_v2_152', *,
                  is_training: Optional[Union[bool, tf.Tensor]] = None,
                  output_stride: Optional[int] = None,
                  spatial_squeeze: bool = False, use_shortcut: bool = True,
                  data_format: str = 'NHWC') -> _NetOutput:
  """ResNet-152 V2; its blocks are its row of ``NETWORKS``."""
  blocks = network_blocks('resnet_v2_152')
  return _build('resnet_v2_152', inputs, blocks, num_classes, global_pool,
                reuse, scope, is_training=is_training,
                output_stride=output_stride, spatial_squeeze=spatial_squeeze,
                use_shortcut=use_shortcut, data_format=data_format)


@register_network
def resnet_v2_200(inputs: tf.Tensor, num_classes: Optional[int] = None,
                  global_pool: bool = True, reuse: _Reuse = None,
                  scope: _Scope = 'resnet_v2_200', *,
                  is_training: Optional[Union[bool, tf.Tensor]] = None,
                  output_stride: Optional[int] = None,
                  spatial_squeeze: bool = False, use_shortcut: bool = True,
                  data_format: str = 'NHWC') -> _NetOutput:
  """ResNet-200 V2; its blocks are its row of ``NETWORKS``."""
  blocks = network_blocks('resnet_v2_200')
  return _build('resnet_v2_200', inputs, blocks, num_classes, global_pool,
                reuse, scope, is_training=is_training,
                output_stride=output_stride, spatial_squeeze=spatial_squeeze,
                use_shortcut=use_shortcut, data_format=data_format)


def _check_registry():
  """Fails the import if a row of ``NETWORKS`` cannot be built.

  A row needs a known unit family, four unit counts and a registered
  function of its name; found here, a slip fails at once rather than when
  someone first asks for that network.

  Raises:
    NetworkError: naming the rows at fault.
  """
  bad = [name for name, (family, units) in NETWORKS.items()
         if family not in _FAMILY_BLOCKS or len(units) != len(BLOCK_STRIDES)
         or name not in NETWORK_FNS]
  if bad:
    raise resnet_utils.NetworkError(
        'NETWORKS rows %s need a unit family in %s, %d unit counts and a '
        '@register_network function of the same name.'
        % (', '.join(bad), sorted(_FAMILY_BLOCKS), len(BLOCK_STRIDES)))


_check_registry()

BASIC_UNITS = {name: units for name, (family, units) in NETWORKS.items()
               if family == 'basic'}

__all__ = [
    'Block', 'bottleneck', 'basic', 'resnet_v2', 'resnet_v2_block',
    'resnet_v2_basic_block', 'resnet_arg_scope', 'register_network',
    'block_specs', 'network_blocks', 'NETWORKS', 'NETWORK_FNS',
    'BLOCK_BASE_DEPTHS', 'BLOCK_STRIDES', 'BASIC_UNITS',
    'default_image_size',
    'resnet_v2_18', 'resnet_v2_34', 'resnet_v2_50', 'resnet_v2_101',
    'resnet_v2_152', 'resnet_v2_200',
]
