"""inspect_checkpoint.py, classify.py, export_inference_graph.py, preprocessing."""

import json
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from PIL import Image

from resnet_v2_slim.data import labels
from resnet_v2_slim.data import preprocessing
import refnets

from resnet_v2_slim.cli import classify
from resnet_v2_slim.cli import export as export_inference_graph
from resnet_v2_slim.cli import inspect as inspect_checkpoint


@pytest.fixture
def ckpt_1001(saved):
  """A V1 1001-class resnet_v2_50 checkpoint, like the published ones."""
  return saved('rn50_v1_1001')


@pytest.fixture(scope='module')
def images(tmp_path_factory):
  folder = tmp_path_factory.mktemp('images')
  rng = np.random.RandomState(0)
  paths = []
  for name, size in (('a.png', (80, 60)), ('b.png', (50, 70)),
                     ('c.jpg', (64, 64))):
    Image.fromarray(rng.randint(0, 256, size + (3,), np.uint8)).save(
        folder / name)
    paths.append(str(folder / name))
  return paths


def _run(module, capsys, argv):
  code = module.main(argv)
  out, err = capsys.readouterr()
  return code, out, err


# --- preprocessing, by hand ----------------------------------------------

def test_inception_preprocessing_by_hand(graph):
  image = np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3)
  out = preprocessing.preprocess(tf.constant(image), 'inception', 14)
  with tf.Session(graph=graph) as sess:
    got = sess.run(out)
  # 87.5% of 16 is 14: one pixel off each side; resize to 14 is the identity.
  want = (image[1:15, 1:15].astype(np.float32) / 255.0 - 0.5) * 2.0
  np.testing.assert_allclose(got, want, atol=1e-6)
  assert got.min() >= -1 and got.max() <= 1


def test_vgg_preprocessing_by_hand(graph):
  image = np.arange(256 * 256 * 3, dtype=np.int64).reshape(256, 256, 3) % 251
  out = preprocessing.preprocess(tf.constant(image.astype(np.uint8)), 'vgg',
                                 224)
  with tf.Session(graph=graph) as sess:
    got = sess.run(out)
  want = image[16:240, 16:240].astype(np.float32) - np.array(
      [123.68, 116.78, 103.94], np.float32)
  np.testing.assert_allclose(got, want, atol=1e-4)


def test_bad_preprocessing_arguments(graph):
  image = tf.zeros([10, 10, 3], tf.uint8)
  with pytest.raises(ValueError, match="preprocessing must be one of "
                     "inception, vgg, got 'caffe'"):
    preprocessing.preprocess(image, 'caffe', 224)
  with pytest.raises(ValueError, match='image_size must be <= 256'):
    preprocessing.preprocess(image, 'vgg', 299)


# --- labels ---------------------------------------------------------------

def test_imagenet_labels_and_background_offset():
  names = labels.imagenet_labels(1001)
  assert len(names) == 1001 and names[0] == 'background'
  assert names[1] == 'tench, Tinca tinca'
  assert names[1:] == labels.imagenet_labels(1000)
  assert labels.imagenet_labels(1000)[999].startswith('toilet tissue')


def test_labels_file_must_fit(tmp_path):
  path = tmp_path / 'names.txt'
  path.write_text('cat\ndog\n')
  assert labels.load_labels(str(path), 3) == ['background', 'cat', 'dog']
  with pytest.raises(labels.LabelsError, match='has 2 names but the '
                     'classifier has 5 outputs'):
    labels.load_labels(str(path), 5)


# --- inspect_checkpoint.py ------------------------------------------------

def test_inspect_text_json_and_list(ckpt_1001, capsys):
  prefix, values = ckpt_1001
  code, out, _ = _run(inspect_checkpoint, capsys, [prefix])
  assert code == 0
  assert 'resnet_v2_50' in out and '1001 (index 0 = background)' in out
  assert 'V1' in out
  assert ('pretrained:     resnet_v2_50_2017_04_14 '
          '(resnet_v2_50_2017_04_14.tar.gz): inception preprocessing at 299, '
          'labels offset 0, published top-1 75.6% / top-5 92.8%') in out
  code, out, err = _run(inspect_checkpoint, capsys, [prefix, '--json', '-',
                                                     '--list'])
  info = json.loads(out)   # only the JSON on stdout, the report on stderr
  assert 'parameters:' in err
  assert {'model', 'num_classes', 'format', 'num_variables',
          'num_parameters'} <= set(info)
  assert (info['model'], info['num_classes'], info['format'],
          info['num_variables']) == ('resnet_v2_50', 1001, 'V1', len(values))
  assert info['pretrained']['name'] == 'resnet_v2_50_2017_04_14'
  assert (info['pretrained']['top1'], info['pretrained']['top5']) == (75.6,
                                                                    92.8)
  listed = {v['name']: v['shape'] for v in info['variables']}
  assert listed == {k: list(v.shape) for k, v in values.items()}
  code, out, _ = _run(inspect_checkpoint, capsys, [prefix, '--list'])
  assert 'resnet_v2_50/logits/weights' in out and '[1, 1, 2048, 1001]' in out


