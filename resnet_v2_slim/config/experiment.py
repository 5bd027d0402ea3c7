"""residual-experiment's settings and budget (``teaching.experiment``).

The network pairs, the default budget and ``--quick``'s live here, with
``ExperimentConfig`` whose fields are the command's flags;
``teaching.experiment`` re-exports them.

Typical use::

    from resnet_v2_slim.config import experiment

    config = experiment.ExperimentConfig(out='/tmp/residual', quick=True)
    steps, batch_size, warmup_epochs = config.budget()
"""

import dataclasses
from typing import Optional, Tuple

from resnet_v2_slim import errors
from resnet_v2_slim import names
from resnet_v2_slim.utils.settings import setting

# The network pairs: He et al.'s Fig. 4 (the default), and seed 003's.
DEPTHS = {'18,34': (('shallow', 'resnet_v2_18'), ('deep', 'resnet_v2_34')),
          '18,50': (('shallow', 'resnet_v2_18'), ('deep', 'resnet_v2_50'))}
DATA = 'mnist5k'
# The default budget, the same for all four networks: 1,200 steps of batch
# 64 (76,800 images, 15.4 epochs of the 5,000 digits), about 15 minutes
# for the four on 2 cores (resnet_v2_34 trains at about half of
# resnet_v2_18's images/s; docs/teaching.md has the measured time).
STEPS = 1200
BATCH_SIZE = 64
LEARNING_RATE = 0.1
DECAY_TYPE = 'cosine'
WARMUP_EPOCHS = 1.0
# --quick: the same code path on a few tiny steps (for tests and a look).
QUICK = {'steps': 3, 'batch_size': 4}


class ExperimentError(errors.Error):
  """An output folder that would be overwritten."""


@dataclasses.dataclass(kw_only=True)
class ExperimentConfig:
  """``residual-experiment``'s settings; its flags are made from these."""
  out: str = setting(help='a new folder')
  steps: Optional[int] = setting(None, type=int, help='steps per network '
                                 '(default %d)' % STEPS)
  batch_size: Optional[int] = setting(None, type=int,
                                      help='(default %d)' % BATCH_SIZE)
  depths: str = setting('18,34', choices=tuple(sorted(DEPTHS)),
                        metavar='SHALLOW,DEEP',
                        help='the two depths: %s (default %%(default)s)'
                        % ' or '.join(sorted(DEPTHS)))
  data: str = setting(DATA, choices=tuple(sorted(names.DATASETS)),
                      help='built-in data set (default %(default)s)')
  quick: bool = setting(False, help='%(steps)d steps of batch %(batch_size)d'
                        ' (cosine decay, no warm-up): the whole path in a '
                        'minute, no finding' % QUICK)
  image_size: int = setting(32, help='(default %(default)s)')
  learning_rate: float = setting(LEARNING_RATE, help='peak rate, after the '
                                 'warm-up (default %(default)s)')
  learning_rate_decay_type: str = setting(
      DECAY_TYPE, choices=names.DECAY_TYPES, help='the schedule all four '
      'share, as train\'s flag (default %(default)s)')
  warmup_epochs: float = setting(WARMUP_EPOCHS, help='linear warm-up '
                                 '(default %(default)s)')
  seed: int = setting(0, help='(default %(default)s)')

  def budget(self) -> Tuple[int, int, float]:
    """``(steps, batch_size, warmup_epochs)``: the flags, ``quick``'s (no
    warm-up: three steps are shorter than any) or the defaults.

    Raises:
      ExperimentError: ``quick`` with ``steps`` or ``batch_size``, or a
        number that is not positive.
    """
    if self.quick and (self.steps is not None or
                       self.batch_size is not None):
      raise ExperimentError(
          '`quick` sets the steps and the batch itself (%(steps)d of '
          '%(batch_size)d); leave out `steps` and `batch_size`, or `quick`.'
          % QUICK)
    default = QUICK if self.quick else {'steps': STEPS,
                                        'batch_size': BATCH_SIZE}
    steps = default['steps'] if self.steps is None else self.steps
    batch = (default['batch_size'] if self.batch_size is None
             else self.batch_size)
    if min(steps, batch, self.image_size) <= 0:
      raise ExperimentError('`steps`, `batch_size` and `image_size` must be '
                            '> 0.')
    return steps, batch, 0.0 if self.quick else self.warmup_epochs
