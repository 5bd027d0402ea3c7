#!/usr/bin/env python
"""Every path a slim checkpoint runs on, side by side, one run.

Makes a resnet_v2_50 checkpoint (1001 classes, randomized batch-norm
statistics, so the numbers are not those of an untrained net) and runs it
in TensorFlow sessions as ``classify``/``evaluate``/``time-forward`` build
it (fp32; bf16 casting the float32 weights every step, as before round 3;
bf16 with the weights cast once), exports it with ``resnet-v2-slim export``
to frozen graphs (fp32, also run in bf16 by ``--model_file m.pb
--precision bf16``, and ``--precision bf16``), Keras 3, ONNX, OpenVINO
and TFLite (fp32, and int8 on ONNX Runtime, OpenVINO and TFLite), then for
every (path, engine, precision): throughput at each ``--batch_sizes``
(default 8 and 32), latency at batch 1, size, and agreement with the fp32 TF graph on
the export's check images. Rounds are interleaved so that a busy machine
slows every row alike; the medians over rounds are reported, with ratios
to the fp32 session first.

    python benchmarks/engines.py --rounds 3 --json benchmarks/engines.json
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

import resnet_v2_slim  # noqa: F401  first: imports TensorFlow quietly
import tensorflow.compat.v1 as tf  # pylint: disable=g-bad-import-order

from resnet_v2_slim import checkpoints
from resnet_v2_slim.inference import bridges
from resnet_v2_slim.inference import engines
from resnet_v2_slim.inference import export
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.nets import precision as precision_lib
from resnet_v2_slim.perf import benchmark
from resnet_v2_slim.utils import fileio


def _checkpoint(folder, model, size):
  """A checkpoint with randomized weights, biases and batch-norm statistics
  (biases too: a zero bias is removed by grappler, which would change the
  fusions a trained network gets)."""
  with tf.Graph().as_default():
    fn = nets_factory.get_network_fn(model, 1001)
    fn(tf.placeholder(tf.float32, [1, size, size, 3]))
    rng = np.random.RandomState(0)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      for v in tf.global_variables():
        shape = v.shape.as_list()
        if 'moving_variance' in v.name:
          value = rng.uniform(0.5, 1.5, shape)
        elif any(k in v.name for k in ('moving_mean', 'beta', 'biases')):
          value = rng.normal(0, 0.1, shape)
        elif 'gamma' in v.name:
          value = rng.uniform(0.5, 1.5, shape)
        else:
          continue
        v.load(value.astype(np.float32), sess)
      return tf.train.Saver().save(sess, os.path.join(folder, 'm.ckpt'))


class _Session:
  """The checkpoint restored in a session, as the package's commands run
  it (``engines.Engine``'s ``run``/``close``)."""

  def __init__(self, prefix, model, size, precision, cast_once):
    self.path = prefix
    graph = tf.Graph()
    with graph.as_default():
      self.images = tf.placeholder(tf.float32, [None, size, size, 3])
      fn = nets_factory.get_network_fn(model, 1001)
      self.logits, _ = precision_lib.build(fn, self.images, precision,
                                           cast_once=cast_once,
                                           spatial_squeeze=True)
      _, restore_fn = checkpoints.restorer(prefix, scope=model)
    self.sess = tf.Session(graph=graph)
    restore_fn(self.sess)   # casts the bf16 copies once, where built

  def run(self, images):
    return self.sess.run(self.logits, {self.images: images})

  def close(self):
    self.sess.close()


# Float32 files run in bf16 by their engine (the rest hold their precision).
_RUN_IN_BF16 = (('m_ov', 'openvino', 'bf16'), ('m.pb', 'tensorflow', 'bf16'))


def _time(engine, images, steps):
  engine.run(images)   # burn-in
  durations = []
  for _ in range(steps):
    start = time.perf_counter()
    engine.run(images)
    durations.append(time.perf_counter() - start)
  return statistics.median(durations)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--model', default='resnet_v2_50')
  parser.add_argument('--image_size', type=int, default=224)
  parser.add_argument('--batch_sizes', default='8,32',
                      help='comma-separated batch sizes to time')
  parser.add_argument('--steps', type=int, default=5)
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--calibration_size', type=int, default=32,
                      help='int8: generated calibration images (the '
                      'weights are random: accuracy is measured on mnist5k, '
                      'benchmarks/README.md)')
  parser.add_argument('--json', default=None)
  args = parser.parse_args(argv)
  if args.json:
    fileio.check_writable(args.json, '--json')
  with tempfile.TemporaryDirectory(prefix='engines-') as work:
    return _run(args, work)