def test_inspect_bad_path(capsys, tmp_path):
  code, _, err = _run(inspect_checkpoint, capsys, [str(tmp_path / 'x')])
  assert code == 2 and err.startswith('resnet-v2-slim inspect: error: No '
                                      'checkpoint at')


# --- classify.py ----------------------------------------------------------

def _reference_probabilities(prefix, path, size):
  """Independent path: PIL decode, our preprocessing, the reference net."""
  with tf.Graph().as_default():
    image = np.asarray(Image.open(path).convert('RGB'))
    x = preprocessing.preprocess(tf.constant(image), 'inception', size)
    logits, _ = refnets.build('ref', 'resnet_v2_50', x[tf.newaxis], 1001)
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, prefix)
      return sess.run(tf.nn.softmax(tf.squeeze(logits, [1, 2])))[0]


def test_classify_json_matches_the_reference(ckpt_1001, images, capsys):
  prefix, _ = ckpt_1001
  code, out, err = _run(classify, capsys, ['--checkpoint', prefix,
                                           '--image_size', '64', '--json',
                                           '-', '--top_k', '3'] + images)
  assert code == 0, err
  results = json.loads(out)
  # --json PATH: the same JSON in the file, the list on stdout.
  path = os.path.join(os.path.dirname(images[0]), 'top.json')
  assert _run(classify, capsys, ['--checkpoint', prefix, '--image_size',
                                 '64', '--json', path, '--top_k', '3'] +
              images)[0] == 0
  with open(path) as f:
    assert json.load(f) == results
  assert [r['image'] for r in results] == images
  names = labels.imagenet_labels(1001)
  assert all(len(r['top_k']) == 3 for r in results)
  # Exact comparison on lossless PNGs: JPEG decoders differ by a few levels.
  for result in [r for r in results if r['image'].endswith('.png')]:
    probs = _reference_probabilities(prefix, result['image'], 64)
    top = result['top_k']
    assert len(top) == 3 and top[0]['index'] == int(np.argmax(probs))
    # Random weights saturate the softmax: later entries may tie at ~0, so
    # check order and values rather than which of the tied indices came.
    got = [t['probability'] for t in top]
    assert got == sorted(got, reverse=True)
    for hit in top:
      assert hit['label'] == names[hit['index']]
      assert hit['probability'] == pytest.approx(probs[hit['index']],
                                                 rel=1e-4, abs=1e-7)
    np.testing.assert_allclose(got, np.sort(probs)[::-1][:3], rtol=1e-4,
                               atol=1e-7)
  assert 'resnet_v2_50, 1001 classes, inception preprocessing at 64' in err


def test_classify_defaults_come_from_the_pretrained_table(saved, images,
                                                         capsys):
  for case, want in (('rn50_v1_1001', 'inception preprocessing at 299'),
                     ('rn50_v2_1000', 'inception preprocessing at 224')):
    code, _, err = _run(classify, capsys, ['--checkpoint', saved(case)[0],
                                           images[0]])
    assert code == 0, err
    assert want in err, case


def test_classify_skips_unreadable_images(ckpt_1001, images, capsys,
                                          tmp_path):
  bad = tmp_path / 'notes.jpg'
  bad.write_text('not an image')
  code, out, err = _run(classify, capsys, [
      '--checkpoint', ckpt_1001[0], '--image_size', '64', str(bad),
      images[0], str(tmp_path / 'missing.png')])
  assert code == 1
  assert 'skipped: %s is not a decodable image' % bad in err
  reason = [l for l in err.splitlines() if 'is not a decodable' in l][0]
  # TensorFlow's reason, not its "Graph execution error:" header.
  assert 'Graph execution error' not in reason
  # Only the formats the package reads: TensorFlow's list names others.
  assert reason.endswith('notes.jpg is not a decodable image (JPEG, PNG, '
                         'BMP, GIF): Unknown image file format.'), reason
  assert not reason.rstrip().endswith(':'), reason
  assert 'skipped: cannot read' in err
  assert out.startswith(images[0] + '\n') and out.count('\n') == 6


def test_classify_explicit_num_classes_must_agree(ckpt_1001, images, capsys):
  code, _, err = _run(classify, capsys, ['--checkpoint', ckpt_1001[0],
                                         '--num_classes', '1000', images[0]])
  assert code == 2
  assert 'shape mismatch' in err and 'num_classes=1001' in err


