"""ResNet V2 networks, checked against the tf-slim reference and by hand."""

import inspect

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim as slim
from tf_slim.nets import resnet_utils as ref_utils
from tf_slim.nets import resnet_v2 as ref

import resnet_v2_slim
from resnet_v2_slim import nets_factory
from resnet_v2_slim import resnet_utils
from resnet_v2_slim import resnet_v2
from conftest import by_cost
import refnets

# Every registered network the reference also has (from the registry).
NAMES = [n for n in nets_factory.network_names() if hasattr(ref, n)]


def _variables():
  return [(v.op.name, v.shape.as_list()) for v in tf.global_variables()]


@pytest.fixture(scope='module')
def built():
  """(impl, name) -> summary of that network built at 224x224, built once."""
  cache = {}

  def get(impl, name):
    if (impl, name) not in cache:
      with tf.Graph().as_default():
        images = tf.placeholder(tf.float32, [None, 224, 224, 3])
        # Training mode (with update ops) where it is cheap enough to build.
        training = name in ('resnet_v2_50', 'resnet_v2_101')
        net, end_points = refnets.build(impl, name, images, 1000,
                                        is_training=training)
        cache[impl, name] = {
            'variables': _variables(),
            'end_points': set(end_points),
            'shape': net.shape.as_list(),
            'update_ops': len(tf.get_collection(tf.GraphKeys.UPDATE_OPS)),
            'trainable': sum(int(np.prod(v.shape))
                             for v in tf.trainable_variables()),
        }
    return cache[impl, name]
  return get


@pytest.mark.parametrize('name', by_cost(NAMES))
def test_variables_and_end_points_match_the_reference(built, name):
  ours, theirs = built('ours', name), built('ref', name)
  assert ours['variables'] == theirs['variables']
  assert ours['end_points'] == theirs['end_points'] | {'global_pool'}
  assert ours['shape'] == theirs['shape'] == [None, 1, 1, 1000]
  assert ours['update_ops'] == theirs['update_ops']
  assert (ours['update_ops'] > 0) == (name in ('resnet_v2_50',
                                               'resnet_v2_101'))
  assert ours['trainable'] == theirs['trainable']


@pytest.mark.parametrize('name', by_cost(NAMES))
def test_units_per_block_give_the_nominal_depths(built, name):
  convs = [n for n, shape in built('ours', name)['variables']
           if n.endswith('/weights') and '/shortcut/' not in n]
  assert len(convs) == int(name.split('_')[-1])  # conv layers + logits


def test_trainable_parameter_count_of_resnet_v2_50(built):
  # The published figure for ResNet-50 V2 with a 1000-way classifier.
  assert built('ours', 'resnet_v2_50')['trainable'] == 25568360


def test_known_variable_names_exist(built):
  names = {name for name, _ in built('ours', 'resnet_v2_50')['variables']}
  for expected in [
      'resnet_v2_50/conv1/weights', 'resnet_v2_50/conv1/biases',
      'resnet_v2_50/block1/unit_1/bottleneck_v2/preact/gamma',
      'resnet_v2_50/block1/unit_1/bottleneck_v2/shortcut/weights',
      'resnet_v2_50/block1/unit_1/bottleneck_v2/conv1/BatchNorm/moving_mean',
      'resnet_v2_50/block4/unit_3/bottleneck_v2/conv3/biases',
      'resnet_v2_50/postnorm/beta', 'resnet_v2_50/logits/weights']:
    assert expected in names
  assert 'resnet_v2_50/block1/unit_2/bottleneck_v2/shortcut/weights' not in (
      names)  # identity shortcut: no projection


# Seed 002's trace for resnet_v2_50 at 224x224: unit output (H, W, C).
SEED_002_TRACE = {
    'block1/unit_1': (56, 56, 256), 'block1/unit_2': (56, 56, 256),
    'block1/unit_3': (28, 28, 256), 'block2/unit_1': (28, 28, 512),
    'block2/unit_4': (14, 14, 512), 'block3/unit_1': (14, 14, 1024),
    'block3/unit_6': (7, 7, 1024), 'block4/unit_1': (7, 7, 2048),
    'block4/unit_3': (7, 7, 2048),
}


