"""Full-size runs, kept out of the default suite (run: pytest -m slow)."""

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v2_slim.perf import benchmark
from resnet_v2_slim.training import recipe as recipe_lib
import refnets

pytestmark = pytest.mark.slow


@pytest.mark.parametrize('name', ['resnet_v2_50', 'resnet_v2_152'])
def test_full_size_logits_equal_the_reference(tmp_path, name):
  prefix, _ = refnets.save_reference_checkpoint(tmp_path / 'm.ckpt', name,
                                                1001, image_size=224)
  feed = np.random.RandomState(0).uniform(-1, 1, (2, 224, 224, 3)).astype(
      np.float32)
  outputs = []
  for impl in ('ref', 'ours'):
    with tf.Graph().as_default():
      images = tf.placeholder(tf.float32, [None, 224, 224, 3])
      logits, _ = refnets.build(impl, name, images, 1001)
      with tf.Session() as sess:
        tf.train.Saver().restore(sess, prefix)
        outputs.append(sess.run(logits, {images: feed}))
  np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-4, atol=1e-4)


def test_book_protocol_runs_at_full_size():
  config = benchmark.Config(num_batches=2, num_burn_in=1)
  lines = []
  result = benchmark.run(config, log=lines.append)
  assert (result['model'], result['batch_size'], result['image_size']) == (
      'resnet_v2_152', 32, 224)
  assert 'Forward across 2 steps' in lines[-1]
  assert result['gflops_per_batch'] == pytest.approx(698.03, rel=1e-3)


# The training issue's proof: research/slim's recipe on real digits. The
# same settings as benchmarks/README.md "The training recipe on real data".
RECIPE = (['--model', 'resnet_v2_18', '--dataset_name', 'mnist5k'] +
          recipe_lib.documented_flags() +
          ['--random_shift', '2', '--steps', '2800', '--log_every', '100',
           '--save_every', '700'])


@pytest.fixture(scope='module')
def recipe_run(tmp_path_factory):
  """The recipe trained once (timed) for the tests below."""
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  run = tmp_path_factory.mktemp('recipe') / 'run'
  start = time.monotonic()
  subprocess.run([sys.executable, '-m', 'resnet_v2_slim', 'train'] + RECIPE +
                 ['--train_dir', str(run)], check=True, timeout=1200,
                 capture_output=True)
  return run, time.monotonic() - start


def test_the_recipe_reaches_97_5_percent_on_mnist5k_in_10_minutes(
    recipe_run, tmp_path):
  import json  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  run, seconds = recipe_run
  subprocess.run([sys.executable, '-m', 'resnet_v2_slim', 'evaluate',
                  '--checkpoint', str(run), '--dataset_name',
                  'mnist5k', '--json', str(tmp_path / 'eval.json')],
                 check=True, timeout=600, capture_output=True)
  result = json.loads((tmp_path / 'eval.json').read_text())
  assert result['num_examples'] == 500   # the validation split, never trained
  assert result['moving_averages']
  assert result['top1'] >= 0.975, result['top1']
  assert seconds < 600, seconds   # on 2 cores; a busy machine may fail it


def test_int8_on_three_engines_keeps_top1_within_a_point_on_mnist5k(
    recipe_run, tmp_path):
  """#28's proof on real data: calibrated on 300 train digits, each int8
  file's top-1 on the 500 held-out digits (evaluated by export's accuracy
  gate, i.e. evaluate --model_file) within 1 point of fp32's."""
  import re  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  run, _ = recipe_run
  done = subprocess.run(
      [sys.executable, '-m', 'resnet_v2_slim', 'export', '--checkpoint',
       str(run), '--quantize', 'int8', '--dataset_name', 'mnist5k',
       '--onnx_file', str(tmp_path / 'q.onnx'), '--openvino_dir',
       str(tmp_path / 'q_ov'), '--tflite_file', str(tmp_path / 'q.tflite')],
      check=True, timeout=900, capture_output=True, text=True)
  fp32 = float(re.search(r'fp32 top-1 ([\d.]+)% on 500 images of '
                         r'mnist5k/validation', done.stdout).group(1))
  assert 'int8 calibrated on 300 images of mnist5k/train' in done.stdout
  int8 = {engine: float(top1) for engine, top1 in re.findall(
      r'\((\w+) int8\): top-1 ([\d.]+)% against', done.stdout)}
  assert sorted(int8) == ['litert', 'onnxruntime', 'openvino'], done.stdout
  for engine, top1 in int8.items():
    assert abs(top1 - fp32) <= 1.0, (engine, top1, fp32)


def test_grad_cam_at_stride_16_points_at_the_digit_90_percent_of_the_time(
    tmp_path):
  """#30's pointing game as benchmarks/README.md reports it (block4 at
  output stride 16: 93.0% on the box, 99.0% within 4 pixels, the centre
  43.5%): at least the issue's 90%."""
  import json  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  script = os.path.join(os.path.dirname(__file__), '..', 'benchmarks',
                        'pointing_game.py')
  subprocess.run([sys.executable, script, '--train_dir',
                  str(tmp_path / 'run'), '--end_points',
                  'resnet_v2_18/block4', '--output_strides', '32', '16',
                  '--json', str(tmp_path / 'g.json'), '--figure',
                  str(tmp_path / 'g.png')],
                 check=True, timeout=2400, capture_output=True)
  nominal, dense = json.loads((tmp_path / 'g.json').read_text())
  assert (nominal['grid'], dense['grid']) == ([4, 4], [7, 7])
  # A 4x4 map can point at 16 places: 183 of the 200 digits cover one.
  assert nominal['reachable'] == 183 and dense['reachable'] == 199
  assert nominal['hits'] <= nominal['reachable']
  assert dense['images'] == 200 and dense['correct'] >= 190, dense
  assert dense['hits'] >= 180, dense               # 90% on the ink box
  assert dense['hits'] >= 1.8 * dense['centre_hits'], dense
  assert dense['near_hits'] >= 190, dense          # 95% within 4 pixels
  assert (tmp_path / 'g.png').stat().st_size > 10000
