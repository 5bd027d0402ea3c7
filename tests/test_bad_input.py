"""Nothing silent: bad input and faults give one clear line, never a wrong
result (the adversarial-run issue, beyond data loss)."""

import importlib.util
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim as slim
from PIL import Image

from resnet_v2_slim import checkpoints
from resnet_v2_slim.cli import classify
from resnet_v2_slim.cli import export
from resnet_v2_slim.cli import inspect as inspect_cli
from resnet_v2_slim.cli import summarize
from resnet_v2_slim.cli import time_forward
from resnet_v2_slim.cli import train
from resnet_v2_slim.data import datasets
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.nets import resnet_utils
from resnet_v2_slim.nets import resnet_v2
from resnet_v2_slim.training import trainer
from resnet_v2_slim.utils import fileio

ROOT = os.path.join(os.path.dirname(__file__), '..')
TINY = ['--model', 'resnet_v2_18', '--batch_size', '4', '--log_every', '1',
        '--save_every', '1']


def _run(main, capsys, argv):
  code = main(argv)
  out, err = capsys.readouterr()
  return code, out, err


def _save_ours(path, model, use_shortcut=True, num_classes=10):
  """Builds our network, saves it with random initial values."""
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [None, 32, 32, 3])
    nets_factory.get_network_fn(model, num_classes)(
        images, use_shortcut=use_shortcut)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return tf.train.Saver().save(sess, str(path), write_meta_graph=False)


@pytest.fixture(scope='module')
def rn18(tmp_path_factory):
  folder = tmp_path_factory.mktemp('rn18')
  return (_save_ours(folder / 'residual.ckpt', 'resnet_v2_18'),
          _save_ours(folder / 'plain.ckpt', 'resnet_v2_18', False))


# --- silent wrong results ---------------------------------------------------

@pytest.mark.parametrize('value', ['nan', 'inf', '-1', '0'])
def test_learning_rate_must_be_finite_and_positive(capsys, tmp_path, value):
  code, _, err = _run(train.main, capsys, TINY + [
      '--train_dir', str(tmp_path / 'run'), '--learning_rate', value])
  assert code == 2 and '--learning_rate must be a finite number > 0' in err
  assert not (tmp_path / 'run').exists()


def test_training_that_turns_nan_stops_and_keeps_the_last_good_checkpoint(
    capsys, tmp_path):
  run = tmp_path / 'run'
  code, out, err = _run(train.main, capsys, TINY + [
      '--train_dir', str(run), '--learning_rate', '1e12', '--steps', '8'])
  assert code == 2 and 'became NaN or infinite at step' in err, (out, err)
  kept = checkpoints.latest_checkpoint(str(run))[0]
  assert kept and ('The last good checkpoint, %s, is kept.' % kept) in err
  reader = tf.train.load_checkpoint(kept)
  for name in reader.get_variable_to_shape_map():
    value = reader.get_tensor(name)
    assert np.all(np.isfinite(value)), name


def test_an_exclude_scope_that_matches_nothing_is_an_error(saved, capsys,
                                                          tmp_path):
  prefix, _ = saved('rn50_v2_1000')
  folder = tmp_path / 'images'
  for name in ('a', 'b'):
    (folder / name).mkdir(parents=True)
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(
        folder / name / '1.png')
  code, _, err = _run(train.main, capsys, [
      '--model', 'resnet_v2_50', '--train_dir', str(tmp_path / 'run'),
      '--data_dir', str(folder), '--checkpoint', prefix, '--exclude_scopes',
      'resnet_v2_50/logit'])
  assert code == 2
  assert "exclude scope 'resnet_v2_50/logit' matches no variable" in err
  assert 'resnet_v2_50/logits' in err and 'resnet_v2_50/block1' in err
  assert not (tmp_path / 'run').exists()
  with tf.Graph().as_default():
    nets_factory.get_network_fn('resnet_v2_50', 1000)(
        tf.placeholder(tf.float32, [1, 32, 32, 3]))
    with tf.Session() as sess:
      with pytest.raises(checkpoints.CheckpointError, match='matches no'):
        checkpoints.restore(sess, prefix, exclude_scopes=['resnet_v2_50/x'])


