"""The networks: the bottom room, importing nothing of the package above it.

Here live the building blocks (``resnet_utils``), the ResNet V2 networks and
their one table (``resnet_v2.NETWORKS``), the name -> function factory
(``nets_factory``), the table of published checkpoints (``pretrained``)
and mixed precision with float32 variables (``precision``).
May import: nothing above it (the package's names, errors and _quiet
modules, TensorFlow, tf_slim, numpy and the standard library only). The
table of networks is declared in ``resnet_v2_slim.names``, without
TensorFlow; ``resnet_v2.NETWORKS`` is that table.

Porting official TF-Slim code is one word::

    from tf_slim.nets import resnet_v2        # before
    from resnet_v2_slim.nets import resnet_v2  # after

Typical use::

    from resnet_v2_slim.nets import nets_factory, resnet_v2

    network_fn = nets_factory.get_network_fn('resnet_v2_50', 1001)
    logits, end_points = network_fn(images)
"""

from resnet_v2_slim import _quiet

# This room uses TensorFlow: it gets it quietly, with the compat fix, even
# when a module of it is the first thing imported.
_quiet.bootstrap()

# pylint: disable=g-import-not-at-top,wrong-import-position
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.nets import precision
from resnet_v2_slim.nets import pretrained
from resnet_v2_slim.nets import resnet_utils
from resnet_v2_slim.nets import resnet_v2
