"""training/recipe.py and the train/evaluate flags around it: research/slim's
optimizers and decays, warm-up, label smoothing, trainable scopes, the
schedule record, built-in splits; values computed by hand."""

import json
import math
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v2_slim.cli import evaluate as evaluate_cmd
from resnet_v2_slim.cli import train as train_cmd
from resnet_v2_slim.data import datasets
from resnet_v2_slim.training import recipe
from resnet_v2_slim.training import trainer
import refnets

TINY = ['--model', 'resnet_v2_18', '--image_size', '32', '--batch_size', '4',
        '--log_every', '1']


def _config(**kwargs):
  return trainer.TrainConfig(model='resnet_v2_18', train_dir='unused',
                             **kwargs)


def _rates(config, steps_per_epoch, steps):
  with tf.Graph().as_default():
    step = tf.placeholder(tf.int64, [])
    rate = recipe.learning_rate(config, steps_per_epoch, step)
    with tf.Session() as sess:
      return [float(sess.run(rate, {step: s})) for s in steps]


def test_slims_decays_by_hand():
  steps = [0, 9, 10, 25, 40]
  exponential = _config(learning_rate=0.1, learning_rate_decay_type=
                        'exponential', learning_rate_decay_factor=0.5,
                        num_epochs_per_decay=2.0)
  # 5 steps per epoch -> decay every 10 steps, staircased.
  assert _rates(exponential, 5, steps) == pytest.approx(
      [0.1, 0.1, 0.05, 0.025, 0.00625])
  polynomial = _config(learning_rate=0.1, learning_rate_decay_type=
                       'polynomial', end_learning_rate=0.01,
                       num_epochs_per_decay=4.0)
  assert _rates(polynomial, 5, [0, 10, 20, 40]) == pytest.approx(
      [0.1, 0.1 - 0.09 * 0.5, 0.01, 0.01])
  cosine = _config(learning_rate=0.1, learning_rate_decay_type='cosine',
                   end_learning_rate=0.0, steps=100)
  assert _rates(cosine, None, [0, 50, 100]) == pytest.approx(
      [0.1, 0.05, 0.0], abs=1e-7)
  piecewise = _config(learning_rate=0.1, learning_rate_decay_type=
                      'piecewise', boundaries=(1.0, 3.0),
                      values=(0.1, 0.01, 0.001))
  assert _rates(piecewise, 10, [0, 10, 11, 30, 31]) == pytest.approx(
      [0.1, 0.1, 0.01, 0.01, 0.001])


def test_linear_warmup_then_the_schedule():
  config = _config(learning_rate=0.4, warmup_epochs=1.0, steps=100)
  # 8 steps per epoch: (step + 1) / 8 of the rate during warm-up.
  assert _rates(config, 8, [0, 3, 7, 8, 50]) == pytest.approx(
      [0.05, 0.2, 0.4, 0.4, 0.4])


def test_every_optimizer_is_tensorflows_own():
  want = {'momentum': tf.train.MomentumOptimizer,
          'sgd': tf.train.GradientDescentOptimizer,
          'rmsprop': tf.train.RMSPropOptimizer,
          'adam': tf.train.AdamOptimizer,
          'adagrad': tf.train.AdagradOptimizer,
          'adadelta': tf.train.AdadeltaOptimizer,
          'ftrl': tf.train.FtrlOptimizer}
  assert sorted(want) == sorted(recipe.OPTIMIZERS)
  for name, cls in want.items():
    assert type(recipe.optimizer(_config(optimizer=name), 0.1)) is cls
  adam = recipe.optimizer(_config(optimizer='adam', adam_beta1=0.8,
                                  opt_epsilon=0.5), 0.1)
  assert (adam._beta1, adam._epsilon) == (0.8, 0.5)  # pylint: disable=protected-access


