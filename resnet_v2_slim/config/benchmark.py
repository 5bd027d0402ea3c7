"""time-forward's settings: what to time, the book's protocol by default.

``perf.benchmark`` re-exports ``Config`` and ``BenchmarkError``.

Typical use::

    from resnet_v2_slim.config import benchmark

    config = benchmark.Config(model='resnet_v2_50', batch_size=8)
    config.validate()
"""

import dataclasses
from typing import Optional

from resnet_v2_slim import errors
from resnet_v2_slim import names
from resnet_v2_slim.config import distribute as distribute_config
from resnet_v2_slim.config import inference as inference_config
from resnet_v2_slim.utils.settings import setting


class BenchmarkError(errors.Error):
  """A bad setting, or one this machine cannot run (exit code 2)."""


# --scenario -> MLPerf LoadGen's name of it (perf.loadgen).
LOADGEN_SCENARIOS = {'single_stream': 'SingleStream',
                     'multi_stream': 'MultiStream', 'offline': 'Offline',
                     'server': 'Server'}


@dataclasses.dataclass
class Config(inference_config.RuntimeSettings):
  """What to time; ``time-forward``'s flags are made from these fields.

  Defaults are the book's protocol (seed 004).
  """
  model: str = setting('resnet_v2_152', help='one of: %s (default '
                       '%%(default)s)' % ', '.join(names.NETWORKS))
  batch_size: int = setting(32, help='images per replica (the book line '
                            'times the global batch: this times the '
                            'replicas; default %(default)s)')
  image_size: int = setting(224, help='input height and width (default '
                            '%(default)s)')
  num_batches: int = setting(100, help='timed steps (default %(default)s)')
  num_burn_in: int = setting(10, help='untimed steps first (default '
                             '%(default)s)')
  mode: str = setting('forward', choices=names.BENCHMARK_MODES,
                      help='forward-backward adds the gradient of an L2 '
                      'loss of the logits w.r.t. all trainable variables '
                      '(batch norm in training mode, with its update ops)')
  precision: str = setting('fp32', choices=tuple(names.PRECISIONS),
                           help='compute dtype; variables stay float32 '
                           '(default %(default)s)')
  weights_cast: str = setting(
      'auto', choices=names.WEIGHTS_CASTS,
      help='bf16/fp16: cast the float32 weights once, before timing, or '
      'every step (as training must); auto: once for a forward pass in one '
      'process, every step otherwise (default %(default)s)')
  data_format: str = setting('NHWC', choices=names.DATA_FORMATS,
                             help='NHWC (CPUs) or NCHW (GPUs)')
  xla: bool = setting(False, help='compile the network with XLA')
  checkpoint: Optional[str] = setting(
      None, help='optional weights to restore (slim checkpoint)')
  num_classes: int = setting(1000, help='classes of the logits layer '
                             '(default %(default)s)')
  # MLPerf LoadGen (perf.loadgen); None: the book's protocol.
  scenario: Optional[str] = setting(
      None, choices=tuple(LOADGEN_SCENARIOS),
      help='time with MLPerf LoadGen\'s scenario instead of the book\'s '
      'protocol (the [benchmark] extra); its summary and detail logs go '
      'beside --json')
  min_duration_ms: Optional[int] = setting(
      None, type=int, help='with --scenario: LoadGen\'s minimum run time '
      '(default: LoadGen\'s, 10 minutes)')
  min_query_count: Optional[int] = setting(
      None, type=int, help='with --scenario: LoadGen\'s minimum query count '
      '(default: LoadGen\'s)')
  target_qps: Optional[float] = setting(
      None, help='with --scenario server: the queries per second to '
      'sustain; offline: the expected rate')
  target_latency_ms: Optional[float] = setting(
      None, help='with --scenario server: the latency bound a query must '
      'meet (default: LoadGen\'s)')
  samples_per_query: Optional[int] = setting(
      None, type=int, help='with --scenario multi_stream: images per query '
      '(default: LoadGen\'s, 8)')
  # --strategy etc.; batch_size is per replica, as in training.
  distribute: distribute_config.Options = dataclasses.field(
      default_factory=distribute_config.Options)

  @property
  def casts_once(self) -> bool:
    """Whether the half-precision weights are cast once, before timing."""
    return self.precision != 'fp32' and (
        self.weights_cast == 'once' or self.weights_cast == 'auto' and
        self.mode == 'forward' and self.distribute.strategy == 'none')

  def validate(self) -> None:
    """Raises BenchmarkError naming the first bad setting."""
    # The network and checkpoint checks need TensorFlow: imported here,
    # after the flags are parsed, so that this room loads without it.
    # pylint: disable=g-import-not-at-top
    from resnet_v2_slim import checkpoints
    from resnet_v2_slim.nets import nets_factory
    # pylint: enable=g-import-not-at-top
    self.distribute.validate()
    nets_factory.check_model_and_size(self.model, self.image_size)
    if self.batch_size > 0:
      nets_factory.check_batch_memory(
          self.model, self.image_size, self.batch_size,
          training=self.mode == 'forward-backward',
          bytes_per_element=2 if self.precision != 'fp32' else 4)
    for flag, value in (('`batch_size`', self.batch_size),
                        ('`num_batches`', self.num_batches),
                        ('`num_classes`', self.num_classes)):
      if value <= 0:
        raise BenchmarkError('%s must be > 0, got %d.' % (flag, value))
    if self.num_burn_in < 0:
      raise BenchmarkError('`num_burn_in` must be >= 0, got %d.'
                           % self.num_burn_in)
    if self.mode not in names.BENCHMARK_MODES:
      raise BenchmarkError('`mode` must be one of %s, got %r.'
                           % (', '.join(names.BENCHMARK_MODES), self.mode))
    if self.precision not in names.PRECISIONS:
      raise BenchmarkError('`precision` must be one of %s, got %r.'
                           % (', '.join(names.PRECISIONS), self.precision))
    if self.weights_cast not in names.WEIGHTS_CASTS:
      raise BenchmarkError('`weights_cast` must be one of %s, got %r.'
                           % (', '.join(names.WEIGHTS_CASTS),
                              self.weights_cast))
    if self.weights_cast == 'once' and (
        self.mode != 'forward' or self.distribute.strategy != 'none'):
      raise BenchmarkError(
          '`weights_cast` once is for a forward pass in one process (a '
          'backward pass needs the float32 weights every step); use auto '
          'or every_step with `mode` %s%s.'
          % (self.mode, '' if self.distribute.strategy == 'none' else
             ' and `strategy` %s' % self.distribute.strategy))
    if self.data_format not in names.DATA_FORMATS:
      raise BenchmarkError('`data_format` must be NHWC or NCHW, got %r.'
                           % self.data_format)
    self.check_runtime(None)   # the TensorFlow graph
    self.check_scenario()
    if self.checkpoint is not None:
      try:
        checkpoints.resolve(self.checkpoint)
      except checkpoints.CheckpointError as exc:
        raise BenchmarkError('`checkpoint`: %s' % exc) from None

  def check_scenario(self) -> None:
    """Refuses LoadGen settings that cannot be met or do not apply.

    Raises:
      BenchmarkError: naming the setting and what to do.
    """
    loadgen_flags = [name for name in (
        'min_duration_ms', 'min_query_count', 'target_qps',
        'target_latency_ms', 'samples_per_query')
                     if getattr(self, name) is not None]
    if self.scenario is None:
      if loadgen_flags:
        raise BenchmarkError('`%s` is a LoadGen setting: give `scenario` '
                             'too.' % loadgen_flags[0])
      return
    if self.mode != 'forward' or self.distribute.strategy != 'none':
      raise BenchmarkError('`scenario` times inference in one process: '
                           'leave out `mode` %s and `strategy`.' % self.mode)
    for name in ('min_duration_ms', 'min_query_count', 'target_qps',
                 'target_latency_ms', 'samples_per_query'):
      value = getattr(self, name)
      if value is not None and not value > (0 if name != 'min_duration_ms'
                                            else -1):
        raise BenchmarkError('`%s` must be > 0%s, got %s.' % (
            name, ' (a Server with no queries measures nothing)' if
            name == 'target_qps' else '', value))
    for name, scenarios in (('target_latency_ms', ('server',)),
                            ('samples_per_query', ('multi_stream',)),
                            ('target_qps', ('server', 'offline'))):
      if getattr(self, name) is not None and self.scenario not in scenarios:
        raise BenchmarkError('`%s` applies to `scenario` %s, not %s.' % (
            name, ' or '.join(scenarios), self.scenario))
