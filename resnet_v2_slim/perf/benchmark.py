"""The book's session-timed benchmark, fixed and extended.

``time_steps`` is the book's ``time_tensorflow_run``: burn-in steps, then
timed steps with a progress line every 10, then
``<time>: Forward across 100 steps, 0.481 +/- 0.009 sec / batch``. Unlike
seed 000 it computes the mean and deviation once, after the loop. ``run``
builds the benchmark graph (random inputs generated in the graph, as in the
book), times it and gathers throughput, FLOP/s, memory and machine facts.

Typical use::

    from resnet_v2_slim.perf import benchmark

    config = benchmark.Config(model='resnet_v2_50', batch_size=8,
                              precision='bf16')
    result = benchmark.run(config)            # prints the book's lines
    print(result['images_per_sec'])
"""

import collections
import dataclasses
import datetime
import os
import platform
import resource
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

import tensorflow.compat.v1 as tf

from resnet_v2_slim import errors
from resnet_v2_slim import names
from resnet_v2_slim import checkpoints
from resnet_v2_slim.distribute import strategy as dist
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.config import benchmark as benchmark_config
from resnet_v2_slim.perf import flops as flops_lib
from resnet_v2_slim.nets import precision as precision_lib

# ``fn(images, **kwargs) -> (logits, end_points)``: a network to time.
_NetworkFn = Callable[..., Tuple[tf.Tensor, Dict[str, tf.Tensor]]]

MODES = names.BENCHMARK_MODES
WEIGHTS_CASTS = names.WEIGHTS_CASTS


# Declared without TensorFlow in config.benchmark (the command line parses
# its flags before TensorFlow loads): the same objects here.
BenchmarkError = benchmark_config.BenchmarkError
Config = benchmark_config.Config


def summarize(durations: Sequence[float]) -> Dict[str, float]:
  """Book statistics plus robust ones, for a list of step times in seconds.

  Returns:
    dict with mean_sec, std_sec (population, as in the book), median_sec,
    p90_sec, min_sec, max_sec.
  """
  d = np.asarray(durations, dtype=np.float64)
  # np.std is the population deviation (ddof=0), the book's formula.
  return {'mean_sec': float(d.mean()), 'std_sec': float(np.std(d)),
          'median_sec': float(np.median(d)),
          'p90_sec': float(np.percentile(d, 90)),
          'min_sec': float(d.min()), 'max_sec': float(d.max())}


def time_steps(step_fn: Callable[[], Any], num_batches: int,
               num_burn_in: int, info_string: str,
               log: Optional[Callable[[str], None]] = print
               ) -> Tuple[List[float], Dict[str, float]]:
  """Times ``step_fn()`` the book's way.

  Args:
    step_fn: runs one batch (e.g. ``lambda: sess.run(target)``).
    num_batches: timed steps.
    num_burn_in: untimed steps first (graph optimization, caches).
    info_string: what is timed, e.g. 'Forward'.
    log: where lines go (``print`` by default; None for silence).

  Returns:
    ``(durations, stats)``: the timed step durations and ``summarize``
    of them.
  """
  durations = []
  for i in range(num_batches + num_burn_in):
    start = time.perf_counter()
    step_fn()
    duration = time.perf_counter() - start
    step = i - num_burn_in
    if step < 0:
      continue
    durations.append(duration)
    if log and step % 10 == 0:
      log('%s: step %d, duration = %.3f' % (datetime.datetime.now(), step,
                                            duration))
  stats = summarize(durations)
  if log:
    log('%s: %s across %d steps, %.3f +/- %.3f sec / batch'
        % (datetime.datetime.now(), info_string, num_batches,
           stats['mean_sec'], stats['std_sec']))
  return durations, stats


def device_info() -> Dict[str, Any]:
  """Describes what runs the benchmark: device names, TF version, threads."""
  gpus = tf.config.list_physical_devices('GPU')
  names = []
  for gpu in gpus:
    details = tf.config.experimental.get_device_details(gpu)
    names.append(details.get('device_name', gpu.name))
  cpu = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      for line in f:
        if line.startswith('model name'):
          cpu = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  return {
      'device': ', '.join(names) if names else 'CPU: %s' % cpu,
      'gpus': names,
      'cpu': cpu,
      'cpu_count': os.cpu_count(),
      'tensorflow_version': tf.__version__,
      'intra_op_threads': tf.config.threading.get_intra_op_parallelism_threads(),
      'inter_op_threads': tf.config.threading.get_inter_op_parallelism_threads(),
  }