@pytest.mark.parametrize('argv,message', [
    (['--optimizer', 'lamb'], "--optimizer: 'lamb' is not one of"),
    (['--learning_rate_decay_factor', '-0.5'],
     '--learning_rate_decay_factor must be a finite number >= 0'),
    (['--warmup_epochs', '5', '--steps', '10'], 'as long as the whole run'),
    (['--learning_rate_decay_type', 'piecewise', '--boundaries', '2', '1',
      '--values', '0.1', '0.01', '0.001'], 'increasing order'),
    (['--learning_rate_decay_type', 'piecewise', '--boundaries', '1',
      '--values', '0.1'], 'one more --values'),
    (['--trainable_scopes', 'resnet_v2_18/nope'], 'matches no variable'),
    (['--use_shortcut', '--no_shortcut'], 'not allowed with'),
    (['--num_classes', '3'], '--num_classes goes with --tfrecord'),
    (['--random_shift', '-1'], '--random_shift must be >= 0 pixels'),
    (['--random_shift', '100'],   # TINY's 32 pixels
     '--random_shift 100 moves a 32-pixel image by half its size or more'),
    (['--trainable_scopes'], '--trainable_scopes needs at least one scope, '
     'e.g. resnet_v2_18/logits; leave it out to train every variable'),
    (['--exclude_scopes'], '--exclude_scopes needs at least one scope'),
    # In range, but cannot train (the adversarial run's finds).
    (['--optimizer', 'adam', '--adam_beta1', '1.0'],
     '--adam_beta1 must be below 1'),
    (['--optimizer', 'adam', '--opt_epsilon', '0'],
     '--opt_epsilon must be > 0 for adam'),
    (['--momentum', '1.5'], '--momentum must be below 1'),
    (['--optimizer', 'adam', '--momentum', '0.5'],   # ignored in silence
     '--momentum 0.5 is read by the momentum optimizer only; this run uses '
     '--optimizer adam'),
    (['--adam_beta2', '0.98'], '--adam_beta2 0.98 is read by the adam '
     'optimizer only; this run uses --optimizer momentum'),
    (['--learning_rate_decay_factor', '0.5'],   # the default decay: fixed
     '--learning_rate_decay_factor 0.5 is read by the exponential decay '
     'only; this run uses --learning_rate_decay_type fixed'),
    (['--learning_rate_decay_type', 'cosine', '--num_epochs_per_decay', '3'],
     '--num_epochs_per_decay 3.0 is read by the exponential and polynomial '
     'decays only; this run uses --learning_rate_decay_type cosine'),
    (['--optimizer', 'ftrl', '--ftrl_learning_rate_power', '1'],
     '--ftrl_learning_rate_power must be <= 0'),
    (['--learning_rate_decay_type', 'exponential',
      '--learning_rate_decay_factor', '0'],
     '--learning_rate_decay_factor must be > 0 for the exponential decay'),
    (['--max_number_of_steps', '50'],   # TINY's --steps 20
     '--steps 20 and --max_number_of_steps 50 disagree: give one'),
    (['--learning_rate_decay_type', 'cosine', '--learning_rate', '0.01',
      '--end_learning_rate', '0.1'],
     '--end_learning_rate 0.1 is above --learning_rate 0.01'),
    (['--random_shift', '2', '--data_dir', '.'],
     'applies to the built-in sets (--dataset_name, the digits); got 2 with '
     '--data_dir/--tfrecord'),
])
def test_bad_recipe_values_are_one_line_before_anything_is_written(
    tmp_path, capsys, argv, message):
  run = tmp_path / 'run'
  try:
    code = train_cmd.main(TINY + ['--train_dir', str(run), '--steps', '20']
                          + argv)
  except SystemExit as exc:   # argparse's own refusals
    code = exc.code
  err = capsys.readouterr().err
  assert code == 2
  assert message in err, err
  assert err.strip().count('\n') == 0, err   # argparse's own too
  assert not run.exists() or not [f for f in os.listdir(run)
                                  if not f.startswith('.')]


def test_trainable_scopes_train_only_those(tmp_path, capsys):
  run = tmp_path / 'run'
  assert train_cmd.main(TINY + ['--train_dir', str(run), '--steps', '2',
                                '--trainable_scopes',
                                'resnet_v2_18/logits']) == 0
  capsys.readouterr()
  reader = tf.train.load_checkpoint(str(run / 'model.ckpt-2'))
  names = reader.get_variable_to_shape_map()
  slots = [n for n in names if n.endswith('/Momentum')]
  assert slots and all(n.startswith('resnet_v2_18/logits/') for n in slots)


