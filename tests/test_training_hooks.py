"""training/hooks.py: each guarantee of a training run, one hook at a time.

The hooks run in TensorFlow's own MonitoredTrainingSession on a toy graph
(one variable, its step counted by ``global_step``), so what each hook does
at which step is checked by hand, without a network.
"""

import math
import signal
import types

import pytest
import tensorflow.compat.v1 as tf

from resnet_v2_slim.distribute import strategy as dist
from resnet_v2_slim.training import hooks
from resnet_v2_slim.training import settings


def _config(tmp_path, **kwargs):
  kwargs.setdefault('log_every', 3)
  kwargs.setdefault('save_every', 4)
  return settings.TrainConfig(model='resnet_v2_18',
                              train_dir=str(tmp_path), steps=7, **kwargs)


def _toy_model(losses):
  """A model whose step k (1-based) has loss ``losses[k - 1]``."""
  global_step = tf.train.get_or_create_global_step()
  weight = tf.Variable(1.0, name='weight')
  table = tf.constant(losses, tf.float32)
  increment = tf.assign_add(global_step, 1)
  with tf.control_dependencies([increment]):
    loss = tf.gather(table, tf.cast(global_step.read_value(), tf.int32) - 1)
    update = tf.assign(weight, weight * loss)   # inf stays inf
  with tf.control_dependencies([update]):
    step = (tf.identity(loss), tf.identity(loss + 1), tf.constant(0.5))
  tf.summary.scalar('loss', step[0])
  return types.SimpleNamespace(
      step=step, loss=step[0], learning_rate=tf.constant(0.1),
      summary=tf.summary.merge_all(), global_step=global_step,
      weights_finite=tf.reduce_all(tf.is_finite(weight.read_value())))


def _train(config, losses, *, events=None):
  """Runs the hooks trainer.py runs on the toy model; returns the Progress.

  With ``events`` (a folder), the summaries go there.
  """
  progress = hooks.Progress()
  lines = []
  with tf.Graph().as_default():
    writer = tf.summary.FileWriter(events) if events else None
    model = _toy_model(losses)
    saver = tf.train.Saver(max_to_keep=10)
    setup = dist.Setup(dist.Options())
    run_hooks = [
        hooks.ProgressHook(model.global_step, progress, config.steps),
        tf.train.StopAtStepHook(last_step=config.steps),
        hooks.FiniteLossHook(model.loss, progress),
        hooks.LoggingHook(model, config, progress, images_per_step=8,
                          log=lines.append, writer=writer,
                          num_classes=10),
        hooks.CheckpointHook(saver, str(config.train_dir) + '/model.ckpt',
                             model, config, progress, setup=setup)]
    with tf.train.MonitoredTrainingSession(
        hooks=run_hooks, save_checkpoint_secs=None,
        save_summaries_steps=None, log_step_count_steps=None) as sess:
      while not sess.should_stop():
        sess.run(model.step)
    if writer:
      writer.close()
  progress.lines = lines
  return progress


def _saved_steps(train_dir):
  state = tf.train.get_checkpoint_state(str(train_dir))
  return [int(p.rsplit('-', 1)[1]) for p in state.all_model_checkpoint_paths]


def test_logs_every_log_every_steps_and_the_last(tmp_path):
  progress = _train(_config(tmp_path), [7, 6, 5, 4, 3, 2, 1])
  assert [h['step'] for h in progress.history] == [3, 6, 7]
  # Each logged line is the loss of that very step's batch.
  assert [h['loss'] for h in progress.history] == [5.0, 2.0, 1.0]
  assert [h['total_loss'] for h in progress.history] == [6.0, 3.0, 2.0]
  assert progress.lines[0].startswith('step 3/7: loss 5.0000, total_loss '
                                      '6.0000, accuracy 0.500, lr 0.1,')


def test_summaries_are_written_on_the_logged_steps(tmp_path):
  _train(_config(tmp_path), [7, 6, 5, 4, 3, 2, 1],
         events=str(tmp_path / 'events'))
  [path] = (tmp_path / 'events').glob('events.out.tfevents.*')
  events = tf.train.summary_iterator(str(path))
  logged = {(e.step, v.simple_value) for e in events
            for v in e.summary.value if v.tag == 'loss'}
  assert logged == {(3, 5.0), (6, 2.0), (7, 1.0)}