def test_classify_tarball_and_bad_labels(ckpt_1001, images, capsys,
                                         tmp_path):
  import tarfile  # pylint: disable=g-import-not-at-top
  archive = tmp_path / 'resnet_v2_50.tar.gz'
  with tarfile.open(archive, 'w:gz') as tar:
    tar.add(ckpt_1001[0], arcname='resnet_v2_50.ckpt')
  code, _, err = _run(classify, capsys, ['--checkpoint', str(archive),
                                         images[0]])
  assert code == 2 and 'Extract it first' in err
  names = tmp_path / 'names.txt'
  names.write_text('a\nb\n')
  code, _, err = _run(classify, capsys, ['--checkpoint', ckpt_1001[0],
                                         '--labels', str(names), images[0]])
  assert code == 2 and 'has 2 names but the classifier has 1001' in err


# --- export_inference_graph.py --------------------------------------------

def _session_outputs(prefix, feed):
  with tf.Graph().as_default():
    x = tf.placeholder(tf.float32, [None, 64, 64, 3])
    logits, end_points = refnets.build('ours', 'resnet_v2_50', x, 1001,
                                       spatial_squeeze=True)
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, prefix)
      return sess.run([logits, end_points['predictions']], {x: feed})


def test_export_frozen_graph_and_saved_model(ckpt_1001, capsys, tmp_path):
  prefix, _ = ckpt_1001
  pb, saved_dir = tmp_path / 'model.pb', tmp_path / 'saved'
  code, out, err = _run(export_inference_graph, capsys, [
      '--checkpoint', prefix, '--output_file', str(pb), '--saved_model_dir',
      str(saved_dir), '--image_size', '64'])
  assert code == 0, err
  assert 'input:0' in out and 'logits:0' in out and 'predictions:0' in out
  feed = np.random.RandomState(3).uniform(-1, 1, (2, 64, 64, 3)).astype(
      np.float32)
  want_logits, want_probs = _session_outputs(prefix, feed)

  with tf.Graph().as_default() as g:
    graph_def = tf.GraphDef()
    graph_def.ParseFromString(pb.read_bytes())
    tf.import_graph_def(graph_def, name='')
    assert not [op for op in g.get_operations()
                if op.type in ('VariableV2', 'VarHandleOp')]
    with tf.Session() as sess:
      logits, probs = sess.run(['logits:0', 'predictions:0'],
                               {'input:0': feed})
  assert logits.shape == (2, 1001)
  # Random weights give logits in the thousands; the frozen graph may pick
  # other float32 kernels, so the tolerance follows their magnitude.
  scale = 1e-5 * np.abs(want_logits).max()
  np.testing.assert_allclose(logits, want_logits, rtol=1e-5, atol=scale)
  np.testing.assert_allclose(np.argmax(probs, 1), np.argmax(want_probs, 1))

  with tf.Graph().as_default():
    with tf.Session() as sess:
      meta = tf.saved_model.loader.load(sess, ['serve'], str(saved_dir))
      signature = meta.signature_def['serving_default']
      logits = sess.run(signature.outputs['logits'].name,
                        {signature.inputs['input'].name: feed})
  np.testing.assert_allclose(logits, want_logits, rtol=1e-5, atol=scale)


def test_failed_export_leaves_earlier_outputs(ckpt_1001, capsys, tmp_path):
  pb = tmp_path / 'model.pb'
  pb.write_bytes(b'earlier')
  code, _, err = _run(export_inference_graph, capsys, [
      '--checkpoint', ckpt_1001[0], '--output_file', str(pb),
      '--num_classes', '10'])
  assert code == 2 and 'shape mismatch' in err
  assert pb.read_bytes() == b'earlier'
  assert os.listdir(tmp_path) == ['model.pb']
  code, _, err = _run(export_inference_graph, capsys,
                      ['--checkpoint', ckpt_1001[0]])
  assert code == 2 and 'give at least one output: --output_file, --saved_model_dir' in err


@pytest.mark.parametrize('module', [classify, export_inference_graph])
def test_num_classes_must_be_auto_or_positive(module, capsys):
  with pytest.raises(SystemExit) as exit_info:
    module.main(['--checkpoint', 'x', '--num_classes', 'many', 'image.jpg']
                if module is classify else
                ['--checkpoint', 'x', '--num_classes', '0'])
  assert exit_info.value.code == 2
  assert 'expected auto or a positive integer' in capsys.readouterr().err


def test_a_full_disk_during_export_is_one_line(ckpt_1001, capsys, tmp_path,
                                               monkeypatch):
  from resnet_v2_slim.utils import fileio  # pylint: disable=g-import-not-at-top
  target = tmp_path / 'm.pb'
  target.write_bytes(b'older export')

  def full(path, data):
    raise OSError(28, 'No space left on device')

  monkeypatch.setattr(fileio, 'atomic_write_bytes', full)
  code, _, err = _run(export_inference_graph, capsys, [
      '--checkpoint', ckpt_1001[0], '--output_file', str(target),
      '--image_size', '64'])
  assert code == 2 and 'No space left on device' in err
  assert err.count('\n') == 1
  assert target.read_bytes() == b'older export'
