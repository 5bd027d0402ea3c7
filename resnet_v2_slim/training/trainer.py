"""Training in graph mode: ``tf.train.MonitoredTrainingSession`` and hooks.

``train`` reads as research/slim's ``train_image_classifier.main``:
1. check the settings, the data and ``train_dir`` before writing anything
   (a checkpoint of a different network in ``train_dir`` is an error, not a
   silent restore);
2. select the data and the preprocessing;
3. build the model (``training.model``: network in training mode, cross
   entropy plus the arg scope's L2 weight decay, the recipe's optimizer,
   batch norm updates with each step);
4. run it in TF1's own ``MonitoredTrainingSession``: its ``Scaffold``
   initializes, then resumes from the newest checkpoint in ``train_dir``
   (weights, optimizer state and step) or warm-starts from ``checkpoint``
   without its logits; TensorFlow's ``StopAtStepHook`` and this package's
   hooks (``training.hooks``) do the rest: the progress line and
   TensorBoard summaries, the finite-loss and finite-weights checks, saves
   every ``save_every`` steps and at the end, workers agreeing on settings.
   Ctrl-C stops without writing anything half-done.

Typical use::

    from resnet_v2_slim.training import trainer

    config = trainer.TrainConfig(model='resnet_v2_18', train_dir='/tmp/run',
                                  steps=200)
    history = trainer.train(config)     # [{'step', 'loss', 'accuracy'}...]
"""

import contextlib
import os
import signal
import sys
import tempfile
import threading
from typing import Any, Callable, NamedTuple, Optional, Sequence

import tensorflow.compat.v1 as tf

from resnet_v2_slim import checkpoints
from resnet_v2_slim import errors
from resnet_v2_slim.checkpoints import facts as facts_lib
from resnet_v2_slim.data import datasets as data_lib
from resnet_v2_slim.data import preprocessing as preprocessing_lib
from resnet_v2_slim.data import tfrecords
from resnet_v2_slim.distribute import strategy as dist
from resnet_v2_slim.training import hooks as hooks_lib
from resnet_v2_slim.training import recipe
from resnet_v2_slim.training.model import TrainModel, build_model
from resnet_v2_slim.training.settings import (TrainConfig, TrainError,
                                              TrainInterrupted,
                                              TrainPreempted, must_agree)
from resnet_v2_slim.utils import fileio

# sysexits' EX_TEMPFAIL, "try again later": a preempted run's exit code.
EXIT_PREEMPTED = hooks_lib.EXIT_PREEMPTED

# The names this module has always offered (``trainer.TrainConfig`` ...).
__all__ = ['EXIT_PREEMPTED', 'TrainConfig', 'TrainError', 'TrainInterrupted',
           'TrainPreempted', 'TrainModel',
           'build_model', 'must_agree', 'choose_preprocessing', 'train',
           'train_facts']

# The Saver keeps this many checkpoints in ``train_dir``.
KEEP_CHECKPOINTS = 3


def _check_resumable(config: TrainConfig, num_classes: int) -> tuple:
  """The newest existing checkpoint of train_dir if it is this network's.

  Returns:
    ``(prefix or None, note or None)``, as ``checkpoints.latest_checkpoint``.
  """
  if not os.path.isdir(config.train_dir):
    return None, None
  try:
    latest, note = checkpoints.latest_checkpoint(config.train_dir)
  except checkpoints.CheckpointError as exc:
    raise TrainError('`train_dir`: %s' % exc) from None
  if latest is None:
    return None, note
  # A damaged newest checkpoint (a .data file cut short, say) with good
  # older ones: resume from the newest good one, saying so.
  candidates = checkpoints.existing_checkpoints(config.train_dir)[0]
  damaged = []
  for prefix in [latest] + [p for p in reversed(candidates) if p != latest]:
    try:
      # read, not describe: the train_facts.json beside it (which this
      # run rewrites) has no say in whether the weights resume.
      info = checkpoints.read(prefix)
      break
    except checkpoints.CheckpointError as exc:
      damaged.append((prefix, exc))
  else:
    raise TrainError('`train_dir` %s holds no checkpoint this run can '
                     'resume (%s: %s). Use another `train_dir`.'
                     % (config.train_dir, damaged[0][0], damaged[0][1])
                     ) from None
  if damaged:
    note = ('%s is damaged (%s); resuming from the newest good checkpoint, '
            '%s' % (damaged[0][0], errors.quoted(damaged[0][1], 160),
                    prefix))
    latest = prefix
  want = (config.model, num_classes, config.use_shortcut)
  have = (info.model, info.num_classes, info.use_shortcut)
  if have != want:
    raise TrainError(
        '`train_dir` %s holds a checkpoint of %s with %s classes '
        '(use_shortcut=%s), but this run trains %s with %d classes '
        '(use_shortcut=%s). Nothing was changed; use another `train_dir` to '
        'start a new run.' % ((config.train_dir,) + have + want))
  _check_averages(config, latest, info)
  return latest, note


