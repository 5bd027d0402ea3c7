"""The training run's guarantees as ``tf.train.SessionRunHook``s.

``trainer.train`` runs ``tf.train.MonitoredTrainingSession`` with
TensorFlow's own ``StopAtStepHook`` and these, each one guarantee:

- ``ProgressHook``: counts steps (reading ``global_step`` in the step's own
  run races with its increment) and keeps what the error messages need;
  under fp16 it counts the steps the loss scale skipped and stops a run
  where every step is skipped;
- ``FiniteLossHook``: TensorFlow's ``NanTensorHook``, made to also stop on
  an infinite loss and to say which checkpoint is kept;
- ``AgreementHook``: workers of one distributed run started with the same
  settings and from the same step;
- ``LoggingHook``: the progress line, the history and the TensorBoard
  summaries, on the same steps, and a warning when the loss diverges;
- ``CheckpointHook``: the finite-weights check before every save, the
  save itself, and a failed save (a full disk) as one line without the
  Saver's temporaries;
- ``FingerprintHook``: at the end of a distributed run, a hash of this
  worker's weights (the same on every worker when they are in sync).

Why not TensorFlow's ``CheckpointSaverHook``/``SummarySaverHook``: the first
saves a step-0 checkpoint at session creation and checks nothing before a
save; the second takes steps *or* seconds and fetches its own summaries,
while a logged step here writes the summary of the very batch it prints.

Typical use::

    progress = hooks.Progress(step=0)
    with tf.train.MonitoredTrainingSession(hooks=[
        hooks.ProgressHook(model.global_step, progress), ...]) as sess:
      while not sess.should_stop():
        sess.run(model.step)
"""

import dataclasses
import glob
import hashlib
import math
import os
import shutil
import signal
import sys
import threading
import time
from typing import Any, Callable, Optional, Tuple

import tensorflow.compat.v1 as tf

from resnet_v2_slim import errors
from resnet_v2_slim.training.settings import TrainConfig, TrainError


@dataclasses.dataclass
class Progress:
  """What the hooks know of a run, for the log and for error messages.

  Attributes:
    step: the last completed step.
    last_saved: the newest checkpoint a rerun resumes from (None: none).
    history: one dict per logged step (see ``LoggingHook``).
    signal: the name of the signal that asked the run to stop
      (``PreemptionHook``), None while none came.
    skipped: under fp16, the steps the dynamic loss scale skipped.
  """
  step: int = 0
  last_saved: Optional[str] = None
  history: list = dataclasses.field(default_factory=list)
  signal: Optional[str] = None   # the preemption signal that stops the run
  skipped: int = 0   # fp16: steps the loss scale skipped (ProgressHook)
  saving: bool = False   # a CheckpointHook save is under way
  saved_step: Optional[int] = None   # the step this process saved last

  def kept(self, what: str = 'The last checkpoint', *, state: str = 'kept',
           none: str = 'No checkpoint was saved yet.') -> str:
    """'The last checkpoint, X, is kept.', or ``none`` when none was saved."""
    if self.last_saved:
      return '%s, %s, is %s.' % (what, self.last_saved, state)
    return none

  def resume_hint(self) -> str:
    """How to go on from here, for an interrupted run."""
    if self.last_saved:
      return 'Rerun the same command to resume from %s.' % self.last_saved
    return 'No checkpoint was saved yet.'


class _Every:
  """True every ``steps`` steps, at ``last_step``, or after ``secs`` seconds.

  TensorFlow's ``SecondOrStepTimer`` takes steps or seconds, not both.
  """

  def __init__(self, steps: int, secs: Optional[float], last_step: int):
    self.steps, self.secs, self.last_step = steps, secs, last_step
    self.since = time.perf_counter()

  def due(self, step: int) -> bool:
    return (step % self.steps == 0 or step >= self.last_step or (
        self.secs is not None and
        time.perf_counter() - self.since >= self.secs))

  def reset(self) -> None:
    self.since = time.perf_counter()


# fp16's dynamic loss scale starts at 2**15 and halves at each skipped step
# down to its floor of 1: 15 skips reach it, 10 more at 1 mean the
# gradients overflow float16 whatever the scale (TensorFlow's
# MixedPrecisionLossScaleOptimizer neither applies a skipped step nor
# advances global_step, so StopAtStepHook would wait for ever).
MAX_SKIPPED_IN_A_ROW = 25
# A logged loss above this many times ln(classes) is called diverging.
DIVERGING = 10