def peak_memory() -> Tuple[int, Optional[int]]:
  """Peak memory in bytes: (host RSS of this process, GPU:0 or None)."""
  host = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
  gpu = None
  if tf.config.list_physical_devices('GPU'):
    try:
      gpu = tf.config.experimental.get_memory_info('GPU:0')['peak']
    except (ValueError, RuntimeError):
      gpu = None
  return host, gpu


BenchmarkGraph = collections.namedtuple('BenchmarkGraph', ['target', 'name'])
BenchmarkGraph.__doc__ = """What ``build_graph`` builds: ``target`` is what one
timed step runs (the logits, or [gradients, update ops]); ``name`` is the
book line's word ('Forward' or 'Forward-backward')."""


def build_graph(config: Config, network_fn: Optional[_NetworkFn] = None,
                setup: Optional[dist.Setup] = None) -> BenchmarkGraph:
  """Builds the benchmark graph of ``config`` in the default graph.

  Under a strategy every replica generates its own ``config.batch_size``
  images and runs the network; in forward-backward mode the gradients are
  summed across all replicas (all workers) every step, the communication
  a training step pays.

  Args:
    config: a ``Config``.
    network_fn: see ``_build_replica``.
    setup: a ``distribute.strategy.Setup``; build inside its ``scope()``.

  Returns:
    A ``BenchmarkGraph``.
  """
  if setup is None or setup.strategy is None:
    return _build_replica(config, network_fn)
  names = []

  def all_reduce(grads):
    return tf.distribute.get_replica_context().all_reduce(
        tf.distribute.ReduceOp.SUM, grads)

  def replica_fn():
    # Nothing inside this block may wait for the other replicas (see
    # new_update_ops): the all-reduce comes after it.
    with dist.new_update_ops() as update_ops:
      target, name = _build_replica(config, network_fn)
    names.append(name)
    if config.mode == 'forward':
      return target
    return [all_reduce(target[0]), update_ops]   # this replica's updates

  per_replica = dist.run_per_replica(setup, replica_fn)
  return BenchmarkGraph(tf.nest.map_structure(
      setup.strategy.experimental_local_results, per_replica), names[0])


def _build_replica(config, network_fn=None):
  """Builds one replica of the benchmark graph in the default graph.

  Args:
    config: a ``Config``.
    network_fn: ``fn(images, **kwargs) -> (logits, end_points)`` to time
      instead of the registered network (``benchmarks/compare.py`` times the
      official tf_slim net this way); it receives ``data_format`` only
      for NCHW.


  Returns:
    A ``BenchmarkGraph``.
  """
  network_fn = network_fn or nets_factory.get_network_fn(
      config.model, config.num_classes,
      is_training=(config.mode == 'forward-backward'))
  shape = ([config.batch_size, 3, config.image_size, config.image_size]
           if config.data_format == 'NCHW' else
           [config.batch_size, config.image_size, config.image_size, 3])
  # Fresh random images every step, inside the graph, as in the book.
  images = tf.random_uniform(shape)
  scope = (tf.xla.experimental.jit_scope() if config.xla
           else tf.name_scope(None))
  with scope:
    layout = ({'data_format': config.data_format}
              if config.data_format != 'NHWC' else {})
    logits, _ = precision_lib.build(network_fn, images, config.precision,
                                    cast_once=config.casts_once, **layout)
    if config.mode == 'forward':
      return BenchmarkGraph(logits, 'Forward')
    # As the book does for its other networks: gradient of an L2 loss of
    # the logits w.r.t. every trainable variable, plus batch norm updates.
    loss = tf.nn.l2_loss(logits)
    grads = tf.gradients(loss, tf.trainable_variables())
    return BenchmarkGraph(
        [grads, tf.get_collection(tf.GraphKeys.UPDATE_OPS)],
        'Forward-backward')


def _warn_once_about(config, info):
  if config.precision == 'fp16' and not info['gpus']:
    warnings.warn('fp16 on a CPU is emulated and usually slower than fp32; '
                  'use `precision` bf16 for a CPU speed-up.', stacklevel=3)
  if config.data_format == 'NCHW' and not info['gpus']:
    warnings.warn('NCHW is the GPU layout; on a CPU NHWC is usually faster.',
                  stacklevel=3)