def _check_averages(config: TrainConfig, prefix: str,
                    info: checkpoints.CheckpointInfo) -> None:
  """A resume keeps the checkpoint's moving averages, or has none.

  Adding ``moving_average_decay`` to a run trained without it failed at the
  restore (blamed on the input); leaving it out dropped every average.
  """
  averaged = checkpoints.has_moving_averages(info)
  if averaged and config.moving_average_decay is None:
    raise TrainError(
        '`train_dir` %s was trained with `moving_average_decay` (%s holds '
        'the averages): give it again to resume, or every average would be '
        'dropped; or use another `train_dir`.' % (config.train_dir, prefix))
  if not averaged and config.moving_average_decay is not None:
    raise TrainError(
        '`train_dir` %s was trained without `moving_average_decay` (%s holds '
        'no averages): resume without it, or use another `train_dir` to '
        'average from the first step.' % (config.train_dir, prefix))




def choose_preprocessing(config: TrainConfig) -> str:
  """--preprocessing auto: the published checkpoint's when fine-tuning one.

  Fine-tuning a published checkpoint should see images as it was trained
  with (``nets.pretrained``); otherwise Inception's, TF-Slim's default.
  """
  if config.preprocessing != 'auto' or not config.checkpoint:
    return (preprocessing_lib.DEFAULT_METHOD if config.preprocessing == 'auto'
            else config.preprocessing)
  return checkpoints.read(config.checkpoint).input_defaults(
      config.model, config.preprocessing)[0]


def train(config: TrainConfig, log: Callable = print, dataset: Any = None,
          *, network_fn: Optional[Callable] = None,
          hooks: Sequence[tf.train.SessionRunHook] = ()) -> list:
  """Trains (or resumes) ``config``; returns the logged history.

  Under ``--strategy multi_worker`` every worker runs this with the same
  config: the chief (``distribute.strategy.Task.is_chief``) writes
  checkpoints and summaries into ``train_dir``; the others run the same
  session calls (saving reads batch norm statistics through a cross-worker
  all-reduce) but save into a scratch folder they delete. Every worker
  resumes from the newest checkpoint in ``train_dir``, so on several
  machines it must be a folder they all read (NFS, GCS, ...).

  Args:
    config: a ``TrainConfig``.
    log: where progress lines go.
    dataset: a ``datasets.Dataset`` (default: selected by ``config``).
    network_fn: as ``model.build_model``.
    hooks: more ``SessionRunHook``s, run after this package's (as
      ``MonitoredTrainingSession``'s ``hooks``): their ``begin`` may add
      ops to the training graph, e.g. ``teaching.gradient_flow``'s probe.

  Returns:
    A list of ``{'step', 'loss', 'total_loss', 'accuracy', 'learning_rate',
    'images_per_sec'}`` dicts (loss: the cross-entropy, as
    ``TrainModel.loss``), one per logged step of this run.

  Raises:
    TrainError, datasets.DataError, checkpoints.CheckpointError,
      fileio.OutputPathError, distribute.strategy.DistributeError: before
      anything is written; TrainError also when the loss turns NaN (the
      last good checkpoint is kept); TrainInterrupted on Ctrl-C (nothing
      half-written); distribute.strategy.PeerError when another worker
      dies or stays silent for ``peer_timeout`` seconds.
  """
  config.validate()
  config = config.resolved()
  # First: splitting the CPU into devices or starting a worker's server
  # must happen before TensorFlow runs anything in this process.
  setup = dist.make(config.distribute)
  dataset = _select_data(config, dataset)
  plan = _plan(config, dataset, setup, log)
  built = _build(config, dataset, setup, plan, network_fn, log)
  if setup.strategy is not None:
    log('%s; batch %d per replica, global batch %d%s'
        % (setup.describe(), config.batch_size,
           config.batch_size * setup.num_replicas,
           '' if setup.is_chief else '; the chief writes `train_dir`, this '
           'worker saves into a scratch folder it deletes'))
  if setup.is_chief:
    with fileio.DirLock(config.train_dir, '`train_dir`'):
      if plan.latest is None or not os.path.isfile(plan.record_path):
        recipe.write_record(plan.record_path, plan.record)
      _write_facts(config.train_dir, plan.facts)
      return _run(config, setup, built, plan, log, config.train_dir,
                  hooks)
  # Other workers save into scratch space: the save itself must run on
  # every worker, its files are the chief's business.
  with tempfile.TemporaryDirectory(prefix='resnet-v2-slim-worker-') as tmp:
    return _run(config, setup, built, plan, log, tmp, hooks)