@pytest.mark.parametrize('main, argv', [
    (classify.main, ['--image_size', '1', 'x.png']),
    (classify.main, ['--image_size', '20000', 'x.png']),
    (export.main, ['--image_size', '16', '--output_file', 'OUT']),
])
def test_sizes_a_network_cannot_take(saved, capsys, tmp_path, main, argv):
  argv = [a.replace('OUT', str(tmp_path / 'm.pb')) for a in argv]
  code, _, err = _run(main, capsys, ['--checkpoint',
                                     saved('rn50_v2_1000')[0]] + argv)
  assert code == 2 and 'cannot be used for resnet_v2_50' in err
  assert 'from 32' in err and 'to 2048' in err
  assert not (tmp_path / 'm.pb').exists()


def test_inspect_reports_missing_data_files(saved, capsys, tmp_path):
  prefix, _ = saved('rn50_v2_1000')
  index = prefix + '.index'
  (tmp_path / 'c.ckpt.index').write_bytes(open(index, 'rb').read())
  code, _, err = _run(inspect_cli.main, capsys, [str(tmp_path / 'c.ckpt')])
  assert code == 2 and 'is incomplete' in err and 'data-00000-of-00001' in err


@pytest.mark.parametrize('kwargs, error, pattern', [
    ({'use_shortcut': 'no'}, TypeError, r"use_shortcut must be True or "
     r"False, got 'no'"),
    ({'is_training': 'False'}, TypeError, r"is_training must be True or "
     r"False \(or None\), got 'False'"),
    ({'data_format': 'NCHW'}, ValueError, r'look like NHWC, but '
     r"data_format='NCHW'.*tf.transpose"),
])
def test_api_rejects_values_that_would_build_the_wrong_thing(
    graph, kwargs, error, pattern):
  with pytest.raises(error, match=pattern):
    resnet_v2.resnet_v2_18(tf.zeros([2, 32, 32, 3]), 10, **kwargs)
  assert not tf.global_variables()


def test_api_checks_blocks_and_inputs_before_building_anything(graph):
  x = tf.placeholder(tf.float32, [1, 32, 32, 3])
  with pytest.raises(TypeError, match='blocks must be a list of '
                     'resnet_utils.Block, got NoneType'):
    resnet_v2.resnet_v2(x, None)
  typo = [resnet_utils.Block('block1', resnet_v2.bottleneck, [
      {'depth': 8, 'depht_bottleneck': 2, 'stride': 1}])]
  with pytest.raises(ValueError, match=r"block1/unit_1 \(args\[0\]\): "
                     r"bottleneck does not take 'depht_bottleneck'"):
    resnet_v2.resnet_v2(x, typo)
  with pytest.raises(ValueError, match='empty image'):
    resnet_v2.resnet_v2_18(tf.zeros([1, 0, 0, 3]), 10)
  assert not tf.global_variables()
  # A corrected retry in the same graph works: nothing was left behind.
  fixed = [resnet_utils.Block('block1', resnet_v2.bottleneck, [
      {'depth': 8, 'depth_bottleneck': 2, 'stride': 1}])]
  net, _ = resnet_v2.resnet_v2(x, fixed, 5)
  assert net.shape.as_list() == [1, 1, 1, 5]
  with pytest.raises(checkpoints.CheckpointError, match='got None'):
    checkpoints.describe(None)


# --- resources --------------------------------------------------------------