def test_saves_every_save_every_steps_and_at_the_end(tmp_path):
  progress = _train(_config(tmp_path), [1.0] * 7)
  assert _saved_steps(tmp_path) == [4, 7]
  assert progress.last_saved.endswith('model.ckpt-7')


def test_a_run_resumed_at_its_last_step_runs_no_step(tmp_path):
  _train(_config(tmp_path), [1.0] * 7)
  config = _config(tmp_path)
  progress = hooks.Progress()
  with tf.Graph().as_default():
    model = _toy_model([1.0] * 9)
    saver = tf.train.Saver()
    with tf.train.MonitoredTrainingSession(
        hooks=[hooks.ProgressHook(model.global_step, progress, 7)],
        scaffold=tf.train.Scaffold(
            saver=saver, init_fn=lambda _, s: saver.restore(
                s, tf.train.latest_checkpoint(str(tmp_path)))),
        save_checkpoint_secs=None, save_summaries_steps=None,
        log_step_count_steps=None) as sess:
      assert sess.should_stop()
  assert progress.step == config.steps


@pytest.mark.parametrize('bad', [math.nan, math.inf])
def test_a_loss_that_is_not_finite_stops_at_its_step(tmp_path, bad):
  with pytest.raises(settings.TrainError,
                     match=r'the loss became NaN or infinite at step 6, .*'
                     r'The last good checkpoint, .*model\.ckpt-4, is kept'):
    _train(_config(tmp_path), [1, 1, 1, 1, 1, bad, 1])
  assert _saved_steps(tmp_path) == [4]


def test_weights_that_are_not_finite_are_never_saved(tmp_path):
  # The loss hook is blind here (FiniteLossHook is left out), as when a
  # finite loss comes with an overflowed update: the save refuses.
  config = _config(tmp_path, save_every=2)
  progress = hooks.Progress()
  with tf.Graph().as_default():
    model = _toy_model([1, 1, math.inf, 1, 1, 1, 1])
    saver = tf.train.Saver()
    setup = dist.Setup(dist.Options())
    with pytest.raises(settings.TrainError,
                       match=r'the weights became NaN or infinite at step 4.*'
                       r'model\.ckpt-2, is kept'):
      with tf.train.MonitoredTrainingSession(
          hooks=[hooks.ProgressHook(model.global_step, progress, 7),
                 tf.train.StopAtStepHook(last_step=7),
                 hooks.CheckpointHook(saver, str(tmp_path / 'model.ckpt'),
                                      model, config, progress, setup=setup)],
          save_checkpoint_secs=None, save_summaries_steps=None,
          log_step_count_steps=None) as sess:
        while not sess.should_stop():
          sess.run(model.step)
  assert _saved_steps(tmp_path) == [2]


def test_progress_messages_name_the_checkpoint_to_resume_from():
  assert hooks.Progress().resume_hint() == 'No checkpoint was saved yet.'
  progress = hooks.Progress(step=5, last_saved='/r/model.ckpt-4')
  assert progress.resume_hint() == ('Rerun the same command to resume from '
                                    '/r/model.ckpt-4.')
  assert progress.kept('The previous checkpoint', state='intact') == (
      'The previous checkpoint, /r/model.ckpt-4, is intact.')


class _SignalAt(tf.train.SessionRunHook):
  """Delivers ``number`` after ``step`` runs (a preemption)."""

  def __init__(self, step, number):
    self.step, self.number, self.count = step, number, 0

  def after_run(self, run_context, run_values):
    self.count += 1
    if self.count == self.step:
      # The handler installed now, called as the signal would call it: a
      # real SIGTERM to a pytest worker ended it at times in CI (the
      # delivery itself is tested on real processes in
      # test_training_trainer.py). Not the hook's handler: the test fails.
      handler = signal.getsignal(self.number)
      assert callable(handler), handler
      handler(self.number, None)


