"""scripts/time_forward.py and resnet_v2_slim.benchmark on tiny settings."""

import json
import math
import os
import re

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v2_slim.perf import benchmark
from resnet_v2_slim.perf import flops as flops_lib

from resnet_v2_slim.cli import time_forward

TINY = ['--model', 'resnet_v2_50', '--batch_size', '2', '--image_size', '64',
        '--num_batches', '3', '--num_burn_in', '1']
REQUIRED_KEYS = {'model', 'batch_size', 'image_size', 'num_batches',
                 'mean_sec', 'std_sec', 'images_per_sec', 'precision', 'mode',
                 'device', 'tensorflow_version'}


def test_summarize_by_hand():
  stats = benchmark.summarize([1.0, 2.0, 3.0, 4.0])
  assert stats['mean_sec'] == 2.5
  assert math.isclose(stats['std_sec'], math.sqrt(7.5 - 6.25))
  assert stats['median_sec'] == 2.5
  assert math.isclose(stats['p90_sec'], 3.7)


def test_time_steps_runs_burn_in_then_logs_every_10_steps():
  calls, lines = [], []
  durations, stats = benchmark.time_steps(lambda: calls.append(1), 25, 5,
                                          'Forward', log=lines.append)
  assert len(calls) == 30 and len(durations) == 25
  steps = [int(m.group(1)) for m in
           (re.search(r': step (\d+), duration = \d+\.\d{3}$', l)
            for l in lines) if m]
  assert steps == [0, 10, 20]
  # The book's final line, once, after the loop (seed 000 printed it per step).
  finals = [l for l in lines if 'across' in l]
  assert len(finals) == 1 and lines[-1] == finals[0]
  assert re.search(r': Forward across 25 steps, \d+\.\d{3} \+/- \d+\.\d{3} '
                   r'sec / batch$', finals[0])
  assert stats['mean_sec'] == pytest.approx(np.mean(durations))


def test_count_flops_by_hand(graph):
  x = tf.zeros([1, 8, 8, 3])
  tf.nn.conv2d(x, tf.zeros([3, 3, 3, 4]), 1, 'SAME')    # 2*8*8*4*(3*3*3)
  tf.matmul(tf.zeros([5, 7]), tf.zeros([7, 3]))          # 2*5*3*7
  tf.matmul(tf.zeros([7, 5]), tf.zeros([7, 3]), transpose_a=True)
  assert flops_lib.count_flops(graph) == (13824 + 210 + 210, 0)


def _flops_from_the_table(units, size=224, classes=1000):
  """Counts multiply-adds layer by layer from the architecture alone."""
  h = math.ceil(size / 2)
  macs = h * h * 64 * 7 * 7 * 3                       # conv1, stride 2
  h, cin = math.ceil(h / 2), 64                       # pool1, stride 2
  for base, n, stride in zip((64, 128, 256, 512), units, (2, 2, 2, 1)):
    depth = 4 * base
    for i in range(n):
      s = stride if i == n - 1 else 1                 # last unit strides
      out = math.ceil(h / s)
      if cin != depth:
        macs += out * out * depth * cin               # projection shortcut
      macs += h * h * base * cin                      # conv1 1x1
      macs += out * out * base * 9 * base             # conv2 3x3
      macs += out * out * depth * base                # conv3 1x1
      h, cin = out, depth
  return 2 * (macs + cin * classes)                   # + logits


@pytest.mark.parametrize('model,units', [('resnet_v2_50', (3, 4, 6, 3)),
                                         ('resnet_v2_101', (3, 4, 23, 3))])
def test_network_flops_match_a_count_from_the_table(graph, model, units):
  config = benchmark.Config(model=model, batch_size=1)
  benchmark.build_graph(config)
  flops, skipped = flops_lib.count_flops(graph)
  assert skipped == 0
  assert flops == _flops_from_the_table(units)


def _run(capsys, argv):
  code = time_forward.main(argv)
  out, err = capsys.readouterr()
  return code, out, err


def test_default_protocol_is_the_books():
  config = benchmark.Config()
  assert (config.model, config.batch_size, config.image_size,
          config.num_batches, config.num_burn_in, config.mode) == (
              'resnet_v2_152', 32, 224, 100, 10, 'forward')
  args = time_forward.parse_args([])
  assert (args.model, args.batch_size, args.num_batches) == (
      'resnet_v2_152', 32, 100)


