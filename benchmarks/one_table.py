#!/usr/bin/env python
"""#28's one table: every engine x precision, measured in one run, CPU named.

For each (engine, precision) a checkpoint can run on here:
- the book's protocol (10 burn-in + 100 timed steps) on resnet_v2_152,
  batch 32, 224x224: mean +/- std seconds per batch, as the book prints it;
- the fraction of this machine's matmul peak in that precision it reaches
  (the network's multiply-adds, counted once by TensorFlow on the fp32
  graph, over the time; peaks: TensorFlow's 4096^3 matmul in fp32 and
  bf16, OpenVINO's NNCF-quantized one in int8);
- MLPerf LoadGen SingleStream p90 latency and Offline samples/s on
  resnet_v2_50 at 224 (``time-forward --scenario``);
- top-1 on mnist5k's 500 held-out digits of resnet_v2_18 trained with the
  documented recipe (``evaluate``), the same rows exported from it (int8
  calibrated on 300 training digits).

Every number comes from the package's own command, as a user types it, in
its own process (one engine's threads and memory never share a process
with another's), one after another; each result is kept in ``--work`` as
JSON, so a rerun with the same ``--work`` measures only what is missing.
The resnet_v2_152 and resnet_v2_50 weights are random (biases and
batch-norm statistics too: grappler drops a zero bias, which would change
the fusions a trained net gets); their int8 files are calibrated on
generated images (speed does not depend on calibration; accuracy is the
mnist5k column).

    python benchmarks/one_table.py --work /tmp/one_table --json benchmarks/one_table.json

Took 84 minutes on 2 loaded cores (the fp32 rows of the book's
protocol dominate).
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import time

import numpy as np

import resnet_v2_slim  # noqa: F401  first: imports TensorFlow quietly

from resnet_v2_slim.perf import benchmark
from resnet_v2_slim.training import recipe as recipe_lib
from resnet_v2_slim.utils import fileio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engines as engines_benchmark  # noqa: E402  pylint: disable=g-import-not-at-top

# One row per (engine, precision); ``artifact`` is the exported file it
# runs (None: the checkpoint in a TensorFlow session, as time-forward and
# evaluate build it), ``flags`` what the commands add for it.
Row = collections.namedtuple('Row', 'engine precision path artifact flags')
ROWS = (
    Row('tensorflow', 'fp32', 'checkpoint in a session', None, ()),
    Row('tensorflow', 'bf16', 'checkpoint in a session, weights cast once',
        None, ('--precision', 'bf16')),
    Row('tensorflow', 'bf16', 'frozen fp32 graph, folded + bf16 rewrite',
        'm.pb', ('--precision', 'bf16')),
    Row('keras', 'fp32', 'Keras 3 twin', 'm.keras', ()),
    Row('onnxruntime', 'fp32', 'ONNX', 'm.onnx', ()),
    Row('onnxruntime', 'int8', 'ONNX, static QDQ', 'm_int8.onnx', ()),
    Row('openvino', 'fp32', 'OpenVINO IR', 'm_ov', ()),
    Row('openvino', 'bf16', 'OpenVINO IR, bf16 hint', 'm_ov',
        ('--precision', 'bf16')),
    Row('openvino', 'int8', 'OpenVINO IR, NNCF', 'm_int8_ov', ()),
    Row('litert', 'fp32', 'TFLite', 'm.tflite', ()),
    Row('litert', 'int8', 'TFLite, full integer', 'm_int8.tflite', ()),
)
# A row's four results (each a command's JSON, None where it failed), and
# where its models are.
Measured = collections.namedtuple('Measured', 'book single offline accuracy')
Places = collections.namedtuple(
    'Places', 'book_checkpoint book_folder loadgen_checkpoint loadgen_folder '
    'mnist_run mnist_folder')
FP32_FILES = ('--output_file', 'm.pb', '--keras_file', 'm.keras',
              '--onnx_file', 'm.onnx', '--openvino_dir', 'm_ov',
              '--tflite_file', 'm.tflite')
INT8_FILES = ('--quantize', 'int8', '--onnx_file', 'm_int8.onnx',
              '--openvino_dir', 'm_int8_ov', '--tflite_file', 'm_int8.tflite')
MNIST_SIZE = 32   # train's size for the built-in sets (datasets.load's)
TIMEOUT_S = 3600   # one command; the slowest, Keras's book protocol, ~15 min


def _announce(argv):
  print('%s  resnet-v2-slim %s' % (time.strftime('%H:%M:%S'), ' '.join(argv)),
        flush=True)


def _command(argv, log_path, timeout=TIMEOUT_S):
  """Runs ``resnet-v2-slim ARGV``, its output in ``log_path``; True if 0."""
  with open(log_path, 'w') as log:
    try:
      code = subprocess.run([sys.executable, '-m', 'resnet_v2_slim'] + argv,
                            stdout=log, stderr=subprocess.STDOUT,
                            timeout=timeout, check=False).returncode
    except subprocess.TimeoutExpired:   # subprocess.run kills it
      code = 'timeout'
  if code != 0:
    print('  failed (%s): see %s' % (code, log_path), flush=True)
  return code == 0


def _measured(work, name, argv):
  """The JSON ``argv --json`` writes, run once per ``work`` (None: failed)."""
  path = os.path.join(work, name + '.json')
  if not os.path.exists(path):
    _announce(argv)
    if not _command(argv + ['--json', path],
                    os.path.join(work, name + '.log')):
      return None
  with open(path) as f:
    return json.load(f)


def _exported(folder, checkpoint, fp32_flags, int8_flags):
  """Exports ``checkpoint`` into ``folder`` once (fp32 files, int8 files)."""
  os.makedirs(folder, exist_ok=True)
  for name, files, extra in (('fp32', FP32_FILES, fp32_flags),
                             ('int8', INT8_FILES, int8_flags)):
    done = os.path.join(folder, 'export_%s.done' % name)
    if os.path.exists(done):
      continue
    argv = ['export', '--checkpoint', checkpoint] + list(extra)
    argv += [os.path.join(folder, f) if f.startswith('m') else f
             for f in files]
    _announce(argv)
    if _command(argv, os.path.join(folder, 'export_%s.log' % name)):
      fileio.atomic_write_text(done, '')


def _random_checkpoint(work, model, size):
  folder = os.path.join(work, model)
  prefix = os.path.join(folder, 'm.ckpt')
  if not os.path.exists(prefix + '.index'):
    os.makedirs(folder, exist_ok=True)
    engines_benchmark._checkpoint(folder, model, size)  # pylint: disable=protected-access
  return prefix


def _mnist_run(work, args):
  """resnet_v2_18 trained on mnist5k with the documented recipe."""
  if args.mnist_run:
    return args.mnist_run
  run = os.path.join(work, 'mnist_run')
  argv = (['train', '--model', 'resnet_v2_18', '--dataset_name', 'mnist5k',
           '--train_dir', run] + recipe_lib.documented_flags() +
          ['--random_shift', '2', '--steps', str(args.mnist_steps),
           '--log_every', '100', '--save_every', '700'])
  if not os.path.exists(os.path.join(work, 'mnist_run.done')):
    _announce(argv)
    if not _command(argv, os.path.join(work, 'mnist_run.log')):
      raise SystemExit('training the mnist5k run failed: see '
                       + os.path.join(work, 'mnist_run.log'))
    fileio.atomic_write_text(os.path.join(work, 'mnist_run.done'), '')
  return run


def _source(row, checkpoint, folder, model, num_classes=None):
  """A row's model flags: the checkpoint in a session, or its file."""
  if row.artifact is None:
    return (['--checkpoint', checkpoint] + (
        ['--model', model, '--num_classes', str(num_classes)]
        if num_classes else []) + list(row.flags))
  return (['--model_file', os.path.join(folder, row.artifact),
           '--engine', row.engine] + list(row.flags))


