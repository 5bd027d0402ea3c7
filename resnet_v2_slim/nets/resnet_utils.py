"""Building blocks shared by the ResNet V2 networks.

The names are the book's (``Block``, ``subsample``, ``conv2d_same``,
``stack_blocks_dense``, ``resnet_arg_scope``). Positional arguments follow
official TF-Slim wherever the book never passes them positionally, so code
written for ``tf_slim.nets.resnet_utils`` runs unchanged; only
``resnet_arg_scope`` keeps the book's order (``is_training`` first), and a
value of the wrong kind there raises a TypeError naming both orders.

Block args may be the book's tuples ``(depth, depth_bottleneck, stride)`` or
the official dicts ``{'depth': ..., 'depth_bottleneck': ..., 'stride': ...}``.
They are checked before any layer is built, so a typo such as the book's
``[(1024, 256, 1)] * 5 + [1024, 245, 2]`` is an error naming the block and
unit, not a stack trace from inside slim.

Typical use::

    import tensorflow.compat.v1 as tf
    import tf_slim as slim
    from resnet_v2_slim.nets import resnet_utils
    from resnet_v2_slim.nets.resnet_v2 import bottleneck

    blocks = [resnet_utils.Block('block1', bottleneck,
                                 [(256, 64, 1)] * 2 + [(256, 64, 2)])]
    with tf.Graph().as_default():
      images = tf.placeholder(tf.float32, [None, 56, 56, 64])
      with slim.arg_scope(resnet_utils.resnet_arg_scope(is_training=False)):
        net = resnet_utils.stack_blocks_dense(images, blocks)  # [N, 28, 28, 256]
"""

import collections
import collections.abc
import inspect
import math
import numbers
from typing import (Any, Callable, Dict, List, Mapping, Optional, Sequence,
                    Tuple, Union)

import numpy as np

import tensorflow.compat.v1 as tf
import tf_slim as slim

from resnet_v2_slim import errors
from resnet_v2_slim import names

# The book's unit tuple, in order. A unit function may declare its own order
# with a `unit_arg_names` attribute (the basic unit takes (depth, stride)).
DEFAULT_UNIT_ARG_NAMES = ('depth', 'depth_bottleneck', 'stride')
DATA_FORMATS = names.DATA_FORMATS


class NetworkError(errors.Error):
  """A network, block or unit that cannot be built as asked.

  A ``ValueError``, as official TF-Slim raises for the same mistakes.
  """


class Block(collections.namedtuple('Block', ['scope', 'unit_fn', 'args'])):
  """A named tuple describing one ResNet block: a scope and its units.

  Its parts are:
    scope: the block's variable scope name, e.g. ``'block1'``.
    unit_fn: the residual unit function, called as ``unit_fn(net, **unit)``.
    args: one entry per unit: a tuple in ``unit_fn.unit_arg_names`` order
      (``(depth, depth_bottleneck, stride)`` for ``bottleneck``) or a dict of
      keyword arguments for ``unit_fn``.
  """


def check_positive_int(value: int, name: str) -> int:
  """Returns ``value`` as an int if it is a positive integer.

  Args:
    value: the value to check.
    name: how to call it in the error message.

  Returns:
    ``int(value)``.

  Raises:
    TypeError: if ``value`` is not an integer (bools are rejected too).
    ValueError: if ``value`` is not positive.
  """
  if isinstance(value, bool) or not isinstance(value, numbers.Integral):
    raise TypeError('%s must be a positive integer, got %r (%s).'
                    % (name, value, type(value).__name__))
  if value <= 0:
    raise NetworkError('%s must be a positive integer, got %d.' % (name, value))
  return int(value)


def check_bool(value: Union[bool, tf.Tensor, tf.Variable, None], name: str, *,
               allow_none: bool = False, allow_tensor: bool = False,
               orders: Optional[str] = None
               ) -> Union[bool, tf.Tensor, tf.Variable, None]:
  """Returns ``value`` if it is a bool (or None / a bool tensor if allowed).

  Strings such as ``'False'`` are truthy in Python and would silently build
  the wrong thing, so anything but a real bool is an error.

  Args:
    value: the value to check.
    name: the argument's name, for the message.
    allow_none: accept None (meaning "leave it to the arg scope").
    allow_tensor: accept a boolean tensor (batch norm's ``is_training``).
    orders: for arguments whose position differs between the book and
      official TF-Slim, a sentence naming both orders and the keyword.

  Raises:
    TypeError: naming the argument, the value and, with ``orders``, how to
      pass it instead.
  """
  if isinstance(value, (bool, np.bool_)):
    return bool(value)
  if value is None and allow_none:
    return None
  if allow_tensor and isinstance(value, (tf.Tensor, tf.Variable)) and (
      value.dtype.base_dtype == tf.bool):
    return value
  raise TypeError('%s must be True or False%s, got %r (%s).%s'
                  % (name, ' (or None)' if allow_none else '', value,
                     type(value).__name__, ' ' + orders if orders else ''))