def _run(args, work):
  """Makes, exports, loads and times every path in ``work``."""
  prefix = _checkpoint(work, args.model, args.image_size)
  batch_sizes = [int(b) for b in args.batch_sizes.split(',')]
  files = {name: os.path.join(work, name) for name in (
      'm.pb', 'm_bf16.pb', 'm.keras', 'm.onnx', 'm_ov', 'm.tflite',
      'm_int8.onnx', 'm_int8_ov', 'm_int8.tflite')}
  reports = []
  for extra in ({'output_file': files['m.pb'], 'keras_file': files['m.keras'],
                 'onnx_file': files['m.onnx'], 'openvino_dir': files['m_ov'],
                 'tflite_file': files['m.tflite']},
                {'onnx_file': files['m_int8.onnx'],
                 'openvino_dir': files['m_int8_ov'],
                 'tflite_file': files['m_int8.tflite'], 'quantize': 'int8',
                 'calibration_size': args.calibration_size},
                {'output_file': files['m_bf16.pb'], 'precision': 'bf16'}):
    reports += export.export(export.ExportSettings(
        checkpoint=prefix, image_size=args.image_size, **extra),
                             log=print)['reports']
  agreement = {(os.path.basename(r['path']), r['precision']): r
               for r in reports}
  # (what, engine, precision): the sessions first, then the files.
  rows = [('session', 'tensorflow', 'fp32'),
          ('session, cast every step', 'tensorflow', 'bf16'),
          ('session, cast once', 'tensorflow', 'bf16'),
          ('m.pb', 'tensorflow', 'fp32'), ('m.pb', 'tensorflow', 'bf16'),
          ('m_bf16.pb', 'tensorflow', 'bf16'),
          ('m.keras', 'keras', 'fp32'), ('m.onnx', 'onnxruntime', 'fp32'),
          ('m_ov', 'openvino', 'fp32'), ('m_ov', 'openvino', 'bf16'),
          ('m.tflite', 'litert', 'fp32'),
          ('m_int8.onnx', 'onnxruntime', 'int8'),
          ('m_int8_ov', 'openvino', 'int8'),
          ('m_int8.tflite', 'litert', 'int8')]
  rng = np.random.RandomState(1)
  batches = {b: rng.uniform(-1, 1, (b, args.image_size, args.image_size, 3)
                            ).astype(np.float32) for b in batch_sizes}
  single = batches[batch_sizes[0]][:1]
  loaded = {}
  for row in rows:
    if row[0].startswith('session'):
      loaded[row] = _Session(prefix, args.model, args.image_size, row[2],
                             cast_once=row[0].endswith('once'))
    else:
      # OpenVINO and a float32 TF graph take a precision; the others run
      # what the file holds.
      loaded[row] = engines.load(files[row[0]], row[1],
                                 precision='bf16' if row in _RUN_IN_BF16
                                 else 'fp32')
  # Agreement of the rows that export did not check: with the fp32 graph.
  check, _ = export.check_images('inception', args.image_size)
  reference = loaded[rows[0]].run(check)
  for row in rows[1:3] + list(_RUN_IN_BF16) + [
      ('m_bf16.pb', 'tensorflow', 'bf16')]:
    agreement[(row[0], row[2])] = dict(
        bridges.compare(loaded[row].run(check), reference),
        size_bytes=agreement.get((row[0], 'fp32'), {}).get('size_bytes'))
  times = {row: {b: [] for b in batch_sizes + [1]} for row in rows}
  for round_ in range(args.rounds):
    for row in rows:
      engine = loaded[row]
      for b in batch_sizes:
        times[row][b].append(_time(engine, batches[b], args.steps))
      times[row][1].append(_time(engine, single, 2 * args.steps))
    print('round %d/%d done' % (round_ + 1, args.rounds), flush=True)
  info = benchmark.device_info()
  median = {row: {b: statistics.median(t) if t else None
                  for b, t in times[row].items()} for row in rows}
  base = median[rows[0]]
  table = []
  for row in rows:
    report = agreement.get((row[0], row[2])) or agreement.get(
        (row[0], 'fp32'))
    size = (report or {}).get('size_bytes') or (
        os.path.getsize(files[row[0]]) if row[0] in files else None)
    entry = {'what': row[0], 'engine': row[1], 'precision': row[2],
             'latency_ms': 1000 * median[row][1],
             'latency_speedup': base[1] / median[row][1],
             'size_mb': size / 1e6 if size else None,
             'max_rel_diff': report['max_rel'] if report else 0.0,
             'top1_agree': '%d/%d' % (report['top1_agree'], report['images'])
                           if report else 'reference'}
    for b in batch_sizes:
      sec = median[row][b]
      entry['batch%d_images_per_sec' % b] = b / sec if sec else None
      entry['batch%d_speedup' % b] = base[b] / sec if sec else None
    table.append(entry)
  print()
  print('%s at %d, %s, %d CPUs, TensorFlow %s; medians of %d interleaved '
        'rounds' % (args.model, args.image_size, info['device'],
                    info['cpu_count'], info['tensorflow_version'],
                    args.rounds))
  print()
  print('| path | engine | precision | %s | batch 1: x fp32 session (ms) | '
        'size MB | max rel. logit diff | top-1 agrees |' % ' | '.join(
            'batch %d: x fp32 session (images/s)' % b for b in batch_sizes))
  print('|---|---|---|%s---|---|---|---|' % ('---|' * len(batch_sizes)))
  for r in table:
    cells = ['%.2fx (%.1f)' % (r['batch%d_speedup' % b],
                               r['batch%d_images_per_sec' % b])
             if r['batch%d_speedup' % b] else 'batch 1 only'
             for b in batch_sizes]
    print('| %s | %s | %s | %s | %.2fx (%.1f) | %s | %.1e | %s |' % (
        r['what'], r['engine'], r['precision'], ' | '.join(cells),
        r['latency_speedup'], r['latency_ms'],
        '%.1f' % r['size_mb'] if r['size_mb'] else '-', r['max_rel_diff'],
        r['top1_agree']))
  if args.json:
    fileio.atomic_write_text(args.json, json.dumps(
        {'rows': table, 'device': info, 'args': vars(args)}, indent=2) + '\n')
  for engine in loaded.values():
    engine.close()
  return 0


if __name__ == '__main__':
  sys.exit(main())
