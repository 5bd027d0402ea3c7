#!/usr/bin/env python
"""Grad-CAM's pointing game on placed MNIST digits (teaching/pointing_game).

Trains resnet_v2_18 with the documented recipe (docs/training.md: batch
64, rate 0.1 with one warm-up epoch and a cosine decay, label smoothing
0.1, moving averages 0.999) on 56x56 canvases seen at 112x112, each 28x28
digit moved anywhere on its canvas (``random_shift`` 14); a finished run
in ``--train_dir`` is reused. Then explains 200 held-out digits at random
places and prints how many maps peak on the digit, with the centre and
uniform-map baselines, at each ``--end_points`` (default: the last three
blocks).

    python benchmarks/pointing_game.py --train_dir runs/pointing
"""

import argparse
import dataclasses
import json
import sys
import time

import resnet_v2_slim  # noqa: F401  first: imports TensorFlow quietly

from resnet_v2_slim.teaching import pointing_game
from resnet_v2_slim.training import trainer
from resnet_v2_slim.utils import fileio


def recipe(train_dir: str, steps: int) -> trainer.TrainConfig:
  """docs/training.md's recipe on the canvases."""
  return trainer.TrainConfig(
      model='resnet_v2_18', train_dir=train_dir, steps=steps, batch_size=64,
      learning_rate=0.1, learning_rate_decay_type='cosine', warmup_epochs=1,
      label_smoothing=0.1, moving_average_decay=0.999,
      image_size=pointing_game.IMAGE_SIZE, random_shift=pointing_game.SHIFT,
      log_every=100, save_every=500)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--train_dir', default='runs/pointing')
  parser.add_argument('--steps', type=int, default=1200,
                      help='training steps (default %(default)s)')
  parser.add_argument('--images', type=int, default=200,
                      help='held-out digits played (default %(default)s)')
  parser.add_argument('--end_points', nargs='+', default=[
      'resnet_v2_18/block%d' % block for block in (4, 3, 2)],
      help='where Grad-CAM looks (default %(default)s)')
  parser.add_argument('--json', help='also write the scores here')
  args = parser.parse_args(argv)
  if args.json:   # before a quarter of an hour of work, not after
    try:
      fileio.check_writable(args.json, '--json')
    except fileio.OutputPathError as exc:
      print('error: %s' % exc, file=sys.stderr)
      return 2
  start = time.time()
  trainer.train(recipe(args.train_dir, args.steps),
                dataset=pointing_game.canvases('train'))
  print('trained in %.0f s' % (time.time() - start))
  scores = []
  for end_point in args.end_points:
    score = pointing_game.play(args.train_dir, images=args.images,
                               end_point=end_point)
    print(score.line())
    scores.append(dataclasses.asdict(score))
  if args.json:
    fileio.atomic_write_text(args.json, json.dumps(scores, indent=1))
  return 0


if __name__ == '__main__':
  sys.exit(main())
