"""Grad-CAM (teaching.explain, the explain command): the maps against the
formula computed here by hand, the files written, bad input in one line."""

import json
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from PIL import Image

from resnet_v2_slim.cli import explain as explain_cmd
from resnet_v2_slim.data import preprocessing
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.teaching import explain
import refnets

SIZE = 64   # resnet_v2_18's block2 is 4x4 here, block3 and block4 2x2


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
  """A random 10-class resnet_v2_18 checkpoint and a folder of images."""
  root = tmp_path_factory.mktemp('explain')
  prefix = refnets.save_our_checkpoint(root / 'ckpt' / 'model.ckpt',
                                       'resnet_v2_18', 10, image_size=SIZE)
  images = refnets.image_folder(root / 'images', shape=(48, 80))
  return prefix, images


def _by_hand(prefix, path, end_point, class_id, **network_kwargs):
  """Grad-CAM from its definition: the preprocessed image, our network,
  ``tf.gradients`` of the class's logit, the formula in numpy."""
  with tf.Graph().as_default():
    image = preprocessing.preprocess(preprocessing.decode_image(
        tf.constant(open(path, 'rb').read())), 'inception', SIZE)
    logits, end_points = nets_factory.get_network_fn('resnet_v2_18', 10)(
        image[tf.newaxis], spatial_squeeze=True, **network_kwargs)
    features = end_points[end_point]
    [gradient] = tf.gradients(logits[0, class_id], features)
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, prefix)
      values, grads, scores = sess.run([features, gradient, logits[0]])
  weights = grads[0].mean(axis=(0, 1))               # one per channel
  cam = np.maximum((values[0] * weights).sum(axis=-1), 0)
  return cam, scores


def test_the_maps_are_the_formula_computed_by_hand(tiny):
  prefix, images = tiny
  path = str(images / 'a' / '0.png')
  with explain.GradCam(prefix, image_size=SIZE, top=3,
                       end_point='resnet_v2_18/block2') as cam:
    result = cam.explain(path)
    assert cam.grid == (4, 4)
  assert [m.rank for m in result.maps] == [1, 2, 3]
  for found in result.maps:
    want, scores = _by_hand(prefix, path, 'resnet_v2_18/block2',
                            found.class_id)
    assert found.cam.shape == (4, 4) and want.max() > 0
    np.testing.assert_allclose(found.cam, want, rtol=1e-4,
                               atol=1e-5 * want.max())
  # The top classes by the logits, most probable first.
  assert [m.class_id for m in result.maps] == list(np.argsort(-scores)[:3])
  assert result.maps[0].probability > result.maps[1].probability
  # The decoded photo and the crop the network saw (Inception: 87.5%).
  assert result.pixels.shape == (48, 80, 3)
  assert result.box == preprocessing.Box(3, 5, 42, 70)
  # Two classes look at different things (or the test proves nothing).
  assert not np.allclose(result.maps[0].cam, result.maps[1].cam)


def test_a_denser_output_stride_gives_a_finer_map_of_the_same_weights(tiny):
  prefix, images = tiny
  path = str(images / 'b' / '1.png')
  with explain.GradCam(prefix, image_size=SIZE) as cam:
    nominal = cam.explain(path).maps[0]
    assert cam.grid == (2, 2)
  with explain.GradCam(prefix, image_size=SIZE, output_stride=16) as cam:
    [found] = cam.explain(path).maps
    assert cam.grid == (4, 4) and cam.end_point == 'resnet_v2_18/block4'
  want, scores = _by_hand(prefix, path, 'resnet_v2_18/block4',
                          found.class_id, output_stride=16)
  assert want.max() > 0
  np.testing.assert_allclose(found.cam, want, rtol=1e-4,
                             atol=1e-5 * want.max())
  # The class scores are the dense network's (a random net's top class
  # may differ from the nominal one's; the trained pointing-game model's
  # top-1 did not drop: benchmarks/README.md).
  assert found.class_id == int(np.argmax(scores))
  assert nominal.cam.shape == (2, 2) and found.cam.shape == (4, 4)
  with pytest.raises(explain.ExplainError, match='`output_stride` must be '
                     'one of 8, 16, 32'):
    explain.GradCam(prefix, image_size=SIZE, output_stride=12)


def test_the_peak_is_the_centre_of_the_largest_position():
  cam = np.zeros((3, 4), np.float32)
  cam[2, 0] = 1.0     # bottom-left: its bilinear upsampling is flat to the
  cam[0, 3] = 0.5     # photo's corner, the centre of the cell is the peak
  box = preprocessing.Box(10, 20, 30, 40)     # cells 10 x 10 pixels
  assert explain.peak(cam, box) == (35, 25)
  cam[0, 3] = 2.0
  assert explain.peak(cam, box) == (15, 55)


def test_a_given_class_keeps_its_rank(tiny):
  prefix, images = tiny
  with explain.GradCam(prefix, image_size=SIZE, class_id=4) as cam:
    [found] = cam.explain(str(images / 'b' / '1.png')).maps
    probs = cam.probabilities(str(images / 'b' / '1.png'))
  assert found.class_id == 4
  assert found.rank == 1 + int(np.sum(probs > probs[4]))
  assert found.probability == pytest.approx(float(probs[4]))


@pytest.mark.parametrize('height, width, method, box', [
    # Inception: int((side - side * 0.875) / 2) off each edge.
    (300, 451, 'inception', (18, 28, 264, 395)),
    (48, 80, 'inception', (3, 5, 42, 70)),
    # VGG at 224: scaled by 256/300 to 256x385, a central 224 crop (top
    # 16, left 80), mapped back: 16 * 300/256, 80 * 300/256, 224 * 300/256.
    (300, 451, 'vgg', (18, 93, 262, 262)),
])
def test_the_box_is_the_crop_the_preprocessing_takes(height, width, method,
                                                     box):
  assert tuple(preprocessing.eval_box(method, height, width, 224)) == box


