#!/usr/bin/env python
"""Grad-CAM's pointing game on placed MNIST digits (teaching/pointing_game).

Trains resnet_v2_18 with the documented recipe (``recipe.DOCUMENTED``,
docs/training.md) on 56x56 canvases seen at 112x112, each 28x28
digit moved anywhere on its canvas (``random_shift`` 14); a finished run
in ``--train_dir`` is reused. Then explains 200 held-out digits at random
places and prints how many maps peak on the digit, with the centre and
uniform-map baselines, at each ``--end_points`` (default: the last three
blocks) and ``--output_strides`` (default: the nominal 32, and 16: atrous
convolution, the same weights, a map with twice the positions per side).

    python benchmarks/pointing_game.py --train_dir runs/pointing \
        --figure docs/pointing_game.png
"""

import argparse
import dataclasses
import json
import sys
import time

import resnet_v2_slim  # noqa: F401  first: imports TensorFlow quietly

from resnet_v2_slim.teaching import pointing_game
from resnet_v2_slim.training import recipe as recipe_lib
from resnet_v2_slim.training import trainer
from resnet_v2_slim.utils import fileio


def recipe(train_dir: str, steps: int) -> trainer.TrainConfig:
  """docs/training.md's recipe on the canvases."""
  return trainer.TrainConfig(
      model='resnet_v2_18', train_dir=train_dir, steps=steps,
      image_size=pointing_game.IMAGE_SIZE, random_shift=pointing_game.SHIFT,
      log_every=100, save_every=500, **recipe_lib.DOCUMENTED)


def _parser():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--train_dir', default='runs/pointing',
                      help='the run (default %(default)s)')
  parser.add_argument('--steps', type=int, default=1200,
                      help='training steps (default %(default)s)')
  parser.add_argument('--images', type=int, default=200,
                      help='held-out digits played (default %(default)s)')
  parser.add_argument('--end_points', nargs='+', default=[
      'resnet_v2_18/block%d' % block for block in (4, 3, 2)],
      help='where Grad-CAM looks (default %(default)s)')
  parser.add_argument('--output_strides', nargs='+', type=int,
                      default=[32, 16], help='each end point is played at '
                      'each of these (default %(default)s)')
  parser.add_argument('--figure', help='also draw 8 of the digits with '
                      'their maps at the first end point and the last '
                      'output stride, as a PNG here')
  parser.add_argument('--json', help='also write the scores here')
  return parser


def main(argv=None) -> int:
  args = _parser().parse_args(argv)
  try:   # before a quarter of an hour of work, not after
    for flag in ('json', 'figure'):
      if getattr(args, flag):
        fileio.check_writable(getattr(args, flag), '--' + flag)
  except fileio.OutputPathError as exc:
    print('error: %s' % exc, file=sys.stderr)
    return 2
  start = time.time()
  trainer.train(recipe(args.train_dir, args.steps),
                dataset=pointing_game.canvases('train'))
  print('trained in %.0f s' % (time.time() - start))
  scores = []
  for end_point in args.end_points:
    for stride in args.output_strides:
      score = pointing_game.play(args.train_dir, images=args.images,
                                 end_point=end_point, output_stride=stride)
      print('output stride %d: %s' % (stride, score.line()))
      scores.append(dict(dataclasses.asdict(score), output_stride=stride))
  if args.json:
    fileio.atomic_write_text(args.json, json.dumps(scores, indent=1))
  if args.figure:
    fileio.atomic_write_bytes(args.figure, pointing_game.gallery(
        args.train_dir, images=args.images, end_point=args.end_points[0],
        output_stride=args.output_strides[-1]))
  return 0


if __name__ == '__main__':
  sys.exit(main())