class ProgressHook(tf.train.SessionRunHook):
  """Counts steps: each run of the training session is one step, except
  under fp16, where the loss scale may skip one (``read_step`` then reads
  ``global_step`` after each run and counts the skips).

  It also stops a run resumed at or past ``last_step`` before its first
  step: TensorFlow's ``StopAtStepHook`` looks only after a step has run.
  """

  def __init__(self, global_step: tf.Variable, progress: Progress,
               last_step: int, *,
               read_step: Optional[Callable[[tf.Session], int]] = None):
    self._global_step, self._progress = global_step, progress
    self._last_step, self._read_step = last_step, read_step
    self._in_a_row = 0

  def after_create_session(self, session: tf.Session,
                           coord: tf.train.Coordinator) -> None:
    self._progress.step = int(session.run(self._global_step))
    if self._progress.step >= self._last_step:
      coord.request_stop()

  def after_run(self, run_context: tf.train.SessionRunContext,
                run_values: tf.train.SessionRunValues) -> None:
    if self._read_step is None:
      self._progress.step += 1
      return
    step = self._read_step(run_context.session)
    skipped = step == self._progress.step
    self._progress.step = step
    self._progress.skipped += skipped
    self._in_a_row = self._in_a_row + 1 if skipped else 0
    if self._in_a_row >= MAX_SKIPPED_IN_A_ROW:
      raise TrainError(
          'fp16: the last %d steps were all skipped by the dynamic loss '
          'scale (their gradients overflow float16 even at its floor of 1), '
          'so nothing was learned since step %d. %s Train with `precision` '
          'bf16 or fp32, or a lower `learning_rate` or `weight_decay`, in a '
          'new `train_dir`.' % (self._in_a_row, step, self._progress.kept()))


class FiniteLossHook(tf.train.NanTensorHook):
  """``NanTensorHook`` that also stops on inf and names the kept checkpoint."""

  def __init__(self, loss: tf.Tensor, progress: Progress):
    super().__init__(loss)
    self._progress = progress

  def after_run(self, run_context: tf.train.SessionRunContext,
                run_values: tf.train.SessionRunValues) -> None:
    if not math.isfinite(float(run_values.results)):
      raise_not_finite('loss', self._progress)


def raise_not_finite(what: str, progress: Progress) -> None:
  """Raises the one-line error of a loss or weights turned NaN or inf."""
  raise TrainError(
      'the %s became NaN or infinite at step %d, so training stopped and '
      'saved nothing more. %s Train again in a new `train_dir` with a lower '
      '`learning_rate` (or check the data): a resume of this folder keeps '
      'its learning-rate schedule.'
      % (what, progress.step, progress.kept(
          'The last good checkpoint',
          none='No checkpoint had been saved yet.')))


class AgreementHook(tf.train.SessionRunHook):
  """Workers of one run must share settings and start from one step."""

  def __init__(self, model: Any, agree: dict, run: Callable):
    self._model, self._agree, self._run = model, agree, run

  def after_create_session(self, session: tf.Session,
                           coord: tf.train.Coordinator) -> None:
    del coord
    if self._model.settings_spread is not None:
      spread = self._run(session, self._model.settings_spread)
      differ = [name for name, s in zip(self._agree, spread) if s > 0.25]
      if differ:
        raise TrainError(
            'the workers were started with different settings: %s differ '
            '(this worker: %s). Start every worker with the same flags; '
            'only TF_CONFIG\'s task index differs.'
            % (', '.join('`%s`' % n for n in differ),
               ' '.join('`%s` %s' % (n, self._agree[n]) for n in differ)))
    step, mean_step = self._run(session, [self._model.global_step,
                                          self._model.mean_step])
    if mean_step != step:
      raise TrainError(
          'the workers start from different steps (this one %d, the mean '
          '%g): every worker must see the chief\'s checkpoints, so on '
          'several machines `train_dir` must be one shared folder.'
          % (step, mean_step))


