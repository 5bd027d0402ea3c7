"""How to distribute: ``--strategy``, ``--num_devices``, ``--all_reduce``,
``--peer_timeout`` (``distribute.strategy`` makes the strategy from them).

Typical use::

    from resnet_v2_slim.config import distribute

    distribute.add_flags(parser)
    options = distribute.options_from_args(parser.parse_args(argv))
    options.validate()
"""

import argparse
import dataclasses
import math
from typing import Optional

from resnet_v2_slim import errors
from resnet_v2_slim import names
from resnet_v2_slim.utils import settings
from resnet_v2_slim.utils.settings import setting

DEFAULT_PEER_TIMEOUT = 300.0


class DistributeError(errors.Error):
  """A strategy setting or TF_CONFIG that cannot be used (exit code 2)."""


@dataclasses.dataclass(frozen=True)
class Options:
  """How to distribute: the flags of ``add_flags``."""
  strategy: str = setting(
      'none', choices=names.STRATEGIES,
      help='none: one device; mirrored: --num_devices local devices; '
      'multi_worker: the workers in TF_CONFIG (default %(default)s)')
  num_devices: Optional[int] = setting(
      None, type=int,
      help='mirrored: devices to use (default: every GPU, else 1); without '
      'GPUs the CPU is split into this many logical devices. multi_worker: '
      'GPUs per worker')
  all_reduce: str = setting(
      'auto', choices=names.ALL_REDUCE,
      help='gradient all-reduce: auto (TensorFlow chooses; default), ring '
      '(multi_worker\'s gRPC ring), nccl (GPUs only)')
  peer_timeout: float = setting(
      DEFAULT_PEER_TIMEOUT,
      help='multi_worker: seconds any step (start-up included) may wait for '
      'the other workers before this one stops with an error (default '
      '%(default)s)')

  def validate(self) -> None:
    """Raises DistributeError naming the first bad setting."""
    if self.strategy not in names.STRATEGIES:
      raise DistributeError('`strategy` must be one of %s, got %r.'
                            % (', '.join(names.STRATEGIES), self.strategy))
    if self.all_reduce not in names.ALL_REDUCE:
      raise DistributeError('`all_reduce` must be one of %s, got %r.'
                            % (', '.join(names.ALL_REDUCE), self.all_reduce))
    if self.num_devices is not None and (
        not isinstance(self.num_devices, int) or self.num_devices <= 0):
      raise DistributeError('`num_devices` must be a positive integer, got '
                            '%r.' % (self.num_devices,))
    if not (isinstance(self.peer_timeout, (int, float)) and
            math.isfinite(self.peer_timeout) and self.peer_timeout > 0):
      raise DistributeError('`peer_timeout` must be a positive number of '
                            'seconds, got %r.' % (self.peer_timeout,))
    if self.strategy == 'none' and (self.num_devices not in (None, 1) or
                                    self.all_reduce != 'auto'):
      raise DistributeError(
          '`num_devices` and `all_reduce` need `strategy` mirrored (one '
          'machine) or multi_worker (TF_CONFIG); `strategy` is none.')


def add_flags(parser: argparse.ArgumentParser) -> None:
  """Adds --strategy, --num_devices, --all_reduce, --peer_timeout."""
  settings.add_flags(parser, Options,
                     group='distribution (tf.distribute; see '
                     'docs/scale-out.md)')


def options_from_args(args: argparse.Namespace) -> Options:
  """The ``Options`` of parsed ``add_flags`` arguments."""
  return settings.from_args(Options, args)
