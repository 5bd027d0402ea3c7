"""resnet_v2_slim: the book's TF-Slim ResNet V2, running on today's TensorFlow.

Importing the package imports TensorFlow quietly and applies the small
``compat`` fix that makes ``tf_slim.batch_norm`` work with tf-keras >= 2.16.

The package is built in rooms, each importing only from rooms below it:

======================  ===================================================
``nets``                networks, building blocks, the registry, the
                        published-checkpoint table, bf16/fp16 (bottom)
``utils``               files: atomic writes, output guards, locks;
                        settings declared once as flags
``checkpoints``         read, describe and restore slim checkpoints
``data``                decoding, preprocessing, labels, datasets, shards
``distribute``          ``--strategy``, TF_CONFIG, bounded sessions
``perf``                FLOP counting, the book's timing protocol
``inference``           classify, evaluate, export and run exports
``training``            MonitoredTrainingSession, its hooks, the recipe
``teaching``            per-unit summaries, the residual experiment
``cli``                 the ``resnet-v2-slim`` command and its subcommands
======================  ===================================================

``resnet_v2_slim.resnet_v2``, ``.resnet_utils``, ``.nets_factory`` and
``.checkpoint`` stay importable: they are the very modules ``nets.*`` and
``checkpoints``.

Typical use::

    import tensorflow.compat.v1 as tf
    import tf_slim as slim
    from resnet_v2_slim import resnet_v2

    tf.disable_eager_execution()
    images = tf.placeholder(tf.float32, [None, 224, 224, 3])
    with slim.arg_scope(resnet_v2.resnet_arg_scope(is_training=False)):
      logits, end_points = resnet_v2.resnet_v2_50(images, 1000)
"""

import sys as _sys

from resnet_v2_slim import _quiet

_quiet.import_tensorflow()
_quiet.quiet_tensorflow()

from resnet_v2_slim import compat  # pylint: disable=g-import-not-at-top

compat.apply()

# pylint: disable=g-import-not-at-top,wrong-import-position
from resnet_v2_slim import checkpoints
from resnet_v2_slim import nets
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.nets import resnet_utils
from resnet_v2_slim.nets import resnet_v2
from resnet_v2_slim.nets.nets_factory import get_network_fn
from resnet_v2_slim.nets.nets_factory import network_names
from resnet_v2_slim.nets.resnet_utils import Block
from resnet_v2_slim.nets.resnet_utils import resnet_arg_scope
# Every network at package level (resnet_v2_slim.resnet_v2_50 ...), one
# import each so a reader or a linter finds them; test_house checks that
# this list and __all__ name every row of resnet_v2.NETWORKS.
from resnet_v2_slim.nets.resnet_v2 import resnet_v2_18
from resnet_v2_slim.nets.resnet_v2 import resnet_v2_34
from resnet_v2_slim.nets.resnet_v2 import resnet_v2_50
from resnet_v2_slim.nets.resnet_v2 import resnet_v2_101
from resnet_v2_slim.nets.resnet_v2 import resnet_v2_152
from resnet_v2_slim.nets.resnet_v2 import resnet_v2_200

__version__ = '0.2.0'

# The drop-in module paths of round 1 (and of TF-Slim) are the same module
# objects as their new homes, so `import resnet_v2_slim.resnet_v2` works.
for _name in ('nets_factory', 'resnet_utils', 'resnet_v2'):
  _sys.modules[__name__ + '.' + _name] = getattr(nets, _name)
_sys.modules[__name__ + '.checkpoint'] = checkpoint = checkpoints

__all__ = ['Block', 'get_network_fn', 'network_names', 'nets',
           'nets_factory', 'resnet_arg_scope', 'resnet_utils', 'resnet_v2',
           'checkpoint', 'checkpoints', '__version__',
           'resnet_v2_18', 'resnet_v2_34', 'resnet_v2_50', 'resnet_v2_101',
           'resnet_v2_152', 'resnet_v2_200']

