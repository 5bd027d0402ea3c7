"""evaluate and convert: TF-Slim TFRecords, streaming accuracy, bad records."""

import io
import json
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from PIL import Image

from resnet_v2_slim.cli import convert
from resnet_v2_slim.cli import evaluate
from resnet_v2_slim.cli import train
from resnet_v2_slim.data import preprocessing
from resnet_v2_slim.data import tfrecords

import refnets

SIZE = 64   # small input, so the resnet_v2_50 reference runs fast


def _run(main, capsys, argv):
  code = main(argv)
  out, err = capsys.readouterr()
  return code, out, err


@pytest.fixture(scope='module')
def folder(tmp_path_factory):
  """3 classes, 7 images: JPEG, PNG, odd sizes (bytes kept by convert)."""
  root = tmp_path_factory.mktemp('images')
  rng = np.random.RandomState(0)
  for c, name in enumerate(('ant', 'bee', 'cow')):
    (root / name).mkdir()
    for i in range(3 if c < 2 else 1):
      Image.fromarray(rng.randint(0, 256, (50 + 7 * i, 60, 3), np.uint8)).save(
          root / name / ('%d.%s' % (i, 'png' if i % 2 else 'jpg')))
  return root


@pytest.fixture(scope='module')
def records(folder, tmp_path_factory):
  out = tmp_path_factory.mktemp('records') / 'rec'
  shards, count, classes = tfrecords.convert_folder(
      str(folder), str(out), num_shards=3, name='validation',
      log=lambda _: None)
  assert count == 7 and classes == ['ant', 'bee', 'cow']
  return out, shards


def _reference_metrics(prefix, folder, num_classes, offset):
  """top-1, top-5 and mean loss from the tf_slim reference, by numpy."""
  paths, labels = [], []
  for label, name in enumerate(sorted(os.listdir(folder))):
    for f in sorted(os.listdir(folder / name)):
      paths.append(str(folder / name / f))
      labels.append(label + 1 - offset)
  with tf.Graph().as_default():
    contents = tf.placeholder(tf.string, [])
    image = preprocessing.preprocess(preprocessing.decode_image(contents),
                                     'inception', SIZE)
    x = tf.placeholder(tf.float32, [None, SIZE, SIZE, 3])
    logits, _ = refnets.build('ref', 'resnet_v2_50', x, num_classes)
    logits = tf.squeeze(logits, [1, 2])
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, prefix)
      batch = np.stack([sess.run(image, {contents: open(p, 'rb').read()})
                        for p in paths])
      out = sess.run(logits, {x: batch}).astype(np.float64)
  labels = np.array(labels)
  order = np.argsort(-out, axis=1)
  shifted = out - out.max(axis=1, keepdims=True)
  log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
  return {'top1': np.mean(order[:, 0] == labels),
          'top5': np.mean([l in o[:5] for l, o in zip(labels, order)]),
          'loss': -np.mean(log_probs[np.arange(len(labels)), labels])}


@pytest.mark.parametrize('case, offset', [('rn50_v1_1001', 0),
                                          ('rn50_v2_1000', 1)])
def test_evaluate_matches_the_reference_and_folder_equals_records(
    saved, folder, records, capsys, tmp_path, case, offset):
  prefix, _ = saved(case)
  num_classes = 1001 if case.endswith('1001') else 1000
  want = _reference_metrics(prefix, folder, num_classes, offset)
  results = []
  for source in (['--tfrecord', str(records[0] / 'validation-*')],
                 ['--data_dir', str(folder)]):
    out_json = tmp_path / ('%d.json' % len(results))
    code, out, err = _run(evaluate.main, capsys, [
        '--checkpoint', prefix, '--image_size', str(SIZE), '--batch_size',
        '3', '--json', str(out_json)] + source)   # 7 = 3 + 3 + 1
    assert code == 0, err
    result = json.loads(out_json.read_text())
    results.append(result)
    assert result['num_examples'] == 7 and result['labels_offset'] == offset
    assert result['top1'] == pytest.approx(want['top1'])
    assert result['top5'] == pytest.approx(want['top5'])
    assert result['loss'] == pytest.approx(want['loss'], rel=1e-4)
    assert 'top-1 %.2f%%' % (100 * want['top1']) in out
  assert results[0]['published']['top1'] == 75.6 if offset == 0 else (
      results[0]['published'] is None)
  for key in ('num_examples', 'top1', 'top5'):
    assert results[0][key] == results[1][key]
  assert results[0]['loss'] == pytest.approx(results[1]['loss'], rel=1e-6)