@pytest.mark.parametrize('name', hooks.PREEMPTION_SIGNALS)
def test_a_preemption_signal_saves_the_step_and_stops(tmp_path, name):
  number = getattr(signal, name)
  # A handler of the test's own: if the hook failed to install its handler,
  # the signal lands here (the test fails) instead of ending the worker.
  caught = []
  original = signal.signal(number, lambda *_: caught.append(number))
  try:
    _preempt_at_step_2(tmp_path, number)   # puts the test's handler back
    assert not caught   # the hook's handler took it
  finally:
    signal.signal(number, original)
  assert _saved_steps(tmp_path) == [2]   # saved at once, not at save_every


def _preempt_at_step_2(tmp_path, number):
  """Trains the toy model; ``number`` arrives after step 2."""
  before = signal.getsignal(number)
  config = _config(tmp_path)
  progress = hooks.Progress()
  # (grace: the run ends long before; restore ends the grace thread)
  preemption = hooks.PreemptionHook(progress, grace_s=600, log=print)
  with tf.Graph().as_default():
    model = _toy_model([1.0] * 7)
    saver = tf.train.Saver()
    setup = dist.Setup(dist.Options())
    with tf.train.MonitoredTrainingSession(
        hooks=[hooks.ProgressHook(model.global_step, progress, 7),
               _SignalAt(2, number),
               hooks.CheckpointHook(saver, str(tmp_path / 'model.ckpt'),
                                    model, config, progress, setup=setup),
               preemption],
        save_checkpoint_secs=None, save_summaries_steps=None,
        log_step_count_steps=None) as sess:
      while not sess.should_stop():
        sess.run(model.step)
  preemption.restore()
  assert (progress.signal, progress.step) == (signal.Signals(number).name, 2)
  assert signal.getsignal(number) is before


def _loss_scaled_runs(terms, last_step, progress, runs):
  """TensorFlow's own fp16 loss-scale optimizer on x (1e-3) with
  loss = sum of x * t in float16, t in ``terms`` (so d loss / dx = their
  sum), under ``ProgressHook`` and ``StopAtStepHook``; ``runs`` gets one
  item per session run that returned."""
  with tf.Graph().as_default():
    x = tf.Variable(1e-3)
    global_step = tf.train.get_or_create_global_step()
    half = tf.cast(x, tf.float16)
    loss = tf.cast(tf.add_n([half * tf.constant(t, tf.float16)
                             for t in terms]), tf.float32)
    train_op = tf.train.experimental.MixedPrecisionLossScaleOptimizer(
        tf.train.GradientDescentOptimizer(0.1), 'dynamic').minimize(
            loss, global_step=global_step)
    hook = hooks.ProgressHook(
        global_step, progress, last_step,
        read_step=lambda session: int(session.run(global_step)))
    with tf.train.MonitoredTrainingSession(hooks=[
        hook, tf.train.StopAtStepHook(last_step=last_step)]) as session:
      while not session.should_stop():
        session.run(train_op)
        runs.append(1)


def test_steps_the_loss_scale_skips_are_counted_and_a_run_of_them_stops():
  """d loss / dx = 2 x 60000 overflows float16 at every scale, even its
  floor of 1: every step is skipped, global_step stays 0; the hook counts
  the skips and stops after MAX_SKIPPED_IN_A_ROW of them."""
  progress, runs = hooks.Progress(), []
  with pytest.raises(settings.TrainError, match=(
      r'fp16: the last 25 steps were all skipped by the dynamic loss '
      r'scale .* nothing was learned since step 0')):
    _loss_scaled_runs([60000, 60000], 100, progress, runs)
  assert hooks.MAX_SKIPPED_IN_A_ROW == 25
  # The 25th run raised in its hook: 24 returned.
  assert (len(runs), progress.skipped, progress.step) == (24, 25, 0)


def test_only_the_steps_the_loss_scale_skips_are_counted():
  """d loss / dx = 2 in float16: at the first scale, 2**15, 65536 overflows
  float16 (max 65504), so that step is skipped and the scale halves; at
  2**14 every step applies. Hand-computed: 4 runs for 3 steps, 1 skip."""
  progress, runs = hooks.Progress(), []
  _loss_scaled_runs([2], 3, progress, runs)
  assert (len(runs), progress.step, progress.skipped) == (4, 3, 1)