def test_a_resume_with_another_schedule_is_refused(tmp_path, capsys):
  run = tmp_path / 'run'
  base = TINY + ['--train_dir', str(run), '--learning_rate_decay_type',
                 'cosine']
  assert train_cmd.main(base + ['--steps', '2']) == 0
  record = json.loads((run / recipe.RECORD).read_text())
  assert record['learning_rate_decay_type'] == 'cosine'
  before = sorted(os.listdir(run))
  code = train_cmd.main(base + ['--steps', '2', '--learning_rate', '0.5'])
  err = capsys.readouterr().err
  assert code == 2 and '--learning_rate 0.02' in err and '0.5' in err
  assert sorted(os.listdir(run)) == before
  # A damaged or folder-shaped record: one line, not a resume unchecked.
  for damage in ('garbage', 'folder'):
    path = run / recipe.RECORD
    os.remove(path)
    if damage == 'garbage':
      path.write_text('{"learning_rate": ')
    else:
      path.mkdir()
    code = train_cmd.main(base + ['--steps', '3'])
    err = capsys.readouterr().err
    assert code == 2 and err.count('\n') == 1, err
    assert ('is damaged (not the JSON a run writes)' if damage == 'garbage'
            else 'is a folder where the run records its schedule') in err
    assert sorted(os.listdir(run)) == before
    if damage == 'folder':
      path.rmdir()
      path.touch()


def test_builtin_splits_are_fixed_class_balanced_and_disjoint():
  train = datasets.builtin('mnist5k', 'train')
  validation = datasets.builtin('mnist5k', 'validation')
  assert (len(train), len(validation)) == (4500, 500)
  assert np.bincount(validation.labels).tolist() == [50] * 10
  seen = {row.tobytes() for row in train.images}
  assert not any(row.tobytes() in seen for row in validation.images)
  again = datasets.builtin('mnist5k', 'validation')
  assert np.array_equal(again.images, validation.images)


def test_random_shift_moves_a_pixel_by_at_most_the_shift(graph):
  image = np.zeros((10, 10), np.float32)
  image[5, 5] = 1.0
  placeholder = tf.placeholder(tf.float32, [10, 10])
  shifted = datasets.Dataset.shift(placeholder, 2)
  seen = set()
  with tf.Session() as sess:
    for _ in range(60):
      out = sess.run(shifted, {placeholder: image})
      assert out.shape == (10, 10) and out.sum() == 1.0   # moved, not lost
      [(row, col)] = zip(*np.nonzero(out))
      assert 3 <= row <= 7 and 3 <= col <= 7
      seen.add((row, col))
  assert len(seen) > 5   # really random, not one fixed offset


def test_train_then_evaluate_the_held_out_split(tmp_path, capsys):
  run = tmp_path / 'run'
  assert train_cmd.main(TINY + ['--train_dir', str(run), '--steps', '3',
                                '--dataset_name', 'mnist5k',
                                '--warmup_epochs', '0.001',
                                '--label_smoothing', '0.1',
                                '--random_shift', '2']) == 0
  out = capsys.readouterr().out
  assert 'an epoch is 4500 images (the mnist5k/train set)' in out
  assert 'lr ' in out
  code = evaluate_cmd.main(['--checkpoint', str(run), '--dataset_name',
                            'mnist5k', '--json', str(tmp_path / 'e.json')])
  assert code == 0, capsys.readouterr().err
  result = json.loads((tmp_path / 'e.json').read_text())
  assert result['num_examples'] == 500 and result['image_size'] == 32
  assert 0 <= result['top1'] <= 1 and math.isfinite(result['loss'])


def test_epochs_need_a_known_size(tmp_path, capsys):
  from resnet_v2_slim.data import tfrecords  # pylint: disable=g-import-not-at-top
  refnets.image_folder(tmp_path / 'img')
  tfrecords.convert_folder(str(tmp_path / 'img'), str(tmp_path / 'rec'),
                           num_shards=1, log=lambda _: None)
  data = datasets.records(str(tmp_path / 'rec' / 'train-*'), 32)
  assert data.size()[0] == 4
  os.unlink(tmp_path / 'rec' / tfrecords.MANIFEST)
  assert data.size() == (None, None)
  code = train_cmd.main(TINY + ['--train_dir', str(tmp_path / 'run'),
                                '--tfrecord', str(tmp_path / 'rec' / 'train-*'),
                                '--warmup_epochs', '1', '--steps', '4'])
  assert code == 2 and 'size of the data is unknown' in (
      capsys.readouterr().err)


