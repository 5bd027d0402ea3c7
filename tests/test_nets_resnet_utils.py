"""Building blocks: hand-computed subsample/conv2d_same, block args, atrous."""

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim as slim

from resnet_v2_slim import resnet_utils
from resnet_v2_slim import resnet_v2
import refnets


def _grid(size):
  """A [1, size, size, 1] float image holding 0, 1, 2, ... row by row."""
  return np.arange(size * size, dtype=np.float32).reshape(1, size, size, 1)


def _window_sums(image, kernel, stride, pad_beg, pad_end):
  """Reference: sum of each kernel x kernel window (an all-ones conv)."""
  x = np.pad(image[0, :, :, 0], ((pad_beg, pad_end), (pad_beg, pad_end)))
  out = [[x[i:i + kernel, j:j + kernel].sum()
          for j in range(0, x.shape[1] - kernel + 1, stride)]
         for i in range(0, x.shape[0] - kernel + 1, stride)]
  return np.array(out, dtype=np.float32)


@pytest.mark.parametrize('size,factor,expected', [
    (5, 2, [[0, 2, 4], [10, 12, 14], [20, 22, 24]]),
    (4, 2, [[0, 2], [8, 10]]),
    (5, 3, [[0, 3], [15, 18]]),
])
def test_subsample_picks_every_factor_th_pixel(graph, size, factor, expected):
  with tf.Session(graph=graph) as sess:
    out = sess.run(resnet_utils.subsample(tf.constant(_grid(size)), factor))
  np.testing.assert_array_equal(out[0, :, :, 0], expected)


def test_subsample_factor_one_is_identity(graph):
  x = tf.constant(_grid(3))
  assert resnet_utils.subsample(x, 1) is x


@pytest.mark.parametrize('bad', [0, -2, 1.5, True])
def test_subsample_rejects_bad_factor(graph, bad):
  with pytest.raises((TypeError, ValueError), match='subsample factor'):
    resnet_utils.subsample(tf.constant(_grid(3)), bad)


def _ones_conv_scope():
  return slim.arg_scope([slim.conv2d],
                        weights_initializer=tf.ones_initializer(),
                        biases_initializer=None, activation_fn=None,
                        normalizer_fn=None)