def test_output_and_json(capsys, tmp_path):
  path = tmp_path / 'result.json'
  code, out, _ = _run(capsys, TINY + ['--json', str(path)])
  assert code == 0
  # Before the graph is built, it says what it is about to do.
  assert re.match(r'timing resnet_v2_\d+ forward, batch \d+ at \d+x\d+: '
                  r'building the graph, then 1 burn-in and 3 timed steps\n',
                  out), out[:300]
  assert re.search(r'^\S+ \S+: step 0, duration = \d+\.\d{3}$', out, re.M)
  assert re.search(r'^\S+ \S+: Forward across 3 steps, \d+\.\d{3} \+/- '
                   r'\d+\.\d{3} sec / batch$', out, re.M)
  assert 'images/sec' in out and 'GFLOP/s' in out and 'peak host memory' in out
  result = json.loads(path.read_text())
  assert REQUIRED_KEYS <= set(result)
  assert (result['model'], result['batch_size'], result['image_size'],
          result['num_batches'], result['precision'], result['mode']) == (
              'resnet_v2_50', 2, 64, 3, 'fp32', 'forward')
  assert len(result['durations_sec']) == 3
  assert result['mean_sec'] == pytest.approx(np.mean(result['durations_sec']))
  assert result['images_per_sec'] == pytest.approx(2 / result['mean_sec'])
  assert result['tensorflow_version'] == tf.__version__
  assert result['peak_host_memory_bytes'] > 0
  assert not [p for p in os.listdir(tmp_path) if p.endswith('.tmp')]


def test_forward_backward_counts_about_three_forwards(capsys, tmp_path):
  results = {}
  for mode in ('forward', 'forward-backward'):
    path = tmp_path / (mode + '.json')
    code, out, _ = _run(capsys, TINY + ['--mode', mode, '--json', str(path)])
    assert code == 0
    results[mode] = json.loads(path.read_text())
  assert 'Forward-backward across 3 steps' in out
  ratio = (results['forward-backward']['gflops_per_batch'] /
           results['forward']['gflops_per_batch'])
  # Backward = input grads + filter grads (each ~ a forward), less conv1's
  # input gradient, which is not needed.
  assert 2.5 < ratio <= 3.0


def test_bf16_runs_with_the_weights_cast_once_unless_asked(capsys):
  code, out, _ = _run(capsys, TINY + ['--precision', 'bf16'])
  assert code == 0 and 'forward bf16 (weights cast once), batch 2' in out
  code, out, _ = _run(capsys, TINY + ['--precision', 'bf16',
                                      '--weights_cast', 'every_step'])
  assert code == 0 and 'forward bf16, batch 2' in out
  code, out, _ = _run(capsys, TINY + ['--precision', 'bf16', '--mode',
                                      'forward-backward'])
  assert code == 0 and 'forward-backward bf16, batch 2' in out


def test_weights_cast_once_builds_no_weight_cast_into_the_step(graph):
  config = benchmark.Config(model='resnet_v2_18', batch_size=1,
                            image_size=32, precision='bf16')
  target = benchmark.build_graph(config).target
  seen, todo, casts = set(), [target.op], []
  while todo:   # every op one forward step runs
    op = todo.pop()
    if op.name in seen:
      continue
    seen.add(op.name)
    casts += [op.name] if op.type == 'Cast' else []
    todo += [t.op for t in op.inputs] + list(op.control_inputs)
  assert sorted(casts) == ['Cast', 'Cast_1'], casts   # images in, logits out
  per_step = benchmark.Config(model='resnet_v2_18', batch_size=1,
                              image_size=32, precision='bf16',
                              weights_cast='every_step')
  with tf.Graph().as_default():
    ops = benchmark.build_graph(per_step).target.graph.get_operations()
    assert sum(op.type == 'Cast' for op in ops) > 20