def run(config: Config, log: Optional[Callable[[str], None]] = print,
        network_fn: Optional[_NetworkFn] = None) -> Dict[str, Any]:
  """Builds, restores (optionally), burns in and times ``config``.

  Under a strategy (``config.distribute``) one replica alone is timed
  first, with the same protocol, so the scaling efficiency compares two
  measurements of the same run; then every replica runs together and the
  book's line reports the global batch.

  Args:
    config: a ``Config``.
    log: where progress lines go.
    network_fn: optional network to time instead (see ``build_graph``).

  Returns:
    A dict of results, what ``time-forward --json`` writes: the settings
    (``model``, ``batch_size``, ``image_size``, ``mode``, ``precision`` ...),
    ``mean_sec``/``std_sec`` per batch and ``durations_sec`` of the timed
    steps, ``images_per_sec``, ``gflops_per_batch``/``gflops_per_sec``,
    peak memory, the machine (``device``, TensorFlow version, threads),
    and under a strategy the one-replica timing and scaling efficiency.

  Raises:
    BenchmarkError: on a bad setting, or one this machine cannot run (e.g.
      a kernel missing for NCHW or fp16 here); nothing has been timed then.
    distribute.strategy.DistributeError: a strategy that cannot be made
      here; PeerError when another worker dies or stays silent.
  """
  config.validate()
  setup = dist.make(config.distribute)   # before TensorFlow runs anything
  if config.threads:   # on top of what the strategy's session needs
    proto = setup.config or tf.ConfigProto()
    for field, value in config.session_threads().items():
      setattr(proto, field, value)
    setup = dataclasses.replace(setup, config=proto)
  info = device_info()
  _warn_once_about(config, info)
  single = None
  if setup.strategy is not None:
    log(setup.describe())
    log('timing 1 replica alone first (%d + %d steps), for the scaling '
        'efficiency' % (config.num_burn_in, config.num_batches))
    single = _time(config, info, network_fn, dist.Setup(
        dist.Options()), log=None)[0]
  stats, durations, flops, restored = _time(config, info, network_fn, setup,
                                            log=log)
  host_peak, gpu_peak = peak_memory()
  result = dataclasses.asdict(config)
  result.update(stats)
  result.update(info)
  global_batch = config.batch_size * setup.num_replicas
  result.update({
      'strategy': config.distribute.strategy,
      'num_replicas': setup.num_replicas,
      'num_workers': setup.task.num_workers if setup.task else 1,
      'is_chief': setup.is_chief,
      'global_batch_size': global_batch,
      'images_per_sec': global_batch / stats['mean_sec'],
      'gflops_per_batch': flops / 1e9,
      'gflops_per_sec': flops / 1e9 / stats['mean_sec'],
      'peak_host_memory_bytes': host_peak,
      'peak_gpu_memory_bytes': gpu_peak,
      'durations_sec': durations,
      'restored_checkpoint': restored.path if restored else None,
      'weights_cast_once': config.casts_once,
      'timestamp': datetime.datetime.now().isoformat(timespec='seconds'),
  })
  if single is not None:
    # Synchronous replicas all take the global step's time.
    result.update({
        'per_replica_step_sec': stats['mean_sec'],
        'single_replica_step_sec': single['mean_sec'],
        'single_replica_images_per_sec': config.batch_size /
                                         single['mean_sec'],
        'scaling_efficiency': single['mean_sec'] / stats['mean_sec'],
    })
  return result