def _key(row):
  return '%s_%s_%s' % (row.engine, row.precision,
                       'session' if row.artifact is None
                       else row.artifact.replace('.', '_'))


def _int8_peak(size=4096, steps=10):
  """GOP/s of a size^3 matmul NNCF quantizes to int8, run by OpenVINO
  (its input's quantization included: the practical int8 peak)."""
  import nncf  # pylint: disable=g-import-not-at-top
  import openvino as ov  # pylint: disable=g-import-not-at-top
  from openvino import opset13 as ops  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(0)
  a = ops.parameter([size, size], np.float32)
  w = rng.uniform(-1, 1, (size, size)).astype(np.float32)
  product = ops.reduce_sum(ops.matmul(a, ops.constant(w), False, True),
                           ops.constant(np.array([0, 1], np.int64)))
  x = rng.uniform(-1, 1, (size, size)).astype(np.float32)
  model = nncf.quantize(ov.Model([product], [a]), nncf.Dataset([x]),
                        subset_size=1)
  request = ov.Core().compile_model(model, 'CPU').create_infer_request()
  for _ in range(3):
    request.infer([x])
  best = float('inf')
  for _ in range(steps):
    start = time.perf_counter()
    request.infer([x])
    best = min(best, time.perf_counter() - start)
  return 2.0 * size ** 3 / best / 1e9


