"""resnet_v2_slim: the book's TF-Slim ResNet V2, running on today's TensorFlow.

Importing the package imports no TensorFlow, so that ``resnet-v2-slim
--help`` answers at once. TensorFlow comes when it is first needed: a
network or checkpoint name read from here (``resnet_v2_slim.resnet_v2_50``),
a room that uses it (``from resnet_v2_slim.nets import resnet_v2``), or your
own ``import tensorflow`` after this package. Each time it is imported
quietly, its chatter silenced, and the small ``compat`` fix applied that
makes ``tf_slim.batch_norm`` work with tf-keras >= 2.16 (``_quiet``).

The package is built in rooms, each importing only from rooms below it:

======================  ===================================================
``nets``                networks, building blocks, the registry, the
                        published-checkpoint table, bf16/fp16 (bottom)
``utils``               files: atomic writes, output guards, locks;
                        settings declared once as flags
``checkpoints``         read, describe and restore slim checkpoints
``config``              every command's settings, without TensorFlow
``data``                decoding, preprocessing, labels, datasets, shards
``distribute``          ``--strategy``, TF_CONFIG, bounded sessions
``perf``                FLOP counting, the book's timing protocol
``inference``           classify, evaluate, export and run exports
``training``            MonitoredTrainingSession, its hooks, the recipe
``teaching``            per-unit summaries, the residual experiment
``cli``                 the ``resnet-v2-slim`` command and its subcommands
======================  ===================================================

Below them all: ``names`` (the networks and every name a flag chooses from),
``errors``, ``compat`` and ``_quiet``.

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

import importlib as _importlib
import importlib.abc as _importlib_abc
import importlib.util as _importlib_util
import sys as _sys

from resnet_v2_slim import _quiet

__version__ = '0.2.0'

# TensorFlow imported later by anyone is imported quietly and fixed.
_quiet.watch()

# What the package offers, read on first use (PEP 562), so that importing
# it loads no TensorFlow: {name: (module, attribute; None: the module)}.
# Every network has its own row, so a reader finds it; test_house checks
# that these rows and __all__ name every row of names.NETWORKS, in order.
_LAZY = {
    'Block': ('resnet_v2_slim.nets.resnet_utils', 'Block'),
    'get_network_fn': ('resnet_v2_slim.nets.nets_factory', 'get_network_fn'),
    'network_names': ('resnet_v2_slim.nets.nets_factory', 'network_names'),
    'nets': ('resnet_v2_slim.nets', None),
    'nets_factory': ('resnet_v2_slim.nets.nets_factory', None),
    'resnet_arg_scope': ('resnet_v2_slim.nets.resnet_utils',
                         'resnet_arg_scope'),
    'resnet_utils': ('resnet_v2_slim.nets.resnet_utils', None),
    'resnet_v2': ('resnet_v2_slim.nets.resnet_v2', None),
    'checkpoint': ('resnet_v2_slim.checkpoints', None),
    'checkpoints': ('resnet_v2_slim.checkpoints', None),
    'resnet_v2_18': ('resnet_v2_slim.nets.resnet_v2', 'resnet_v2_18'),
    'resnet_v2_34': ('resnet_v2_slim.nets.resnet_v2', 'resnet_v2_34'),
    'resnet_v2_50': ('resnet_v2_slim.nets.resnet_v2', 'resnet_v2_50'),
    'resnet_v2_101': ('resnet_v2_slim.nets.resnet_v2', 'resnet_v2_101'),
    'resnet_v2_152': ('resnet_v2_slim.nets.resnet_v2', 'resnet_v2_152'),
    'resnet_v2_200': ('resnet_v2_slim.nets.resnet_v2', 'resnet_v2_200'),
}

# The drop-in module paths of round 1 (and of TF-Slim): the same module
# objects as their new homes, so `import resnet_v2_slim.resnet_v2` works.
_DROP_IN = {
    __name__ + '.nets_factory': 'resnet_v2_slim.nets.nets_factory',
    __name__ + '.resnet_utils': 'resnet_v2_slim.nets.resnet_utils',
    __name__ + '.resnet_v2': 'resnet_v2_slim.nets.resnet_v2',
    __name__ + '.checkpoint': 'resnet_v2_slim.checkpoints',
}


def __getattr__(name: str) -> object:
  """``resnet_v2_slim.<name>`` of ``_LAZY``: imports its room on first use.

  The room's ``__init__`` gets TensorFlow through ``_quiet.bootstrap``
  (quiet, compat-fixed).
  """
  if name not in _LAZY:
    raise AttributeError('module %r has no attribute %r' % (__name__, name))
  module, attribute = _LAZY[name]
  value = _importlib.import_module(module)
  return value if attribute is None else getattr(value, attribute)


def __dir__() -> list:
  return sorted(set(_sys.modules[__name__].__dict__) | set(_LAZY))


class _DropInFinder(_importlib_abc.MetaPathFinder, _importlib_abc.Loader):
  """Imports a drop-in path as the very module of its new home.

  A small import hook rather than four alias files: the files would be
  modules of their own in the tree (rooms, the module table of
  tests/README.md) while being no module at all; here the four names live
  in one table. ``exec_module`` puts the real module in ``sys.modules``,
  which the import system then returns (and binds on the package).
  """

  def find_spec(self, fullname, path, target=None):
    if fullname in _DROP_IN:
      return _importlib_util.spec_from_loader(fullname, self)
    return None

  def create_module(self, spec):
    return None   # the default module; exec_module replaces it

  def exec_module(self, module):
    _sys.modules[module.__name__] = _importlib.import_module(
        _DROP_IN[module.__name__])


if not any(isinstance(f, _DropInFinder) for f in _sys.meta_path):
  _sys.meta_path.append(_DropInFinder())

__all__ = ['Block', 'get_network_fn', 'network_names', 'nets',
           'nets_factory', 'resnet_arg_scope', 'resnet_utils', 'resnet_v2',
           'checkpoint', 'checkpoints', '__version__',
           'resnet_v2_18', 'resnet_v2_34', 'resnet_v2_50', 'resnet_v2_101',
           'resnet_v2_152', 'resnet_v2_200']
