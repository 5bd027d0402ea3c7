"""Registry of the networks by name, as in TF-Slim's ``nets_factory``.

Every script looks networks up here, so a name valid for one is valid for all.

Typical use::

    from resnet_v2_slim.nets import nets_factory

    network_fn = nets_factory.get_network_fn('resnet_v2_50', num_classes=1001)
    size = network_fn.default_image_size              # 224
    logits, end_points = network_fn(images)           # inference mode
"""

import functools
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import tensorflow.compat.v1 as tf
import tf_slim as slim

from resnet_v2_slim.nets import resnet_utils
from resnet_v2_slim.nets import resnet_v2

# The functions @register_network stored, in the order of the one table,
# resnet_v2.NETWORKS.
networks_map = {name: resnet_v2.NETWORK_FNS[name]
                for name in resnet_v2.NETWORKS}
arg_scopes_map = {name: resnet_utils.resnet_arg_scope for name in networks_map}


def network_names() -> List[str]:
  """Returns the registered network names, sorted by depth."""
  return list(networks_map)


def model_for(family: str, units_per_block: Sequence[int]) -> Optional[str]:
  """The registered name of a (unit family, units per block), or None."""
  return next((name for name, row in resnet_v2.NETWORKS.items()
               if row == (family, tuple(units_per_block))), None)


def check_network_name(name: str) -> str:
  """Returns ``name`` if it is registered, else a NetworkError listing them."""
  if name not in networks_map:
    raise resnet_utils.NetworkError('Unknown network %r. Valid names: %s.'
                                    % (name, ', '.join(network_names())))
  return name


# Input sizes every registered network takes: at least its nominal stride
# (so the last block sees a real pixel) and at most what a 2-core, 24 GiB
# machine builds without the process being killed (20000 pixels was).
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 2048


def check_image_size(image_size: int, flag: str = '`image_size`',
                     model: Optional[str] = None) -> int:
  """Returns ``image_size`` if a network can take it, else a clear error.

  Raises:
    NetworkError: naming the argument, the value and the valid range.
  """
  if isinstance(image_size, bool) or not isinstance(image_size, int) or not (
      MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE):
    raise resnet_utils.NetworkError(
        '%s %r cannot be used%s: give an integer from %d (the networks\' '
        'nominal stride, so the last block sees a real pixel) to %d.'
        % (flag, image_size, ' for ' + model if model else '',
           MIN_IMAGE_SIZE, MAX_IMAGE_SIZE))
  return image_size


def check_model_and_size(model: str, image_size: int) -> None:
  """The check every command makes of ``--model`` and ``--image_size``.

  Raises:
    NetworkError: starting with the argument at fault.
  """
  try:
    check_network_name(model)
  except resnet_utils.NetworkError as exc:
    raise resnet_utils.NetworkError('`model`: %s' % exc) from None
  check_image_size(image_size, model=model)


def get_network_fn(name: str, num_classes: Optional[int],
                   is_training: Union[bool, tf.Tensor] = False, *,
                   weight_decay: float = 0.0, **network_kwargs: Any
                   ) -> Callable[..., Tuple[tf.Tensor, Dict[str, tf.Tensor]]]:
  """Returns ``network_fn(images, **kwargs) -> (logits, end_points)``.

  The function builds the network inside its ``resnet_arg_scope`` with the
  given batch norm mode; it carries ``default_image_size``.

  Args:
    name: a registered network name (see ``network_names()``).
    num_classes: number of classes, or None for features.
    is_training: batch norm mode (False: inference, the safe default for
      running and exporting trained weights).
    weight_decay: L2 weight decay for the arg scope.
    **network_kwargs: defaults for keyword arguments of the network, such as
      ``spatial_squeeze=True`` or ``data_format='NCHW'``.

  Returns:
    The network function.

  Raises:
    ValueError: if ``name`` is not registered.
  """
  func = networks_map[check_network_name(name)]
  # research/slim's third positional is weight_decay; ours is is_training
  # (documented), so a float there is that mix-up.
  is_training = resnet_utils.check_bool(
      is_training, 'get_network_fn is_training', allow_tensor=True,
      orders=resnet_utils.positional_conflict(
          'get_network_fn', 3, 'is_training', 'weight_decay (research/slim)',
          'weight_decay'))

  @functools.wraps(func)
  def network_fn(images, **kwargs):
    call_kwargs = dict(network_kwargs, **kwargs)
    with slim.arg_scope(arg_scopes_map[name](is_training=is_training,
                                             weight_decay=weight_decay)):
      return func(images, num_classes, is_training=is_training, **call_kwargs)

  network_fn.default_image_size = func.default_image_size
  network_fn.name = name
  return network_fn


def activation_elements(model: str, image_size: int) -> Tuple[int, int]:
  """Lower bounds on a network's activations per image, from its blocks.

  Returns:
    ``(largest, total)``: the elements of the largest feature map (conv1's
    output; a forward pass holds at least it and its input at once), and of
    all unit outputs together (a training step keeps them for the backward
    pass).
  """
  family, units = resnet_v2.NETWORKS[check_network_name(model)]
  side = -(-image_size // 2)           # conv1, stride 2
  largest = 64 * side * side
  side = -(-side // 2)                 # pool1
  total = largest
  for base, count, stride in resnet_v2.block_specs(units):
    depth = base * 4 if family == 'bottleneck' else base
    total += (count - 1) * depth * side * side
    side = -(-side // stride)
    total += depth * side * side
  return largest, total


def check_batch_memory(model: str, image_size: int, batch_size: int, *,
                       training: bool, bytes_per_element: int = 4,
                       replicas: int = 1) -> None:
  """Refuses a batch that cannot fit in this machine's memory.

  The estimate is a lower bound (see ``activation_elements``), so nothing
  that would run is refused; what it refuses would die of out-of-memory
  after minutes of graph building.

  Raises:
    NetworkError: naming the estimate, the machine's memory and the
      argument to lower.
  """
  largest, total = activation_elements(model, image_size)
  need = bytes_per_element * batch_size * replicas * (
      total if training else 2 * largest)
  try:
    have = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
  except (ValueError, OSError, AttributeError):
    return
  if need > have:
    raise resnet_utils.NetworkError(
        '`batch_size` %d of %s at %dx%d needs at least %.1f GiB for its '
        'activations%s, but this machine has %.1f GiB: lower `batch_size` '
        '(or `image_size`).' % (batch_size, model, image_size, image_size,
                                need / 2**30, ' in a training step'
                                if training else '', have / 2**30))