# ``engine``: an ``inference.engines.Engine``; perf may not import the
# inference room (same level), so it is typed Any.
def run_artifact(config: Config, engine: Any,
                 log: Optional[Callable[[str], None]] = print
                 ) -> Dict[str, Any]:
  """Times an exported model on its own engine with the book's protocol.

  Args:
    config: a ``Config``: batch_size, image_size, num_batches and
      num_burn_in are used (the model is what the file holds).
    engine: anything with ``run(images) -> logits``, ``path``, ``engine``
      and ``precision`` (``inference.engines.Engine``).
    log: where progress lines go.

  Returns:
    A result dict with the keys ``run`` gives that apply (no FLOP count:
    the file's network is not built here), plus ``model_file`` and
    ``engine``.

  Raises:
    BenchmarkError: a bad setting, or images the model does not take.
  """
  for name in ('batch_size', 'num_batches', 'image_size'):
    if getattr(config, name) <= 0:
      raise BenchmarkError('`%s` must be > 0, got %d.'
                           % (name, getattr(config, name)))
  if config.num_burn_in < 0:
    raise BenchmarkError('`num_burn_in` must be >= 0, got %d.'
                         % config.num_burn_in)
  info = device_info()
  # One batch of images for every step (the book draws fresh ones inside
  # its graph; an engine is fed from NumPy, as in serving).
  images = np.random.RandomState(0).uniform(
      -1, 1, (config.batch_size, config.image_size, config.image_size, 3)
  ).astype(np.float32)
  try:
    engine.run(images)
  except errors.Error as exc:   # the engine knows the size it takes
    raise BenchmarkError(str(exc)) from None
  except Exception as exc:  # pylint: disable=broad-except
    # Each engine raises its own kinds for a wrong input shape.
    raise BenchmarkError('%s on %s cannot run a batch of %d images of '
                         '%dx%d (give the `image_size` it was exported '
                         'at): %s' % (engine.path, engine.engine,
                                      config.batch_size, config.image_size,
                                      config.image_size,
                                      errors.quoted(exc))) from None
  durations, stats = time_steps(lambda: engine.run(images),
                                config.num_batches, config.num_burn_in,
                                'Forward', log=log)
  host_peak, _ = peak_memory()
  result = {k: getattr(config, k) for k in (
      'batch_size', 'image_size', 'num_batches', 'num_burn_in')}
  result.update(stats)
  result.update(info)
  result.update({
      'model': os.path.basename(engine.path.rstrip('/')), 'mode': 'forward',
      'model_file': engine.path, 'engine': engine.engine,
      'precision': engine.precision, 'global_batch_size': config.batch_size,
      'images_per_sec': config.batch_size / stats['mean_sec'],
      'gflops_per_batch': None, 'gflops_per_sec': None,
      'peak_host_memory_bytes': host_peak, 'peak_gpu_memory_bytes': None,
      'durations_sec': durations, 'is_chief': True,
      'timestamp': datetime.datetime.now().isoformat(timespec='seconds'),
      'engine_runtime': getattr(engine, 'runtime', {}),
      **config.runtime_record()})
  return result


def _time(config, info, network_fn, setup, log):
  """Builds and times one graph; returns (stats, durations, flops, restored).
  """
  graph = tf.Graph()
  with graph.as_default(), setup.scope():
    target, info_string = build_graph(config, network_fn, setup)
    flops, _ = flops_lib.count_flops(graph)
    if setup.strategy is not None:   # the other workers' replicas too
      flops *= setup.num_replicas / len(setup.devices)
    init = tf.global_variables_initializer()
    restored, restore_fn = None, None
    if config.checkpoint:
      try:
        # The network's scope is the model's name; a checkpoint saved
        # under another is mapped onto it, as classify and export do.
        restored, restore_fn = checkpoints.restorer(config.checkpoint,
                                                    scope=config.model)
      except checkpoints.CheckpointError as exc:
        raise BenchmarkError('`checkpoint`: %s' % exc) from None
  graph.finalize()  # the timed loop must not grow the graph
  with graph.as_default(), setup.session(graph) as sess:
    setup.run(sess, init)
    precision_lib.cast_weights(sess)   # cast_once copies (restore re-casts)
    if restore_fn:
      try:
        with setup.peer_errors():
          restore_fn(sess)
      except checkpoints.CheckpointError as exc:
        raise BenchmarkError('`checkpoint`: %s' % exc) from None
    try:
      # First step: surfaces missing kernels before timing.
      setup.run(sess, target)
    except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError,
            tf.errors.NotFoundError, tf.errors.InternalError) as exc:
      first_line = errors.quoted(exc)
      raise BenchmarkError(
          'this machine (%s) cannot run `precision` %s `data_format` %s%s: '
          '%s. Try `precision` fp32/bf16 and `data_format` NHWC on a CPU.'
          % (info['device'], config.precision, config.data_format,
             ' `xla`' if config.xla else '', first_line)) from None
    durations, stats = time_steps(lambda: setup.run(sess, target),
                                  config.num_batches, config.num_burn_in,
                                  info_string, log=log)
  return stats, durations, flops, restored


