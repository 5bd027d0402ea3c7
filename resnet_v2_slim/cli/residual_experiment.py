"""Residual vs plain twins, shallow and deep: does seed 003's finding hold?

    python scripts/residual_experiment.py --out /tmp/residual

Trains resnet_v2_18 and resnet_v2_50, each with and without shortcuts, on
the digits with the same budget and seed; writes curves.csv and curves.png
into --out and prints a table and the verdict.
"""

import argparse

from resnet_v2_slim.cli import common
from resnet_v2_slim.teaching import experiment


def main(argv=None, prog='resnet-v2-slim residual-experiment'):
  """Runs the command; returns its exit code (0, 1 or 2)."""
  parser = argparse.ArgumentParser(prog=prog,
                                   description=__doc__.splitlines()[0])
  parser.add_argument('--out', required=True, help='a new folder')
  parser.add_argument('--steps', type=int, default=300)
  parser.add_argument('--batch_size', type=int, default=32)
  parser.add_argument('--image_size', type=int, default=32)
  parser.add_argument('--learning_rate', type=float, default=0.02)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  common.quiet()
  if min(args.steps, args.batch_size, args.image_size) <= 0:
    return common.fail(prog,
                    '--steps, --batch_size and --image_size must be > 0.')
  try:
    result = experiment.run(
        args.out, steps=args.steps, batch_size=args.batch_size,
        image_size=args.image_size, learning_rate=args.learning_rate,
        seed=args.seed, log=lambda line: print(line, flush=True))
  except (experiment.ExperimentError, ValueError) as exc:
    return common.fail(prog, str(exc))
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
