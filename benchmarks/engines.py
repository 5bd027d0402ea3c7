#!/usr/bin/env python
"""Every engine a slim checkpoint can leave TF1 for, side by side, one run.

Makes a resnet_v2_50 checkpoint (1001 classes, randomized batch-norm
statistics, so the numbers are not those of an untrained net), exports it
with ``resnet-v2-slim export`` to a frozen graph, Keras 3, ONNX, OpenVINO
and TFLite (fp32 and int8), then for every (file, engine, precision):
throughput at batch 8, latency at batch 1 (TFLite runs batch 1 only),
size, and agreement with the TF graph on the export's check images.
Rounds are interleaved so that a busy machine slows every row alike; the
medians over rounds are reported, with ratios to TF fp32 first.

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

from resnet_v2_slim.inference import engines
from resnet_v2_slim.inference import export
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.perf import benchmark
from resnet_v2_slim.utils import fileio


def _checkpoint(folder, model, size):
  """A checkpoint with randomized weights and batch-norm statistics."""
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
        elif 'moving_mean' in v.name or 'beta' in v.name:
          value = rng.normal(0, 0.1, shape)
        elif 'gamma' in v.name:
          value = rng.uniform(0.5, 1.5, shape)
        else:
          continue
        v.load(value.astype(np.float32), sess)
      return tf.train.Saver().save(sess, os.path.join(folder, 'm.ckpt'))


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
  parser.add_argument('--batch_size', type=int, default=8)
  parser.add_argument('--steps', type=int, default=5)
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--json', default=None)
  args = parser.parse_args(argv)
  if args.json:
    fileio.check_writable(args.json, '--json')
  work = tempfile.mkdtemp(prefix='engines-')
  prefix = _checkpoint(work, args.model, args.image_size)
  files = {name: os.path.join(work, name) for name in (
      'm.pb', 'm.keras', 'm.onnx', 'm_ov', 'm.tflite', 'm_int8.tflite')}
  reports = []
  for extra in ({'output_file': files['m.pb'], 'keras_file': files['m.keras'],
                 'onnx_file': files['m.onnx'], 'openvino_dir': files['m_ov'],
                 'tflite_file': files['m.tflite']},
                {'tflite_file': files['m_int8.tflite'], 'quantize': 'int8'}):
    reports += export.export_inference_graph(
        prefix, image_size=args.image_size, log=print, **extra)['reports']
  agreement = {(os.path.basename(r['path']), r['precision']): r
               for r in reports}
  rows = [('m.pb', 'tensorflow', 'fp32'), ('m.keras', 'keras', 'fp32'),
          ('m.onnx', 'onnxruntime', 'fp32'), ('m_ov', 'openvino', 'fp32'),
          ('m_ov', 'openvino', 'bf16'), ('m.tflite', 'litert', 'fp32'),
          ('m_int8.tflite', 'litert', 'int8')]
  rng = np.random.RandomState(1)
  batch = rng.uniform(-1, 1, (args.batch_size, args.image_size,
                              args.image_size, 3)).astype(np.float32)
  single = batch[:1]
  times = {row: {'batch': [], 'single': []} for row in rows}
  loaded = {row: engines.load(files[row[0]], row[1],
                              precision='bf16' if row[2] == 'bf16'
                              else 'fp32') for row in rows}
  for round_ in range(args.rounds):
    for row in rows:
      engine = loaded[row]
      if row[1] != 'litert':
        times[row]['batch'].append(_time(engine, batch, args.steps))
      times[row]['single'].append(_time(engine, single, 2 * args.steps))
    print('round %d/%d done' % (round_ + 1, args.rounds), flush=True)
  info = benchmark.device_info()
  base = statistics.median(times[rows[0]]['batch'])
  base_single = statistics.median(times[rows[0]]['single'])
  table = []
  for row in rows:
    report = agreement.get((row[0], row[2])) or agreement.get(
        (row[0], 'fp32'))
    batch_sec = (statistics.median(times[row]['batch'])
                 if times[row]['batch'] else None)
    single_sec = statistics.median(times[row]['single'])
    table.append({
        'file': row[0], 'engine': row[1], 'precision': row[2],
        'batch_images_per_sec': args.batch_size / batch_sec
                                if batch_sec else None,
        'batch_speedup': base / batch_sec if batch_sec else None,
        'latency_ms': 1000 * single_sec,
        'latency_speedup': base_single / single_sec,
        'size_mb': report['size_bytes'] / 1e6 if report else
                   os.path.getsize(files[row[0]]) / 1e6,
        'max_rel_diff': report['max_rel'] if report else 0.0,
        'top1_agree': '%d/%d' % (report['top1_agree'], report['images'])
                      if report else 'reference'})
  print()
  print('%s at %d, %s, %d CPUs, TensorFlow %s; medians of %d interleaved '
        'rounds' % (args.model, args.image_size, info['device'],
                    info['cpu_count'], info['tensorflow_version'],
                    args.rounds))
  print()
  print('| file | engine | precision | batch %d: x TF fp32 (images/s) | '
        'batch 1: x TF fp32 (ms) | size MB | max rel. logit diff | top-1 '
        'agrees |' % args.batch_size)
  print('|---|---|---|---|---|---|---|---|')
  for r in table:
    print('| %s | %s | %s | %s | %.2fx (%.1f) | %.1f | %.1e | %s |' % (
        r['file'], r['engine'], r['precision'],
        '%.2fx (%.1f)' % (r['batch_speedup'], r['batch_images_per_sec'])
        if r['batch_speedup'] else 'batch 1 only', r['latency_speedup'],
        r['latency_ms'], r['size_mb'], r['max_rel_diff'], r['top1_agree']))
  if args.json:
    fileio.atomic_write_text(args.json, json.dumps(
        {'rows': table, 'device': info, 'args': vars(args)}, indent=2) + '\n')
  for engine in loaded.values():
    engine.close()
  return 0


if __name__ == '__main__':
  sys.exit(main())
