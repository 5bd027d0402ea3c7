"""training/trainer.py: train, resume, fine-tune, kill and resume, batch norm."""

import dataclasses
import json
import os
import re
import signal
import time

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v2_slim.cli import inspect as inspect_cmd
from resnet_v2_slim.cli import train
from resnet_v2_slim.data import datasets as data
from resnet_v2_slim.inference.classifier import Classifier
from resnet_v2_slim.training import model as model_lib
from resnet_v2_slim.training import trainer as training
import refnets

SCRIPTS = os.path.join(os.path.dirname(__file__), '..', 'scripts')


def _image_folder(root, classes, per_class=3):
  return str(refnets.image_folder(root, classes, per_class=per_class,
                                  shape=(20, 24)))


# --- training -------------------------------------------------------------

def _train(capsys, argv):
  code = train.main(argv)
  out, err = capsys.readouterr()
  return code, out, err


def test_train_logs_saves_and_resumes(capsys, tmp_path):
  run = str(tmp_path / 'run')
  base = ['--model', 'resnet_v2_18', '--train_dir', run, '--batch_size', '8',
          '--save_every', '2', '--log_every', '1']
  code, out, err = _train(capsys, base + ['--steps', '3'])
  assert code == 0, err
  assert 'step 1/3: loss' in out and 'images/sec' in out
  assert tf.train.latest_checkpoint(run).endswith('model.ckpt-3')
  assert [f for f in os.listdir(run) if 'tfevents' in f]
  code, out, _ = _train(capsys, base + ['--steps', '5'])
  assert code == 0
  assert 'resuming from' in out and '(step 3)' in out
  assert 'step 4/5' in out and 'step 1/5' not in out
  code, out, _ = _train(capsys, base + ['--steps', '5'])
  assert 'nothing to do' in out


def test_train_updates_batch_norm_statistics(tmp_path):
  config = training.TrainConfig(model='resnet_v2_18', batch_size=8, steps=2,
                                train_dir=str(tmp_path / 'run'))
  training.train(config, log=lambda _: None)
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(
      config.train_dir))
  mean = reader.get_tensor('resnet_v2_18/postnorm/moving_mean')
  assert np.abs(mean).max() > 0   # starts at zero; moves only via UPDATE_OPS


def test_train_dir_of_another_model_is_left_alone(capsys, tmp_path):
  run = str(tmp_path / 'run')
  assert _train(capsys, ['--model', 'resnet_v2_18', '--train_dir', run,
                         '--steps', '1', '--batch_size', '4'])[0] == 0
  before = {f: os.path.getmtime(os.path.join(run, f))
            for f in os.listdir(run)}
  for extra in (['--model', 'resnet_v2_34'],
                ['--model', 'resnet_v2_18', '--no_shortcut']):
    code, _, err = _train(capsys, extra + ['--train_dir', run, '--steps',
                                           '2', '--batch_size', '4'])
    assert code == 2
    assert 'holds a checkpoint of resnet_v2_18 with 10 classes' in err
    assert 'Nothing was changed' in err
  after = {f: os.path.getmtime(os.path.join(run, f)) for f in os.listdir(run)}
  assert after == before


def test_train_bad_data_dir_writes_nothing(capsys, tmp_path):
  folder = _image_folder(tmp_path / 'data', ['only'])
  run = tmp_path / 'run'
  code, _, err = _train(capsys, ['--model', 'resnet_v2_18', '--train_dir',
                                 str(run), '--data_dir', folder])
  assert code == 2 and 'holds one class' in err
  assert not run.exists()
  code, _, err = _train(capsys, ['--model', 'resnet_v2_18', '--train_dir',
                                 str(run), '--steps', '0'])
  assert code == 2 and '--steps must be > 0' in err