def test_moving_averages_are_saved_and_used_by_default(tmp_path, capsys):
  from resnet_v2_slim.cli import export as export_cmd  # pylint: disable=g-import-not-at-top
  run = tmp_path / 'run'
  assert train_cmd.main(TINY + ['--train_dir', str(run), '--steps', '3',
                                '--moving_average_decay', '0.5']) == 0
  reader = tf.train.load_checkpoint(str(run / 'model.ckpt-3'))
  name = 'resnet_v2_18/logits/weights'
  shadow = reader.get_tensor(name + '/ExponentialMovingAverage')
  raw = reader.get_tensor(name)
  assert not np.allclose(shadow, raw)
  assert 'resnet_v2_18/block1/unit_1/basic_v2/preact/moving_mean/' \
      'ExponentialMovingAverage' in reader.get_variable_to_shape_map()
  capsys.readouterr()

  def frozen_logits_weights(*extra):
    path = tmp_path / ('m%d.pb' % len(extra))
    assert export_cmd.main(['--checkpoint', str(run), '--image_size', '32',
                            '--output_file', str(path)] + list(extra)) == 0
    graph_def = tf.GraphDef()
    graph_def.ParseFromString(path.read_bytes())
    node = [n for n in graph_def.node if n.name == name][0]
    return tf.make_ndarray(node.attr['value'].tensor)

  assert np.array_equal(frozen_logits_weights(), shadow)
  assert 'moving averages of the weights' in capsys.readouterr().out
  assert np.array_equal(frozen_logits_weights('--raw_weights'), raw)
  code = evaluate_cmd.main(['--checkpoint', str(run), '--dataset_name',
                            'digits', '--max_examples', '8'])
  assert code == 0 and 'using the moving averages' in capsys.readouterr().out
  code = train_cmd.main(TINY + ['--train_dir', str(tmp_path / 'x'), '--steps',
                                '2', '--moving_average_decay', '1.5'])
  assert code == 2
  capsys.readouterr()
  # A resume keeps the averages or has none: one line, nothing changed.
  before = sorted(os.listdir(run))
  code = train_cmd.main(TINY + ['--train_dir', str(run), '--steps', '4'])
  err = capsys.readouterr().err
  assert code == 2 and err.count('\n') == 1, err
  assert 'was trained with --moving_average_decay' in err
  assert 'give it again to resume' in err and sorted(os.listdir(run)) == (
      before)
  code = train_cmd.main(TINY + ['--train_dir', str(run), '--steps', '4',
                                '--moving_average_decay', '0.9'])
  err = capsys.readouterr().err
  assert code == 2 and err.count('\n') == 1, err
  assert 'was started with --moving_average_decay 0.5; resuming with 0.9 ' \
      'would mix two averages' in err and sorted(os.listdir(run)) == before
  plain = tmp_path / 'plain'
  assert train_cmd.main(TINY + ['--train_dir', str(plain), '--steps',
                                '1']) == 0
  before = sorted(os.listdir(plain))
  capsys.readouterr()
  code = train_cmd.main(TINY + ['--train_dir', str(plain), '--steps', '2',
                                '--moving_average_decay', '0.5'])
  err = capsys.readouterr().err
  assert code == 2 and err.count('\n') == 1, err
  assert 'was trained without --moving_average_decay' in err
  assert sorted(os.listdir(plain)) == before