@pytest.mark.parametrize('size', [4, 5, 6, 7])
def test_conv2d_same_stride2_pads_symmetrically(graph, size):
  with _ones_conv_scope():
    out = resnet_utils.conv2d_same(tf.constant(_grid(size)), 1, 3, 2)
  with tf.Session(graph=graph) as sess:
    sess.run(tf.global_variables_initializer())
    got = sess.run(out)[0, :, :, 0]
  # Kernel 3: one pixel of zeros on every side, for odd and even sizes.
  np.testing.assert_allclose(got, _window_sums(_grid(size), 3, 2, 1, 1))
  assert got.shape == ((size + 1) // 2,) * 2


def test_conv2d_same_rate2_samples_every_other_pixel(graph):
  # Kernel 3 at rate 2 spans 5 pixels: taps at -2, 0, +2 around each pixel.
  with _ones_conv_scope():
    out = resnet_utils.conv2d_same(tf.constant(_grid(6)), 1, 3, 1, rate=2)
  with tf.Session(graph=graph) as sess:
    sess.run(tf.global_variables_initializer())
    got = sess.run(out)[0, :, :, 0]
  x = np.pad(_grid(6)[0, :, :, 0], 2)
  expected = [[x[i:i + 5:2, j:j + 5:2].sum() for j in range(6)]
              for i in range(6)]
  np.testing.assert_allclose(got, expected)


def test_conv2d_same_rejects_stride_with_rate(graph):
  with pytest.raises(ValueError, match='stride=2 and rate=2 cannot be'):
    resnet_utils.conv2d_same(tf.constant(_grid(6)), 1, 3, 2, rate=2)


@pytest.mark.parametrize('size', [4, 5])
def test_conv2d_same_equals_stride1_then_subsample(graph, size):
  x = tf.constant(np.random.RandomState(size).rand(1, size, size, 2),
                  tf.float32)
  with _ones_conv_scope():
    strided = resnet_utils.conv2d_same(x, 3, 3, 2, scope='a')
    dense = slim.conv2d(x, 3, 3, stride=1, padding='SAME', scope='b')
  with tf.Session(graph=graph) as sess:
    sess.run(tf.global_variables_initializer())
    got, want = sess.run([strided, resnet_utils.subsample(dense, 2)])
  np.testing.assert_allclose(got, want, rtol=1e-6)


def test_plain_same_conv_differs_on_even_sizes(graph):
  # Why conv2d_same exists: TF's SAME pads only bottom/right for even sizes.
  with _ones_conv_scope():
    ours = resnet_utils.conv2d_same(tf.constant(_grid(4)), 1, 3, 2, scope='a')
    tfs = slim.conv2d(tf.constant(_grid(4)), 1, 3, stride=2, padding='SAME',
                      scope='b')
  with tf.Session(graph=graph) as sess:
    sess.run(tf.global_variables_initializer())
    a, b = sess.run([ours, tfs])
  assert not np.allclose(a, b)
  np.testing.assert_allclose(b[0, :, :, 0], _window_sums(_grid(4), 3, 2, 0, 1))


# --- block args -----------------------------------------------------------

def _block(args, unit_fn=None):
  return resnet_utils.Block('block3', unit_fn or resnet_v2.bottleneck, args)


def test_book_tuples_and_official_dicts_give_the_same_kwargs():
  block = _block([(256, 64, 1), {'depth': 256, 'depth_bottleneck': 64,
                                 'stride': 2}])
  assert resnet_utils.unit_kwargs(block, 0, block.args[0]) == {
      'depth': 256, 'depth_bottleneck': 64, 'stride': 1}
  assert resnet_utils.unit_kwargs(block, 1, block.args[1]) == {
      'depth': 256, 'depth_bottleneck': 64, 'stride': 2}


def test_book_typo_unit_without_parentheses_is_named(graph):
  # Seed 004's resnet_v2_50: [(1024,256,1)]*5+[1024,245,2].
  block = _block([(1024, 256, 1)] * 5 + [1024, 245, 2])
  x = tf.placeholder(tf.float32, [1, 8, 8, 64])
  with pytest.raises(TypeError, match=r'block3/unit_6 \(args\[5\]\).*'
                     r'parentheses'):
    resnet_utils.stack_blocks_dense(x, [block])
  assert not tf.global_variables()  # nothing was built


@pytest.mark.parametrize('unit,error,pattern', [
    ((256, 64), ValueError, r'expected a tuple \(depth, depth_bottleneck, '
                            r'stride\).*2 entries'),
    ((256, 0, 1), ValueError, 'depth_bottleneck must be a positive integer'),
    ((-4, 64, 1), ValueError, 'depth must be a positive integer'),
    ({'depth': 256, 'depth_bottleneck': 64, 'stride': 0}, ValueError,
     'stride must be a positive integer'),
    ((256.0, 64, 1), TypeError, 'depth must be a positive integer'),
    ('abc', TypeError, 'expected a tuple'),
])
def test_malformed_units_are_rejected(unit, error, pattern):
  with pytest.raises(error, match=pattern):
    resnet_utils.unit_kwargs(_block([unit]), 0, unit)


@pytest.mark.parametrize('blocks,error,pattern', [
    ([], ValueError, 'blocks is empty'),
    ('block1', TypeError, 'blocks must be a list'),
    ([('block1', [(4, 1, 1)])], TypeError, r'blocks\[0\] must be a '
                                           r'resnet_utils.Block'),
    ([resnet_utils.Block('b', None, [(4, 1, 1)])], TypeError,
     'unit_fn must be callable'),
    ([resnet_utils.Block('b', resnet_v2.bottleneck, [])], ValueError,
     'args must be a non-empty list'),
])
def test_malformed_blocks_are_rejected(graph, blocks, error, pattern):
  x = tf.placeholder(tf.float32, [1, 8, 8, 4])
  with pytest.raises(error, match=pattern):
    resnet_utils.stack_blocks_dense(x, blocks)


# --- output_stride / atrous -----------------------------------------------

def _atrous_blocks():
  unit = resnet_v2.bottleneck
  return [
      resnet_utils.Block('block1', unit, [(4, 1, 1), (4, 1, 2)]),
      resnet_utils.Block('block2', unit, [(8, 2, 1), (8, 2, 2)]),
      resnet_utils.Block('block3', unit, [(16, 4, 1), (16, 4, 2)]),
      resnet_utils.Block('block4', unit, [(32, 8, 1), (32, 8, 1)]),
  ]


def test_reachable_output_strides():
  assert resnet_utils.reachable_output_strides(_atrous_blocks()) == [1, 2, 4,
                                                                     8]
  assert resnet_utils.reachable_output_strides(_atrous_blocks(), 4) == [
      4, 8, 16, 32]


@pytest.mark.parametrize('output_stride', [1, 2, 4])
def test_atrous_features_subsampled_equal_the_nominal_ones(graph,
                                                           output_stride):
  # 2^n + 1 sized inputs keep strided and atrous grids aligned at corners.
  x = tf.constant(np.random.RandomState(0).rand(2, 17, 17, 4), tf.float32)
  with slim.arg_scope(resnet_utils.resnet_arg_scope(is_training=False)):
    with tf.variable_scope('net'):
      nominal = resnet_utils.stack_blocks_dense(x, _atrous_blocks())
    with tf.variable_scope('net', reuse=True):
      dense = resnet_utils.stack_blocks_dense(x, _atrous_blocks(),
                                              output_stride=output_stride)
  dense = resnet_utils.subsample(dense, 8 // output_stride)
  with tf.Session(graph=graph) as sess:
    refnets.randomize(sess)
    want, got = sess.run([nominal, dense])
  assert got.shape == want.shape == (2, 3, 3, 32)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('output_stride,pattern', [
    (3, r'output_stride=3 cannot be reached.*\[1, 2, 4, 8\]'),
    (16, r'output_stride=16 cannot be reached'),
    (0, 'output_stride must be a positive integer'),
])
def test_unreachable_output_stride_is_rejected(graph, output_stride, pattern):
  x = tf.placeholder(tf.float32, [1, 17, 17, 4])
  with pytest.raises(ValueError, match=pattern):
    resnet_utils.stack_blocks_dense(x, _atrous_blocks(),
                                    output_stride=output_stride)
  assert not tf.global_variables()


def test_arg_scope_sets_is_training_on_batch_norm_only():
  scope = resnet_utils.resnet_arg_scope(is_training=False, weight_decay=0.5)
  bn = scope[slim.arg_scope_func_key(slim.batch_norm)]
  conv = scope[slim.arg_scope_func_key(slim.conv2d)]
  assert bn['is_training'] is False
  assert 'is_training' not in conv['normalizer_params']
  assert conv['normalizer_fn'] is slim.batch_norm
  assert bn['decay'] == 0.997 and bn['epsilon'] == 1e-5
  no_bn = resnet_utils.resnet_arg_scope(use_batch_norm=False)
  assert no_bn[slim.arg_scope_func_key(slim.conv2d)]['normalizer_fn'] is None


def test_arg_scope_numbers_are_checked_before_building():
  for kwargs, message in (({'batch_norm_decay': 2.0}, 'batch_norm_decay'),
                          ({'weight_decay': -1}, 'weight_decay must be a '
                           'number >= 0'),
                          ({'batch_norm_epsilon': 0.0}, 'epsilon must be a '
                           'number > 0'),
                          ({'weight_decay': float('nan')}, 'weight_decay')):
    with pytest.raises(ValueError, match=message):
      resnet_utils.resnet_arg_scope(**kwargs)
  # An integer decay is a float to slim's l2_regularizer (it refuses ints).
  with tf.Graph().as_default():
    with slim.arg_scope(resnet_utils.resnet_arg_scope(weight_decay=1)):
      resnet_v2.resnet_v2_18(tf.zeros([1, 32, 32, 3]), 3)
      assert tf.losses.get_regularization_losses()


def test_duplicate_block_scopes_fail_before_any_op():
  graph = tf.Graph()
  with graph.as_default():
    block = resnet_v2.resnet_v2_block('block1', base_depth=4, num_units=1,
                                 stride=1)
    with pytest.raises(ValueError, match="scope 'block1' is used by an "
                       'earlier block'):
      resnet_v2.resnet_v2(tf.placeholder(tf.float32, [1, 32, 32, 3]),
                     [block, block], 3)
    assert [op.type for op in graph.get_operations()] == ['Placeholder']
