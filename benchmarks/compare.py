#!/usr/bin/env python
"""Side-by-side timing: resnet_v2_slim vs official tf-slim vs Keras V2.

The same protocol for all (random inputs made on the device each step,
burn-in, then timed steps; mean +/- std as in the book): resnet_v2_slim and
the official ``tf_slim.nets.resnet_v2`` (with our compat fix) in a TF1
session, and ``keras.applications.ResNet<N>V2(weights=None)`` as a compiled
``tf.function``. fp32 and bf16 (Keras: the 'mixed_bfloat16' policy).

    python benchmarks/compare.py --model resnet_v2_50 --batch_size 32 \
        --num_batches 20 --json benchmarks/compare_rn50.json
"""

import argparse
import sys

import resnet_v2_slim  # noqa: F401  first: imports TensorFlow quietly
import tensorflow.compat.v1 as tf  # pylint: disable=g-bad-import-order
import tf_slim as slim  # pylint: disable=g-bad-import-order

from resnet_v2_slim.cli import common
from resnet_v2_slim.nets import resnet_v2 as ours
from resnet_v2_slim.perf import benchmark
from resnet_v2_slim.nets import precision as precision_lib
from resnet_v2_slim.utils import fileio

KERAS_MODELS = {'resnet_v2_50': 'ResNet50V2', 'resnet_v2_101': 'ResNet101V2',
                'resnet_v2_152': 'ResNet152V2'}


def _time_session_net(module, args, prec):
  """Times ``module``'s network with the package's protocol (perf.benchmark)."""
  def network_fn(images):
    with slim.arg_scope(module.resnet_arg_scope()):
      return getattr(module, args.model)(images, num_classes=1000,
                                         is_training=False)
  config = benchmark.Config(model=args.model, batch_size=args.batch_size,
                            image_size=args.image_size,
                            num_batches=args.num_batches,
                            num_burn_in=args.num_burn_in, precision=prec)
  result = benchmark.run(config, log=None, network_fn=network_fn)
  return {k: result[k] for k in ('mean_sec', 'std_sec', 'median_sec',
                                 'p90_sec', 'min_sec', 'max_sec')}


def _time_keras(args, prec):
  import keras  # pylint: disable=g-import-not-at-top
  keras.mixed_precision.set_global_policy(
      'mixed_bfloat16' if prec == 'bf16' else 'float32')
  try:
    model = getattr(keras.applications, KERAS_MODELS[args.model])(
        weights=None, input_shape=(args.image_size, args.image_size, 3))

    @tf.function(jit_compile=False)
    def step():
      images = tf.random.uniform([args.batch_size, args.image_size,
                                  args.image_size, 3])
      return tf.reduce_sum(tf.cast(model(images, training=False),
                                   tf.float32))
    return benchmark.time_steps(lambda: step().numpy(), args.num_batches,
                                args.num_burn_in, 'Forward', log=None)[1]
  finally:
    keras.mixed_precision.set_global_policy('float32')


def main(argv=None):
  parser = argparse.ArgumentParser(prog='compare.py', description=__doc__)
  parser.add_argument('--model', default='resnet_v2_50',
                      choices=sorted(KERAS_MODELS))
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--image_size', type=int, default=224)
  parser.add_argument('--num_batches', type=int, default=20)
  parser.add_argument('--num_burn_in', type=int, default=5)
  parser.add_argument('--precisions', default='fp32,bf16')
  parser.add_argument('--skip_keras', action='store_true')
  parser.add_argument('--json', default=None)
  args = parser.parse_args(argv)
  common.quiet()
  precisions = args.precisions.split(',')
  bad = [p for p in precisions if p not in precision_lib.DTYPES]
  if bad:
    return common.fail('compare.py', '--precisions must be a comma-separated '
                       'list of %s, got %r (bad: %s).'
                       % (', '.join(precision_lib.DTYPES), args.precisions,
                          ', '.join(map(repr, bad))))
  try:
    for prec in precisions:   # every setting checked before any timing
      benchmark.Config(model=args.model, batch_size=args.batch_size,
                       image_size=args.image_size,
                       num_batches=args.num_batches,
                       num_burn_in=args.num_burn_in, precision=prec).validate()
    if args.json:
      fileio.check_writable(args.json, '--json')
  except (benchmark.BenchmarkError, fileio.OutputPathError) as exc:
    return common.fail('compare.py', str(exc))
  from tf_slim.nets import resnet_v2 as official  # pylint: disable=g-import-not-at-top
  rows = []
  for prec in precisions:
    runs = [('resnet_v2_slim', lambda p=prec: _time_session_net(ours, args, p)),
            ('tf_slim official', lambda p=prec: _time_session_net(
                official, args, p))]
    if not args.skip_keras:
      runs.append(('keras %s' % KERAS_MODELS[args.model],
                   lambda p=prec: _time_keras(args, p)))
    for name, fn in runs:
      stats = fn()
      rows.append({'implementation': name, 'precision': prec, **stats,
                   'images_per_sec': args.batch_size / stats['mean_sec']})
      print('%-24s %-5s %.3f +/- %.3f sec / batch  (%.1f images/sec)'
            % (name, prec, stats['mean_sec'], stats['std_sec'],
               rows[-1]['images_per_sec']), flush=True)
  base = {r['precision']: r['mean_sec'] for r in rows
          if r['implementation'] == 'resnet_v2_slim'}
  fp32 = base.get('fp32')
  print('\n| implementation | precision | sec / batch | vs resnet_v2_slim '
        'same precision | speed-up vs its fp32 |')
  print('|---|---|---|---|---|')
  for row in rows:
    own_fp32 = next((r['mean_sec'] for r in rows if r['implementation'] ==
                     row['implementation'] and r['precision'] == 'fp32'),
                    None)
    print('| %s | %s | %.3f +/- %.3f | %.3fx | %s |'
          % (row['implementation'], row['precision'], row['mean_sec'],
             row['std_sec'], row['mean_sec'] / base[row['precision']],
             '%.2fx' % (own_fp32 / row['mean_sec']) if own_fp32 else '-'))
  if args.json:
    common.write_json(args.json, {'args': vars(args), 'rows': rows,
                               'fp32_sec': fp32,
                               **benchmark.device_info()})
  return 0


if __name__ == '__main__':
  sys.exit(main())
