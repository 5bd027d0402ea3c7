"""MLPerf LoadGen's scenarios beside the book's protocol.

The book times one stream of batches (mean +/- sd over 100 steps). The
field's standard for inference speed is MLCommons' LoadGen: SingleStream
(one image per query, p90 latency), MultiStream (``samples_per_query``
images per query, p99 latency), Offline (every image at once, throughput)
and Server (queries at random times at ``target_qps``, under a latency
bound). LoadGen decides when queries arrive and whether the run is VALID;
what is written here is the system under test: a query's images run
through the model (the TF graph or an exported file's engine) in batches
of at most ``batch_size``, and the summary LoadGen writes is read back.

Typical use::

    from resnet_v2_slim.perf import loadgen

    result = loadgen.run(config, engine.run, out_dir='lg', log=print)
    result['valid'], result['p90_latency_ms'], result['samples_per_sec']
"""

import importlib
import importlib.util
import os
import queue
import re
import threading
import time
from typing import Any, Callable, Dict, Optional

import numpy as np

from resnet_v2_slim import errors
from resnet_v2_slim.config import benchmark as benchmark_config

SCENARIOS = benchmark_config.LOADGEN_SCENARIOS
NUM_SAMPLES = 128      # generated images LoadGen draws its queries from
INSTALL = 'pip install "resnet_v2_slim[benchmark]"  (mlcommons-loadgen)'


def require() -> Any:
  """``mlperf_loadgen``, or one line naming the pip command."""
  if importlib.util.find_spec('mlperf_loadgen') is None:
    raise benchmark_config.BenchmarkError(
        '`scenario` runs MLPerf LoadGen, which is not installed: %s.'
        % INSTALL)
  return importlib.import_module('mlperf_loadgen')


def test_settings(config: Any, single_latency_s: float,
                  batch_images_per_s: float) -> Any:
  """LoadGen's ``TestSettings`` from ``config`` (None: LoadGen's default).

  Args:
    config: a ``benchmark.Config`` with ``scenario`` set.
    single_latency_s: one image alone, measured: LoadGen's expected
      latency (and the floor of a latency bound).
    batch_images_per_s: a batch of ``batch_size``, measured: the expected
      Offline rate, with a margin (LoadGen sizes its one Offline query by
      it, and a query finished before ``min_duration_ms`` is INVALID).

  Raises:
    BenchmarkError: settings that cannot be met (a Server target of 0
      queries per second, a latency bound below one inference).
  """
  lg = require()
  s = lg.TestSettings()
  s.scenario = getattr(lg.TestScenario, SCENARIOS[config.scenario])
  s.mode = lg.TestMode.PerformanceOnly
  if config.min_duration_ms is not None:
    s.min_duration_ms = config.min_duration_ms
  if config.min_query_count is not None:
    s.min_query_count = config.min_query_count
  if config.samples_per_query is not None:
    s.multi_stream_samples_per_query = config.samples_per_query
  if config.target_qps is not None:
    s.server_target_qps = s.offline_expected_qps = config.target_qps
  if config.target_latency_ms is not None:
    if config.target_latency_ms / 1000 < single_latency_s:
      raise benchmark_config.BenchmarkError(
          '`target_latency_ms` %g cannot be met: one image alone takes '
          '%.1f ms here. Give a larger bound.'
          % (config.target_latency_ms, 1000 * single_latency_s))
    s.server_target_latency_ns = int(config.target_latency_ms * 1e6)
  # Expected latencies and rates, so LoadGen sizes the run to the machine.
  s.single_stream_expected_latency_ns = int(single_latency_s * 1e9)
  s.multi_stream_expected_latency_ns = int(
      single_latency_s * 1e9 * s.multi_stream_samples_per_query)
  if config.target_qps is None:
    s.offline_expected_qps = 1.5 * batch_images_per_s
  return s


class GraphRunner:
  """``config.model`` as a fed TensorFlow graph (the book's net, weights
  cast once for bf16/fp16; ``config.checkpoint`` restored, else random):
  ``run(images) -> logits``, ``close()``."""

  def __init__(self, config: Any) -> None:
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
    from resnet_v2_slim import checkpoints  # pylint: disable=g-import-not-at-top
    from resnet_v2_slim.nets import nets_factory  # pylint: disable=g-import-not-at-top
    from resnet_v2_slim.nets import precision as precision_lib  # pylint: disable=g-import-not-at-top
    size = config.image_size
    graph = tf.Graph()
    with graph.as_default():
      self.images = tf.placeholder(tf.float32, [None, size, size, 3])
      network_fn = nets_factory.get_network_fn(config.model,
                                               config.num_classes)
      self.logits, _ = precision_lib.build(network_fn, self.images,
                                           config.precision, cast_once=True,
                                           spatial_squeeze=True)
      restore_fn = (checkpoints.restorer(config.checkpoint,
                                         scope=config.model)[1]
                    if config.checkpoint else None)
      init = tf.global_variables_initializer()
    self.sess = tf.Session(graph=graph, config=tf.ConfigProto(
        **config.session_threads()))
    self.sess.run(init)
    if restore_fn:
      restore_fn(self.sess)   # also casts the half-precision copies
    else:
      precision_lib.cast_weights(self.sess)

  def run(self, images: np.ndarray) -> np.ndarray:
    return self.sess.run(self.logits, {self.images: images})

  def close(self) -> None:
    self.sess.close()


