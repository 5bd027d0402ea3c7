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


def _graph_logits(prefix, feed, **build_kwargs):
  """Logits of resnet_v2_50 restored through checkpoints.restorer."""
  from resnet_v2_slim import checkpoints  # pylint: disable=g-import-not-at-top
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [None, 64, 64, 3])
    network_fn = nets_factory.get_network_fn('resnet_v2_50', 1000)
    logits, _ = precision.build(network_fn, images, 'bf16',
                                spatial_squeeze=True, **build_kwargs)
    _, restore_fn = checkpoints.restorer(prefix, scope='resnet_v2_50')
    saved = tf.train.Saver()
  with tf.Session(graph=graph) as sess:
    restore_fn(sess)
    return sess.run(logits, {images: feed}), graph, saved


def test_weights_cast_once_give_the_per_step_cast_logits(checkpoint):
  feed = np.random.RandomState(1).rand(2, 64, 64, 3).astype(np.float32)
  want, _, _ = _graph_logits(checkpoint, feed)
  got, graph, saver = _graph_logits(checkpoint, feed, cast_once=True)
  # The same bf16 values, cast before the first step instead of in it.
  np.testing.assert_array_equal(got, want)
  copies = graph.get_collection(precision.CAST_ONCE_COPIES)
  # A copy of every weight and bias; batch norm keeps float32 parameters.
  with graph.as_default():
    want_names = {v.op.name + '/bfloat16' for v in tf.trainable_variables()
                  if not v.op.name.endswith(('/beta', '/gamma'))}
  assert {c.op.name for c in copies} == want_names
  assert {c.dtype.base_dtype for c in copies} == {tf.bfloat16}
  # Not checkpointed, not initialized with the model: checkpoints stay the
  # float32 variables' and names unchanged.
  saved = set(saver._var_list) if isinstance(saver._var_list, dict) else {
      v.op.name for v in saver._var_list}
  assert not saved & {c.op.name for c in copies}
  assert not {c.op.name for c in copies} & {v.op.name for v in graph.
                                             get_collection(tf.GraphKeys.
                                                            GLOBAL_VARIABLES)}
  # No cast of a weight left in the forward pass: only the images in and
  # the logits out are cast.
  casts = [op for op in graph.get_operations() if op.type == 'Cast' and
           not op.name.endswith('/Initializer/Cast') and
           'Initializer' not in op.name]
  assert len(casts) == 2, [op.name for op in casts]


def test_weights_cast_once_follow_a_later_restore(tmp_path, graph):
  network_fn = nets_factory.get_network_fn('resnet_v2_18', 5)
  images = tf.placeholder(tf.float32, [1, 32, 32, 3])
  logits, _ = precision.build(network_fn, images, 'bf16', cast_once=True,
                              spatial_squeeze=True)
  feed = np.random.RandomState(2).rand(1, 32, 32, 3).astype(np.float32)
  bias = [v for v in tf.global_variables() if 'logits/biases' in v.name][0]
  with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    with pytest.raises(tf.errors.FailedPreconditionError):
      sess.run(logits, {images: feed})   # never silently stale: uncast
    precision.cast_weights(sess)
    before = sess.run(logits, {images: feed})
    bias.load(np.full([5], 3.0, np.float32), sess)
    np.testing.assert_array_equal(sess.run(logits, {images: feed}), before)
    precision.cast_weights(sess)   # what checkpoints.restorer does
    # bf16 logits of up to ~10 carry steps of 1/16.
    np.testing.assert_allclose(sess.run(logits, {images: feed}), before + 3,
                               atol=0.15)