def test_max_examples_and_the_published_line(saved, records, capsys):
  prefix, _ = saved('rn50_v1_1001')
  code, out, err = _run(evaluate.main, capsys, [
      '--checkpoint', prefix, '--tfrecord', str(records[0] / '*-of-*'),
      '--image_size', str(SIZE), '--max_examples', '5', '--batch_size', '2'])
  assert code == 0, err
  assert 'resnet_v2_50 on 5 images' in out
  assert 'published resnet_v2_50_2017_04_14: top-1 75.6%, top-5 92.8%' in out


def test_convert_writes_slims_format_and_a_rerun_skips_shards(
    folder, records, capsys):
  out, shards = records
  assert (out / 'labels.txt').read_text() == '1:ant\n2:bee\n3:cow\n'
  labels = []
  for shard in shards:
    for raw in tf.io.tf_record_iterator(shard):
      example = tf.train.Example.FromString(raw)
      feature = example.features.feature
      labels.append(feature['image/class/label'].int64_list.value[0])
      assert feature['image/format'].bytes_list.value[0] in (b'jpeg', b'png')
      assert feature['image/height'].int64_list.value[0] >= 50
  assert sorted(labels) == [1, 1, 1, 2, 2, 2, 3]
  before = {s: os.path.getmtime(s) for s in shards}
  os.unlink(shards[1])
  code, stdout, err = _run(convert.main, capsys, [
      '--data_dir', str(folder), '--output_dir', str(out), '--num_shards',
      '3', '--name', 'validation'])
  assert code == 0, err
  assert 'validation-00001-of-00003' in stdout          # rewritten
  assert 'validation-00000-of-00003' not in stdout      # skipped
  assert os.path.getmtime(shards[0]) == before[shards[0]]
  assert not [f for f in os.listdir(out) if '.tmp' in f]


def test_odd_images_are_converted_not_crashed(tmp_path, capsys):
  rng = np.random.RandomState(1)
  for name in ('a', 'b'):
    (tmp_path / 'in' / name).mkdir(parents=True)
  pixels = rng.randint(0, 256, (30, 30, 3), np.uint8)
  Image.fromarray(pixels[..., 0]).save(tmp_path / 'in' / 'a' / 'gray.png')
  Image.fromarray(np.dstack([pixels, pixels[..., :1]])).save(
      tmp_path / 'in' / 'a' / 'rgba.png')
  Image.fromarray(pixels).convert('CMYK').save(tmp_path / 'in' / 'b' /
                                               'cmyk.jpg')
  Image.fromarray(pixels).convert('P').save(tmp_path / 'in' / 'b' / 'p.gif')
  code, _, err = _run(convert.main, capsys, [
      '--data_dir', str(tmp_path / 'in'), '--output_dir',
      str(tmp_path / 'out'), '--num_shards', '1'])
  assert code == 0, err
  with tf.Graph().as_default():
    raw = tf.placeholder(tf.string, [])
    image = preprocessing.decode_image(tfrecords.parse(raw)[0])
    with tf.Session() as sess:
      shapes = [sess.run(image, {raw: record}).shape
                for record in tf.io.tf_record_iterator(
                    str(tmp_path / 'out' / 'train-00000-of-00001'))]
  assert shapes == [(30, 30, 3)] * 4


def _write(path, records):
  with tf.io.TFRecordWriter(str(path)) as writer:
    for record in records:
      writer.write(record)


def _good(label=1):
  out = io.BytesIO()
  Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(out, format='PNG')
  return tfrecords.encode_example(out.getvalue(), 'png', label, 40, 40)


