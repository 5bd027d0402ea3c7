"""Registry of the networks by name, as in TF-Slim's ``nets_factory``.

Every script looks networks up here, so a name valid for one is valid for all.

Typical use::

    from resnet_v2_slim import nets_factory

    network_fn = nets_factory.get_network_fn('resnet_v2_50', num_classes=1001)
    size = network_fn.default_image_size              # 224
    logits, end_points = network_fn(images)           # inference mode
"""

import functools

from resnet_v2_slim import resnet_utils
from resnet_v2_slim import resnet_v2

slim = resnet_utils.slim

networks_map = {
    'resnet_v2_18': resnet_v2.resnet_v2_18,
    'resnet_v2_34': resnet_v2.resnet_v2_34,
    'resnet_v2_50': resnet_v2.resnet_v2_50,
    'resnet_v2_101': resnet_v2.resnet_v2_101,
    'resnet_v2_152': resnet_v2.resnet_v2_152,
    'resnet_v2_200': resnet_v2.resnet_v2_200,
}

arg_scopes_map = {name: resnet_utils.resnet_arg_scope for name in networks_map}


def network_names():
  """Returns the registered network names, sorted by depth."""
  return list(networks_map)


def check_network_name(name):
  """Returns ``name`` if it is registered, else raises a ValueError listing them."""
  if name not in networks_map:
    raise ValueError('Unknown network %r. Valid names: %s.'
                     % (name, ', '.join(network_names())))
  return name


def get_network_fn(name, num_classes, is_training=False, *,
                   weight_decay=0.0, **network_kwargs):
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

  @functools.wraps(func)
  def network_fn(images, **kwargs):
    call_kwargs = dict(network_kwargs, **kwargs)
    with slim.arg_scope(arg_scopes_map[name](is_training=is_training,
                                             weight_decay=weight_decay)):
      return func(images, num_classes, is_training=is_training, **call_kwargs)

  network_fn.default_image_size = func.default_image_size
  network_fn.name = name
  return network_fn