def _select_data(config: TrainConfig, dataset: Any) -> Any:
  """The dataset ``config`` names, after checking no output is an input."""
  shards = (tfrecords.find_shards(config.tfrecord) if config.tfrecord
            else [])
  fileio.check_outputs(
      [('`train_dir`', config.train_dir)],
      (checkpoints.input_paths(config.checkpoint) if config.checkpoint
       else []) + [('`data_dir`', config.data_dir)] +
      [('`tfrecord`', shard) for shard in shards])
  if dataset is not None:
    return dataset
  if config.tfrecord:
    return data_lib.records(
        config.tfrecord, config.image_size, num_classes=config.num_classes,
        labels_offset=config.labels_offset,
        shuffle_buffer=config.shuffle_buffer,
        deterministic=config.deterministic)
  if config.data_dir is None:
    return data_lib.builtin(config.dataset_name or 'digits',
                            config.dataset_split_name, config.image_size)
  return data_lib.load(config.data_dir, config.image_size)


class _Plan(NamedTuple):
  """What ``train`` settled before building anything."""
  steps_per_epoch: Optional[float]   # None: the data's size is unknown
  preprocessing: str                 # the method for image files
  latest: Optional[str]              # the checkpoint to resume from
  record_path: str                   # train_settings.json
  record: dict                       # what it records
  facts: checkpoints.TrainFacts      # train_facts.json: how to read it


def _plan(config: TrainConfig, dataset: Any, setup: dist.Setup,
          log: Callable) -> _Plan:
  """Schedule, preprocessing and resume point, all checked."""
  size, size_source = dataset.size()
  steps_per_epoch = (size / (config.batch_size * setup.num_replicas)
                     if size else None)
  recipe.check(config, steps_per_epoch)
  method = choose_preprocessing(config)
  latest, note = _check_resumable(config, dataset.num_classes)
  if note:
    log('warning: ' + note)
  record_path, record = recipe.check_resume(config.train_dir, config,
                                            latest is not None,
                                            setup.num_replicas)
  if steps_per_epoch:
    log('an epoch is %d images (%s): %.1f steps of the global batch %d'
        % (size, size_source, steps_per_epoch,
           config.batch_size * setup.num_replicas))
  return _Plan(steps_per_epoch, method, latest, record_path, record,
               train_facts(config, dataset, method))