def test_fine_tune_from_a_legacy_checkpoint(capsys, tmp_path, saved):
  prefix, values = saved('rn50_v1_1001')
  folder = _image_folder(tmp_path / 'data', ['cat', 'dog'], per_class=4)
  run = str(tmp_path / 'run')
  # Neither the published row's size and method nor the package's.
  code, out, err = _train(capsys, [
      '--model', 'resnet_v2_50', '--train_dir', run, '--data_dir', folder,
      '--checkpoint', prefix, '--steps', '1', '--batch_size', '4',
      '--learning_rate', '1e-9', '--image_size', '40',
      '--preprocessing', 'vgg'])
  assert code == 0, err
  assert 'warm-started from %s (excluded: resnet_v2_50/logits)' % prefix in out
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(run))
  np.testing.assert_allclose(reader.get_tensor('resnet_v2_50/conv1/weights'),
                             values['resnet_v2_50/conv1/weights'], atol=1e-6)
  assert reader.get_tensor('resnet_v2_50/logits/weights').shape == (
      1, 1, 2048, 2)
  _check_recorded_facts(run, folder, tmp_path, capsys)


def _check_recorded_facts(run, folder, tmp_path, capsys):
  """The fine-tuned run of ``folder`` (cat, dog) at 40 with vgg: recorded
  beside its checkpoints, and what its readers default to."""
  with open(os.path.join(run, 'train_facts.json'), encoding='utf-8') as f:
    assert json.load(f) == {
        'version': 1, 'network': 'resnet_v2_50', 'use_shortcut': True,
        'image_size': 40, 'preprocessing': 'vgg', 'num_classes': 2,
        'class_names': ['cat', 'dog'], 'labels_offset': 1,
        'data': {'kind': 'folder', 'source': os.path.abspath(folder)}}
  with Classifier(run) as clf:   # the train_dir: its facts are the defaults
    assert (clf.image_size, clf.preprocessing, clf.labels) == (
        40, 'vgg', ['cat', 'dog'])
    assert clf.defaults_source == 'train_facts.json of %s' % run
    assert clf.classify(os.path.join(folder, 'dog', '0.png'))[0][
        'label'] in ('cat', 'dog')
  names = tmp_path / 'names.txt'
  names.write_text('tabby\nrest\n')
  with Classifier(tf.train.latest_checkpoint(run), image_size=48,
                  preprocessing_method='inception',
                  labels_file=str(names)) as clf:   # flags win
    assert (clf.image_size, clf.preprocessing, clf.labels) == (
        48, 'inception', ['tabby', 'rest'])
  assert inspect_cmd.main([run, '--json', '-']) == 0
  shown = json.loads(capsys.readouterr().out)
  assert (shown['step'], shown['trained']['image_size']) == (1, 40)
  with open(os.path.join(run, 'train_facts.json'), 'w') as f:
    f.write('{"image_size": 40,')   # cut short
  assert inspect_cmd.main([run]) == 2
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and os.path.join(run, 'train_facts.json') in err
  assert 'is damaged' in err and 'rerun train in that folder' in err


