"""The settings of one training run: ``train``'s flags, checked once.

``TrainConfig`` declares every setting once, as a dataclass field made with
``utils.settings.setting`` (the ``train`` command's flags are made from
it); ``validate`` checks them and changes nothing; ``resolved`` gives the
copy a run uses (research/slim's ``max_number_of_steps`` folded into
``steps``). It is declared without TensorFlow in ``config.train`` (the
command line parses its flags before TensorFlow loads) and is the same
class here. ``must_agree`` names the settings every worker of one
distributed run must share.

Typical use::

    from resnet_v2_slim.training import settings

    config = settings.TrainConfig(model='resnet_v2_18', train_dir='/tmp/run')
    config.validate()
    run = config.resolved()
"""

import signal
from typing import Any

from resnet_v2_slim.config import train as train_config

TrainConfig = train_config.TrainConfig
TrainError = train_config.TrainError


class TrainInterrupted(TrainError):
  """Ctrl-C during training (or a stop signal before it began): nothing
  half-done was saved.

  Attributes:
    signal_number: the signal (``signal.SIGINT`` for Ctrl-C).
  """

  def __init__(self, message: str, signal_number: int = signal.SIGINT) -> None:
    super().__init__(message)
    self.signal_number = signal_number


class TrainPreempted(TrainError):
  """A preemption signal stopped training after saving the step in flight."""


def must_agree(config: TrainConfig, dataset: Any,
               preprocessing: str) -> dict:
  """The settings every worker of one run must share, as ``{flag: value}``.

  Workers that differ in any of them would either crash in a collective
  (another shape) or silently train different things.
  """
  names = ('model', 'image_size', 'batch_size', 'use_shortcut',
           'learning_rate', 'momentum', 'weight_decay', 'optimizer',
           'learning_rate_decay_type', 'learning_rate_decay_factor',
           'num_epochs_per_decay', 'end_learning_rate', 'boundaries',
           'values', 'warmup_epochs', 'label_smoothing', 'steps', 'seed',
           'data_dir', 'tfrecord', 'dataset_name', 'dataset_split_name',
           'labels_offset', 'checkpoint', 'trainable_scopes', 'precision',
           'random_shift', 'save_on_preemption')
  agree = {name: getattr(config, name) for name in names}
  agree.update(num_classes=dataset.num_classes, preprocessing=preprocessing)
  return agree

