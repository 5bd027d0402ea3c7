"""Mixed precision the graph-mode way: float32 variables, half compute.

Variables are created and stored in float32 (so float32 checkpoints, legacy
slim ones included, restore unchanged and optimizers update full-precision
weights); a custom variable getter hands each layer a cast copy in the
compute dtype. Batch norm keeps float32 parameters and statistics (slim's
fused batch norm requires them for half inputs), and the logits are cast
back to float32 before the softmax.

Typical use::

    from resnet_v2_slim.nets import nets_factory
    from resnet_v2_slim.nets import precision

    network_fn = nets_factory.get_network_fn('resnet_v2_50', 1001)
    logits, end_points = precision.build(network_fn, images, 'bf16')
    # logits and end_points['predictions'] are float32; variables too.
"""

import contextlib

import tensorflow.compat.v1 as tf

from resnet_v2_slim.nets import resnet_utils


DTYPES = {'fp32': tf.float32, 'bf16': tf.bfloat16, 'fp16': tf.float16}


def compute_dtype(precision):
  """Returns the tf dtype for 'fp32', 'bf16' or 'fp16'.

  Raises:
    NetworkError: for any other name.
  """
  if precision not in DTYPES:
    raise resnet_utils.NetworkError('precision must be one of %s, got %r.'
                     % (', '.join(DTYPES), precision))
  return DTYPES[precision]


def float32_storage_getter(getter, name, *args, **kwargs):
  """Variable getter: stores half-precision variables as float32, casts reads.

  Args:
    getter: the underlying getter (passed by ``tf.variable_scope``).
    name: the variable name (unchanged, so checkpoints match).
    *args: passed through.
    **kwargs: passed through; ``dtype`` is replaced by float32 for halves.

  Returns:
    The float32 variable, or a cast of it to the requested half dtype.
  """
  requested = kwargs.get('dtype')
  if requested not in (tf.float16, tf.bfloat16):
    return getter(name, *args, **kwargs)
  kwargs['dtype'] = tf.float32
  variable = getter(name, *args, **kwargs)
  return tf.cast(variable, requested, name=name.split('/')[-1] + '/cast')


@contextlib.contextmanager
def storage_scope():
  """Re-enters the current variable scope with ``float32_storage_getter``."""
  with tf.variable_scope(tf.get_variable_scope(),
                         custom_getter=float32_storage_getter,
                         auxiliary_name_scope=False):
    yield


def build(network_fn, images, precision='fp32', **kwargs):
  """Builds ``network_fn(images, **kwargs)`` computing in ``precision``.

  Args:
    network_fn: a function ``(images, **kwargs) -> (logits, end_points)``,
      e.g. from ``nets_factory.get_network_fn``.
    images: float32 images.
    precision: 'fp32', 'bf16' or 'fp16'.
    **kwargs: passed to ``network_fn``.

  Returns:
    ``(logits, end_points)`` with float32 logits and predictions.

  Raises:
    ValueError: on an unknown precision.
  """
  dtype = compute_dtype(precision)
  if dtype == tf.float32:
    return network_fn(images, **kwargs)
  with storage_scope():
    net, end_points = network_fn(tf.cast(images, dtype), **kwargs)
  net = tf.cast(net, tf.float32)
  if 'predictions' in end_points:
    end_points['predictions'] = tf.nn.softmax(net, name='predictions_fp32')
  return net, end_points
