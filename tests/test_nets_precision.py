"""Mixed precision: float32 variables, half compute, close to fp32 results."""

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v2_slim import nets_factory
from resnet_v2_slim.nets import precision


@pytest.fixture
def checkpoint(saved):
  return saved('rn50_v2_1000')[0]


def _logits(prefix, prec, feed):
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [None, 64, 64, 3])
    network_fn = nets_factory.get_network_fn('resnet_v2_50', 1000)
    logits, end_points = precision.build(network_fn, images, prec,
                                         spatial_squeeze=True)
    variables = {(v.op.name, v.dtype.base_dtype) for v in
                 tf.global_variables()}
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, prefix)  # the fp32 checkpoint, as is
      out = sess.run([logits, end_points['predictions']], {images: feed})
  return out, variables, logits.dtype


@pytest.mark.parametrize('prec', ['bf16', 'fp16'])
def test_half_precision_logits_stay_close_to_fp32(checkpoint, prec):
  feed = np.random.RandomState(0).rand(4, 64, 64, 3).astype(np.float32)
  (want, want_p), want_vars, _ = _logits(checkpoint, 'fp32', feed)
  (got, got_p), got_vars, dtype = _logits(checkpoint, prec, feed)
  assert dtype == tf.float32
  assert got_vars == want_vars  # same names, all float32: checkpoints load
  assert {d for _, d in got_vars} == {tf.float32}
  spread = np.ptp(want)
  assert spread > 0.1
  # bf16 keeps ~3 significant digits; errors grow over 50 layers.
  bound = 0.05 * spread
  assert np.max(np.abs(got - want)) < bound
  # Same top class wherever fp32's top-2 margin exceeds twice the bound.
  top2 = np.sort(want, axis=1)[:, -2:]
  clear = (top2[:, 1] - top2[:, 0]) > 2 * bound
  assert (got.argmax(1) == want.argmax(1))[clear].all()
  np.testing.assert_allclose(got_p.sum(1), 1.0, rtol=1e-5)
  assert not np.allclose(got, want, rtol=1e-6, atol=0)  # really half compute


def test_half_compute_happens_in_the_graph(graph):
  network_fn = nets_factory.get_network_fn('resnet_v2_50', 10)
  precision.build(network_fn, tf.placeholder(tf.float32, [1, 64, 64, 3]),
                  'bf16')
  convs = [op for op in graph.get_operations() if op.type == 'Conv2D']
  assert convs and all(op.outputs[0].dtype == tf.bfloat16 for op in convs)


def test_unknown_precision():
  with pytest.raises(ValueError, match="precision must be one of fp32, bf16, "
                     "fp16, got 'int8'"):
    precision.compute_dtype('int8')