def positional_conflict(function: str, position: int, book: str,
                        official: str, keyword: str) -> str:
  """The message part for an argument whose position differs by source.

  Args:
    function: e.g. 'resnet_arg_scope'.
    position: 1-based position of the positional argument.
    book: what the book's order has there.
    official: what official TF-Slim's order has there.
    keyword: the keyword that works in both.

  Returns:
    A sentence for ``check_bool`` / TypeErrors.
  """
  ordinal = {1: '1st', 2: '2nd', 3: '3rd'}.get(position, '%dth' % position)
  return ('%s keeps the book\'s positional order, where the %s argument is '
          '%s; in official TF-Slim it is %s. Pass it as a keyword, e.g. '
          '%s(..., %s=...).' % (function, ordinal, book, official, function,
                                keyword))


def check_data_format(data_format: str) -> str:
  """Raises ValueError unless ``data_format`` is 'NHWC' or 'NCHW'."""
  if data_format not in DATA_FORMATS:
    raise NetworkError("data_format must be 'NHWC' or 'NCHW', got %r."
                     % (data_format,))
  return data_format


def channel_axis(data_format: str) -> int:
  return 1 if check_data_format(data_format) == 'NCHW' else 3


def spatial_axes(data_format: str) -> List[int]:
  return [2, 3] if check_data_format(data_format) == 'NCHW' else [1, 2]


def subsample(inputs: tf.Tensor, factor: int, scope: Optional[str] = None
              ) -> tf.Tensor:
  """Subsamples the spatial dimensions by taking every ``factor``-th pixel.

  Implemented as a 1x1 max pool with stride ``factor``, as in the book, so
  that it picks the same pixels as a strided 1x1 convolution would. The data
  format comes from the enclosing ``slim.arg_scope`` of ``slim.max_pool2d``.

  Args:
    inputs: a 4-D tensor.
    factor: the subsampling factor, a positive integer.
    scope: optional name scope.

  Returns:
    ``inputs`` itself if ``factor == 1``, otherwise the subsampled tensor
    with spatial size ``ceil(size / factor)``.

  Raises:
    TypeError, ValueError: if ``factor`` is not a positive integer.
  """
  factor = check_positive_int(factor, 'subsample factor')
  if factor == 1:
    return inputs
  return slim.max_pool2d(inputs, [1, 1], stride=factor, scope=scope)


@slim.add_arg_scope
def conv2d_same(inputs: tf.Tensor, num_outputs: int, kernel_size: int,
                stride: int, rate: int = 1, scope: Optional[str] = None,
                *, data_format: str = 'NHWC') -> tf.Tensor:
  """2-D convolution whose output size does not depend on input parity.

  With ``stride == 1`` this is a plain 'SAME' convolution. With a larger
  stride, TensorFlow's 'SAME' would pad more on the bottom/right for even
  inputs; instead the input is padded symmetrically by the effective kernel
  size and convolved with 'VALID', so that::

      conv2d_same(x, n, 3, stride=2)
      == subsample(slim.conv2d(x, n, 3, stride=1, padding='SAME'), 2)

  for odd and even input sizes alike.

  Args:
    inputs: a 4-D tensor in ``data_format`` layout.
    num_outputs: number of output channels.
    kernel_size: an int, the (square) kernel size.
    stride: an int, the output stride.
    rate: atrous (dilation) rate (5th, as in official TF-Slim).
    scope: optional variable scope.
    data_format: 'NHWC' (default) or 'NCHW'; usually set by ``resnet_v2``
      through an arg_scope.

  Returns:
    The convolution output, of spatial size ``ceil(size / stride)``.

  Raises:
    ValueError: on a non-positive kernel size, stride or rate, or on stride
      and rate both above 1 (TensorFlow convolutions take one or the other;
      ``stack_blocks_dense`` switches to rate only once it stops striding).
  """
  kernel_size = check_positive_int(kernel_size, 'conv2d_same kernel_size')
  stride = check_positive_int(stride, 'conv2d_same stride')
  check_rate(rate, 'conv2d_same')
  if stride == 1:
    return slim.conv2d(inputs, num_outputs, kernel_size, stride=1, rate=rate,
                       padding='SAME', data_format=data_format, scope=scope)
  if rate != 1:
    raise NetworkError('conv2d_same: stride=%d and rate=%d cannot be combined; '
                     'use stride 1 with a rate (atrous) or rate 1 with a '
                     'stride.' % (stride, rate))
  pad_beg = (kernel_size - 1) // 2
  pad_end = kernel_size - 1 - pad_beg
  paddings = [[0, 0], [0, 0], [0, 0], [0, 0]]
  for axis in spatial_axes(data_format):
    paddings[axis] = [pad_beg, pad_end]
  inputs = tf.pad(inputs, paddings)
  return slim.conv2d(inputs, num_outputs, kernel_size, stride=stride,
                     padding='VALID', data_format=data_format, scope=scope)


