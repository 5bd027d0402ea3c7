#!/usr/bin/env python
"""Where a TensorFlow bf16 step goes, against OpenVINO bf16 (#28 item 7).

Makes a resnet_v2_50 checkpoint (1001 classes; weights, biases and
batch-norm statistics randomized: a zero bias is removed by grappler,
which changes the fusions a trained net gets), exports it as
``resnet-v2-slim export`` does (frozen fp32, frozen ``--precision bf16``,
OpenVINO IR), then

1. times every bf16 path, interleaved rounds, medians: OpenVINO bf16;
   the checkpoint in a session with the weights cast once (what
   ``time-forward --precision bf16`` runs); the ``--precision bf16``
   frozen graph; the fp32 frozen graph run by ``engines.load(...,
   precision='bf16')`` (batch norms folded, then grappler's oneDNN bf16
   rewrite); and the fp32 frozen graph for scale;
2. profiles one step of each per op: TensorFlow's own step stats
   (``RunOptions(trace_level=FULL_TRACE)``), OpenVINO's ``PERF_COUNT``,
   summed by op type.

    python benchmarks/op_profile.py --batch_size 8 --rounds 3
"""

import argparse
import collections
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
from resnet_v2_slim.perf import benchmark
from resnet_v2_slim.utils import fileio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engines as engines_benchmark  # noqa: E402  pylint: disable=g-import-not-at-top

Profiled = collections.namedtuple('Profiled', 'run profile')


def _frozen(path, *, bf16):
  """A frozen graph run as ``engines.load(path, precision=...)`` runs it,
  with its session kept to trace."""
  graph_def = tf.GraphDef()
  with open(path, 'rb') as f:
    graph_def.ParseFromString(f.read())
  config = None
  if bf16:
    # The package's own steps (engines._tensorflow), called apart to trace.
    graph_def = engines._fold_batch_norms(graph_def)  # pylint: disable=protected-access
    config = engines._bf16_session(None)  # pylint: disable=protected-access
  graph = tf.Graph()
  with graph.as_default():
    tf.import_graph_def(graph_def, name='')
  sess = tf.Session(graph=graph, config=config)
  run = lambda x: sess.run('logits:0', {'input:0': x})
  return Profiled(run, lambda x: _tf_ops(sess, 'logits:0', {'input:0': x}))


def _session(prefix):
  """The checkpoint in a session, weights cast to bf16 once."""
  s = engines_benchmark._Session(prefix, 'resnet_v2_50', 224, 'bf16', True)  # pylint: disable=protected-access
  return Profiled(s.run, lambda x: _tf_ops(s.sess, s.logits, {s.images: x}))


def _openvino(folder):
  import openvino as ov  # pylint: disable=g-import-not-at-top
  compiled = ov.Core().compile_model(
      os.path.join(folder, 'model.xml'), 'CPU',
      {'INFERENCE_PRECISION_HINT': 'bf16', 'PERF_COUNT': True,
       'NUM_STREAMS': 1})
  request = compiled.create_infer_request()

  def run(x):
    return request.infer({0: x})[0]

  def profile(x):
    run(x)
    ops = collections.Counter()
    for p in request.get_profiling_info():
      if p.status == p.Status.EXECUTED:
        ops['%s (%s)' % (p.node_type, p.exec_type)] += (
            p.real_time.total_seconds() * 1000)
    return ops
  return Profiled(run, profile)


def _tf_ops(sess, fetch, feed):
  """Milliseconds per op type in one traced step (TensorFlow's own
  step stats; the kernel's type is in each node's timeline label)."""
  meta = tf.RunMetadata()
  sess.run(fetch, feed, options=tf.RunOptions(
      trace_level=tf.RunOptions.FULL_TRACE), run_metadata=meta)
  ops = collections.Counter()
  for device in meta.step_stats.dev_stats:
    for node in device.node_stats:
      label = node.timeline_label
      kind = label.split('=')[-1].split('(')[0].strip() if '=' in label \
          else node.node_name
      ops[kind] += node.all_end_rel_micros / 1000
  return ops


def _median_step(run, x, steps):
  run(x)
  durations = []
  for _ in range(steps):
    start = time.perf_counter()
    run(x)
    durations.append(time.perf_counter() - start)
  return statistics.median(durations)


def _paths(work):
  prefix = engines_benchmark._checkpoint(work, 'resnet_v2_50', 224)  # pylint: disable=protected-access
  files = {k: os.path.join(work, k) for k in ('m.pb', 'm_bf16.pb', 'm_ov')}
  for extra in ({'output_file': files['m.pb'],
                 'openvino_dir': files['m_ov']},
                {'output_file': files['m_bf16.pb'], 'precision': 'bf16'}):
    export.export(export.ExportSettings(checkpoint=prefix, image_size=224,
                                        **extra), log=lambda _: None)
  return {
      'OpenVINO bf16': _openvino(files['m_ov']),
      'session, weights cast once': _session(prefix),
      'frozen --precision bf16 graph': _frozen(files['m_bf16.pb'],
                                               bf16=False),
      'frozen fp32 graph, engines.load(precision=bf16)': _frozen(
          files['m.pb'], bf16=True),
      'frozen fp32 graph, fp32': _frozen(files['m.pb'], bf16=False),
  }


def _print_profile(name, ops, top):
  print('\n%s: %.1f ms summed over ops' % (name, sum(ops.values())))
  for kind, ms in ops.most_common(top):
    print('  %-48s %7.1f ms' % (kind, ms))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--batch_size', type=int, default=8)
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--top', type=int, default=8,
                      help='op types shown per profile')
  parser.add_argument('--json', default=None)
  args = parser.parse_args(argv)
  if args.json:
    fileio.check_writable(args.json, '--json')
  with tempfile.TemporaryDirectory(prefix='op-profile-') as work:
    return _profile(args, _paths(work))


def _profile(args, paths):
  """Times and profiles ``paths``; prints the tables."""
  x = np.random.RandomState(1).uniform(
      -1, 1, (args.batch_size, 224, 224, 3)).astype(np.float32)
  times = collections.defaultdict(list)
  for _ in range(args.rounds):
    for name, path in paths.items():
      times[name].append(_median_step(path.run, x, args.steps))
  base = statistics.median(times['OpenVINO bf16'])
  reference = paths['frozen fp32 graph, fp32'].run(x)
  info = benchmark.device_info()
  print('resnet_v2_50, 224, batch %d, %s, %d CPUs; medians of %d '
        'interleaved rounds of %d steps\n' % (
            args.batch_size, info['device'], info['cpu_count'], args.rounds,
            args.steps))
  print('| path | s / batch | x OpenVINO bf16 | max rel. logit diff to fp32 |')
  print('|---|---|---|---|')
  rows = []
  for name, path in paths.items():
    sec = statistics.median(times[name])
    rel = float(np.max(np.abs(path.run(x) - reference)) /
                np.max(np.abs(reference)))
    rows.append({'path': name, 'sec': sec, 'x_openvino_bf16': base / sec,
                 'max_rel_diff': rel})
    print('| %s | %.4f | %.2fx | %.1e |' % (name, sec, base / sec, rel))
  profiles = {}
  for name, path in list(paths.items())[:4]:
    path.run(x)
    profiles[name] = path.profile(x)
    _print_profile(name, profiles[name], args.top)
  if args.json:
    fileio.atomic_write_text(args.json, json.dumps(
        {'rows': rows, 'profiles': profiles, 'device': info,
         'args': vars(args)}, indent=2) + '\n')
  return 0


if __name__ == '__main__':
  sys.exit(main())