def add_peak(result: Dict[str, Any], precision: str) -> Dict[str, Any]:
  """Adds the machine's matmul peak and the network's share of it."""
  peak = measure_peak_matmul(dtype=precision)
  result['peak_matmul_gflops_per_sec'] = peak
  if result['gflops_per_sec'] is not None:   # None: an exported model
    result['fraction_of_peak'] = result['gflops_per_sec'] / peak
  return result


def report_lines(result: Dict[str, Any]) -> List[str]:
  """The human-readable lines printed after the book's timing line."""
  lines = [
      '%s %s %s, batch %d, %dx%d: %.1f images/sec, median %.3f s, p90 %.3f s'
      % (result['model'] + (' on ' + result['engine'] if 'engine' in result
                            else ''), result['mode'], result['precision'] +
         (' (weights cast once)' if result.get('weights_cast_once') else ''),
         result['global_batch_size'], result['image_size'],
         result['image_size'], result['images_per_sec'],
         result['median_sec'], result['p90_sec'])]
  if 'scaling_efficiency' in result:
    lines.append(
        'strategy %s: %d replicas x batch %d; step %.3f s per replica vs '
        '%.3f s for 1 replica alone: scaling efficiency %.0f%%'
        % (result['strategy'], result['num_replicas'], result['batch_size'],
           result['per_replica_step_sec'], result['single_replica_step_sec'],
           100 * result['scaling_efficiency']))
    if not result['gpus'] and result['num_workers'] == 1:
      lines.append('(logical CPU devices share the same cores: this measures '
                   'the strategy\'s overhead, not a speed-up)')
  if result['gflops_per_batch'] is not None:
    lines.append('compute: %.1f GFLOP/batch, %.1f GFLOP/s achieved'
                 % (result['gflops_per_batch'], result['gflops_per_sec']))
  if 'fraction_of_peak' in result:
    lines.append('peak: %.1f GFLOP/s (4096^3 %s matmul); the network reaches '
                 '%.0f%%' % (result['peak_matmul_gflops_per_sec'],
                             result['precision'],
                             100 * result['fraction_of_peak']))
  memory = 'peak host memory %.2f GiB' % (
      result['peak_host_memory_bytes'] / 2**30)
  if result['peak_gpu_memory_bytes'] is not None:
    memory += ', peak GPU memory %.2f GiB' % (
        result['peak_gpu_memory_bytes'] / 2**30)
  lines.append('%s; ran on %s, %d CPUs, TensorFlow %s, intra/inter-op '
               'threads %d/%d (0 = TensorFlow default)'
               % (memory, result['device'], result['cpu_count'],
                  result['tensorflow_version'], result['intra_op_threads'],
                  result['inter_op_threads']))
  if result.get('threads') or result.get('streams', 1) > 1:
    lines[-1] += '; this run: threads %s, streams %d' % (
        result['threads'] or 'default', result['streams'])
  return lines


def measure_peak_matmul(size: int = 4096, dtype: str = 'fp32',
                        steps: int = 10) -> float:
  """GFLOP/s of a large square matmul: the machine's practical peak.

  Args:
    size: matrix side.
    dtype: 'fp32', 'bf16' or 'fp16'.
    steps: timed runs (after 3 warm-up runs).

  Returns:
    Best GFLOP/s over the timed runs.
  """
  graph = tf.Graph()
  with graph.as_default():
    tf_dtype = precision_lib.compute_dtype(dtype)
    # Stored in the compute dtype: a step is the matmul, not casts too.
    a = tf.Variable(tf.cast(tf.random_uniform([size, size]), tf_dtype))
    b = tf.Variable(tf.cast(tf.random_uniform([size, size]), tf_dtype))
    # Reduce to a scalar so the fetch itself costs nothing.
    product = tf.reduce_sum(tf.matmul(a, b))
    init = tf.global_variables_initializer()
  with tf.Session(graph=graph) as sess:
    sess.run(init)
    for _ in range(3):
      sess.run(product)
    best = float('inf')
    for _ in range(steps):
      start = time.perf_counter()
      sess.run(product)
      best = min(best, time.perf_counter() - start)
  return 2.0 * size ** 3 / best / 1e9