def test_the_inception_box_crops_what_the_graph_crops():
  pixels = np.random.RandomState(0).randint(0, 256, (37, 91, 3), np.uint8)
  box = preprocessing.eval_box('inception', 37, 91, 32)
  with tf.Graph().as_default(), tf.Session() as sess:
    graph_crop = sess.run(tf.image.central_crop(pixels, 0.875))
  np.testing.assert_array_equal(
      graph_crop, pixels[box.top:box.top + box.height,
                         box.left:box.left + box.width])


def test_explain_writes_a_png_and_the_raw_map_per_class(tiny, tmp_path,
                                                       capsys):
  prefix, images = tiny
  Image.open(images / 'a' / '0.png').save(tmp_path / 'cat.jpg')
  out, report = tmp_path / 'maps', tmp_path / 'maps.json'
  argv = ['--checkpoint', prefix, str(images), str(tmp_path / 'cat.jpg'),
          '--output', str(out), '--image_size', str(SIZE), '--class_id',
          'top2', '--json', str(report)]
  assert explain_cmd.main(argv) == 0
  captured = capsys.readouterr()
  lines = [l for l in captured.out.splitlines() if ': class_' in l]
  assert len(lines) == 5 and lines[-1].startswith(str(tmp_path / 'cat.jpg'))
  assert 'Grad-CAM at resnet_v2_18/block4 (a 2x2 map)' in captured.err
  rows = json.loads(report.read_text())
  assert len(rows) == 10 and {r['rank'] for r in rows} == {1, 2}
  # A folder's layout is kept; a file given is named by its stem.
  written = sorted(str(p.relative_to(out)) for p in out.rglob('*.*'))
  assert written == sorted(r[k] for r in rows for k in ('png', 'npy'))
  assert 'a/0.class%d.png' % rows[0]['class_id'] in written
  for row in rows:
    cam = np.load(out / row['npy'])
    assert cam.shape == (2, 2) and np.isfinite(cam).all()
    assert (cam >= 0).all()
    with Image.open(out / row['png']) as png:
      assert png.format == 'PNG' and png.size[0] == 600
  # A rerun replaces the maps; the same folder with a file of its own is
  # refused and keeps it.
  assert explain_cmd.main(argv) == 0
  (out / 'notes.txt').write_text('mine')
  capsys.readouterr()
  assert 'notes.txt); it would be replaced as a whole' in _one_line_error(
      capsys, argv)
  assert (out / 'notes.txt').read_text() == 'mine'


def _one_line_error(capsys, argv):
  """Runs explain; it must fail with exit 2 and end on one error line
  (after the banner, when the checkpoint was already read)."""
  try:
    code = explain_cmd.main(argv)
  except SystemExit as exc:   # the argument parser's own errors
    code = exc.code
  err = capsys.readouterr().err.strip().splitlines()
  assert code == 2 and [l for l in err if 'error:' in l] == err[-1:], err
  assert 'Traceback' not in '\n'.join(err)
  return err[-1]


@pytest.mark.parametrize('extra, message', [
    (['--end_point', 'resnet_v2_18/block5'],
     'not a key of resnet_v2_18\'s end_points; nearest: '
     'resnet_v2_18/block4'),
    (['--end_point', 'predictions'], 'is not a feature map'),
    (['--class_id', '10'], '--class_id 10 is outside the head: '
     'resnet_v2_18 has 10 classes (0 to 9)'),
    (['--class_id', 'top0'], 'expected a class index, top or topK'),
    (['--output_stride', '12'], "--output_stride: '12' is not one of 8, 16, "
     '32'),
])
def test_bad_settings_are_one_line_and_write_nothing(tiny, tmp_path, capsys,
                                                     extra, message):
  prefix, images = tiny
  out = tmp_path / 'maps'
  line = _one_line_error(capsys, ['--checkpoint', prefix, str(images),
                                  '--output', str(out), '--image_size',
                                  str(SIZE)] + extra)
  assert message in line
  assert not out.exists()


def test_bad_inputs_are_one_line_and_write_nothing(tiny, tmp_path, capsys):
  prefix, images = tiny
  out = tmp_path / 'maps'
  base = ['--checkpoint', prefix, '--image_size', str(SIZE)]
  broken = tmp_path / 'broken.jpg'
  broken.write_bytes(b'not an image')
  line = _one_line_error(capsys, base + [str(images), str(broken),
                                         '--output', str(out)])
  assert 'broken.jpg is not a decodable image' in line
  assert not out.exists() and not list(tmp_path.glob('.maps*'))
  a_file = tmp_path / 'file'
  a_file.write_text('mine')
  assert 'exists and is not a folder' in _one_line_error(
      capsys, base + [str(images), '--output', str(a_file)])
  assert a_file.read_text() == 'mine'
  assert 'lies inside the input IMAGE' in _one_line_error(
      capsys, base + [str(images), '--output', str(images / 'maps')])
  assert 'does not exist' in _one_line_error(
      capsys, base + [str(tmp_path / 'nope.jpg'), '--output', str(out)])
  headless = refnets.save_our_checkpoint(tmp_path / 'headless' / 'm.ckpt',
                                         'resnet_v2_18', None)
  assert 'has no classification head' in _one_line_error(
      capsys, ['--checkpoint', headless, str(images), '--output', str(out)])
  assert not out.exists()
