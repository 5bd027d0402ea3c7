"""Mixed precision the graph-mode way: float32 variables, half compute.

Variables are created and stored in float32 (so float32 checkpoints, legacy
slim ones included, restore unchanged and optimizers update full-precision
weights); a custom variable getter hands each layer a cast copy in the
compute dtype. Batch norm keeps float32 parameters and statistics (slim's
fused batch norm requires them for half inputs), and the logits are cast
back to float32 before the softmax.

For inference the per-step casts are waste: ``build(..., cast_once=True)``
gives each layer a half-precision copy of its weights, a variable outside
the checkpointed ones, filled by ``cast_weights(sess)`` after the float32
values are initialized or restored (``checkpoints.restorer`` calls it).
Frozen, those copies become half-precision constants.

Typical use::

    from resnet_v2_slim.nets import nets_factory
    from resnet_v2_slim.nets import precision

    network_fn = nets_factory.get_network_fn('resnet_v2_50', 1001)
    logits, end_points = precision.build(network_fn, images, 'bf16')
    # logits and end_points['predictions'] are float32; variables too.

    logits, _ = precision.build(network_fn, images, 'bf16', cast_once=True)
    ...                       # initialize or restore the float32 variables
    precision.cast_weights(sess)          # the bf16 copies, once
"""

import contextlib
from typing import Any, Callable, Dict, Iterator, Tuple, Union

import tensorflow.compat.v1 as tf

from resnet_v2_slim import names
from resnet_v2_slim.nets import resnet_utils


# {'fp32': tf.float32, 'bf16': tf.bfloat16, 'fp16': tf.float16}, from the
# names the flags offer (names.PRECISIONS).
DTYPES = {name: tf.as_dtype(dtype)
          for name, dtype in names.PRECISIONS.items()}

# The half-precision weight copies of ``cast_once`` graphs. A collection of
# its own, not GLOBAL_VARIABLES: Savers, initializers and checkpoints never
# see them, so checkpoints stay float32 and the names unchanged.
CAST_ONCE_COPIES = 'resnet_v2_slim_cast_once_copies'


def compute_dtype(precision: str) -> tf.DType:
  """Returns the tf dtype for 'fp32', 'bf16' or 'fp16'.

  Raises:
    NetworkError: for any other name.
  """
  if precision not in DTYPES:
    raise resnet_utils.NetworkError('precision must be one of %s, got %r.'
                     % (', '.join(DTYPES), precision))
  return DTYPES[precision]


def float32_storage_getter(getter: Callable[..., tf.Variable], name: str,
                           *args: Any, **kwargs: Any
                           ) -> Union[tf.Variable, tf.Tensor]:
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


def cast_once_getter(getter: Callable[..., tf.Variable], name: str,
                     *args: Any, **kwargs: Any) -> tf.Variable:
  """Variable getter: float32 variables, layers read a half copy made once.

  The copy is a non-trainable variable whose initial value is the cast of
  the float32 one, so running its initializer (``cast_weights``) after a
  restore casts the restored values; reading it costs no cast per step.

  Args:
    getter, name, *args, **kwargs: as for ``float32_storage_getter``.

  Returns:
    The float32 variable, or its half-precision copy.
  """
  requested = kwargs.get('dtype')
  if requested not in (tf.float16, tf.bfloat16):
    return getter(name, *args, **kwargs)
  kwargs['dtype'] = tf.float32
  variable = getter(name, *args, **kwargs)
  with tf.name_scope(None):   # named after the variable: conv1/weights/bf...
    return tf.Variable(
        lambda: tf.cast(variable.read_value(), requested), trainable=False,
        collections=[CAST_ONCE_COPIES], use_resource=True,
        name='%s/%s' % (name, requested.name))


def cast_weights(sess: tf.Session) -> None:
  """Fills the half-precision weight copies of ``sess.graph``, if any.

  Run it after the float32 variables are initialized or restored (again
  after any later restore); a graph without copies is left alone.

  Args:
    sess: a session on a graph built with ``build(..., cast_once=True)``.
  """
  copies = sess.graph.get_collection(CAST_ONCE_COPIES)
  if copies:
    sess.run([copy.initializer for copy in copies])


@contextlib.contextmanager
def storage_scope(getter: Callable[..., Union[tf.Variable, tf.Tensor]] = (
    float32_storage_getter)) -> Iterator[None]:
  """Re-enters the current variable scope with ``getter``."""
  with tf.variable_scope(tf.get_variable_scope(), custom_getter=getter,
                         auxiliary_name_scope=False):
    yield


def build(network_fn: Callable[..., Tuple[tf.Tensor, Dict[str, tf.Tensor]]],
          images: tf.Tensor, precision: str = 'fp32', *,
          cast_once: bool = False, **kwargs: Any
          ) -> Tuple[tf.Tensor, Dict[str, tf.Tensor]]:
  """Builds ``network_fn(images, **kwargs)`` computing in ``precision``.

  Args:
    network_fn: a function ``(images, **kwargs) -> (logits, end_points)``,
      e.g. from ``nets_factory.get_network_fn``.
    images: float32 images.
    precision: 'fp32', 'bf16' or 'fp16'.
    cast_once: for inference: layers read half-precision copies of the
      weights that ``cast_weights(sess)`` fills once, instead of casting
      the float32 variables every step. No gradients reach the float32
      variables then.
    **kwargs: passed to ``network_fn``.

  Returns:
    ``(logits, end_points)`` with float32 logits and predictions.

  Raises:
    NetworkError: on an unknown precision.
  """
  dtype = compute_dtype(precision)
  if dtype == tf.float32:
    return network_fn(images, **kwargs)
  with storage_scope(cast_once_getter if cast_once
                     else float32_storage_getter):
    net, end_points = network_fn(tf.cast(images, dtype), **kwargs)
  net = tf.cast(net, tf.float32)
  if 'predictions' in end_points:
    end_points['predictions'] = tf.nn.softmax(net, name='predictions_fp32')
  return net, end_points
