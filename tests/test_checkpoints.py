"""Legacy checkpoints: resolve, describe, restore, with reference-built files."""

import dataclasses
import json
import logging
import os
import tarfile

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from tf_slim.nets import resnet_v1 as ref_v1
from tf_slim.nets import vgg as ref_vgg

from resnet_v2_slim import checkpoint
from resnet_v2_slim import resnet_v2
import refnets

from conftest import CHECKPOINT_CASES as CASES


# --- resolve --------------------------------------------------------------

def test_resolve_accepts_every_way_of_naming_a_v2_checkpoint(saved):
  prefix, _ = saved('rn50_v2_1000')
  folder = os.path.dirname(prefix)
  data = [f for f in os.listdir(folder) if '.data-' in f][0]
  for given in (prefix, prefix + '.index', os.path.join(folder, data),
                prefix + '.meta', folder):
    assert checkpoint.resolve(given) == prefix, given


def test_resolve_v1_file_and_its_folder(saved):
  prefix, _ = saved('rn50_v1_1001')
  assert os.path.isfile(prefix) and not os.path.exists(prefix + '.index')
  assert checkpoint.resolve(prefix) == prefix
  assert checkpoint.checkpoint_format(prefix) == 'V1'


def test_tar_archive_says_to_extract_it(saved, tmp_path):
  prefix, _ = saved('rn50_v1_1001')
  archive = tmp_path / 'resnet_v2_50_2017_04_14.tar.gz'
  with tarfile.open(archive, 'w:gz') as tar:
    tar.add(prefix, arcname='resnet_v2_50.ckpt')
  with pytest.raises(checkpoint.CheckpointError,
                     match=r'is a tar archive.*tar -xzf.*resnet_v2_50\.ckpt'):
    checkpoint.resolve(archive)


def test_missing_and_empty_paths(tmp_path):
  with pytest.raises(checkpoint.CheckpointError, match='No checkpoint at'):
    checkpoint.resolve(tmp_path / 'nothing.ckpt')
  with pytest.raises(checkpoint.CheckpointError,
                     match='No checkpoint in directory'):
    checkpoint.resolve(tmp_path)


def test_corrupt_file_is_named(tmp_path):
  path = tmp_path / 'model.ckpt'
  path.write_bytes(os.urandom(4096))
  with pytest.raises(checkpoint.CheckpointError,
                     match=r'Cannot read checkpoint .*model\.ckpt: it is '
                     'corrupt, truncated or not a TensorFlow checkpoint'):
    checkpoint.resolve(path)


def _copy_checkpoint(prefix, folder, change=None):
  """Copies a V2 checkpoint; ``change(data_bytes) -> bytes`` for .data."""
  src = os.path.dirname(prefix)
  for name in os.listdir(src):
    if name.startswith('resnet_v2_50.ckpt.'):
      data = open(os.path.join(src, name), 'rb').read()
      if change and '.data-' in name:
        data = change(data)
      if data is not None:
        (folder / name).write_bytes(data)
  return str(folder / 'resnet_v2_50.ckpt')