def test_bad_records_are_named(saved, capsys, tmp_path):
  prefix, _ = saved('rn50_v1_1001')
  base = ['--checkpoint', prefix, '--image_size', str(SIZE), '--batch_size',
          '2']
  _write(tmp_path / 'undecodable-0', [_good(), _good(), tfrecords.encode_example(
      b'not an image', 'jpeg', 3, 1, 1)])
  code, _, err = _run(evaluate.main, capsys, base + [
      '--tfrecord', str(tmp_path / 'undecodable-*')])
  assert code == 2 and err.count('\n') == 1
  assert 'cannot read or decode shard %s, record 2' % (
      tmp_path / 'undecodable-0') in err
  assert 'Pass --skip_corrupt' in err
  _write(tmp_path / 'undecodable-1', [_good(), _good(2)])
  out_json = tmp_path / 'skip.json'
  code, out, err = _run(evaluate.main, capsys, base + [
      '--tfrecord', str(tmp_path / 'undecodable-*'), '--skip_corrupt',
      '--json', str(out_json)])
  assert code == 0, err
  result = json.loads(out_json.read_text())
  assert (result['num_examples'], result['num_skipped']) == (4, 1)
  assert result['skipped'][0]['where'] == 'shard %s, record 2' % (
      tmp_path / 'undecodable-0')
  assert 'on 4 images, 1 skipped' in out
  _write(tmp_path / 'label-0', [_good(), _good(5000)])
  code, _, err = _run(evaluate.main, capsys, base + [
      '--tfrecord', str(tmp_path / 'label-*')])
  assert code == 2
  assert ("label 5000 (after subtracting offset 0) in shard %s, record 1 is "
          "outside the head's 1001 classes" % (tmp_path / 'label-0')) in err
  _write(tmp_path / 'corrupt-0', [_good()] * 3)
  data = (tmp_path / 'corrupt-0').read_bytes()
  (tmp_path / 'corrupt-0').write_bytes(data[:len(data) - 20])
  code, _, err = _run(evaluate.main, capsys, base + [
      '--tfrecord', str(tmp_path / 'corrupt-*')])
  assert code == 2 and 'cannot read or decode' in err
  assert 'corrupt-0, record 2' in err
  code, _, err = _run(evaluate.main, capsys, base + [
      '--tfrecord', str(tmp_path / 'none-*')])
  assert code == 2 and 'matches no file' in err


def test_foreign_records_name_their_shard_and_folders_skip_too(
    saved, capsys, tmp_path):
  prefix, _ = saved('rn50_v1_1001')
  base = ['--checkpoint', prefix, '--image_size', str(SIZE), '--batch_size',
          '2']
  _write(tmp_path / 'plain-0', [b'not an example \xff\xfe'])
  _write(tmp_path / 'keys-0', [tf.train.Example().SerializeToString()])
  for pattern, message in (
      ('plain-*', 'record 0 of shard %s is not a tf.train.Example'
       % (tmp_path / 'plain-0')),
      ('keys-*', 'record 0 of shard %s has no image/encoded'
       % (tmp_path / 'keys-0'))):
    code, _, err = _run(evaluate.main, capsys, base + [
        '--tfrecord', str(tmp_path / pattern)])
    assert code == 2 and message in err and err.count('\n') == 1, err
  # --skip_corrupt skips an undecodable file of a folder as of a shard.
  folder = refnets.image_folder(tmp_path / 'img', ('a', 'b'), 2, (40, 40), 0)
  (folder / 'a' / 'broken.jpg').write_bytes(b'not an image')
  code, _, err = _run(evaluate.main, capsys, base + ['--data_dir',
                                                     str(folder)])
  assert code == 2 and 'broken.jpg' in err and 'or pass --skip_corrupt' in err
  code, out, err = _run(evaluate.main, capsys, base + [
      '--data_dir', str(folder), '--skip_corrupt'])
  assert code == 0, err
  assert 'on 4 images, 1 skipped' in out and 'broken.jpg' in out


def test_train_reads_records_deterministically(records, capsys, tmp_path):
  out, _ = records
  histories = []
  for run in ('a', 'b'):
    code, stdout, err = _run(train.main, capsys, [
        '--model', 'resnet_v2_18', '--tfrecord', str(out / 'validation-*'),
        '--train_dir', str(tmp_path / run), '--steps', '3', '--batch_size',
        '4', '--image_size', '32', '--log_every', '1', '--deterministic'])
    assert code == 0, err
    histories.append([l for l in stdout.splitlines() if l.startswith('step')])
  assert len(histories[0]) == 3
  strip = lambda lines: [l.split(', ')[:2] for l in lines]  # noqa: E731
  assert strip(histories[0]) == strip(histories[1])   # loss and accuracy
  reader = tf.train.load_checkpoint(str(tmp_path / 'a'))
  assert reader.get_variable_to_shape_map()[
      'resnet_v2_18/logits/weights'] == [1, 1, 512, 3]   # labels.txt: 3
  code, _, err = _run(train.main, capsys, [
      '--model', 'resnet_v2_18', '--tfrecord', str(out / 'validation-*'),
      '--data_dir', str(out), '--train_dir', str(tmp_path / 'c')])
  assert code == 2 and 'not both' in err