@pytest.mark.parametrize('flags,message', [
    (['--batch_size', '0'], '--batch_size must be > 0, got 0'),
    (['--num_batches', '-1'], '--num_batches must be > 0'),
    (['--num_burn_in', '-1'], '--num_burn_in must be >= 0'),
    (['--image_size', '16'], '--image_size 16 cannot be used'),
    (['--model', 'resnet_v2_18x'], "--model: Unknown network 'resnet_v2_18x'"),
    (['--num_classes', '0'], '--num_classes must be > 0, got 0'),
    (['--precision', 'bf16', '--weights_cast', 'once', '--mode',
      'forward-backward'], '--weights_cast once is for a forward pass in one '
     'process (a backward pass needs the float32 weights every step); use '
     'auto or every_step with --mode forward-backward.'),
    (['--json', '/nonexistent-dir/r.json'], 'does not exist'),
    (['--checkpoint', '/nonexistent/model.ckpt'], '--checkpoint: No '
                                                   'checkpoint at'),
])
def test_bad_input_is_one_line_and_exit_2(capsys, flags, message):
  code, out, err = _run(capsys, TINY + flags)
  assert code == 2
  assert err.count('\n') == 1 and message in err
  assert err.startswith('resnet-v2-slim time-forward: error: ')
  assert 'across' not in out


def test_json_path_that_is_a_directory(capsys, tmp_path):
  code, _, err = _run(capsys, TINY + ['--json', str(tmp_path)])
  assert code == 2 and 'is a directory' in err


def test_failed_run_leaves_an_earlier_json_intact(capsys, tmp_path):
  path = tmp_path / 'result.json'
  path.write_text('{"earlier": true}\n')
  code, _, _ = _run(capsys, TINY + ['--json', str(path), '--checkpoint',
                                    str(tmp_path / 'missing.ckpt')])
  assert code == 2
  assert json.loads(path.read_text()) == {'earlier': True}


def test_checkpoint_weights_are_restored(capsys, tmp_path, saved):
  prefix, _ = saved('rn50_v2_1000')
  path = tmp_path / 'r.json'
  code, _, err = _run(capsys, TINY + ['--checkpoint', prefix,
                                      '--json', str(path)])
  assert code == 0, err
  assert json.loads(path.read_text())['restored_checkpoint'] == prefix
  code, _, err = _run(capsys, TINY + ['--checkpoint', prefix,
                                      '--num_classes', '10'])
  assert code == 2
  assert 'shape mismatch' in err and 'the checkpoint has 1000 classes' in err
  # A checkpoint saved under another scope is mapped, as classify does.
  prefix, _ = saved('custom_scope')
  code, _, err = _run(capsys, TINY + ['--checkpoint', prefix,
                                      '--num_classes', '1001', '--json',
                                      str(path)])
  assert code == 0, err
  assert json.loads(path.read_text())['restored_checkpoint'] == prefix


def test_kernel_missing_on_this_machine_is_one_line_and_exit_2(
    capsys, monkeypatch):
  # Stands in for NCHW/fp16/XLA kernels a machine lacks: the first step
  # fails inside TensorFlow at run time.
  def failing_graph(config, network_fn=None, setup=None):
    del config, network_fn, setup
    check = tf.debugging.assert_less(tf.random_uniform([]), 0.0,
                                     message='no kernel here')
    with tf.control_dependencies([check]):
      return tf.constant(0.0), 'Forward'
  monkeypatch.setattr(benchmark, 'build_graph', failing_graph)
  with pytest.warns(UserWarning, match='fp16 on a CPU is emulated'):
    code, out, err = _run(capsys, TINY + ['--precision', 'fp16'])
  assert code == 2 and 'across' not in out
  assert err.count('\n') == 1
  assert 'cannot run --precision fp16 --data_format NHWC' in err
  assert 'Traceback' not in err


def test_a_trained_checkpoint_is_timed_as_it_was_trained(capsys, tmp_path,
                                                          saved):
  # rn50_v2_1000's files with a train_facts.json beside them, as train
  # leaves them: the recorded size is time-forward's default, a flag wins.
  from resnet_v2_slim import checkpoints  # pylint: disable=g-import-not-at-top
  prefix, _ = saved('rn50_v2_1000')
  where, base = os.path.split(prefix)
  for name in os.listdir(where):
    if name.startswith(base + '.'):
      os.symlink(os.path.join(where, name), str(tmp_path / name))
  checkpoints.facts.write(str(tmp_path), checkpoints.TrainFacts(
      network='resnet_v2_50', use_shortcut=True, image_size=48,
      preprocessing='inception', num_classes=1000, class_names=None,
      labels_offset=1, data=checkpoints.DataSource('folder', '/data')))
  path = tmp_path / 'r.json'
  argv = ['--batch_size', '1', '--num_batches', '1', '--num_burn_in', '0',
          '--checkpoint', str(tmp_path / base), '--json', str(path)]
  code, _, err = _run(capsys, argv)
  assert code == 0, err
  assert 'defaults from train_facts.json of %s' % tmp_path in err
  result = json.loads(path.read_text())
  assert (result['model'], result['image_size']) == ('resnet_v2_50', 48)
  assert _run(capsys, argv + ['--image_size', '64'])[0] == 0
  assert json.loads(path.read_text())['image_size'] == 64