class LoggingHook(tf.train.SessionRunHook):
  """The progress line, the history and the summaries of a logged step."""

  def __init__(self, model: Any, config: TrainConfig, progress: Progress, *,
               images_per_step: int, log: Callable,
               writer: Optional[tf.summary.FileWriter], num_classes: int):
    self._model, self._config, self._progress = model, config, progress
    self._images_per_step, self._log, self._writer = (images_per_step, log,
                                                      writer)
    self._every = _Every(config.log_every, config.save_summaries_secs,
                         config.steps)
    self._start, self._images = time.perf_counter(), 0
    self._guess = math.log(max(num_classes, 2))   # a uniform guess's loss
    self._warned = False

  def before_run(self, run_context: tf.train.SessionRunContext
                 ) -> tf.train.SessionRunArgs:
    fetches = {'step': self._model.step, 'rate': self._model.learning_rate}
    if self._every.due(self._progress.step + 1):
      fetches['summary'] = self._model.summary
    return tf.train.SessionRunArgs(fetches)

  def after_run(self, run_context: tf.train.SessionRunContext,
                run_values: tf.train.SessionRunValues) -> None:
    self._images += self._images_per_step
    results = run_values.results
    if 'summary' not in results:
      return
    (loss, total_loss, accuracy), rate = results['step'], results['rate']
    step = self._progress.step
    elapsed = time.perf_counter() - self._start
    speed = self._images / elapsed if elapsed > 0 else 0.0
    self._progress.history.append({
        'step': step, 'loss': float(loss), 'total_loss': float(total_loss),
        'accuracy': float(accuracy), 'learning_rate': float(rate),
        'images_per_sec': speed, 'skipped_steps': self._progress.skipped})
    skipped = ('; %d steps skipped by the fp16 loss scale so far'
               % self._progress.skipped if self._progress.skipped else '')
    self._log('step %d/%d: loss %.4f, total_loss %.4f, accuracy %.3f, '
              'lr %.4g, %.1f images/sec%s' % (step, self._config.steps, loss,
                                              total_loss, accuracy, rate,
                                              speed, skipped))
    self._warn_if_diverging(float(loss), float(rate))
    if self._writer:
      self._writer.add_summary(results['summary'], step)
    self._start, self._images = time.perf_counter(), 0
    self._every.reset()

  def _warn_if_diverging(self, loss: float, rate: float) -> None:
    """Once per run: a logged loss ten times a uniform guess's.

    Hand-written (TensorFlow's hooks check only NaN): at initialization the
    cross-entropy is about ln(classes); ten times that means confident,
    wrong logits, a run that diverges without (yet) overflowing.
    """
    if self._warned or not loss > DIVERGING * self._guess:
      return
    self._warned = True
    first = self._progress.history[0]
    was = ('; it was %.4g at step %d' % (first['loss'], first['step'])
           if first['step'] != self._progress.step else '')
    self._log('warning: at step %d the loss is %.4g, more than %d times a '
              'uniform guess\'s %.2f (ln of the classes%s): training is '
              'diverging. Stop it and train again with a lower '
              '`learning_rate` (%.4g now) in a new `train_dir`.'
              % (self._progress.step, loss, DIVERGING, self._guess, was,
                 rate))


class CheckpointHook(tf.train.SessionRunHook):
  """Saves every ``save_every`` steps, after seconds, and at the last step.

  Before each save the weights must be finite: an overflowed update must
  not replace the last good checkpoint. TensorFlow's Saver writes to
  temporary files and renames them, then rewrites the ``checkpoint`` index
  atomically, so an interrupted save leaves the previous one usable.
  """

  def __init__(self, saver: tf.train.Saver, prefix: str, model: Any,
               config: TrainConfig, progress: Progress, *, setup: Any):
    self._saver, self._prefix, self._model = saver, prefix, model
    self._config, self._progress, self._setup = config, progress, setup
    self._every = _Every(config.save_every, config.save_interval_secs,
                         config.steps)
    self._saved_step = None

  def after_run(self, run_context: tf.train.SessionRunContext,
                run_values: tf.train.SessionRunValues) -> None:
    # A preempted run saves the step it just finished; a step fp16's loss
    # scale skipped is the one saved before it.
    step = self._progress.step
    if step != self._saved_step and (self._every.due(step) or
                                     self._progress.signal):
      self.save(run_context.session)
      self._every.reset()

  def save(self, session: tf.Session) -> None:
    """Checks the weights and saves the checkpoint of the current step."""
    step = self._progress.step
    if not self._setup.run(session, self._model.weights_finite):
      raise_not_finite('weights', self._progress)
    self._progress.saving = True   # the preemption grace waits for it
    try:
      with self._setup.peer_errors():   # saving all-reduces across workers
        saved = self._saver.save(session, self._prefix, global_step=step)
    except (tf.errors.OpError, OSError) as exc:   # e.g. a full disk
      self._progress.saving = False
      _remove_saver_temporaries(self._prefix, step)
      raise TrainError(
          'could not save the checkpoint of step %d in %s (%s). %s'
          % (step, self._config.train_dir, errors.quoted(exc),
             self._progress.kept('The previous checkpoint', state='intact',
                                 none='No checkpoint was saved.'))) from None
    self._progress.saving = False
    self._saved_step = self._progress.saved_step = step
    if self._setup.is_chief:
      self._progress.last_saved = saved


def _remove_saver_temporaries(prefix: str, step: int) -> None:
  """The Saver's half-written temporaries would keep the disk full."""
  for leftover in glob.glob('%s-%d*' % (prefix, step)):
    if 'tempstate' in leftover or '_temp' in os.path.basename(leftover):
      if os.path.isdir(leftover):
        shutil.rmtree(leftover, ignore_errors=True)
      else:
        os.unlink(leftover)


# What spot VMs, Kubernetes evictions and Slurm (``--signal``) send before
# they kill a job.
PREEMPTION_SIGNALS = ('SIGTERM', 'SIGHUP', 'SIGUSR1')