def test_evaluate_watch_evaluates_each_new_checkpoint_once(tmp_path, capsys):
  run = tmp_path / 'run'
  assert train_cmd.main(TINY + ['--train_dir', str(run), '--steps', '2',
                                '--save_every', '1']) == 0
  capsys.readouterr()
  code = evaluate_cmd.main(['--checkpoint', str(run), '--dataset_name',
                            'digits', '--max_examples', '8', '--watch',
                            '--timeout', '1', '--poll_secs', '0.2'])
  out = capsys.readouterr().out
  assert code == 0, out
  lines = [json.loads(l) for l in out.splitlines() if l.startswith('{')]
  assert [l['step'] for l in lines] == [1, 2]
  assert all(l['num_examples'] == 8 for l in lines)
  saved = (run / 'eval' / 'results.jsonl').read_text().splitlines()
  assert [json.loads(l)['step'] for l in saved] == [1, 2]
  tags = {}
  for events in (run / 'eval').glob('events.out.tfevents.*'):
    for event in tf.train.summary_iterator(str(events)):
      for value in event.summary.value:
        tags.setdefault(value.tag, []).append(event.step)
  assert tags['eval/top1'] == [1, 2] and tags['eval/loss'] == [1, 2]
  # Already evaluated: a second watch has nothing new within its timeout.
  assert evaluate_cmd.main(['--checkpoint', str(run / 'nothing'),
                            '--dataset_name', 'digits', '--watch']) == 2
  capsys.readouterr()
  # A second watcher on the same folder (it appended every result again):
  # refused in one line while the first holds the eval folder.
  from resnet_v2_slim.utils import fileio  # pylint: disable=g-import-not-at-top
  with fileio.DirLock(str(run / 'eval'), 'the first watcher'):
    code = evaluate_cmd.main(['--checkpoint', str(run), '--dataset_name',
                              'digits', '--max_examples', '8', '--watch',
                              '--timeout', '1', '--poll_secs', '0.2'])
  err = capsys.readouterr().err
  assert code == 2 and err.count('\n') == 1, err
  assert 'eval folder %s is in use by another run' % (run / 'eval') in err
  assert len((run / 'eval' / 'results.jsonl').read_text().splitlines()) == 2


@pytest.mark.parametrize('precision', ['bf16', 'fp16'])
def test_half_precision_training_keeps_float32_checkpoints(tmp_path, capsys,
                                                           precision):
  """Names and dtypes as an fp32 run's. The first step (the same weights and
  batch: only the compute dtype differs) within 2% of fp32's loss; later
  steps part ways as early training does at batch 8 (measured: 2.65 vs 2.63
  at step 1, then 2.31 vs 1.80 by step 3), so they are only checked finite."""
  histories, variables = {}, {}
  for name in ('fp32', precision):
    run = tmp_path / name
    config = trainer.TrainConfig(model='resnet_v2_18', train_dir=str(run),
                                 steps=3, batch_size=8, log_every=1,
                                 precision=name, deterministic=True)
    histories[name] = trainer.train(config, log=lambda _: None)
    reader = tf.train.load_checkpoint(str(run / 'model.ckpt-3'))
    variables[name] = reader.get_variable_to_dtype_map()
  capsys.readouterr()
  fp32_names = {n for n in variables['fp32'] if 'loss_scale' not in n}
  half_names = {n for n in variables[precision] if 'loss_scale' not in n
                and 'good_steps' not in n}
  assert half_names == fp32_names
  assert {variables[precision][n] for n in fp32_names} <= {
      tf.float32, tf.int64}
  assert histories[precision][0]['loss'] == pytest.approx(
      histories['fp32'][0]['loss'], rel=0.02)
  assert all(math.isfinite(h['loss']) for h in histories[precision])


def _spelled_out_recipes():
  """Every ``train`` command in the docs that spells the recipe out (the
  recipe's warm-up and moving averages; benchmarks/README.md's two-worker
  run scales the rate and is not one), continuation lines joined."""
  root = os.path.join(os.path.dirname(__file__), '..')
  found = []
  for name in ('README.md', 'docs/training.md', 'docs/checkpoints.md',
               'benchmarks/README.md'):
    with open(os.path.join(root, name)) as f:
      text = f.read().replace('\\\n', ' ')
    found += [(name, line.split()) for line in text.splitlines()
              if 'resnet-v2-slim train ' in line and
              '--warmup_epochs 1 ' in line and '--moving_average_decay' in line]
  return found


def test_the_documented_recipe_is_declared_once_and_the_docs_spell_it():
  commands = _spelled_out_recipes()
  assert len(commands) >= 4     # training.md, checkpoints.md, benchmarks x2
  want = dict(zip(recipe.documented_flags()[::2],
                  recipe.documented_flags()[1::2]))
  assert want['--learning_rate'] == '0.1' and len(want) == 6
  for name, words in commands:
    given = {flag: words[words.index(flag) + 1] for flag in want
             if flag in words}
    assert given == want, (name, ' '.join(words))
  # And it is a valid set of settings.
  config = trainer.TrainConfig(model='resnet_v2_18', train_dir='unused',
                               **recipe.DOCUMENTED)
  config.validate()