def check_rate(rate: int, function: str) -> int:
  """Returns ``rate`` as an int; a string there is a scope passed by position.

  The book's definitions put ``scope`` where official TF-Slim (and this
  package) has ``rate``.
  """
  if isinstance(rate, str):
    raise TypeError(
        '%s: the argument after stride is rate (official TF-Slim order), got '
        'the string %r. Pass the scope as a keyword: scope=%r.'
        % (function, rate, rate))
  return check_positive_int(rate, '%s rate' % function)


def _accepted_keywords(unit_fn):
  """Keyword names ``unit_fn`` accepts, or None if it takes ``**kwargs``."""
  try:
    params = inspect.signature(unit_fn).parameters.values()
  except (TypeError, ValueError):
    return None
  if any(p.kind == p.VAR_KEYWORD for p in params):
    return None
  return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD,
                                               p.KEYWORD_ONLY)}


def unit_kwargs(block: Block, index: int,
                unit: Union[Sequence[int], Mapping[str, Any]]
                ) -> Dict[str, Any]:
  """Returns the keyword arguments of one unit of a block, checked.

  Args:
    block: the ``Block`` the unit belongs to (for names in messages).
    index: the unit's 0-based position in ``block.args``.
    unit: a tuple in ``block.unit_fn.unit_arg_names`` order, or a dict.

  Returns:
    A new dict of keyword arguments for ``block.unit_fn``.

  Raises:
    TypeError: if the unit is neither a tuple/list nor a dict, or a depth or
      stride is not an integer.
    ValueError: if a tuple has the wrong length, or a depth or stride is not
      positive.
  """
  names = tuple(getattr(block.unit_fn, 'unit_arg_names',
                        DEFAULT_UNIT_ARG_NAMES))
  where = '%s/unit_%d (args[%d])' % (block.scope, index + 1, index)
  expected = 'a tuple (%s) or a dict of keyword arguments' % ', '.join(names)
  if isinstance(unit, collections.abc.Mapping):
    kwargs = dict(unit)
  elif isinstance(unit, (tuple, list)):
    if len(unit) != len(names):
      raise NetworkError('Block %s: expected %s, got %r with %d entries.'
                       % (where, expected, unit, len(unit)))
    kwargs = dict(zip(names, unit))
  else:
    raise TypeError(
        'Block %s: expected %s, got %s %r. A unit written without its '
        'parentheses, e.g. `[(1024, 256, 1)] * 5 + [1024, 256, 2]`, spreads '
        'into separate numbers: write `+ [(1024, 256, 2)]`.'
        % (where, expected, type(unit).__name__, unit))
  accepted = _accepted_keywords(block.unit_fn)
  unknown = sorted(set(kwargs) - accepted) if accepted is not None else []
  if unknown:
    raise NetworkError(
        'Block %s: %s does not take %s; its unit arguments are %s.'
        % (where, getattr(block.unit_fn, '__name__', block.unit_fn),
           ', '.join(map(repr, unknown)), ', '.join(names)))
  for key in ('depth', 'depth_bottleneck', 'stride', 'rate'):
    if key in kwargs:
      kwargs[key] = check_positive_int(kwargs[key], 'Block %s %s'
                                       % (where, key))
  return kwargs


