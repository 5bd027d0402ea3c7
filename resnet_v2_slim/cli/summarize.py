"""One row per unit, block and the logits: output shape, parameters, FLOPs.

    python scripts/summarize.py --model resnet_v2_50
    python scripts/summarize.py --model resnet_v2_18 --format markdown
    python scripts/summarize.py --model resnet_v2_50 --tensorboard /tmp/tb
    python scripts/summarize.py --model resnet_v2_50 --json rows.json
"""

import json
import sys
from typing import Optional, Sequence

from resnet_v2_slim import names
from resnet_v2_slim.cli import common

# The printed tables; JSON is --json's, as in every command.
TABLES = tuple(f for f in names.SUMMARY_FORMATS if f != 'json')


@common.command
def main(argv: Optional[Sequence[str]] = None,
         prog: str = 'resnet-v2-slim summarize') -> int:
  """Runs the command; returns its exit code (0, 1 or 2)."""
  parser = common.parser(prog, __doc__)
  parser.add_argument('--model', required=True,
                      help=', '.join(names.NETWORKS))
  parser.add_argument('--image_size', type=int, default=224,
                      help='input height and width (default %(default)s)')
  parser.add_argument('--batch_size', type=int, default=1,
                      help='images per batch, for the output shapes and '
                      'FLOPs (default %(default)s)')
  parser.add_argument('--num_classes', type=int, default=1000,
                      help='classes of the logits (default %(default)s)')
  parser.add_argument('--no_shortcut', action='store_true',
                      help='summarize the plain twin')
  parser.add_argument('--format', choices=TABLES, default='text',
                      help='the table printed: %s (default %%(default)s)'
                      % ', '.join(TABLES))
  common.add_json_flag(parser, 'the rows')
  parser.add_argument('--tensorboard', metavar='LOGDIR', default=None,
                      help='write the graph for TensorBoard\'s graph view '
                      '(default: none)')
  args = parser.parse_args(argv)
  common.quiet()
  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.nets import nets_factory
  from resnet_v2_slim.teaching import summary
  # pylint: enable=g-import-not-at-top
  common.check_json(args.json, lambda: [])
  nets_factory.check_network_name(args.model)
  rows = summary.summarize(
      args.model, image_size=args.image_size, batch_size=args.batch_size,
      num_classes=args.num_classes, tensorboard_dir=args.tensorboard,
      use_shortcut=not args.no_shortcut)
  print(summary.format_table(rows, args.format), file=common.human_out(args))
  if args.json and common.emit_json(prog, args.json, json.loads(
      summary.format_table(rows, 'json'))):
    return common.EXIT_BAD_INPUT
  if args.tensorboard:
    print('graph written to %s: tensorboard --logdir %s'
          % (args.tensorboard, args.tensorboard), file=sys.stderr)
  return 0