def test_shape_trace_of_seed_002(graph):
  _, end_points = refnets.build(
      'ours', 'resnet_v2_50', tf.placeholder(tf.float32, [32, 224, 224, 3]),
      1000, usage='book')
  prefix = 'resnet_v2_50/'
  assert end_points[prefix + 'conv1'].shape.as_list() == [32, 112, 112, 64]
  for unit, hwc in SEED_002_TRACE.items():
    key = prefix + unit + '/bottleneck_v2'
    assert end_points[key].shape.as_list() == [32, *hwc], unit
  # Inside the strided unit: conv1 keeps 56x56, conv2 halves it.
  unit = prefix + 'block1/unit_3/bottleneck_v2/'
  assert end_points[unit + 'conv1'].shape.as_list() == [32, 56, 56, 64]
  assert end_points[unit + 'conv2'].shape.as_list() == [32, 28, 28, 64]
  assert end_points[prefix + 'block1/unit_1/bottleneck_v2/shortcut'
                    ].shape.as_list() == [32, 56, 56, 256]
  assert end_points[prefix + 'block4'].shape.as_list() == [32, 7, 7, 2048]
  assert end_points['global_pool'].shape.as_list() == [32, 1, 1, 2048]
  assert end_points['predictions'].shape.as_list() == [32, 1, 1, 1000]


# --- numerics from one shared checkpoint ----------------------------------

def _run_with_checkpoint(prefix, build_fn, feed):
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [None, None, None, 3])
    net, end_points = build_fn(images)
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, prefix)
      return sess.run([net, end_points['predictions']], {images: feed})


@pytest.fixture
def rn50_checkpoint(saved):
  return saved('rn50_v2_1000')[0]


@pytest.mark.parametrize('usage', ['official', 'book'])
def test_resnet_v2_50_logits_equal_the_reference(rn50_checkpoint, usage):
  feed = np.random.RandomState(1).rand(2, 64, 64, 3).astype(np.float32)
  want = _run_with_checkpoint(rn50_checkpoint, lambda x: refnets.build(
      'ref', 'resnet_v2_50', x, 1000), feed)
  got = _run_with_checkpoint(rn50_checkpoint, lambda x: refnets.build(
      'ours', 'resnet_v2_50', x, 1000, usage=usage), feed)
  assert got[0].shape == (2, 1, 1, 1000)
  np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-6)
  assert np.ptp(got[0]) > 1e-3  # the weights really differ per class


def _tiny(impl, is_training):
  def build(images):
    with slim.arg_scope(refnets.IMPLS[impl].resnet_arg_scope()):
      return refnets.IMPLS[impl].resnet_v2(
          images, refnets.tiny_blocks(impl), num_classes=5,
          is_training=is_training, scope='tiny')
  return build


def _save_tiny(impl, tmp_path, seed):
  """Builds the tiny net of ``impl``, randomizes and saves it."""
  with tf.Graph().as_default():
    _tiny(impl, False)(tf.placeholder(tf.float32, [None, 32, 32, 3]))
    with tf.Session() as sess:
      refnets.randomize(sess, seed=seed)
      return tf.train.Saver().save(sess, str(tmp_path / 'tiny'))


@pytest.mark.parametrize('is_training', [False, True])
def test_small_net_equals_the_reference_in_both_modes(tmp_path, is_training):
  prefix = _save_tiny('ref', tmp_path, seed=3)
  feed = np.random.RandomState(2).rand(3, 32, 32, 3).astype(np.float32)
  want = _run_with_checkpoint(prefix, _tiny('ref', is_training), feed)
  got = _run_with_checkpoint(prefix, _tiny('ours', is_training), feed)
  np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)


