#!/usr/bin/env python
"""Residual vs plain twins, shallow and deep: does seed 003's finding hold?

    python scripts/residual_experiment.py --out /tmp/residual

Trains resnet_v2_18 and resnet_v2_50, each with and without shortcuts, on
the digits with the same budget and seed; writes curves.csv and curves.png
into --out and prints a table and the verdict.
"""

import argparse
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from resnet_v2_slim import cli  # pylint: disable=wrong-import-position
from resnet_v2_slim import experiment  # pylint: disable=wrong-import-position


def main(argv=None):
  parser = argparse.ArgumentParser(prog='residual_experiment.py',
                                   description=__doc__.splitlines()[0])
  parser.add_argument('--out', required=True, help='a new folder')
  parser.add_argument('--steps', type=int, default=300)
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--image_size', type=int, default=32)
  parser.add_argument('--learning_rate', type=float, default=0.02)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  cli.quiet()
  if min(args.steps, args.batch_size, args.image_size) <= 0:
    return cli.fail('residual_experiment.py',
                    '--steps, --batch_size and --image_size must be > 0.')
  try:
    result = experiment.run(
        args.out, steps=args.steps, batch_size=args.batch_size,
        image_size=args.image_size, learning_rate=args.learning_rate,
        seed=args.seed, log=lambda line: print(line, flush=True))
  except (experiment.ExperimentError, ValueError) as exc:
    return cli.fail('residual_experiment.py', str(exc))
  print()
  print(experiment.format_table(result['final']))
  v = result['verdict']
  print('\nplain deep trains worse than plain shallow: %s'
        % ('yes' if v['plain_deep_worse'] else 'no'))
  print('residual deep trains at least as well as residual shallow: %s'
        % ('yes' if v['residual_deep_not_worse'] else 'no'))
  print('seed 003\'s finding %s here. Curves: %s, %s'
        % ('held' if v['held'] else 'did NOT hold', result['csv'],
           result['png']))
  return 0


if __name__ == '__main__':
  sys.exit(main())