def test_truncated_missing_and_corrupt_data(saved, tmp_path):
  prefix, _ = saved('rn50_v2_1000')
  for sub, change, message in (
      ('half', lambda d: d[:len(d) // 2], 'is truncated: its data files hold'),
      ('gone', lambda d: None, r'is incomplete: .*data-00000-of-00001 is '
       'missing')):
    (tmp_path / sub).mkdir()
    copy = _copy_checkpoint(prefix, tmp_path / sub, change)
    with pytest.raises(checkpoint.CheckpointError, match=message):
      checkpoint.describe(copy)
  (tmp_path / 'flipped').mkdir()
  middle = lambda d: d[:len(d) // 2] + bytes(255 - b for b in d[  # noqa: E731
      len(d) // 2:len(d) // 2 + 64]) + d[len(d) // 2 + 64:]
  copy = _copy_checkpoint(prefix, tmp_path / 'flipped', middle)
  with tf.Graph().as_default():
    refnets.build('ours', 'resnet_v2_50',
                  tf.placeholder(tf.float32, [1, 32, 32, 3]), 1000)
    with tf.Session() as sess:
      with pytest.raises(checkpoint.CheckpointError,
                         match='data is truncated or corrupt'):
        checkpoint.restore(sess, copy)
  index = tmp_path / 'flipped' / 'resnet_v2_50.ckpt.index'
  index.write_bytes(index.read_bytes()[:50])
  with pytest.raises(checkpoint.CheckpointError, match='Cannot read'):
    checkpoint.resolve(copy)


# --- describe -------------------------------------------------------------

@pytest.mark.parametrize('case', sorted(CASES))
def test_describe_detects_model_classes_scope_and_format(saved, case):
  model, fmt, classes, scope = CASES[case]
  prefix, values = saved(case)
  info = checkpoint.describe(prefix)
  assert (info['model'], info['format'], info['num_classes'],
          info['scope']) == (model, fmt, classes, scope or model)
  assert info['num_variables'] == len(values)
  assert info['num_parameters'] == sum(v.size for v in values.values())


def _save_other_net(path, build):
  with tf.Graph().as_default():
    build(tf.placeholder(tf.float32, [1, 32, 32, 3]))
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      return tf.train.Saver().save(sess, str(path), write_meta_graph=False)


def test_other_networks_are_named(tmp_path):
  v1 = _save_other_net(tmp_path / 'v1', lambda x: ref_v1.resnet_v1_50(x, 10))
  with pytest.raises(checkpoint.CheckpointError,
                     match=r'is a ResNet V1 checkpoint.*resnet_v1_50'):
    checkpoint.describe(v1)
  vgg = _save_other_net(tmp_path / 'vgg', lambda x: ref_vgg.vgg_16(
      tf.image.resize(x, [224, 224]), 10))
  with pytest.raises(checkpoint.CheckpointError,
                     match=r'not a ResNet V2 checkpoint.*vgg_16'):
    checkpoint.describe(vgg)


# --- restore --------------------------------------------------------------

def _build(num_classes, model='resnet_v2_50', **kwargs):
  images = tf.placeholder(tf.float32, [None, 32, 32, 3])
  return refnets.build('ours', model, images, num_classes, **kwargs)


@pytest.mark.parametrize('case', ['rn50_v1_1001', 'rn50_v2_1000'])
def test_restore_sets_every_variable(saved, case, caplog):
  model, _, classes, _ = CASES[case]
  prefix, values = saved(case)
  with tf.Graph().as_default():
    _build(classes, model)
    with tf.Session() as sess, caplog.at_level(logging.INFO):
      report = checkpoint.restore(sess, prefix)
      variables = tf.global_variables()   # one run: see refnets
      got = dict(zip((v.op.name for v in variables), sess.run(variables)))
  assert report.ok and not report.unexpected and not report.missing
  assert len(report.restored) == len(values)
  for name, value in values.items():
    np.testing.assert_array_equal(got[name], value)
  assert 'Restored %d variables from %s' % (len(values), prefix) in caplog.text


def _uninitialized(sess):
  return len(sess.run(tf.report_uninitialized_variables()))


def test_1001_vs_1000_classes_explains_both_fixes(saved):
  prefix, _ = saved('rn50_v1_1001')
  with tf.Graph().as_default():
    _build(1000)
    with tf.Session() as sess:
      with pytest.raises(checkpoint.CheckpointMismatchError) as err:
        checkpoint.restore(sess, prefix)
      assert _uninitialized(sess) == len(tf.global_variables())  # untouched
  message = str(err.value)
  assert 'resnet_v2_50/logits/weights: [1, 1, 2048, 1000] vs [1, 1, 2048, ' \
         '1001]' in message
  assert 'num_classes=1001' in message and 'background' in message
  assert "exclude_scopes=['resnet_v2_50/logits']" in message
  assert err.value.report.mismatched and not err.value.report.missing


def test_net_built_outside_the_arg_scope_is_explained(saved):
  prefix, _ = saved('rn50_v2_1000')
  with tf.Graph().as_default():
    resnet_v2.resnet_v2_50(tf.placeholder(tf.float32, [1, 32, 32, 3]), 1000,
                           is_training=False)
    with tf.Session() as sess:
      with pytest.raises(checkpoint.CheckpointMismatchError,
                         match=r'conv1/biases(.|\n)*resnet_arg_scope'):
        checkpoint.restore(sess, prefix)


def test_extra_outer_scope_is_explained_then_mapped(saved):
  prefix, values = saved('rn50_v2_1000')
  with tf.Graph().as_default():
    with tf.variable_scope('tower'):
      _build(1000)
    with tf.Session() as sess:
      with pytest.raises(checkpoint.CheckpointMismatchError,
                         match="pass scope='tower/resnet_v2_50'"):
        checkpoint.restore(sess, prefix)
      report = checkpoint.restore(sess, prefix, scope='tower/resnet_v2_50')
      assert len(report.restored) == len(values)
      np.testing.assert_array_equal(
          sess.run(tf.global_variables('tower/resnet_v2_50/logits/biases')[0]),
          values['resnet_v2_50/logits/biases'])


def test_checkpoint_saved_under_a_custom_scope(saved):
  prefix, values = saved('custom_scope')
  with tf.Graph().as_default():
    _build(1001)
    with tf.Session() as sess:
      checkpoint.restore(sess, prefix, scope='resnet_v2_50')
      got = sess.run(tf.global_variables('resnet_v2_50/postnorm/gamma')[0])
  np.testing.assert_array_equal(got, values['custom/resnet_v2_50/postnorm/'
                                            'gamma'])


def test_wrong_depth_is_explained(saved):
  prefix, _ = saved('rn50_v2_1000')
  with tf.Graph().as_default():
    _build(1000, 'resnet_v2_101')
    with tf.Session() as sess:
      with pytest.raises(checkpoint.CheckpointMismatchError,
                         match='the checkpoint holds resnet_v2_50 but the '
                         'graph is resnet_v2_101: build resnet_v2_50'):
        checkpoint.restore(sess, prefix, scope='resnet_v2_101')


def test_other_depth_with_the_same_classes_names_the_depth_only(saved):
  prefix, _ = saved('rn50_v2_1000')
  with tf.Graph().as_default():
    _build(1000, 'resnet_v2_18')   # logits 512 -> 1000 against 2048 -> 1000
    with tf.Session() as sess:
      with pytest.raises(checkpoint.CheckpointMismatchError) as raised:
        checkpoint.restore(sess, prefix, scope='resnet_v2_18')
  message = str(raised.value)
  assert 'the checkpoint holds resnet_v2_50 but the graph is resnet_v2_18' \
      in message
  assert 'classes, the graph' not in message


def test_warm_start_skips_only_the_logits(saved):
  prefix, values = saved('rn50_v1_1001')
  with tf.Graph().as_default():
    _build(10)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      before = sess.run(tf.global_variables('resnet_v2_50/logits')[0])
      report = checkpoint.warm_start(sess, prefix)
      after = sess.run(tf.global_variables('resnet_v2_50/logits')[0])
      gamma = sess.run(tf.global_variables('resnet_v2_50/postnorm/gamma')[0])
  assert sorted(report.excluded) == ['resnet_v2_50/logits/biases',
                                     'resnet_v2_50/logits/weights']
  assert len(report.restored) == len(values) - 2 and not report.unexpected
  np.testing.assert_array_equal(before, after)
  np.testing.assert_array_equal(gamma, values['resnet_v2_50/postnorm/gamma'])


def test_non_strict_restore_reports_features_only_graph(saved):
  prefix, _ = saved('rn50_v2_1000')
  with tf.Graph().as_default():
    _build(None)
    with tf.Session() as sess:
      report = checkpoint.restore(sess, prefix)
  assert sorted(report.unexpected) == ['resnet_v2_50/logits/biases',
                                       'resnet_v2_50/logits/weights']


# --- a run folder with a garbage state file or a damaged newest checkpoint --

def _train(argv, capsys):
  from resnet_v2_slim.cli import train  # pylint: disable=g-import-not-at-top
  code = train.main(['--model', 'resnet_v2_18', '--image_size', '32',
                     '--batch_size', '4', '--log_every', '1'] + argv)
  out, err = capsys.readouterr()
  return code, out, err


def test_a_garbage_state_file_falls_back_to_the_files(tmp_path, capsys):
  from resnet_v2_slim.cli import inspect as inspect_cmd  # pylint: disable=g-import-not-at-top
  run = tmp_path / 'run'
  assert _train(['--train_dir', str(run), '--steps', '2'], capsys)[0] == 0
  (run / 'checkpoint').write_bytes(b'\x93\xff garbage \x00')
  assert inspect_cmd.main([str(run)]) == 0
  assert 'model:          resnet_v2_18' in capsys.readouterr().out
  # The digits run recorded how to read it (the digit names, at 32) ...
  facts = checkpoint.read(str(run)).trained
  assert (facts.class_names, facts.image_size, facts.data) == (
      tuple('0123456789'), 32, ('builtin', 'digits/train'))
  # ... and a damaged record neither stops the resume nor survives it.
  (run / 'train_facts.json').write_text('{"network": ')
  code, out, err = _train(['--train_dir', str(run), '--steps', '3'], capsys)
  assert code == 0, err
  assert 'state file in %s cannot be read' % run in out
  assert 'resuming from %s (step 2)' % (run / 'model.ckpt-2') in out
  assert checkpoint.read(str(run)).trained.class_names == tuple('0123456789')


def test_a_damaged_newest_checkpoint_resumes_from_the_newest_good(tmp_path,
                                                                   capsys):
  run = tmp_path / 'run'
  assert _train(['--train_dir', str(run), '--steps', '4', '--save_every',
                 '2'], capsys)[0] == 0
  data = run / 'model.ckpt-4.data-00000-of-00001'
  data.write_bytes(data.read_bytes()[:1000])     # cut short
  code, out, err = _train(['--train_dir', str(run), '--steps', '5'], capsys)
  assert code == 0, err
  assert 'model.ckpt-4 is damaged' in out
  assert 'resuming from %s (step 2)' % (run / 'model.ckpt-2') in out


# --- what train recorded beside the checkpoint (train_facts.json) ---------

_FACTS = checkpoint.TrainFacts(
    network='resnet_v2_50', use_shortcut=True, image_size=64,
    preprocessing='vgg', num_classes=1000,
    class_names=tuple('n%d' % i for i in range(1000)), labels_offset=1,
    data=checkpoint.DataSource('tfrecord', '/data/train-*'))


def _with_facts(saved, folder, **changes):
  """rn50_v2_1000's files linked into ``folder``, facts beside them."""
  prefix, _ = saved('rn50_v2_1000')
  where, base = os.path.split(prefix)
  for name in os.listdir(where):
    if name.startswith(base + '.'):
      os.symlink(os.path.join(where, name), os.path.join(folder, name))
  checkpoint.facts.write(str(folder), dataclasses.replace(_FACTS, **changes))
  return os.path.join(str(folder), base)


def test_recorded_facts_are_the_defaults_and_flags_win(saved, tmp_path):
  info = checkpoint.read(_with_facts(saved, tmp_path))
  chosen = info.defaults()
  assert (chosen.preprocessing, chosen.image_size, chosen.labels_offset,
          chosen.recorded) == ('vgg', 64, 1, True)
  assert chosen.class_names == _FACTS.class_names
  assert chosen.source == 'train_facts.json of %s' % tmp_path
  assert info.input_defaults() == ('vgg', 64)
  assert info.input_defaults(preprocessing='inception',
                             image_size=96) == ('inception', 96)
  described = info.as_dict()['trained']
  assert described['image_size'] == 64 and described['data'] == {
      'kind': 'tfrecord', 'source': '/data/train-*'}
  assert 'resnet_v2_50 at 64x64, vgg preprocessing, 1000 classes' in (
      described['summary'])
  # Without the facts: the published row, else the package's defaults.
  assert checkpoint.read(saved('rn50_v1_1001')[0]).defaults().source == (
      'the published resnet_v2_50_2017_04_14 row')
  plain = checkpoint.read(saved('rn50_v2_1000')[0]).defaults()
  assert (plain.preprocessing, plain.image_size, plain.class_names,
          plain.source) == ('inception', 224, None, 'the package defaults')


def test_facts_of_another_network_are_left_out(saved, tmp_path):
  # A checkpoint copied into another run's folder: those facts are not its.
  info = checkpoint.read(_with_facts(saved, tmp_path, network='resnet_v2_18',
                                     num_classes=2, class_names=('a', 'b')))
  assert info.trained.network == 'resnet_v2_18'
  chosen = info.defaults()
  assert (chosen.image_size, chosen.class_names, chosen.recorded) == (
      224, None, False)


@pytest.mark.parametrize('text,why', [
    ('{"network": ', 'Expecting value'),
    ('[1, 2]', 'not a JSON object'),
    (json.dumps(dict(_FACTS.as_dict(), image_size='64')), "'image_size'"),
    (json.dumps(dict(_FACTS.as_dict(), class_names=['a'])), "'class_names'"),
    (b'\xff\xfe'.decode('latin-1'), 'codec'),
], ids=['not JSON', 'not an object', 'a field of the wrong kind',
        'names that do not fit', 'not UTF-8'])
def test_a_damaged_facts_file_is_one_error_naming_it(saved, tmp_path, text,
                                                     why):
  prefix = _with_facts(saved, tmp_path)
  path = tmp_path / 'train_facts.json'
  path.write_text(text, encoding='latin-1')
  info = checkpoint.read(prefix)   # reading the weights does not need it
  with pytest.raises(checkpoint.TrainFactsError) as caught:
    info.defaults()
  message = str(caught.value)
  assert message.startswith('%s is damaged (' % path) and why in message
  assert 'rerun train in that folder' in message and '\n' not in message


def test_facts_of_a_newer_release_are_refused(saved, tmp_path):
  prefix = _with_facts(saved, tmp_path)
  (tmp_path / 'train_facts.json').write_text(json.dumps(dict(
      _FACTS.as_dict(), version=2)))
  with pytest.raises(checkpoint.TrainFactsError,
                     match='written by a newer resnet_v2_slim'):
    checkpoint.read(prefix).as_dict()


def test_a_failed_facts_write_keeps_the_earlier_file(tmp_path, monkeypatch):
  checkpoint.facts.write(str(tmp_path), _FACTS)
  before = (tmp_path / 'train_facts.json').read_bytes()

  def full(fd):
    raise OSError(28, 'No space left on device')

  monkeypatch.setattr(os, 'fsync', full)
  with pytest.raises(OSError, match='No space left'):
    checkpoint.facts.write(str(tmp_path), dataclasses.replace(
        _FACTS, image_size=128))
  assert (tmp_path / 'train_facts.json').read_bytes() == before
  assert os.listdir(tmp_path) == ['train_facts.json']   # no temporaries