def test_book_usage_is_inference_mode_without_update_ops(graph):
  refnets.build('ours', 'resnet_v2_50',
                tf.placeholder(tf.float32, [None, 64, 64, 3]), 10,
                usage='book', is_training=False)
  assert not tf.get_collection(tf.GraphKeys.UPDATE_OPS)


def _book_scope_then_override(images, is_training):
  with slim.arg_scope(resnet_v2.resnet_arg_scope(is_training=not is_training)):
    return resnet_v2.resnet_v2_50(images, 1000, is_training=is_training)


@pytest.mark.parametrize('is_training', [True, False])
def test_network_is_training_overrides_the_arg_scope(rn50_checkpoint,
                                                     is_training):
  feed = np.random.RandomState(4).rand(2, 64, 64, 3).astype(np.float32)
  got = _run_with_checkpoint(rn50_checkpoint, lambda x: (
      _book_scope_then_override(x, is_training)), feed)
  want = _run_with_checkpoint(rn50_checkpoint, lambda x: refnets.build(
      'ref', 'resnet_v2_50', x, 1000, is_training=is_training), feed)
  np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)


def test_unknown_batch_height_width(graph):
  images = tf.placeholder(tf.float32, [None, None, None, 3])
  net, end_points = refnets.build('ours', 'resnet_v2_50', images, 7,
                                  spatial_squeeze=True)
  assert net.shape.as_list() == [None, 7]
  with tf.Session(graph=graph) as sess:
    refnets.randomize(sess)
    for shape in [(1, 33, 47, 3), (3, 64, 64, 3)]:
      logits, block4 = sess.run([net, end_points['resnet_v2_50/block4']],
                                {images: np.zeros(shape, np.float32)})
      assert logits.shape == (shape[0], 7)
      assert block4.shape == (shape[0], -(-shape[1] // 32),
                              -(-shape[2] // 32), 2048)


def test_features_without_classes_and_without_pooling(graph):
  images = tf.placeholder(tf.float32, [2, 64, 64, 3])
  net, end_points = resnet_v2.resnet_v2_50(images, global_pool=False)
  assert net.shape.as_list() == [2, 2, 2, 2048]
  assert 'predictions' not in end_points and 'global_pool' not in end_points
  net, _ = resnet_v2.resnet_v2_50(images, output_stride=16,
                                  global_pool=False, scope='dense')
  assert net.shape.as_list() == [2, 4, 4, 2048]


def test_nchw_equals_nhwc(tmp_path):
  prefix = _save_tiny('ours', tmp_path, seed=5)
  feed = np.random.RandomState(6).rand(2, 32, 32, 3).astype(np.float32)
  want = _run_with_checkpoint(prefix, _tiny('ours', False), feed)
  with tf.Graph().as_default():
    images = tf.placeholder(tf.float32, [None, 3, 32, 32])
    with slim.arg_scope(resnet_v2.resnet_arg_scope()):
      net, _ = resnet_v2.resnet_v2(images, refnets.tiny_blocks('ours'), 5,
                                   is_training=False, scope='tiny',
                                   data_format='NCHW')
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, prefix)
      try:
        got = sess.run(net, {images: feed.transpose(0, 3, 1, 2)})
      except (tf.errors.UnimplementedError,
              tf.errors.InvalidArgumentError) as exc:
        pytest.skip('NCHW does not run on this CPU: %s' % exc.message[:80])
  assert got.shape == (2, 1, 1, 5)
  np.testing.assert_allclose(got, want[0], rtol=1e-4, atol=1e-4)


def test_use_shortcut_false_builds_the_plain_twin(graph):
  images = tf.placeholder(tf.float32, [1, 64, 64, 3])
  resnet_v2.resnet_v2_50(images, 10, use_shortcut=False)
  names = [name for name, _ in _variables()]
  assert not [n for n in names if '/shortcut/' in n]
  with tf.Graph().as_default():
    resnet_v2.resnet_v2_50(tf.placeholder(tf.float32, [1, 64, 64, 3]), 10)
    with_shortcut = [name for name, _ in _variables()]
  assert set(names) == {n for n in with_shortcut if '/shortcut/' not in n}


# --- drop-in compatibility ------------------------------------------------

@pytest.mark.parametrize('ours_module,ref_module', [
    (resnet_v2, ref), (resnet_utils, ref_utils)])
def test_every_reference_function_exists_with_its_keywords(ours_module,
                                                           ref_module):
  for name, fn in vars(ref_module).items():
    if name.startswith('_') or not inspect.isfunction(
        inspect.unwrap(fn)) or fn.__module__ != ref_module.__name__:
      continue
    ours_fn = getattr(ours_module, name)
    ref_params = set(inspect.signature(fn).parameters)
    our_params = set(inspect.signature(ours_fn).parameters)
    assert ref_params <= our_params, (name, ref_params - our_params)


def test_package_attribute_resnet_v2_is_the_module():
  assert inspect.ismodule(resnet_v2_slim.resnet_v2)
  assert resnet_v2_slim.resnet_v2.resnet_v2_50 is resnet_v2_slim.resnet_v2_50


def test_official_style_code_runs_after_changing_only_imports():
  code = '''
import tensorflow.compat.v1 as tf
import tf_slim as slim
from {pkg} import resnet_utils
from {pkg} import resnet_v2

with tf.Graph().as_default():
  images = tf.placeholder(tf.float32, [2, 65, 65, 3])
  blocks = [resnet_v2.resnet_v2_block('block1', base_depth=4, num_units=2,
                                      stride=2),
            resnet_v2.resnet_v2_block('block2', base_depth=8, num_units=1,
                                      stride=1)]
  with slim.arg_scope(resnet_v2.resnet_arg_scope(weight_decay=1e-4,
                                                 batch_norm_decay=0.9)):
    net, end_points = resnet_v2.resnet_v2(
        images, blocks, num_classes=None, is_training=True, global_pool=False,
        output_stride=8, include_root_block=True, reuse=None, scope='net')
    x = resnet_utils.conv2d_same(net, 4, 3, stride=2, rate=1, scope='extra')
    x = resnet_utils.subsample(x, factor=2)
  RESULT = (net.shape.as_list(), x.shape.as_list(), sorted(end_points),
            [v.op.name for v in tf.global_variables()])
'''
  results = []
  for pkg in ('tf_slim.nets', 'resnet_v2_slim.nets'):
    namespace = {}
    exec(code.format(pkg=pkg), namespace)  # pylint: disable=exec-used
    results.append(namespace['RESULT'])
  assert results[0] == results[1]
  assert results[0][0] == [2, 9, 9, 32]


# --- registry -------------------------------------------------------------

def test_registry_builds_inference_networks(graph):
  network_fn = nets_factory.get_network_fn('resnet_v2_101', num_classes=1001)
  assert network_fn.default_image_size == 224
  logits, _ = network_fn(tf.placeholder(tf.float32, [1, 64, 64, 3]),
                         spatial_squeeze=True)
  assert logits.shape.as_list() == [1, 1001]
  assert not tf.get_collection(tf.GraphKeys.UPDATE_OPS)
  assert tf.global_variables()[0].op.name.startswith('resnet_v2_101/')


@pytest.mark.parametrize('name', nets_factory.network_names())
def test_network_signatures_keep_the_book_order(name):
  # The book's positional order, then resnet_v2's keyword-only extras.
  pos, kw = inspect.Parameter.POSITIONAL_OR_KEYWORD, (
      inspect.Parameter.KEYWORD_ONLY)
  params = inspect.signature(getattr(resnet_v2, name)).parameters.values()
  assert [(p.name, p.kind, p.default) for p in params] == [
      ('inputs', pos, inspect.Parameter.empty), ('num_classes', pos, None),
      ('global_pool', pos, True), ('reuse', pos, None), ('scope', pos, name),
      ('is_training', kw, None), ('output_stride', kw, None),
      ('spatial_squeeze', kw, False), ('use_shortcut', kw, True),
      ('data_format', kw, 'NHWC')]


def test_network_blocks_are_the_blocks_the_book_writes_out():
  block, basic = resnet_v2.resnet_v2_block, resnet_v2.resnet_v2_basic_block
  assert resnet_v2.network_blocks('resnet_v2_50') == [
      block('block1', base_depth=64, num_units=3, stride=2),
      block('block2', base_depth=128, num_units=4, stride=2),
      block('block3', base_depth=256, num_units=6, stride=2),
      block('block4', base_depth=512, num_units=3, stride=1)]
  assert resnet_v2.network_blocks('resnet_v2_18') == [
      basic('block1', depth=64, num_units=2, stride=2),
      basic('block2', depth=128, num_units=2, stride=2),
      basic('block3', depth=256, num_units=2, stride=2),
      basic('block4', depth=512, num_units=2, stride=1)]
  # Official TF-Slim's blocks hold the same unit arguments.
  ref_blocks = [ref.resnet_v2_block('block%d' % (i + 1), base_depth=d,
                                    num_units=u, stride=s)
                for i, (d, u, s) in enumerate([(64, 3, 2), (128, 8, 2),
                                               (256, 36, 2), (512, 3, 1)])]
  assert [(b.scope, b.args) for b in resnet_v2.network_blocks(
      'resnet_v2_152')] == [(b.scope, b.args) for b in ref_blocks]
  assert resnet_v2.block_specs((3, 4, 6, 3)) == [
      (64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1)]
  with pytest.raises(ValueError, match='units_per_block must have 4 entries'):
    resnet_v2.bottleneck_blocks((3, 4, 6))


def test_network_keyword_extras_reach_resnet_v2(graph):
  images = tf.placeholder(tf.float32, [2, 3, 64, 64])
  logits, end_points = resnet_v2.resnet_v2_18(
      images, 5, True, None, 'net', is_training=False, output_stride=16,
      spatial_squeeze=True, use_shortcut=False, data_format='NCHW')
  assert logits.shape.as_list() == [2, 5]
  assert end_points['net/block4'].shape.as_list() == [2, 512, 4, 4]  # 64/16
  assert not tf.get_collection(tf.GraphKeys.UPDATE_OPS)
  assert not [v for v in tf.global_variables() if '/shortcut/' in v.op.name]
  with pytest.raises(TypeError, match='resnet_v2_18 reuse'):
    resnet_v2.resnet_v2_18(images, 5, True, 16)   # official output_stride


def test_registry_unknown_name_lists_valid_ones():
  with pytest.raises(ValueError, match=r"Unknown network 'resnet_v2_42'.*"
                     r'resnet_v2_18, resnet_v2_34, resnet_v2_50, '
                     r'resnet_v2_101, resnet_v2_152, resnet_v2_200'):
    nets_factory.get_network_fn('resnet_v2_42', 10)


# --- bad input ------------------------------------------------------------

@pytest.mark.parametrize('make_input,kwargs,error,pattern', [
    (lambda: tf.placeholder(tf.float32, [64, 64, 3]), {}, ValueError,
     r'inputs must be a rank-4 tensor.*got shape \(64, 64, 3\)'),
    (lambda: tf.placeholder(tf.float32), {}, ValueError,
     'inputs must be a rank-4 tensor'),
    (lambda: tf.placeholder(tf.float32, [1, 64, 64, None]), {}, ValueError,
     'known number of channels'),
    (lambda: tf.placeholder(tf.uint8, [1, 64, 64, 3]), {}, TypeError,
     'inputs must be a float tensor.*uint8'),
    (lambda: tf.placeholder(tf.float32, [1, 64, 64, 3]),
     {'output_stride': 6}, ValueError, 'must be a multiple of 4'),
    (lambda: tf.placeholder(tf.float32, [1, 64, 64, 3]),
     {'output_stride': 64}, ValueError,
     r'output_stride=64 cannot be reached.*\[4, 8, 16, 32\]'),
    (lambda: tf.placeholder(tf.float32, [1, 64, 64, 3]),
     {'num_classes': 0}, ValueError, 'num_classes must be a positive'),
    (lambda: tf.placeholder(tf.float32, [1, 64, 64, 3]),
     {'data_format': 'NWHC'}, ValueError, "data_format must be 'NHWC'"),
])
def test_bad_network_input(graph, make_input, kwargs, error, pattern):
  images = make_input()
  num_ops = len(graph.get_operations())
  with pytest.raises(error, match=pattern):
    resnet_v2.resnet_v2_50(images, **kwargs)
  assert len(graph.get_operations()) == num_ops  # nothing half-built


def test_non_positive_depths_in_blocks(graph):
  with pytest.raises(ValueError, match='base_depth must be a positive'):
    resnet_v2.resnet_v2_block('block1', base_depth=0, num_units=2, stride=2)
  blocks = [resnet_utils.Block('block1', resnet_v2.bottleneck,
                               [(256, 64, 1), (0, 64, 2)])]
  with pytest.raises(ValueError, match=r'block1/unit_2 \(args\[1\]\) depth '
                     'must be a positive integer'):
    resnet_v2.resnet_v2(tf.placeholder(tf.float32, [1, 32, 32, 3]), blocks)


def test_eager_mode_gets_a_clear_error():
  assert tf.executing_eagerly()
  with pytest.raises(RuntimeError, match='disable_eager_execution'):
    resnet_v2.resnet_v2_50(np.zeros((1, 32, 32, 3), np.float32))


def test_use_shortcut_false_needs_arg_scoped_units(graph):
  def unit(inputs, depth, depth_bottleneck, stride):
    del depth_bottleneck, stride
    return slim.conv2d(inputs, depth, 1)
  blocks = [resnet_utils.Block('block1', unit, [(8, 2, 1)])]
  with pytest.raises(ValueError, match='use_shortcut=False needs'):
    resnet_v2.resnet_v2(tf.placeholder(tf.float32, [1, 32, 32, 3]), blocks,
                        use_shortcut=False)


def test_activation_lower_bounds_by_hand():
  # resnet_v2_18 at 32: conv1 64x16x16; pool1 to 8x8; the last unit of
  # blocks 1-3 strides: 64x(8x8 + 4x4), 128x(4x4 + 2x2), 256x(2x2 + 1),
  # block4 512x(1 + 1).
  largest, total = nets_factory.activation_elements('resnet_v2_18', 32)
  assert largest == 64 * 16 * 16
  assert total == (64 * 256 + 64 * (64 + 16) + 128 * (16 + 4) +
                   256 * (4 + 1) + 512 * 2)


@pytest.mark.parametrize('argv', [
    ['time-forward', '--batch_size', '100000000'],
    ['train', '--model', 'resnet_v2_50', '--image_size', '224',
     '--batch_size', '1000000', '--train_dir', 'RUN'],
    ['train', '--model', 'resnet_v2_18', '--strategy', 'mirrored',
     '--num_devices', '999', '--train_dir', 'RUN'],
])
def test_sizes_nobody_can_run_are_refused_at_once(argv, tmp_path, capsys):
  import time  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.cli import main  # pylint: disable=g-import-not-at-top
  argv = [a.replace('RUN', str(tmp_path / 'run')) for a in argv]
  start = time.monotonic()
  assert main.main(argv) == 2
  err = capsys.readouterr().err
  assert ('needs at least' in err and 'GiB' in err) or (
      'give at most' in err), err
  assert time.monotonic() - start < 30
  assert not (tmp_path / 'run').exists()