def test_killed_training_resumes_from_the_last_checkpoint(forks, tmp_path):
  run = str(tmp_path / 'run')
  cmd = [os.path.join(SCRIPTS, 'train.py'), '--model', 'resnet_v2_18',
         '--train_dir', run, '--batch_size', '4', '--save_every', '2',
         '--log_every', '1']
  proc = forks.start(cmd + ['--steps', '100000'], log=str(tmp_path / 'log'))
  try:
    deadline = time.time() + 240
    while time.time() < deadline and not (
        tf.train.latest_checkpoint(run) or '').endswith(('-4', '-6', '-8')):
      time.sleep(0.5)
  finally:
    proc.kill()
  saved = int(tf.train.latest_checkpoint(run).rsplit('-', 1)[1])
  assert saved >= 4
  result = forks.run(cmd + ['--steps', str(saved + 2)], timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  resumed = [l for l in result.stdout.splitlines() if 'resuming' in l][0]
  step = int(resumed.rsplit('(step ', 1)[1].rstrip(')'))
  assert step >= saved   # kept at least what was saved before the kill
  assert 'step %d/%d' % (saved + 2, saved + 2) in result.stdout


def test_total_loss_is_the_cross_entropy_plus_l2_of_every_convolution():
  # By hand: slim's l2_regularizer adds weight_decay * sum(w ** 2) / 2 per
  # weights tensor; the loss of the step is computed before its update.
  config = training.TrainConfig(model='resnet_v2_18', train_dir='unused',
                                batch_size=4, weight_decay=0.01)
  dataset = data.digits(32)
  with tf.Graph().as_default():
    model = model_lib.build_model(config, dataset)
    weights = [v for v in tf.trainable_variables()
               if v.op.name.endswith('/weights')]
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      sess.run(model.input_init, model.input_feed)
      squares = sum(float((w ** 2).sum()) for w in sess.run(weights))
      loss, total_loss, _ = sess.run(model.step)
  assert len(weights) == 1 + 8 * 2 + 3 + 1   # conv1, units, shortcuts, logits
  np.testing.assert_allclose(total_loss - loss, 0.01 * squares / 2,
                             rtol=1e-4)


def test_validate_changes_nothing_and_resolved_takes_slims_step_count():
  config = training.TrainConfig(model='resnet_v2_18', train_dir='unused',
                                steps=300, max_number_of_steps=7)
  before = dataclasses.replace(config)
  config.validate()
  assert config == before and config.steps == 300
  run = config.resolved()
  assert (run.steps, run.max_number_of_steps) == (7, None)
  assert config.resolved() is not config and config.steps == 300
  plain = training.TrainConfig(model='resnet_v2_18', train_dir='unused')
  assert plain.resolved() is plain


@pytest.mark.parametrize('name', ['SIGTERM', 'SIGUSR1'])
def test_a_preemption_signal_saves_the_step_in_flight_and_exits_75(
    forks, tmp_path, name):
  run = str(tmp_path / 'run')
  cmd = [os.path.join(SCRIPTS, 'train.py'), '--model', 'resnet_v2_18',
         '--train_dir', run, '--batch_size', '4', '--save_every', '1000',
         '--log_every', '1']
  log = tmp_path / 'log'
  proc = forks.start(cmd + ['--steps', '100000'], log=str(log))
  try:
    deadline = time.time() + 240   # a few steps in, not at a save
    while time.time() < deadline and 'step 3/' not in proc.output():
      assert proc.poll() is None, proc.output()[-2000:]
      time.sleep(0.2)
    proc.send_signal(getattr(signal, name))
    code = proc.wait(timeout=120)   # killed by its id if it overruns
  finally:
    proc.kill()
  err = log.read_text()
  assert code == 75, err[-2000:]
  [stopped] = [l for l in err.splitlines() if 'stopped by' in l]
  step = int(re.search(r'after step (\d+),', stopped).group(1))
  assert step >= 3 and 'model.ckpt-%d. Rerun the same command' % step in (
      stopped)
  assert tf.train.latest_checkpoint(run).endswith('model.ckpt-%d' % step)
  # No Saver temporaries (the .lock file of the train-dir lock stays).
  assert not [f for f in os.listdir(run)
              if 'temp' in f or f.startswith('.') and f != '.lock']
  result = forks.run(cmd + ['--steps', str(step + 1)], timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'resuming from %s/model.ckpt-%d (step %d)' % (run, step, step) in (
      result.stdout)
  assert 'step %d/%d' % (step + 1, step + 1) in result.stdout


@pytest.mark.parametrize('flags, code, said', [
    # A step (160 px, batch 16: about a second here) outlasts the grace.
    (['--preemption_grace_s', '0.05', '--image_size', '160', '--batch_size',
      '16'], 75, 'stopped by SIGTERM: the step in flight did not end within '
     '--preemption_grace_s 0.05 s, so nothing more was saved. Rerun the same '
     'command to resume from '),
    (['--no_save_on_preemption', '--batch_size', '4'], 143,
     'interrupted at step '),
])
def test_a_preemption_that_does_not_save(forks, tmp_path, flags, code, said):
  run = tmp_path / 'run'
  cmd = [os.path.join(SCRIPTS, 'train.py'), '--model', 'resnet_v2_18',
         '--train_dir', str(run), '--save_every', '2', '--log_every', '1',
         '--steps', '100000'] + flags
  proc = forks.start(cmd, log=str(tmp_path / 'log'))
  try:
    deadline = time.time() + 240
    while time.time() < deadline and 'step 3/' not in proc.output():
      assert proc.poll() is None, proc.output()[-2000:]
      time.sleep(0.05)
    saved = tf.train.latest_checkpoint(str(run))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == code, proc.output()[-2000:]
  finally:
    proc.kill()
  out = proc.output()
  [line] = [l for l in out.splitlines() if said in l]
  assert 'Traceback' not in out
  # What was saved before the signal is what a rerun resumes from.
  latest = tf.train.latest_checkpoint(str(run))
  assert saved.endswith('model.ckpt-2') and latest in line
  assert not [f for f in os.listdir(run)
              if 'temp' in f or f.startswith('.') and f != '.lock']


@pytest.mark.slow   # fp16 on CPU: 45 s (the hook alone: test_training_hooks)
def test_fp16_steps_all_skipped_by_the_loss_scale_stop_the_run(forks,
                                                                tmp_path):
  """A weight decay whose float16 gradient overflows at every loss scale:
  TensorFlow's loss-scale optimizer skips every step and never advances
  global_step, so the run used to go on for ever ("step 434/30")."""
  run = tmp_path / 'run'
  done = forks.run(['resnet-v2-slim', 'train', '--model', 'resnet_v2_18',
                    '--train_dir', str(run), '--batch_size', '4',
                    '--steps', '30', '--log_every', '1', '--precision',
                    'fp16', '--weight_decay', '1e3'], timeout=300)
  assert done.returncode == 2, done.stderr[-2000:]
  errors = [l for l in done.stderr.splitlines() if ' error: ' in l]
  assert len(errors) == 1 and (
      'fp16: the last 25 steps were all skipped by the dynamic loss scale'
      in errors[0]) and '--precision bf16 or fp32' in errors[0], errors
  # Skipped steps are not saved again and again as "new" checkpoints.
  steps = {int(f.split('-')[1].split('.')[0]) for f in os.listdir(run)
           if f.startswith('model.ckpt-')}
  global_step = int(re.search(r'nothing was learned since step (\d+)',
                              errors[0]).group(1))
  assert steps <= {0, global_step}, steps
  assert '; 25 steps skipped by the fp16 loss scale so far' in done.stdout


def test_a_diverging_loss_is_a_warning_once_and_a_sane_one_is_not(capsys,
                                                                   tmp_path):
  base = ['--model', 'resnet_v2_18', '--batch_size', '4', '--steps', '4',
          '--log_every', '1', '--optimizer', 'momentum']
  code, out, err = _train(capsys, base + [
      '--train_dir', str(tmp_path / 'wild'), '--learning_rate', '10'])
  warned = [l for l in out.splitlines() if l.startswith('warning:')]
  # ln(10 digit classes) = 2.30; the first step's loss is above 23 at lr 10.
  assert len(warned) == 1, out + err
  assert re.match(r'warning: at step \d+ the loss is [0-9.e+]+, more than 10 '
                  r'times a uniform guess\'s 2\.30 \(ln of the classes',
                  warned[0]), warned
  assert '--learning_rate (10 now)' in warned[0]
  code, out, err = _train(capsys, base + [
      '--train_dir', str(tmp_path / 'sane'), '--learning_rate', '0.01'])
  assert code == 0 and 'warning' not in out + err, out + err
