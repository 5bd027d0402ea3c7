"""residual-experiment's settings and budget (``teaching.experiment``).

The network pairs, the default budget and ``--quick``'s live here, with
``ExperimentConfig`` whose fields are the command's flags;
``teaching.experiment`` re-exports them.

Typical use::

    from resnet_v2_slim.config import experiment

    config = experiment.ExperimentConfig(out='/tmp/residual', quick=True)
    budget = config.budget()    # steps, batch_size, warm-up, rate
"""

import dataclasses
from typing import NamedTuple, Optional

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
# The peak rate for BATCH_SIZE; other batches scale it linearly (Goyal et
# al. 2017's rule, as research/slim's users do): 0.00625 for --quick's 4,
# where 0.1 sent the plain 34's loss up, not down.
LEARNING_RATE = 0.1
DECAY_TYPE = 'cosine'
WARMUP_EPOCHS = 1.0
# The gradient flow's probe: these many fixed training images, the same
# for every network and measurement.
PROBE_IMAGES = 128
# --quick: the same code path on a few tiny steps (for tests and a look).
QUICK = {'steps': 3, 'batch_size': 4}
# Below this many steps the losses say nothing about depth: no verdict is
# printed (the notebook's and --quick's runs show the path only).
MIN_VERDICT_STEPS = 100


def default_rate(batch_size: int) -> float:
  """The peak learning rate for ``batch_size``: LEARNING_RATE, scaled."""
  return LEARNING_RATE * batch_size / BATCH_SIZE


class Budget(NamedTuple):
  """What every network of one experiment trains with."""
  steps: int
  batch_size: int
  warmup_epochs: float
  learning_rate: float      # the peak, after the warm-up


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
                        'minute, no verdict' % QUICK)
  image_size: int = setting(32, help='(default %(default)s)')
  learning_rate: Optional[float] = setting(
      None, type=float, help='peak rate, after the warm-up (default %g for '
      'batch %d, scaled linearly to --batch_size)' % (LEARNING_RATE,
                                                       BATCH_SIZE))
  learning_rate_decay_type: str = setting(
      DECAY_TYPE, choices=names.DECAY_TYPES, help='the schedule all four '
      'share, as train\'s flag (default %(default)s)')
  warmup_epochs: float = setting(WARMUP_EPOCHS, help='linear warm-up '
                                 '(default %(default)s)')
  seed: int = setting(0, help='(default %(default)s)')
  flow_every: Optional[int] = setting(
      None, type=int, help='measure the gradient per unit every this many '
      'steps, and at the start and the end (default: a tenth of the steps)')

  def budget(self) -> Budget:
    """The flags, ``quick``'s (no warm-up: three steps are shorter than
    any) or the defaults; the rate scaled to the batch unless given.

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
    rate = (default_rate(batch) if self.learning_rate is None
            else self.learning_rate)
    every = 1 if self.flow_every is None else self.flow_every
    if min(steps, batch, self.image_size, every, rate) <= 0:
      raise ExperimentError('`steps`, `batch_size`, `image_size`, '
                            '`flow_every` and `learning_rate` must be > 0.')
    return Budget(steps, batch, 0.0 if self.quick else self.warmup_epochs,
                  rate)