def checked_blocks(blocks: Sequence[Block]
                   ) -> List[Tuple[Block, List[Dict[str, Any]]]]:
  """Returns [(block, [unit kwargs, ...]), ...] or raises a clear error."""
  if isinstance(blocks, (str, bytes)) or not isinstance(
      blocks, collections.abc.Sequence):
    raise TypeError('blocks must be a list of resnet_utils.Block, got %s.'
                    % type(blocks).__name__)
  if not blocks:
    raise NetworkError('blocks is empty: a ResNet needs at least one Block.')
  checked, scopes = [], set()
  for i, block in enumerate(blocks):
    if not (isinstance(block, tuple) and hasattr(block, 'unit_fn')
            and hasattr(block, 'args') and hasattr(block, 'scope')):
      raise TypeError('blocks[%d] must be a resnet_utils.Block(scope, '
                      'unit_fn, args), got %s %r.'
                      % (i, type(block).__name__, block))
    if not callable(block.unit_fn):
      raise TypeError('Block %s: unit_fn must be callable, got %r.'
                      % (block.scope, block.unit_fn))
    if isinstance(block.args, (str, bytes)) or not isinstance(
        block.args, collections.abc.Sequence) or not block.args:
      raise NetworkError('Block %s: args must be a non-empty list of units, '
                       'got %r.' % (block.scope, block.args))
    if block.scope in scopes:
      raise NetworkError('blocks[%d]: the scope %r is used by an earlier '
                         'block too; every Block needs its own scope name '
                         '(block1, block2, ...).' % (i, block.scope))
    scopes.add(block.scope)
    checked.append((block, [unit_kwargs(block, j, unit)
                            for j, unit in enumerate(block.args)]))
  return checked


def reachable_output_strides(blocks: Sequence[Block], root_stride: int = 1
                             ) -> List[int]:
  """Lists the output strides at which the units of ``blocks`` can stop.

  Args:
    blocks: a list of ``Block``.
    root_stride: the stride applied before the blocks (4 for the root block).

  Returns:
    A sorted list of the cumulative strides after each unit, starting with
    ``root_stride`` itself.
  """
  strides = {root_stride}
  current = root_stride
  for _, units in checked_blocks(blocks):
    for kwargs in units:
      current *= kwargs.get('stride', 1)
      strides.add(current)
  return sorted(strides)


def check_output_stride(output_stride: Optional[int], blocks: Sequence[Block],
                        root_stride: int = 1) -> Optional[int]:
  """Raises ValueError unless ``output_stride`` is None or reachable.

  Args:
    output_stride: the requested ratio of input to output resolution.
    blocks: a list of ``Block``.
    root_stride: the stride applied before the blocks.

  Returns:
    ``output_stride`` as an int, or None.

  Raises:
    TypeError, ValueError: if ``output_stride`` is not None and not one of
      ``reachable_output_strides(blocks, root_stride)``.
  """
  if output_stride is None:
    return None
  output_stride = check_positive_int(output_stride, 'output_stride')
  reachable = reachable_output_strides(blocks, root_stride)
  if output_stride % root_stride:
    raise NetworkError(
        'output_stride=%d cannot be reached: the root block (conv1 and pool1) '
        'already strides by %d, so output_stride must be a multiple of %d. '
        'Valid values: %s or None.'
        % (output_stride, root_stride, root_stride, reachable))
  if output_stride not in reachable:
    raise NetworkError(
        'output_stride=%d cannot be reached by these blocks: the cumulative '
        'unit strides are %s (the last is the nominal stride). Use one of '
        'them, or None for the nominal stride.' % (output_stride, reachable))
  return output_stride


@slim.add_arg_scope
def stack_blocks_dense(
    net: tf.Tensor, blocks: Sequence[Block],
    output_stride: Optional[int] = None,
    outputs_collections: Optional[Union[str, List[str]]] = None
) -> tf.Tensor:
  """Stacks ResNet blocks, scoped ``block_name/unit_i``, at a chosen density.

  With ``output_stride`` set, units that would push the stride past it run
  with stride 1 and atrous convolution instead (rate = the stride skipped so
  far), which computes the same features densely: useful for segmentation.

  Args:
    net: a 4-D tensor.
    blocks: a list of ``Block``.
    output_stride: None for the nominal stride, or one of the cumulative unit
      strides (``reachable_output_strides(blocks)``).
    outputs_collections: collection to add each block's output to.

  Returns:
    The output of the last block.

  Raises:
    TypeError, ValueError: on malformed blocks or an unreachable
      ``output_stride``; nothing is built in that case.
  """
  if isinstance(output_stride, str):
    raise TypeError(
        'stack_blocks_dense: the 3rd argument is output_stride (official '
        'TF-Slim order), got the string %r. Pass the collection as a '
        'keyword: outputs_collections=%r.' % (output_stride, output_stride))
  checked = checked_blocks(blocks)
  output_stride = check_output_stride(output_stride, blocks)
  current_stride = 1
  rate = 1  # atrous rate, grows once output_stride has been reached
  for block, units in checked:
    with tf.variable_scope(block.scope, 'block', [net]) as sc:
      for i, kwargs in enumerate(units):
        with tf.variable_scope('unit_%d' % (i + 1), values=[net]):
          if output_stride is not None and current_stride == output_stride:
            stride = kwargs.get('stride', 1)
            net = block.unit_fn(net, **dict(kwargs, stride=1, rate=rate))
            rate *= stride
          else:
            if output_stride is not None:
              kwargs = dict(kwargs, rate=1)
            net = block.unit_fn(net, **kwargs)
            current_stride *= kwargs.get('stride', 1)
      net = slim.utils.collect_named_outputs(outputs_collections, sc.name,
                                             net)
  return net


