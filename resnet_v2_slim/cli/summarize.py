"""One row per unit, block and the logits: output shape, parameters, FLOPs.

    python scripts/summarize.py --model resnet_v2_50
    python scripts/summarize.py --model resnet_v2_18 --format markdown
    python scripts/summarize.py --model resnet_v2_50 --tensorboard /tmp/tb
"""

import sys

from resnet_v2_slim.cli import common
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.teaching import summary


@common.command
def main(argv=None, prog='resnet-v2-slim summarize'):
  """Runs the command; returns its exit code (0, 1 or 2)."""
  parser = common.parser(prog, __doc__)
  parser.add_argument('--model', required=True,
                      help=', '.join(nets_factory.network_names()))
  parser.add_argument('--image_size', type=int, default=224)
  parser.add_argument('--batch_size', type=int, default=1)
  parser.add_argument('--num_classes', type=int, default=1000)
  parser.add_argument('--no_shortcut', action='store_true',
                      help='summarize the plain twin')
  parser.add_argument('--format', choices=summary.FORMATS, default='text')
  parser.add_argument('--tensorboard', metavar='LOGDIR', default=None,
                      help='write the graph for TensorBoard\'s graph view')
  args = parser.parse_args(argv)
  common.quiet()
  nets_factory.check_network_name(args.model)
  rows = summary.summarize(
      args.model, image_size=args.image_size, batch_size=args.batch_size,
      num_classes=args.num_classes, tensorboard_dir=args.tensorboard,
      use_shortcut=not args.no_shortcut)
  print(summary.format_table(rows, args.format))
  if args.tensorboard:
    print('graph written to %s: tensorboard --logdir %s'
          % (args.tensorboard, args.tensorboard), file=sys.stderr)
  return 0
