"""data/tfrecords.py and data/images.py: one decode per image, a rerun of
convert resumes only the same job, shard names stay inside --output_dir."""

import hashlib
import os

import pytest

from resnet_v2_slim.cli import convert
from resnet_v2_slim.data import images
from resnet_v2_slim.data import tfrecords
import refnets


def _folder(root, classes=('cat', 'dog'), per_class=2, seed=0):
  return refnets.image_folder(root, classes, per_class, (20, 24), seed)


def _hashes(folder):
  return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest()
          for f in sorted(os.listdir(folder))}


def _convert(capsys, *argv):
  code = convert.main(list(argv))
  return code, capsys.readouterr()


def test_each_image_is_decoded_once(tmp_path, monkeypatch):
  data = _folder(tmp_path / 'in')
  calls = []
  real = images.read_image
  monkeypatch.setattr(images, 'read_image',
                      lambda path: calls.append(path) or real(path))
  tfrecords.convert_folder(str(data), str(tmp_path / 'out'), num_shards=2,
                           log=lambda _: None)
  assert sorted(calls) == sorted(str(p) for p in data.glob('*/*.png'))


def test_a_rerun_with_other_inputs_or_flags_is_refused(tmp_path, capsys):
  data = _folder(tmp_path / 'in')
  out = tmp_path / 'out'
  code, _ = _convert(capsys, '--data_dir', str(data), '--output_dir',
                     str(out), '--num_shards', '2')
  assert code == 0
  before = _hashes(out)
  assert 'convert.json' in before
  # The same job again: resumes (nothing to do), changes nothing.
  code, _ = _convert(capsys, '--data_dir', str(data), '--output_dir',
                     str(out), '--num_shards', '2')
  assert code == 0 and _hashes(out) == before
  _folder(data, classes=('ant', 'bee'), seed=1)      # two more classes
  for argv in ([], ['--num_shards', '3']):
    code, result = _convert(capsys, '--data_dir', str(data), '--output_dir',
                            str(out), *(argv or ['--num_shards', '2']))
    assert code == 2
    assert result.err.count('\n') == 1
    assert 'already holds shards of another conversion' in result.err
    assert '--output_dir' in result.err
    assert _hashes(out) == before       # labels.txt and shards untouched
  other = _folder(tmp_path / 'other', seed=2)
  code, result = _convert(capsys, '--data_dir', str(other), '--output_dir',
                          str(out), '--num_shards', '2')
  assert code == 2 and 'data_dir' in result.err and _hashes(out) == before


def test_a_rerun_writes_a_cut_short_shard_again(tmp_path, capsys):
  """Found by the adversarial run: a shard truncated to 100 bytes passed as
  finished on a rerun ("wrote 6 images"); now it is written again."""
  data = _folder(tmp_path / 'in', per_class=3)
  out = tmp_path / 'out'
  argv = ['--data_dir', str(data), '--output_dir', str(out),
          '--num_shards', '2']
  assert _convert(capsys, *argv)[0] == 0
  before = _hashes(out)
  shard = out / 'train-00000-of-00002'
  whole = shard.read_bytes()
  for damaged in (whole[:100], whole + b'\0' * 20, b''):
    shard.write_bytes(damaged)
    code, result = _convert(capsys, *argv)
    assert code == 0, result.err
    assert 'train-00000-of-00002 is damaged or cut short: writing it ' \
        'again' in result.out
    assert _hashes(out) == before
  # A whole shard is not read again (its images are not decoded).
  code, result = _convert(capsys, *argv)
  assert code == 0 and 'damaged' not in result.out and 'images/sec' not in (
      result.out)


def test_shards_without_a_record_are_refused(tmp_path, capsys):
  out = tmp_path / 'out'
  out.mkdir()
  (out / 'train-00000-of-00001').write_bytes(b'old')
  code, result = _convert(capsys, '--data_dir', str(_folder(tmp_path / 'in')),
                          '--output_dir', str(out), '--num_shards', '1')
  assert code == 2 and 'no convert.json record' in result.err
  assert (out / 'train-00000-of-00001').read_bytes() == b'old'


@pytest.mark.parametrize('name', ['../evil', '', 'a/b', '.hidden'])
def test_shard_names_stay_inside_the_output_folder(tmp_path, capsys, name):
  code, result = _convert(capsys, '--data_dir', str(_folder(tmp_path / 'in')),
                          '--output_dir', str(tmp_path / 'out'), '--name',
                          name)
  assert code == 2 and '--name' in result.err
  assert sorted(os.listdir(tmp_path)) == ['in']