GPU_CHECK = os.path.join(os.path.dirname(__file__), '..', 'benchmarks',
                         'gpu_check.sh')


def test_the_gpu_check_says_no_gpu_and_exits_0_here():
  import subprocess  # pylint: disable=g-import-not-at-top
  if tf.config.list_physical_devices('GPU'):
    pytest.skip('a GPU is here: run benchmarks/gpu_check.sh itself')
  done = subprocess.run(['bash', GPU_CHECK], capture_output=True, text=True,
                        timeout=300, check=False)
  assert done.returncode == 0, done.stderr
  assert done.stdout.strip() == ('gpu_check: no GPU visible to TensorFlow: '
                                 'nothing to check (exit 0)')


def test_the_gpu_check_without_tensorflow_says_so_and_exits_2(tmp_path):
  """The lent GPU machine of 2026-12-04 had no TensorFlow: that is not
  "no GPU" (exit 0), it is a check that could not run."""
  import subprocess  # pylint: disable=g-import-not-at-top
  fake = tmp_path / 'python'
  fake.write_text('#!/bin/sh\necho "No module named tensorflow" >&2\n'
                  'exit 1\n')
  fake.chmod(0o755)
  done = subprocess.run(['bash', GPU_CHECK], capture_output=True, text=True,
                        timeout=60, check=False,
                        env=dict(os.environ, PYTHON=str(fake)))
  assert done.returncode == 2
  assert done.stdout.startswith('gpu_check: resnet_v2_slim or TensorFlow '
                                'does not import with %s' % fake)


def test_the_gpu_checks_parity_cases_exist():
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  chosen = re.search(r'-k \\\n\s*"([^"]+)"', open(GPU_CHECK).read()).group(1)
  done = subprocess.run(
      [sys.executable, '-m', 'pytest', '--collect-only', '-q', '-n', '0',
       '-p', 'no:cacheprovider', os.path.join(os.path.dirname(__file__),
                                              'test_nets_resnet_v2.py'),
       '-k', chosen], capture_output=True, text=True, timeout=300,
      check=False)
  cases = {line.split('::')[1].split('[')[0]
           for line in done.stdout.splitlines() if '::' in line}
  assert cases == {'test_resnet_v2_50_logits_equal_the_reference',
                   'test_small_net_equals_the_reference_in_both_modes',
                   'test_nchw_equals_nhwc'}, done.stdout[-2000:]


def _one_table():
  import importlib.util  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location('one_table', os.path.join(
      os.path.dirname(__file__), '..', 'benchmarks', 'one_table.py'))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_the_one_table_computes_shares_of_peak_and_marks_what_failed(capsys):
  """benchmarks/one_table.py's arithmetic, on hand-made command results:
  100 GFLOP a batch in 0.5 s on a 400 GFLOP/s bf16 peak is 50%."""
  one = _one_table()
  bf16, int8 = one.ROWS[7], one.ROWS[8]   # OpenVINO bf16, OpenVINO int8
  measured = [
      one.Measured(book={'mean_sec': 0.5, 'std_sec': 0.01},
                   single={'p90_latency_ms': 12.25, 'valid': True},
                   offline={'samples_per_sec': 80.0, 'valid': False},
                   accuracy={'top1': 0.986}),
      one.Measured(book=None, single=None, offline=None, accuracy=None)]
  entries = one.table([bf16, int8], measured,
                      {'fp32': 100.0, 'bf16': 400.0}, 100.0)
  assert entries[0]['fraction_of_peak'] == pytest.approx(0.5)
  assert entries[1]['fraction_of_peak'] is None
  lines = one.markdown(entries)
  assert lines[2] == ('| openvino | bf16 | OpenVINO IR, bf16 hint | '
                      '0.500 +/- 0.010 | 50% | 12.2 ms | 80.0 /s (INVALID) | '
                      '98.60% |')
  assert lines[3] == ('| openvino | int8 | OpenVINO IR, NNCF | failed | failed '
                      '| failed | failed | failed |')
  assert one.main(['--rows', 'openvino:fp64']) == 2
  assert '--rows openvino:fp64 names no row' in capsys.readouterr().out