def peaks():
  """This machine's matmul peaks, GFLOP/s (int8: GOP/s), by precision."""
  return {'fp32': benchmark.measure_peak_matmul(dtype='fp32'),
          'bf16': benchmark.measure_peak_matmul(dtype='bf16'),
          'int8': _int8_peak()}


def _book(row, work, places, args):
  """The book's protocol on one row (time-forward's JSON, None: failed)."""
  return _measured(work, 'book_' + _key(row), ['time-forward'] + _source(
      row, places.book_checkpoint, places.book_folder, args.book_model,
      1001) + ['--batch_size', str(args.batch_size), '--image_size',
               str(args.image_size), '--num_batches', str(args.num_batches),
               '--num_burn_in', str(args.num_burn_in)])


def _measure_row(row, work, places, args):
  """The four measurements of one row (a None where a command failed)."""
  key = _key(row)
  book = _book(row, work, places, args)
  loadgen = _source(row, places.loadgen_checkpoint, places.loadgen_folder,
                    args.loadgen_model, 1001) + [
                        '--image_size', str(args.image_size),
                        '--min_duration_ms', str(args.min_duration_ms)]
  single = _measured(work, 'single_stream_' + key, ['time-forward'] + loadgen
                     + ['--scenario', 'single_stream'])
  offline = _measured(work, 'offline_' + key, ['time-forward'] + loadgen +
                      ['--scenario', 'offline', '--batch_size', '8'])
  accuracy = _measured(work, 'mnist5k_' + key, ['evaluate'] + _source(
      row, places.mnist_run, places.mnist_folder, None) + [
          '--dataset_name', 'mnist5k', '--image_size', str(MNIST_SIZE)])
  return Measured(book, single, offline, accuracy)


def table(rows, measured, peak, gflop_per_batch):
  """The table's entries: one dict per row, from the commands' JSON.

  Args:
    rows: the ``Row``s measured.
    measured: a ``Measured`` per row.
    peak: GFLOP/s by precision (``peaks()``).
    gflop_per_batch: the book network's GFLOP per batch (TensorFlow's
      count on the fp32 graph; an engine does the same arithmetic).

  Returns:
    A list of dicts, one per row, None where a command failed.
  """
  entries = []
  for row, m in zip(rows, measured):
    entry = {'engine': row.engine, 'precision': row.precision,
             'path': row.path, 'book_mean_sec': None, 'book_std_sec': None,
             'fraction_of_peak': None, 'single_stream_p90_ms': None,
             'offline_samples_per_sec': None, 'mnist5k_top1': None}
    if m.book:
      entry.update(book_mean_sec=m.book['mean_sec'],
                   book_std_sec=m.book['std_sec'])
      if gflop_per_batch and peak.get(row.precision):
        entry['fraction_of_peak'] = (gflop_per_batch / m.book['mean_sec']
                                     / peak[row.precision])
    if m.single:
      entry['single_stream_p90_ms'] = m.single['p90_latency_ms']
      entry['single_stream_valid'] = m.single['valid']
    if m.offline:
      entry['offline_samples_per_sec'] = m.offline['samples_per_sec']
      entry['offline_valid'] = m.offline['valid']
    if m.accuracy:
      entry['mnist5k_top1'] = m.accuracy['top1']
    entries.append(entry)
  return entries


def _cell(value, form, valid=True):
  if value is None:
    return 'failed'
  return (form % value) + ('' if valid else ' (INVALID)')


