"""The one place that makes a tf.distribute strategy from the command line.

Three strategies, all TensorFlow's own (no home-made all-reduce):
- ``none``: one process, one device, the plain session of round 1;
- ``mirrored``: ``MirroredStrategy`` over ``--num_devices`` local devices:
  the GPUs when there are any, otherwise the CPU split into that many
  logical devices, so the multi-device path runs (and is tested) on a
  CPU-only machine. Two logical CPU devices share the same cores: they
  measure the strategy's overhead, not a speed-up;
- ``multi_worker``: ``MultiWorkerMirroredStrategy`` across processes or
  machines described by ``TF_CONFIG`` (the convention Kubeflow's TFJob,
  Vertex AI and SageMaker set). Each worker starts a ``tf.distribute.Server``
  and runs its session against it; variables start from the chief's values
  (broadcast) and gradients are all-reduced every step.

What graph mode needs, and this module does, for ``multi_worker``: eager
execution off before the strategy exists; the session config from
``strategy.update_config_proto`` (collective group leader, device
filters); the server started with a copy of that config whose device
filters are cleared; and every session run bounded by ``--peer_timeout``,
so a worker that died or never started is one clear error instead of a
hang.

Typical use::

    from resnet_v2_slim.distribute import strategy as dist

    setup = dist.make(dist.Options(strategy='mirrored', num_devices=2))
    graph = tf.Graph()
    with graph.as_default(), setup.scope():
      ...   # strategy.make_input_fn_iterator, strategy.experimental_run
    with setup.session(graph) as sess:
      setup.run(sess, fetches)
"""

import contextlib
import copy
import dataclasses
import json
import os
from typing import (Any, Callable, ContextManager, Dict, Iterator, List,
                    Optional)

import tensorflow.compat.v1 as tf

from resnet_v2_slim import errors
from resnet_v2_slim import names
from resnet_v2_slim.config import distribute as distribute_config

# The flags are declared without TensorFlow in config.distribute (the
# command line parses them before TensorFlow loads): the same objects here.
Options = distribute_config.Options
DistributeError = distribute_config.DistributeError
add_flags = distribute_config.add_flags
options_from_args = distribute_config.options_from_args
DEFAULT_PEER_TIMEOUT = distribute_config.DEFAULT_PEER_TIMEOUT
STRATEGIES = names.STRATEGIES
ALL_REDUCE = names.ALL_REDUCE
# The jobs MultiWorkerMirroredStrategy trains with ('ps' belongs to
# parameter-server training). An 'evaluator' job may sit beside them, as
# in TensorFlow's own TF_CONFIG convention: it joins no all-reduce and
# evaluates the chief's checkpoints (``train`` runs ``evaluate --watch``).
TASK_TYPES = ('chief', 'worker')
EVALUATOR = 'evaluator'
TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", '
                     '"host2:12345"]}, "task": {"type": "worker", '
                     '"index": 0}}')


class PeerError(DistributeError):
  """Another worker died, or did not answer within ``--peer_timeout``."""


@dataclasses.dataclass(frozen=True)
class Task:
  """This process's place in a ``TF_CONFIG`` cluster."""
  cluster: Dict[str, List[str]]   # job name -> host:port addresses
  task_type: str
  task_index: int

  @property
  def training_cluster(self) -> Dict[str, List[str]]:
    """The cluster without its evaluator: the jobs that train together."""
    return {job: tasks for job, tasks in self.cluster.items()
            if job in TASK_TYPES}

  @property
  def num_workers(self) -> int:
    return sum(len(tasks) for tasks in self.training_cluster.values())

  @property
  def is_evaluator(self) -> bool:
    return self.task_type == EVALUATOR

  @property
  def is_chief(self) -> bool:
    """The chief writes checkpoints and summaries: task 'chief', or
    worker 0 when the cluster has no chief (TensorFlow's rule)."""
    return self.task_type == 'chief' or (
        self.task_type == 'worker' and self.task_index == 0 and
        'chief' not in self.cluster)

  @property
  def address(self) -> Optional[str]:
    tasks = self.cluster.get(self.task_type)
    return tasks[self.task_index] if tasks else None

  def describe(self) -> str:
    return '%s %d of %d workers%s (%s)' % (
        self.task_type, self.task_index, self.num_workers,
        ', chief' if self.is_chief else '', self.address)