def train_facts(config: TrainConfig, dataset: Any, preprocessing: str
                ) -> checkpoints.TrainFacts:
  """What a reader of this run's checkpoints needs (``train_facts.json``).

  Args:
    config: the run's settings.
    dataset: its ``datasets.Dataset``.
    preprocessing: the method image files go through.

  Returns:
    A ``checkpoints.TrainFacts``: class names are the folder names, the
    built-in sets' digits, or a shard set's labels.txt (None for shards
    counted by `num_classes`).
  """
  if dataset.shards is not None:
    data = checkpoints.DataSource('tfrecord', os.path.abspath(
        config.tfrecord) if config.tfrecord else dataset.name)
  elif dataset.paths is not None:
    data = checkpoints.DataSource('folder', os.path.abspath(
        config.data_dir) if config.data_dir else dataset.name)
  else:
    data = checkpoints.DataSource('builtin', dataset.name)
  return checkpoints.TrainFacts(
      network=config.model, use_shortcut=config.use_shortcut,
      image_size=config.image_size, preprocessing=preprocessing,
      num_classes=dataset.num_classes,
      class_names=(tuple(dataset.class_names) if dataset.names_known
                   else None),
      # Folders and the built-in sets have 0-based labels: 1-based minus 1.
      labels_offset=dataset.labels_offset, data=data)


def _write_facts(train_dir: str, facts: checkpoints.TrainFacts) -> None:
  """Writes ``facts`` at every start: they describe the checkpoints this
  run saves (a resume may change the image size, say).

  Raises:
    TrainError: the file could not be written (the earlier one is kept).
  """
  try:
    facts_lib.write(train_dir, facts)
  except OSError as exc:
    raise TrainError('could not write %s in `train_dir` %s (%s); nothing '
                     'was trained.' % (facts_lib.FILE, train_dir,
                                       exc.strerror or exc)) from None


class _Built(NamedTuple):
  """The training graph and the scaffold that initializes it."""
  graph: tf.Graph
  model: TrainModel
  scaffold: tf.train.Scaffold
  agree: dict
  num_classes: int


def _build(config: TrainConfig, dataset: Any, setup: dist.Setup,
           plan: _Plan, network_fn: Optional[Callable],
           log: Callable) -> _Built:
  """Builds the model and its ``Scaffold`` (init, restore, input init)."""
  graph = tf.Graph()
  agree = must_agree(config, dataset, plan.preprocessing)
  with graph.as_default(), setup.scope():
    model = build_model(config, dataset, plan.preprocessing, setup,
                        network_fn=network_fn,
                        steps_per_epoch=plan.steps_per_epoch, agree=agree)
    saver = tf.train.Saver(max_to_keep=KEEP_CHECKPOINTS)
    scaffold = tf.train.Scaffold(
        # Made in the strategy's scope, as every variable is.
        init_op=tf.global_variables_initializer(), saver=saver,
        init_fn=_restore_fn(config, plan.latest, model, setup, log),
        # The input pipeline's iterator is fed its arrays once, after the
        # variables.
        local_init_op=tf.group(tf.train.Scaffold.default_local_init_op(),
                               model.input_init),
        local_init_feed_dict=model.input_feed)
  return _Built(graph, model, scaffold, agree, dataset.num_classes)


def _restore_fn(config: TrainConfig, latest: Optional[str],
                model: TrainModel, setup: dist.Setup,
                log: Callable) -> Callable:
  """The Scaffold's ``init_fn``: resume ``latest`` or warm-start, or neither.

  Runs after the variables are initialized (a warm start leaves the
  excluded scopes, the logits by default, as initialized).
  """
  warm, exclude = None, None
  if latest is None and config.checkpoint:
    exclude = (list(config.exclude_scopes) if config.exclude_scopes
               else [config.model + '/logits'])
    _, warm = checkpoints.restorer(config.checkpoint, scope=config.model,
                                   exclude_scopes=exclude)

  def init_fn(scaffold, session):
    if latest:
      with setup.peer_errors():
        scaffold.saver.restore(session, latest)
      log('resuming from %s (step %d)%s'
          % (latest, session.run(model.global_step),
             '; `checkpoint` %s is ignored' % config.checkpoint
             if config.checkpoint else ''))
    elif warm:
      with setup.peer_errors():
        warm(session)
      log('warm-started from %s (excluded: %s)'
          % (config.checkpoint, ', '.join(exclude)))

  return init_fn


