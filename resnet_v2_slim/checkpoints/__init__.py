"""Checkpoints: read, describe and restore TF-Slim ResNet V2 checkpoints.

``reader`` finds a checkpoint from whatever the user passes and reads it
once into a ``CheckpointInfo``; ``restore`` compares it with a graph and
restores, with a report and hints; ``facts`` reads and writes what
``train`` records beside its checkpoints (``train_facts.json``: image
size, preprocessing, class names), the defaults of every command that
reads them. May import: ``nets``, ``utils``.

Typical use::

    from resnet_v2_slim import checkpoints

    info = checkpoints.read('resnet_v2_50.ckpt')
    # info.model == 'resnet_v2_50', info.num_classes == 1001, info.format == 'V1'
    with slim.arg_scope(resnet_v2.resnet_arg_scope()):
      logits, _ = resnet_v2.resnet_v2_50(images, info.num_classes,
                                         is_training=False)
    report = checkpoints.restore(sess, info)      # checks first
    checkpoints.warm_start(sess, info)            # all but the logits
"""

from resnet_v2_slim import _quiet

# This room uses TensorFlow: it gets it quietly, with the compat fix, even
# when a module of it is the first thing imported.
_quiet.bootstrap()

# pylint: disable=g-import-not-at-top,wrong-import-position
from resnet_v2_slim.checkpoints.facts import DataSource
from resnet_v2_slim.checkpoints.facts import TrainFacts
from resnet_v2_slim.checkpoints.facts import TrainFactsError
from resnet_v2_slim.checkpoints.reader import CheckpointError
from resnet_v2_slim.checkpoints.reader import CheckpointInfo
from resnet_v2_slim.checkpoints.reader import CheckpointMismatchError
from resnet_v2_slim.checkpoints.reader import InputDefaults
from resnet_v2_slim.checkpoints.reader import checkpoint_format
from resnet_v2_slim.checkpoints.reader import choose_model
from resnet_v2_slim.checkpoints.reader import describe
from resnet_v2_slim.checkpoints.reader import detect_network
from resnet_v2_slim.checkpoints.reader import input_paths
from resnet_v2_slim.checkpoints.reader import existing_checkpoints
from resnet_v2_slim.checkpoints.reader import latest_checkpoint
from resnet_v2_slim.checkpoints.reader import read
from resnet_v2_slim.checkpoints.reader import resolve
from resnet_v2_slim.checkpoints.restore import EMA_SUFFIX
from resnet_v2_slim.checkpoints.restore import RestoreReport
from resnet_v2_slim.checkpoints.restore import has_moving_averages
from resnet_v2_slim.checkpoints.restore import compare
from resnet_v2_slim.checkpoints.restore import restore
from resnet_v2_slim.checkpoints.restore import restorer
from resnet_v2_slim.checkpoints.restore import warm_start