def read_tf_config(text: Optional[str] = None) -> Task:
  """Parses and checks ``TF_CONFIG`` (default: the environment's).

  Returns:
    A ``Task``.

  Raises:
    DistributeError: unset, not JSON, no cluster/task, a job other than
      chief/worker, an address that is not host:port, or a task outside
      the cluster.
  """
  text = os.environ.get('TF_CONFIG') if text is None else text
  if not text:
    raise DistributeError(
        '`strategy` multi_worker reads the cluster from the TF_CONFIG '
        'environment variable, which is not set. Set it on every worker '
        '(same cluster, its own task index), e.g. TF_CONFIG=\'%s\'.'
        % TF_CONFIG_EXAMPLE)
  try:
    spec = json.loads(text)
  except ValueError as exc:
    raise DistributeError('TF_CONFIG is not valid JSON (%s); expected e.g. '
                          '%s' % (exc, TF_CONFIG_EXAMPLE)) from None
  cluster = spec.get('cluster') if isinstance(spec, dict) else None
  task = spec.get('task') if isinstance(spec, dict) else None
  if not isinstance(cluster, dict) or not cluster or not isinstance(
      task, dict):
    raise DistributeError(
        'TF_CONFIG needs "cluster" (job name -> list of host:port) and '
        '"task" ({"type": ..., "index": ...}); got %s. Expected e.g. %s'
        % (text[:200], TF_CONFIG_EXAMPLE))
  other = sorted(set(cluster) - set(TASK_TYPES) - {EVALUATOR})
  if other:
    raise DistributeError(
        'TF_CONFIG cluster has job(s) %s; multi_worker training uses only '
        '"chief" and "worker" (all-reduce, no parameter servers), and at '
        'most one "evaluator". Remove them.' % ', '.join(map(repr, other)))
  if not set(cluster) & set(TASK_TYPES):
    raise DistributeError('TF_CONFIG cluster has no "chief" or "worker" job '
                          '(got %s): nothing trains. Expected e.g. %s'
                          % (', '.join(cluster), TF_CONFIG_EXAMPLE))
  if len(cluster.get(EVALUATOR, [])) > 1:
    raise DistributeError('TF_CONFIG cluster has %d evaluators; at most one.'
                          % len(cluster[EVALUATOR]))
  for job, tasks in cluster.items():
    if not isinstance(tasks, list) or not tasks:
      raise DistributeError('TF_CONFIG cluster job %r must be a non-empty '
                            'list of host:port, got %r.' % (job, tasks))
    for address in tasks:
      host, _, port = str(address).rpartition(':')
      if not isinstance(address, str) or not host or not port.isdigit():
        raise DistributeError('TF_CONFIG cluster job %r has address %r; '
                              'expected "host:port".' % (job, address))
  if len(cluster.get('chief', [])) > 1:
    raise DistributeError('TF_CONFIG cluster has %d chiefs; at most one.'
                          % len(cluster['chief']))
  task_type, index = task.get('type'), task.get('index')
  if task_type == EVALUATOR and EVALUATOR not in cluster and index == 0:
    return Task(cluster, task_type, 0)   # TensorFlow allows it outside
  if task_type not in cluster:
    raise DistributeError('TF_CONFIG task type %r is not a job of the '
                          'cluster (%s).' % (task_type, ', '.join(cluster)))
  if not isinstance(index, int) or isinstance(index, bool) or not (
      0 <= index < len(cluster[task_type])):
    raise DistributeError(
        'TF_CONFIG task index %r is outside the cluster: job %r has %d '
        'task(s), indices 0..%d.' % (index, task_type,
                                      len(cluster[task_type]),
                                      len(cluster[task_type]) - 1))
  return Task(cluster, task_type, index)


