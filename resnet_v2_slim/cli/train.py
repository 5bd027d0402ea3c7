"""Trains a ResNet V2 (or its plain twin) in graph mode, resuming if stopped.

    python scripts/train.py --model resnet_v2_18 --train_dir /tmp/rn18
    python scripts/train.py --model resnet_v2_18 --no_shortcut --train_dir /tmp/plain18
    python scripts/train.py --model resnet_v2_50 --data_dir my_images/ \
        --train_dir /tmp/ft --checkpoint resnet_v2_50.ckpt --image_size 224

Without --data_dir it trains on scikit-learn's handwritten digits (shipped
in the scikit-learn wheel, so it runs offline). Rerunning with the same
--train_dir resumes from its latest checkpoints.
"""

import sys

from resnet_v2_slim import errors
from resnet_v2_slim.cli import common
from resnet_v2_slim.distribute import strategy as dist
from resnet_v2_slim.training import trainer
from resnet_v2_slim.utils import settings


@common.command
def main(argv=None, prog='resnet-v2-slim train'):
  """Runs the command; returns 0, 2 (bad input) or 130 (Ctrl-C)."""
  parser = common.parser(prog, __doc__)
  settings.add_flags(parser, trainer.TrainConfig)
  dist.add_flags(parser)
  args = parser.parse_args(argv)
  common.quiet()
  config = settings.from_args(trainer.TrainConfig, args,
                              distribute=dist.options_from_args(args))
  try:
    history = trainer.train(config, log=lambda line: print(line, flush=True))
  except trainer.TrainInterrupted as exc:
    print('%s: %s' % (prog, errors.as_flags(str(exc))), file=sys.stderr)
    return 130   # the shell's code for Ctrl-C
  except dist.PeerError as exc:   # another worker died: exit 1, not 2
    return common.fail(prog, exc, code=1)
  if history:
    print('done: step %d, loss %.4f, accuracy %.3f; checkpoints in %s'
          % (history[-1]['step'], history[-1]['loss'],
             history[-1]['accuracy'], args.train_dir))
  else:
    print('nothing to do: %s is already at step %d or beyond'
          % (args.train_dir, args.steps))
  return 0
