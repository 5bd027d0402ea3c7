#!/usr/bin/env python
"""Does the TFRecord input pipeline keep up with the model? Both, timed here.

Writes synthetic JPEGs at typical ImageNet sizes (photographs are
500x375-ish; random pixels compress worse than photographs, so decoding
them is a little slower than real data), converts them with the package's
converter, then times (1) the training input pipeline alone -- read,
decode, Inception training preprocessing, batch -- and (2) one training
step of the model on batches of the same size, and prints both in
images/sec.

    python benchmarks/input_pipeline.py --num_images 256 --batch_size 32
"""

import argparse
import os
import tempfile
import time

import numpy as np
from PIL import Image

import resnet_v2_slim  # noqa: F401  first: imports TensorFlow quietly
import tensorflow.compat.v1 as tf  # pylint: disable=g-bad-import-order

from resnet_v2_slim.cli import common
from resnet_v2_slim.data import datasets
from resnet_v2_slim.data import tfrecords
from resnet_v2_slim.perf import benchmark


def _write_images(folder, count, rng):
  for label in ('a', 'b'):
    os.makedirs(os.path.join(folder, label))
  for i in range(count):
    h, w = (375, 500) if i % 2 else (500, 375)
    # Smooth random images: compress and decode like photographs rather
    # than noise.
    small = rng.randint(0, 256, (h // 25, w // 25, 3), np.uint8)
    image = Image.fromarray(small).resize((w, h), Image.BILINEAR)
    image.save(os.path.join(folder, 'ab'[i % 2], '%d.jpg' % i), quality=90)


def time_pipeline(pattern, batch_size, image_size, steps, deterministic):
  """images/sec of read + decode + preprocess + batch, no model."""
  with tf.Graph().as_default():
    ds = datasets.records(pattern, image_size, deterministic=deterministic,
                          shuffle_buffer=256)
    batches = ds.train_batches(batch_size, seed=0)
    with tf.Session() as sess:
      sess.run(batches.initializer, batches.feed_dict)
      for _ in range(3):
        sess.run(batches.images)
      start = time.perf_counter()
      for _ in range(steps):
        sess.run(batches.images)
      return steps * batch_size / (time.perf_counter() - start)


def main(argv=None):
  parser = argparse.ArgumentParser(prog='input_pipeline.py',
                                   description=__doc__.splitlines()[0])
  parser.add_argument('--num_images', type=int, default=256)
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--image_size', type=int, default=224)
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--model', default='resnet_v2_50')
  args = parser.parse_args(argv)
  common.quiet()
  rng = np.random.RandomState(0)
  with tempfile.TemporaryDirectory() as tmp:
    _write_images(os.path.join(tmp, 'images'), args.num_images, rng)
    start = time.perf_counter()
    tfrecords.convert_folder(os.path.join(tmp, 'images'),
                             os.path.join(tmp, 'records'), num_shards=4,
                             log=lambda _: None)
    convert_rate = args.num_images / (time.perf_counter() - start)
    pattern = os.path.join(tmp, 'records', 'train-*')
    rates = {det: time_pipeline(pattern, args.batch_size, args.image_size,
                                args.steps, det) for det in (False, True)}
  step = benchmark.run(benchmark.Config(
      model=args.model, batch_size=args.batch_size,
      image_size=args.image_size, num_batches=args.steps, num_burn_in=2,
      mode='forward-backward'), log=None)
  model_rate = args.batch_size / step['mean_sec']
  print('convert: %.0f images/sec (%d JPEGs, 500x375)' % (convert_rate,
                                                         args.num_images))
  print('input pipeline (read, decode, inception train preprocessing at '
        '%d, batch %d): %.0f images/sec, %.0f with --deterministic'
        % (args.image_size, args.batch_size, rates[False], rates[True]))
  print('%s forward-backward step, batch %d: %.1f images/sec (%.3f s)'
        % (args.model, args.batch_size, model_rate, step['mean_sec']))
  print('the pipeline is %.1fx faster than the model needs (%s)'
        % (rates[False] / model_rate, step['device']))
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