@dataclasses.dataclass
class Setup:
  """A made strategy and what a process needs to run under it.

  Attributes:
    options: the ``Options`` it was made from.
    strategy: the ``tf.distribute`` strategy (TF1 API), None for 'none'.
    task: this process's ``Task`` (multi_worker), else None.
    target: the session target ('' locally, the server's for workers).
    config: the session ``ConfigProto`` (None: TensorFlow's default, which
      includes logical CPU devices).
    server: the worker's ``tf.distribute.Server`` (kept alive with it).
  """
  options: Options
  strategy: Optional[tf.distribute.Strategy] = None
  task: Optional[Task] = None
  target: str = ''
  config: Optional[tf.ConfigProto] = None
  server: Optional[tf.distribute.Server] = None

  @property
  def num_replicas(self) -> int:
    return self.strategy.num_replicas_in_sync if self.strategy else 1

  @property
  def is_chief(self) -> bool:
    return self.task is None or self.task.is_chief

  @property
  def devices(self) -> List[str]:
    """This process's replica devices."""
    if self.strategy is None:
      return []
    return list(self.strategy.extended.worker_devices)

  def describe(self) -> str:
    """One line: what runs where."""
    if self.strategy is None:
      return 'strategy none: 1 replica'
    local = ', '.join(d.split('device:')[-1] for d in self.devices)
    line = 'strategy %s: %d replica(s)' % (self.options.strategy,
                                           self.num_replicas)
    if self.task:
      line += '; this is %s' % self.task.describe()
    return line + '; local devices %s; all-reduce %s' % (
        local, self.options.all_reduce)

  def scope(self) -> ContextManager[Any]:
    """The strategy's scope (variables become mirrored), or nothing."""
    return self.strategy.scope() if self.strategy else (
        contextlib.nullcontext())

  def session(self, graph: tf.Graph) -> tf.Session:
    """A session on this process's devices (or its worker's server)."""
    return tf.Session(self.target, graph=graph, config=self.config)

  def run(self, sess: tf.Session, fetches: Any,
          feed_dict: Optional[Dict[Any, Any]] = None) -> Any:
    """``sess.run`` with a dead or silent peer as ``PeerError``."""
    with self.peer_errors():
      return sess.run(fetches, feed_dict)

  @contextlib.contextmanager
  def peer_errors(self) -> Iterator[None]:
    """Turns a dead or silent peer's errors into one ``PeerError``.

    Under multi_worker every blocking op of the session times out after
    ``--peer_timeout`` (``ConfigProto.operation_timeout_in_ms``), which
    also bounds the runs a ``tf.train.Saver`` makes itself.

    Raises:
      PeerError: another worker died, or did not answer in time.
    """
    if self.task is None:
      yield
      return
    try:
      yield
    except tf.errors.DeadlineExceededError:
      raise PeerError(
          'no answer from the other workers within `peer_timeout` %g s '
          '(cluster %s). Start every worker with the same TF_CONFIG cluster '
          'and its own task index, check that the addresses are reachable, '
          'or raise `peer_timeout`.'
          % (self.options.peer_timeout, json.dumps(self.task.cluster))
      ) from None
    except (tf.errors.UnavailableError, tf.errors.AbortedError,
            tf.errors.CancelledError, tf.errors.InternalError) as exc:
      raise PeerError(
          'lost contact with another worker (%s: %s); this worker (%s) '
          'stops too.' % (type(exc).__name__,
                          errors.quoted(exc), self.task.describe())
      ) from None


# ``per_replica``: a tensor, or a strategy's PerReplica value (no public
# type).
def replica_mean(setup: Setup, per_replica: Any) -> tf.Tensor:
  """The mean over all replicas (all workers) of a per-replica value."""
  if setup.strategy is None:
    return per_replica
  return setup.strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica,
                               axis=None)


def run_per_replica(setup: Setup, fn: Callable[[], Any]) -> Any:
  """Calls ``fn`` once per replica (once without a strategy).

  Returns:
    ``fn``'s result (per-replica values under a strategy).
  """
  return setup.strategy.run(fn) if setup.strategy else fn()


@contextlib.contextmanager
def new_update_ops() -> Iterator[List[tf.Operation]]:
  """Collects the batch norm update ops created inside the block.

  ``tf.GraphKeys.UPDATE_OPS`` is one collection per graph, so inside a
  mirrored replica function it also holds the earlier replicas' update ops
  (68 instead of 34 for two replicas of resnet_v2_18); a replica must wait
  for its own only. Yields a list that is filled when the block ends.

  Replicas are built one after another, switching where one waits for the
  others (a ``merge_call``: an all-reduce, an optimizer's update), so the
  block must not contain such a wait; build the network inside it, the
  update after it.
  """
  before = len(tf.get_collection(tf.GraphKeys.UPDATE_OPS))
  mine = []
  yield mine
  mine.extend(tf.get_collection(tf.GraphKeys.UPDATE_OPS)[before:])


def make(options: Options) -> Setup:
  """Makes the strategy ``options`` describes.

  Call it before TensorFlow runs anything in this process: splitting the
  CPU into logical devices and starting a worker's server must come first.

  Returns:
    A ``Setup``.

  Raises:
    DistributeError: a bad option, TF_CONFIG, device count, or all-reduce
      this machine does not have (e.g. nccl without GPUs).
  """
  options.validate()
  if options.strategy == 'none':
    return Setup(options)
  if options.strategy == 'mirrored':
    devices = _local_devices(options.num_devices)
    strategy = tf.distribute.MirroredStrategy(
        devices, cross_device_ops=_mirrored_all_reduce(options.all_reduce,
                                                       devices))
    return Setup(options, strategy)
  return _make_multi_worker(options)


