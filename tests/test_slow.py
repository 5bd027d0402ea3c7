"""Full-size runs, kept out of the default suite (run: pytest -m slow)."""

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v2_slim.perf import benchmark
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