def test_output_dir_that_is_a_file_is_one_line(tmp_path, capsys):
  (tmp_path / 'file').write_text('mine')
  code, result = _convert(capsys, '--data_dir', str(_folder(tmp_path / 'in')),
                          '--output_dir', str(tmp_path / 'file'))
  assert code == 2 and result.err.count('\n') == 1
  assert (tmp_path / 'file').read_text() == 'mine'


def test_a_bad_image_keeps_nothing_and_names_the_file(tmp_path, capsys):
  data = _folder(tmp_path / 'in')
  (data / 'dog' / 'broken.jpg').write_bytes(b'not an image')
  code, result = _convert(capsys, '--data_dir', str(data), '--output_dir',
                          str(tmp_path / 'out'), '--num_shards', '2')
  assert code == 2 and 'broken.jpg' in result.err
  assert os.listdir(tmp_path / 'out') == []


# --- shards checked before any work (train and evaluate) -------------------

def _records(tmp_path, capsys):
  code, _ = _convert(capsys, '--data_dir', str(_folder(tmp_path / 'in')),
                     '--output_dir', str(tmp_path / 'rec'), '--num_shards',
                     '2')
  assert code == 0
  return tmp_path / 'rec'


def _train(capsys, *argv):
  from resnet_v2_slim.cli import train  # pylint: disable=g-import-not-at-top
  code = train.main(['--model', 'resnet_v2_18', '--image_size', '32',
                     '--batch_size', '2', '--steps', '2'] + list(argv))
  return code, capsys.readouterr()


def test_bad_shards_are_one_line_before_training(tmp_path, capsys):
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  rec = _records(tmp_path, capsys)
  bad = tmp_path / 'bad'
  bad.mkdir()
  (bad / 'empty-00000-of-00001').write_bytes(b'')
  (bad / 'text-00000-of-00001').write_text('not a record file at all\n')
  with tf.io.TFRecordWriter(str(bad / 'plain-00000-of-00001')) as writer:
    writer.write(b'not an example \xff\xfe')
  with tf.io.TFRecordWriter(str(bad / 'keys-00000-of-00001')) as writer:
    writer.write(tf.train.Example().SerializeToString())
  cases = {'empty-*': 'is empty', 'text-*': 'is not a TFRecord file',
           'plain-*': 'is not a tf.train.Example', 'keys-*': 'has no '
           'image/encoded, image/class/label'}
  for pattern, message in cases.items():
    code, result = _train(capsys, '--train_dir', str(tmp_path / 'run'),
                          '--tfrecord', str(bad / pattern), '--num_classes',
                          '2')
    assert code == 2 and message in result.err, (pattern, result.err)
    assert result.err.count('\n') == 1
  code, result = _train(capsys, '--train_dir', str(tmp_path / 'run'),
                        '--tfrecord', str(rec / 'train-*'), '--labels_offset',
                        '0', '--num_classes', '2', '--steps', '40')
  # 40 shuffled batches of 2 from 2 images per class: some batch holds a
  # label 2 (two steps alone missed it one run in sixteen).
  assert code == 2 and 'the input failed at step ' in result.err
  assert ': Received a label value of 2 which is outside the valid range ' \
      'of [0, 2)' in result.err, result.err
  assert result.err.count('\n') == 1
  # records/* means the shards: labels.txt and convert.json are left out.
  assert [os.path.basename(s) for s in tfrecords.find_shards(
      str(rec / '*'))] == ['train-00000-of-00002', 'train-00001-of-00002']


def test_evaluate_warns_when_the_head_does_not_fit_the_shards(tmp_path,
                                                              capsys):
  from resnet_v2_slim.cli import evaluate  # pylint: disable=g-import-not-at-top
  rec = _records(tmp_path, capsys)
  code, _ = _train(capsys, '--train_dir', str(tmp_path / 'run'), '--steps',
                   '1')    # the digits: 10 classes
  assert code == 0
  assert evaluate.main(['--checkpoint', str(tmp_path / 'run'), '--tfrecord',
                        str(rec / 'train-*'), '--image_size', '32']) == 0
  out = capsys.readouterr().out
  assert 'lists 2 classes, but the model has 10 outputs' in out