def test_image_folder_catches_what_tensorflow_cannot_decode(tmp_path):
  for name in ('a', 'b'):
    (tmp_path / name).mkdir()
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(
        tmp_path / name / 'ok.png')
  good = tmp_path / 'good.jpg'
  Image.fromarray(np.random.RandomState(0).randint(
      0, 256, (64, 64, 3), np.uint8)).save(good)
  (tmp_path / 'a' / 'truncated.jpg').write_bytes(
      good.read_bytes()[:len(good.read_bytes()) // 2])
  Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(
      tmp_path / 'b' / 'tiff.jpg', format='TIFF')
  good.unlink()
  with pytest.raises(datasets.DataError) as info:
    datasets.image_folder(str(tmp_path))
  message = str(info.value)
  assert '2 file(s)' in message and 'truncated.jpg' in message
  assert 'tiff.jpg' in message


# --- messages ----------------------------------------------------------------

def test_unwritable_outputs_fail_before_any_work(capsys, tmp_path):
  code, out, err = _run(time_forward.main, capsys, [
      '--model', 'resnet_v2_18', '--image_size', '32', '--json', '/proc/x'])
  assert code == 2 and 'cannot write in folder /proc' in err
  assert 'Forward across' not in out
  code, _, err = _run(summarize.main, capsys, [
      '--model', 'resnet_v2_18', '--image_size', '32', '--tensorboard',
      '/proc/tb'])
  assert code == 2 and '--tensorboard' in err and 'cannot write' in err
  code, _, err = _run(train.main, capsys, TINY + ['--train_dir', '/proc/run'])
  assert code == 2 and '--train_dir /proc/run cannot be written' in err


def test_a_second_run_on_one_train_dir_is_refused(capsys, tmp_path):
  run = str(tmp_path / 'run')
  with fileio.DirLock(run, '--train_dir'):
    code, _, err = _run(train.main, capsys, TINY + ['--train_dir', run,
                                                    '--steps', '1'])
  assert code == 2
  assert 'is in use by another run (process %d)' % os.getpid() in err
  assert _run(train.main, capsys, TINY + ['--train_dir', run, '--steps',
                                          '1'])[0] == 0


def test_ctrl_c_saves_nothing_half_done_and_says_where_to_resume(tmp_path):
  config = trainer.TrainConfig(model='resnet_v2_18', batch_size=4, steps=50,
                               save_every=2, log_every=1,
                               train_dir=str(tmp_path / 'run'))

  def log(line):
    if line.startswith('step 3/'):
      raise KeyboardInterrupt
  with pytest.raises(trainer.TrainInterrupted,
                     match=r'interrupted at step 3; nothing half-written\. '
                     r'Rerun the same command to resume from .*model.ckpt-2'):
    trainer.train(config, log=log)
  assert not [f for f in os.listdir(config.train_dir)
              if f.startswith('model.ckpt-3') or f.endswith('.tmp')]


def test_compare_precisions_are_checked(capsys):
  spec = importlib.util.spec_from_file_location(
      'compare', os.path.join(ROOT, 'benchmarks', 'compare.py'))
  compare = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(compare)
  for bad in ('fp64', 'fp32,'):
    assert compare.main(['--precisions', bad]) == 2
    assert '--precisions must be a comma-separated list' in (
        capsys.readouterr().err)


def test_restore_hints_name_the_real_fix(rn18, capsys, tmp_path):
  residual, plain = rn18
  image = tmp_path / 'x.png'
  Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(image)
  code, _, err = _run(classify.main, capsys, [
      '--checkpoint', residual, '--model', 'resnet_v2_50', str(image)])
  assert code == 2
  assert ('the checkpoint holds resnet_v2_18 but the graph is resnet_v2_50: '
          'build resnet_v2_18 (--model resnet_v2_18') in err
  assert 'pass scope' not in err
  # With --model auto the plain twin is detected and built without shortcuts.
  code, out, err = _run(classify.main, capsys, [
      '--checkpoint', plain, '--image_size', '32', str(image)])
  assert code == 0, err
  with tf.Graph().as_default():
    nets_factory.get_network_fn('resnet_v2_18', 10)(
        tf.placeholder(tf.float32, [1, 32, 32, 3]))
    with tf.Session() as sess, pytest.raises(
        checkpoints.CheckpointMismatchError,
        match='resnet_v2_18 without shortcuts but the graph is resnet_v2_18: '
        r'build with use_shortcut=False \(`no_shortcut`\)'):
      checkpoints.restore(sess, plain)


def test_labels_file_that_is_not_utf8_is_named(saved, capsys, tmp_path):
  labels = tmp_path / 'labels.txt'
  labels.write_bytes('caf\xe9\n'.encode('latin-1') * 1001)
  code, _, err = _run(classify.main, capsys, [
      '--checkpoint', saved('rn50_v1_1001')[0], '--labels', str(labels),
      'x.png'])
  assert code == 2
  assert '--labels file %s is not UTF-8 text' % labels in err


def test_slim_arg_scope_still_sets_the_batch_norm_mode(graph):
  # is_training=None (the default) leaves the mode to the arg scope.
  with slim.arg_scope(resnet_utils.resnet_arg_scope(is_training=True)):
    resnet_v2.resnet_v2_18(tf.zeros([1, 32, 32, 3]), 3)
  assert tf.get_collection(tf.GraphKeys.UPDATE_OPS)