def _check_number(value, name, low, high, positive=False):
  """A finite float in [low, high] (``> low`` if ``positive``), or a clear
  error naming ``resnet_arg_scope``'s argument; ints become floats (slim's
  l2_regularizer refuses an integer scale)."""
  if isinstance(value, bool) or not isinstance(value, numbers.Real) or (
      not math.isfinite(value)) or value < low or (
          positive and value == low) or (high is not None and value > high):
    raise NetworkError('resnet_arg_scope %s must be a number %s %g%s, got %r.'
                       % (name, '>' if positive else '>=', low,
                          '' if high is None else ' and <= %g' % high, value))
  return float(value)


def resnet_arg_scope(
    is_training: Union[bool, tf.Tensor] = True,
    weight_decay: float = 0.0001,
    batch_norm_decay: float = 0.997,
    batch_norm_epsilon: float = 1e-5,
    batch_norm_scale: bool = True,
    *,
    activation_fn: Optional[Callable[[tf.Tensor], tf.Tensor]] = tf.nn.relu,
    use_batch_norm: bool = True,
    batch_norm_updates_collections: Optional[str] = tf.GraphKeys.UPDATE_OPS
) -> Dict[str, Dict[str, Any]]:
  """The book's ResNet arg_scope: He init, L2 decay, batch norm, SAME pools.

  ``is_training`` is set on ``slim.batch_norm`` itself, not inside the conv
  layers' ``normalizer_params``, so that ``resnet_v2(..., is_training=...)``
  (or a nested ``slim.arg_scope``) can still override it.

  Args:
    is_training: whether batch norm uses batch statistics and creates moving
      average update ops (True) or uses the stored moving averages (False).
    weight_decay: L2 regularization strength of the convolution weights.
    batch_norm_decay: moving-average decay of the batch norm statistics.
    batch_norm_epsilon: small constant added to the variance.
    batch_norm_scale: whether batch norm has a learned ``gamma``.
    activation_fn: activation after batch norm inside the units.
    use_batch_norm: False builds convolutions with biases and no batch norm.
    batch_norm_updates_collections: where the moving-average update ops go
      (``tf.GraphKeys.UPDATE_OPS``: run them with the train op); None updates
      in place.

  Returns:
    An arg_scope dict for ``slim.arg_scope(...)``.
  """
  is_training = check_bool(
      is_training, 'resnet_arg_scope is_training', allow_tensor=True,
      orders=positional_conflict('resnet_arg_scope', 1, 'is_training',
                                 'weight_decay', 'weight_decay'))
  if isinstance(batch_norm_epsilon, bool):
    raise TypeError('resnet_arg_scope batch_norm_epsilon must be a number, '
                    'got %r. %s' % (batch_norm_epsilon, positional_conflict(
                        'resnet_arg_scope', 4, 'batch_norm_epsilon',
                        'batch_norm_scale', 'batch_norm_scale')))
  weight_decay = _check_number(weight_decay, 'weight_decay', 0, None)
  batch_norm_decay = _check_number(batch_norm_decay, 'batch_norm_decay', 0, 1)
  _check_number(batch_norm_epsilon, 'batch_norm_epsilon', 0, None,
                positive=True)
  batch_norm_params = {
      'decay': batch_norm_decay,
      'epsilon': batch_norm_epsilon,
      'scale': batch_norm_scale,
      'updates_collections': batch_norm_updates_collections,
      'fused': None,
  }
  with slim.arg_scope(
      [slim.conv2d],
      weights_regularizer=slim.l2_regularizer(weight_decay),
      weights_initializer=slim.variance_scaling_initializer(),
      activation_fn=activation_fn,
      normalizer_fn=slim.batch_norm if use_batch_norm else None,
      normalizer_params=batch_norm_params):
    with slim.arg_scope([slim.batch_norm], is_training=is_training,
                        **batch_norm_params):
      # SAME pooling keeps feature maps aligned for dense prediction (the
      # original Caffe ResNet used VALID for pool1).
      with slim.arg_scope([slim.max_pool2d], padding='SAME') as arg_sc:
        return arg_sc