class _SystemUnderTest:
  """Runs LoadGen's queries on ``run_fn`` in batches of ``batch_size``.

  Hand-written (LoadGen supplies only the callbacks): one worker thread
  takes queries in arrival order and batches whatever has arrived, so
  Server queries are not run one by one when they queue up, and LoadGen's
  issuing thread never waits for the model.
  """

  def __init__(self, lg: Any, run_fn: Callable[[np.ndarray], Any],
               images: np.ndarray, batch_size: int) -> None:
    self.lg, self.run_fn, self.images = lg, run_fn, images
    self.batch_size = batch_size
    self.pending: 'queue.Queue' = queue.Queue()
    self.failure: Optional[BaseException] = None
    self.worker = threading.Thread(target=self._work, daemon=True)
    self.worker.start()

  def issue(self, samples) -> None:
    for sample in samples:
      self.pending.put(sample)

  def _work(self) -> None:
    while True:
      batch = [self.pending.get()]
      if batch[0] is None:
        return
      while len(batch) < self.batch_size and not self.pending.empty():
        batch.append(self.pending.get())
      stop = batch[-1] is None
      batch = [s for s in batch if s is not None]
      try:
        self.run_fn(self.images[[s.index for s in batch]])
      except BaseException as exc:  # pylint: disable=broad-except
        self.failure = self.failure or exc   # reported after the run
      self.lg.QuerySamplesComplete([self.lg.QuerySampleResponse(s.id, 0, 0)
                                    for s in batch])
      if stop:
        return

  def stop(self) -> None:
    self.pending.put(None)
    self.worker.join()


def run(config: Any, run_fn: Callable[[np.ndarray], Any], *,
        out_dir: str, log: Optional[Callable[[str], None]] = print
        ) -> Dict[str, Any]:
  """Runs ``config.scenario`` under LoadGen on ``run_fn``.

  Args:
    config: a ``benchmark.Config`` with ``scenario`` set.
    run_fn: preprocessed images ``[N, H, W, 3]`` -> logits.
    out_dir: an existing folder for LoadGen's logs.
    log: where the result line goes.

  Returns:
    What LoadGen's summary says: scenario, valid, latencies (ms),
    samples_per_sec, and the summary's lines that explain an INVALID run.

  Raises:
    BenchmarkError: LoadGen missing, settings that cannot be met, or a
      model that failed during the run.
  """
  lg = require()
  size = config.image_size
  images = np.random.RandomState(0).uniform(
      -1, 1, (NUM_SAMPLES, size, size, 3)).astype(np.float32)
  batch = images[:config.batch_size]
  run_fn(images[:1])   # warm-up, then one image and one batch, timed
  run_fn(batch)
  start = time.perf_counter()
  run_fn(images[:1])
  single = time.perf_counter() - start
  start = time.perf_counter()
  run_fn(batch)
  settings = test_settings(config, single,
                           len(batch) / (time.perf_counter() - start))
  sut_impl = _SystemUnderTest(lg, run_fn, images, config.batch_size)
  sut = lg.ConstructSUT(sut_impl.issue, lambda: None)
  qsl = lg.ConstructQSL(NUM_SAMPLES, NUM_SAMPLES, lambda s: None,
                        lambda s: None)
  log_settings = lg.LogSettings()
  log_settings.log_output.outdir = out_dir
  log_settings.log_output.copy_summary_to_stdout = False
  try:
    lg.StartTestWithLogSettings(sut, qsl, settings, log_settings)
  finally:
    sut_impl.stop()
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)
  if sut_impl.failure is not None:
    raise benchmark_config.BenchmarkError(
        'the model failed during the LoadGen run: %s'
        % errors.quoted(sut_impl.failure))
  result = read_summary(os.path.join(out_dir, 'mlperf_log_summary.txt'))
  if log:
    log(result_line(result))
  return result


def read_summary(path: str) -> Dict[str, Any]:
  """The numbers of LoadGen's ``mlperf_log_summary.txt``."""
  with open(path) as f:
    text = f.read()

  def number(pattern):
    found = re.search(pattern + r'\s*:\s*([\d.]+)', text)
    return float(found.group(1)) if found else None
  return {
      'scenario': re.search(r'Scenario : (\w+)', text).group(1),
      'valid': 'Result is : VALID' in text,
      'p50_latency_ms': _ms(number(r'50\.00 percentile latency \(ns\)')),
      'p90_latency_ms': _ms(number(r'90\.00 percentile latency \(ns\)')),
      'p99_latency_ms': _ms(number(r'99\.00 percentile latency \(ns\)')),
      # Offline and Server say samples/s; the streams say queries/s.
      'samples_per_sec': (number(r'\nSamples per second') or
                          number(r'Completed samples per second') or
                          (number(r'QPS w/ loadgen overhead') or 0) *
                          (number(r'samples_per_query') or 1)),
      'scheduled_per_sec': number(r'Scheduled samples per second'),
      'invalid_because': [] if 'Result is : VALID' in text else [
          l.strip(' *') for l in text.splitlines()
          if l.startswith(' * ') or l.rstrip().endswith(': NO')],
  }


def _ms(ns: Optional[float]) -> Optional[float]:
  return None if ns is None else ns / 1e6


def result_line(result: Dict[str, Any]) -> str:
  """One line: the scenario, VALID or INVALID (and why), the numbers."""
  line = 'LoadGen %s: %s; latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms' % (
      result['scenario'], 'VALID' if result['valid'] else 'INVALID',
      result['p50_latency_ms'], result['p90_latency_ms'],
      result['p99_latency_ms'])
  if result['samples_per_sec']:
    line += '; %.1f samples/s' % result['samples_per_sec']
  if not result['valid'] and result['invalid_because']:
    line += ' (%s)' % '; '.join(result['invalid_because'])
  return line