def _make_hooks(config: TrainConfig, setup: dist.Setup, built: _Built,
                progress: hooks_lib.Progress, log: Callable, *,
                save_dir: str, writer: Optional[tf.summary.FileWriter]
                ) -> list:
  """TensorFlow's StopAtStepHook and this package's hooks, in run order."""
  model = built.model
  hooks = [
      hooks_lib.ProgressHook(   # first: counts
          model.global_step, progress, config.steps,
          read_step=(lambda session: int(session.run(model.global_step)))
          if config.precision == 'fp16' else None),
      hooks_lib.AgreementHook(model, built.agree, setup.run),
      tf.train.StopAtStepHook(last_step=config.steps),
      hooks_lib.FiniteLossHook(model.loss, progress),
      hooks_lib.LoggingHook(
          model, config, progress, log=log, writer=writer,
          images_per_step=config.batch_size * setup.num_replicas,
          num_classes=built.num_classes),
      hooks_lib.CheckpointHook(
          built.scaffold.saver, os.path.join(save_dir, 'model.ckpt'), model,
          config, progress, setup=setup)]
  # Without save_on_preemption a signal stops the run at once, as Ctrl-C
  # does (cli.common.stops_cleanly).
  grace = dict(grace_s=config.preemption_grace_s, log=log)
  if config.save_on_preemption and model.stop_votes is None:
    hooks.append(hooks_lib.PreemptionHook(progress, **grace))
  elif config.save_on_preemption:   # multi_worker: agree, then save
    hooks.insert(-1, hooks_lib.PreemptionHook(progress, **grace, vote=(
        lambda session, mine: float(setup.run(
            session, model.stop_votes, {model.stop_flag: mine})))))
  if setup.strategy is not None:
    hooks.append(hooks_lib.FingerprintHook(model.trainables, progress, log))
  return hooks


def _run(config: TrainConfig, setup: dist.Setup, built: _Built, plan: _Plan,
         log: Callable, save_dir: str,
         extra_hooks: Sequence[tf.train.SessionRunHook] = ()) -> list:
  """Runs the steps in a MonitoredTrainingSession; returns the history.

  Raises:
    TrainError (the input failed, a save failed, NaN), TrainInterrupted
      (Ctrl-C), distribute.strategy.PeerError: each saying which
      checkpoint a rerun resumes from.
  """
  progress = hooks_lib.Progress(last_saved=plan.latest)
  # The whole session runs inside the graph: the Saver and FileWriter need
  # it when eager execution is on (TF2's default).
  with built.graph.as_default():
    writer = (tf.summary.FileWriter(config.train_dir, built.graph)
              if setup.is_chief else None)
    hooks = _make_hooks(config, setup, built, progress, log,
                        save_dir=save_dir, writer=writer) + list(extra_hooks)
    with _writer_thread_errors_on_close(writer):
      try:
        with _one_line_stops(progress):
          _run_steps(setup, built, hooks)
      finally:
        for hook in hooks:
          if isinstance(hook, hooks_lib.PreemptionHook):
            hook.restore()
        if writer:
          # An error on its way out (a failed save) outranks the writer's.
          _close_writer(writer, config.train_dir,
                        raising=sys.exc_info()[1] is not None)
  if progress.signal:
    # A worker that is not the chief saved to scratch: the chief's is kept.
    saved = progress.last_saved or 'the chief\'s %s' % os.path.join(
        config.train_dir, 'model.ckpt-%d' % progress.step)
    raise TrainPreempted(
        'stopped by %s after step %d, saved as %s. Rerun the same command%s '
        'to resume from it.' % (progress.signal, progress.step, saved,
                                ' on every worker' if setup.task else ''))
  return progress.history