class PreemptionHook(tf.train.SessionRunHook):
  """SIGTERM, SIGHUP or SIGUSR1: finish the step in flight, save it, stop.

  The handler only notes the signal; the step in flight finishes, the
  ``CheckpointHook`` saves it through the same checks as any save, and
  this hook asks the session to stop. Under multi_worker (``vote``) the
  workers agree first: after every step each one votes (1 if it was
  signalled) in one all-reduce, so all of them save the same step and stop
  (the hook then goes before the ``CheckpointHook``; one process: after
  it). Signal handlers belong to the main thread: elsewhere (a library
  caller's thread) nothing is installed. ``restore`` puts the earlier
  handlers back.
  """

  def __init__(self, progress: Progress, *, grace_s: float, log: Callable,
               vote: Optional[Callable[[tf.Session, float], float]] = None):
    self._progress, self._vote = progress, vote
    self._grace_s, self._log = grace_s, log
    self._previous = {}
    self._mine: Optional[str] = None   # this worker's signal (vote)
    self._pipe: Optional[Tuple[int, int]] = None
    self._previous_fd = -1
    self._ended = threading.Event()

  def begin(self) -> None:
    if threading.current_thread() is not threading.main_thread():
      return
    for name in PREEMPTION_SIGNALS:
      number = getattr(signal, name, None)
      if number is not None:
        self._previous[number] = signal.signal(number, self._note)
    # Python runs ``_note`` only when the step's session run returns; the
    # wakeup fd hears of the signal at once, so the grace counts from it.
    read, write = os.pipe()
    os.set_blocking(write, False)
    self._pipe = (read, write)
    self._previous_fd = signal.set_wakeup_fd(write)
    threading.Thread(target=self._grace, args=(read,), daemon=True).start()

  def _note(self, number: int, frame: Any) -> None:
    del frame
    if self._vote is None:
      self._progress.signal = signal.Signals(number).name
    else:   # the agreement decides which step saves
      self._mine = signal.Signals(number).name

  def _grace(self, read: int) -> None:
    """From the first preemption signal, ``grace_s``; then, unless the run
    ended or a save is under way, exit before the kill that follows could
    land in the middle of a save.

    Hand-written: the main thread is inside the step's session run, which
    nothing interrupts; hence a thread and ``os._exit``.
    """
    numbers = {int(n) for n in self._previous}
    with os.fdopen(read, 'rb', buffering=0) as pipe:
      while True:
        data = pipe.read(1)
        if not data:
          return   # ``restore`` closed the pipe: the run is over
        if data[0] in numbers:
          break
    progress = self._progress
    if (self._ended.wait(self._grace_s) or progress.saving or
        (progress.signal and progress.saved_step == progress.step)):
      return   # the run ends, or ends once the save is written
    self._log('stopped by %s: the step in flight did not end within '
              '`preemption_grace_s` %g s, so nothing more was saved. %s'
              % (signal.Signals(data[0]).name, self._grace_s,
                 self._progress.resume_hint()))
    sys.stdout.flush()
    os._exit(EXIT_PREEMPTED)   # pylint: disable=protected-access

  def after_run(self, run_context: tf.train.SessionRunContext,
                run_values: tf.train.SessionRunValues) -> None:
    if self._vote is not None and not self._progress.signal:
      mine = self._mine
      if self._vote(run_context.session, 1.0 if mine else 0.0) > 0:
        self._progress.signal = mine or ANOTHER_WORKER
    if self._progress.signal:
      run_context.request_stop()

  def restore(self) -> None:
    """The signal handlers and wakeup fd as before ``begin``; the grace
    ends."""
    self._ended.set()
    for number, handler in self._previous.items():
      signal.signal(number, handler)
    self._previous = {}
    if self._pipe is not None:
      signal.set_wakeup_fd(self._previous_fd)
      os.close(self._pipe[1])   # the grace thread's read returns, it ends
      self._pipe = None


# sysexits' EX_TEMPFAIL, "try again later": a preempted run (saved or not).
EXIT_PREEMPTED = 75
# What a worker that was not signalled says stopped it.
ANOTHER_WORKER = 'a preemption signal to another worker'


class FingerprintHook(tf.train.SessionRunHook):
  """Logs a hash of this worker's weights when a distributed run ends."""

  def __init__(self, trainables: list, progress: Progress, log: Callable):
    self._trainables, self._progress, self._log = (trainables, progress,
                                                   log)

  def end(self, session: tf.Session) -> None:
    if self._progress.history:
      digest = hashlib.sha256()
      for array in session.run(self._trainables):
        digest.update(array.tobytes())
      self._log('weights fingerprint %s (sha256 of this worker\'s trainable '
                'variables; the same on every worker when they are in sync)'
                % digest.hexdigest()[:16])