def _gpus(num_devices: Optional[int], flag: str, where: str) -> list:
  """The first ``num_devices`` GPUs (all without it); [] without GPUs."""
  gpus = tf.config.list_physical_devices('GPU')
  count = num_devices or len(gpus)
  if gpus and count > len(gpus):
    raise DistributeError('%s %d: this %s has %d GPU(s).'
                          % (flag, count, where, len(gpus)))
  return gpus[:count]


def _local_devices(num_devices, *, flag='`num_devices`'):
  """The GPUs to use, or the CPU split into ``num_devices`` devices."""
  gpus = _gpus(num_devices, flag, 'machine')
  if gpus:
    return ['/gpu:%d' % i for i in range(len(gpus))]
  count = num_devices or 1
  # Logical CPU devices share the cores: many more of them than cores only
  # adds graph-building time (999 of them were still building after 300 s).
  most = 4 * (os.cpu_count() or 1)
  if count > most:
    raise DistributeError('%s %d: this machine has no GPU and %d CPU cores; '
                          'give at most %d logical CPU devices (4 per core).'
                          % (flag, count, os.cpu_count() or 1, most))
  cpu = tf.config.list_physical_devices('CPU')[0]
  have = tf.config.get_logical_device_configuration(cpu) or [None]
  if len(have) != count:
    try:
      tf.config.set_logical_device_configuration(
          cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
      raise DistributeError(
          'cannot split the CPU into %d logical devices: TensorFlow already '
          'started in this process with %d. Make the strategy before '
          'anything runs (a new process).' % (count, len(have))) from None
  return ['/cpu:%d' % i for i in range(count)]


def _mirrored_all_reduce(all_reduce, devices):
  if all_reduce == 'auto':
    return None   # TensorFlow's choice: NCCL on GPUs, else one device
  if all_reduce == 'nccl':
    if not devices[0].startswith('/gpu'):
      raise DistributeError('`all_reduce` nccl needs GPUs; this machine has '
                            'none. Use `all_reduce` auto.')
    return tf.distribute.NcclAllReduce()
  raise DistributeError('`all_reduce` ring is the multi_worker collective; '
                        'on one machine use auto or nccl.')


def _make_multi_worker(options):
  task = read_tf_config()
  if task.is_evaluator:
    raise DistributeError(
        'TF_CONFIG makes this process the evaluator, which joins no '
        'all-reduce: only `train` runs one (with the workers\' flags, it '
        'evaluates the chief\'s checkpoints as `evaluate --watch` does).')
  gpus = _gpus(options.num_devices, '`num_devices`', 'worker')
  if gpus:
    tf.config.set_visible_devices(gpus, 'GPU')
  elif options.num_devices not in (None, 1):
    raise DistributeError(
        '`num_devices` %d: a CPU-only worker is one replica under '
        'multi_worker (the collective strategy uses one CPU device); start '
        'more workers instead.' % options.num_devices)
  if options.all_reduce == 'nccl' and not gpus:
    raise DistributeError('`all_reduce` nccl needs GPUs; this worker has '
                          'none. Use `all_reduce` auto or ring.')
  # The collective ops must be built for graph mode.
  tf.disable_eager_execution()
  implementation = tf.distribute.experimental.CommunicationImplementation
  strategy = tf.distribute.experimental.MultiWorkerMirroredStrategy(
      communication={'auto': implementation.AUTO,
                     'ring': implementation.RING,
                     'nccl': implementation.NCCL}[options.all_reduce])
  config = strategy.update_config_proto(tf.ConfigProto())
  # The server must serve every device; the filters are for the session.
  server_config = copy.deepcopy(config)
  del server_config.device_filters[:]
  try:
    server = tf.distribute.Server(
        tf.train.ClusterSpec(task.training_cluster), job_name=task.task_type,
        task_index=task.task_index, config=server_config, start=True)
  except (tf.errors.OpError, RuntimeError, ValueError) as exc:
    raise DistributeError(
        'could not start this worker\'s server at %s (TF_CONFIG task %s %d):'
        ' %s. Is the port in use, or the address not this machine\'s?'
        % (task.address, task.task_type, task.task_index,
           errors.quoted(exc))) from None
  config.operation_timeout_in_ms = int(options.peer_timeout * 1000)
  return Setup(options, strategy, task=task, target=server.target,
               config=config, server=server)