@contextlib.contextmanager
def _one_line_stops(progress: hooks_lib.Progress):
  """Ctrl-C, a lost worker, a failed input: one line each, naming the
  checkpoint a rerun resumes from."""
  try:
    yield
  except KeyboardInterrupt as exc:   # Ctrl-C, or cli.common.stops_cleanly
    raise TrainInterrupted('interrupted at step %d; nothing half-written. %s'
                           % (progress.step, progress.resume_hint()),
                           getattr(exc, 'number', signal.SIGINT)) from None
  except dist.PeerError as exc:
    raise dist.PeerError('%s %s' % (exc, progress.resume_hint().replace(
        'Rerun the same command', 'Rerun the same command on every worker'))
                         ) from None
  except (tf.errors.InvalidArgumentError, tf.errors.DataLossError,
          tf.errors.NotFoundError) as exc:
    # The input pipeline (a corrupt record, undecodable bytes, a label
    # outside the head) stops the run: one line, not a traceback.
    raise TrainError(
        'the input failed at step %d: %s. The evaluate command on the same '
        'data names the shard and record at fault. %s'
        % (progress.step + 1, errors.quoted(exc, 240), progress.kept())
    ) from None


def _run_steps(setup: dist.Setup, built: _Built, hooks: list) -> None:
  """TF1's training loop: run the step until a hook asks to stop."""
  with setup.peer_errors(), _monitored_session(setup, built,
                                               hooks) as session:
    while not session.should_stop():
      session.run(built.model.step)


def _monitored_session(setup: dist.Setup, built: _Built,
                       hooks: list) -> tf.train.MonitoredSession:
  """TF1's monitored session for this process.

  One process (strategy none or mirrored): ``MonitoredTrainingSession``,
  with none of its own saving, summaries or step counting (the hooks do
  them). Every worker of a collective all-reduce strategy initializes its
  own variables (the strategy's ``should_init``), so each is "chief" to
  it; which worker writes ``train_dir`` is ours to say
  (``setup.is_chief``). Under multi_worker: ``SingularMonitoredSession``,
  the same scaffold and hooks without recovery. MonitoredTrainingSession
  recreates its session when a peer is unavailable (parameter servers come
  back); a collective all-reduce peer does not, and the new session would
  wait for it at its first all-reduce, so a lost worker must stop the run
  with one line instead.
  """
  if setup.task is not None:
    return tf.train.SingularMonitoredSession(
        hooks=hooks, scaffold=built.scaffold, master=setup.target,
        config=setup.config)
  return tf.train.MonitoredTrainingSession(
      master=setup.target, is_chief=True, checkpoint_dir=None,
      scaffold=built.scaffold, hooks=hooks, config=setup.config,
      save_checkpoint_secs=None, save_checkpoint_steps=None,
      save_summaries_steps=None, save_summaries_secs=None,
      log_step_count_steps=None)


@contextlib.contextmanager
def _writer_thread_errors_on_close(writer: Optional[tf.summary.FileWriter]):
  """The summary writer's thread dies quietly; ``close`` reports why.

  On a full disk TensorFlow's event-writer thread re-raises its error into
  ``threading.excepthook``, which prints a thread traceback beside the
  command's own one-line error; ``writer.close()`` raises the same error
  again (``_close_writer`` makes it one line). Its thread object is
  private to TensorFlow, hence ``getattr``.
  """
  thread = getattr(getattr(writer, 'event_writer', None), '_worker', None)
  previous = threading.excepthook

  def hook(args):
    if args.thread is not thread:
      previous(args)

  threading.excepthook = hook
  try:
    yield
  finally:
    threading.excepthook = previous


def _close_writer(writer: tf.summary.FileWriter, train_dir: str,
                  raising: bool) -> None:
  """Closes the summary writer; a write it failed (a full disk) is one line.

  The writer's thread reports a failed flush only when closed. With
  ``raising`` (another error is on its way out) the writer's is dropped.
  """
  try:
    writer.close()
  except (RuntimeError, OSError, tf.errors.OpError) as exc:
    if not raising:
      raise TrainError('could not write the TensorBoard summaries in %s (%s);'
                       ' the checkpoints are as the log says.'
                       % (train_dir, errors.quoted(exc))) from None