def markdown(entries):
  """The table as benchmarks/README.md shows it."""
  lines = ['| engine | precision | path | book protocol, s / batch | '
           'of matmul peak | SingleStream p90 | Offline | mnist5k top-1 |',
           '|---|---|---|---|---|---|---|---|']
  for e in entries:
    book = ('%.3f +/- %.3f' % (e['book_mean_sec'], e['book_std_sec'])
            if e['book_mean_sec'] is not None else 'failed')
    lines.append('| %s | %s | %s | %s | %s | %s | %s | %s |' % (
        e['engine'], e['precision'], e['path'], book,
        _cell(e['fraction_of_peak'] and 100 * e['fraction_of_peak'],
              '%.0f%%'),
        _cell(e['single_stream_p90_ms'], '%.1f ms',
              e.get('single_stream_valid', True)),
        _cell(e['offline_samples_per_sec'], '%.1f /s',
              e.get('offline_valid', True)),
        _cell(e['mnist5k_top1'] and 100 * e['mnist5k_top1'], '%.2f%%')))
  return lines


def _places(work, args):
  """Makes the checkpoints and exports every row runs (once per --work)."""
  book = _random_checkpoint(work, args.book_model, args.image_size)
  loadgen = _random_checkpoint(work, args.loadgen_model, args.image_size)
  size = ['--image_size', str(args.image_size)]
  calibrate = ['--calibration_size', '32']   # generated: speed only
  _exported(os.path.dirname(book), book, size, size + calibrate)
  _exported(os.path.dirname(loadgen), loadgen, size, size + calibrate)
  mnist = _mnist_run(work, args)
  mnist_folder = os.path.join(work, 'mnist_files')
  # int8: calibrated on 300 training digits (export's default), gated on
  # the 500 validation digits.
  _exported(mnist_folder, mnist, [], ['--dataset_name', 'mnist5k'])
  return Places(book, os.path.dirname(book), loadgen,
                os.path.dirname(loadgen), mnist, mnist_folder)


def _parse(argv):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--work', default='one_table_work',
                      help='folder for checkpoints, exports and each '
                      "command's JSON and log; a rerun measures only what "
                      'is missing (default one_table_work)')
  parser.add_argument('--json', default=None,
                      help='also write the table as JSON to this path')
  parser.add_argument('--rows', default=None,
                      help='comma-separated engine:precision to measure, '
                      'e.g. openvino:int8,tensorflow:fp32 (default: all)')
  parser.add_argument('--book_model', default='resnet_v2_152')
  parser.add_argument('--loadgen_model', default='resnet_v2_50')
  parser.add_argument('--image_size', type=int, default=224)
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--num_batches', type=int, default=100)
  parser.add_argument('--num_burn_in', type=int, default=10)
  parser.add_argument('--min_duration_ms', type=int, default=10000,
                      help='LoadGen\'s minimum run time per scenario')
  parser.add_argument('--mnist_run', default=None,
                      help='a train_dir of resnet_v2_18 trained on mnist5k '
                      '(default: train one with the documented recipe)')
  parser.add_argument('--mnist_steps', type=int, default=2800)
  return parser.parse_args(argv)


def main(argv=None):
  args = _parse(argv)
  if args.json:
    fileio.check_writable(args.json, '--json')
  rows = [r for r in ROWS if not args.rows or '%s:%s' % (
      r.engine, r.precision) in args.rows.split(',')]
  if not rows:
    print('--rows %s names no row; rows: %s' % (args.rows, ', '.join(
        sorted({'%s:%s' % (r.engine, r.precision) for r in ROWS}))))
    return 2
  work = os.path.abspath(args.work)
  os.makedirs(work, exist_ok=True)
  info = benchmark.device_info()
  print('%s, %d CPUs, TensorFlow %s' % (info['device'], info['cpu_count'],
                                        info['tensorflow_version']),
        flush=True)
  places = _places(work, args)
  measured = [_measure_row(row, work, places, args) for row in rows]
  peak = peaks()
  fp32 = _book(ROWS[0], work, places, args)   # measured above, or now
  entries = table(rows, measured, peak, fp32 and fp32['gflops_per_batch'])
  print()
  print('%s, %d CPUs, TensorFlow %s; matmul peaks: fp32 %.0f, bf16 %.0f '
        'GFLOP/s, int8 %.0f GOP/s' % (info['device'], info['cpu_count'],
                                      info['tensorflow_version'],
                                      peak['fp32'], peak['bf16'],
                                      peak['int8']))
  print('\n'.join(markdown(entries)))
  if args.json:
    fileio.atomic_write_text(args.json, json.dumps(
        {'rows': entries, 'peaks': peak, 'device': info,
         'args': vars(args)}, indent=2) + '\n')
  return 0


if __name__ == '__main__':
  sys.exit(main())
