"""Accuracy of a checkpoint over a validation set: top-1, top-5, loss.

    python scripts/evaluate.py --checkpoint resnet_v2_50.ckpt \
        --tfrecord '/data/imagenet/validation-*' --json result.json
    python scripts/evaluate.py --checkpoint runs/ft --data_dir my_val/

Model, classes, preprocessing, size and label offset default to the
checkpoint and its row in the published-checkpoint table; the result is
printed next to the published accuracy.
"""


from resnet_v2_slim import checkpoints
from resnet_v2_slim.cli import common
from resnet_v2_slim.inference import evaluate
from resnet_v2_slim.utils import fileio


@common.command
def main(argv=None, prog='resnet-v2-slim evaluate'):
  """Runs the command; returns its exit code (0 or 2)."""
  parser = common.parser(prog, __doc__)
  parser.add_argument('--checkpoint', required=True)
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument('--tfrecord', metavar='PATTERN',
                      help='glob of TF-Slim TFRecord shards')
  source.add_argument('--data_dir', help='folder of class sub-folders')
  common.add_input_flags(parser)
  parser.add_argument('--labels_offset', default='auto',
                      help='auto (0 for a 1001-way head, else 1) or N')
  parser.add_argument('--batch_size', type=int, default=50)
  parser.add_argument('--max_examples', type=int, default=None)
  parser.add_argument('--skip_corrupt', action='store_true',
                      help='skip images that do not decode; their count and '
                      'places go into the output and JSON')
  parser.add_argument('--json', default=None, metavar='PATH',
                      help='also write the result here (atomically)')
  args = parser.parse_args(argv)
  common.quiet()
  if args.labels_offset != 'auto':
    try:
      args.labels_offset = int(args.labels_offset)
    except ValueError:
      return common.fail(prog, '--labels_offset must be auto or an integer, '
                         'got %r.' % args.labels_offset)
  config = evaluate.EvalConfig(
      checkpoint=args.checkpoint, tfrecord=args.tfrecord,
      data_dir=args.data_dir, model=args.model, num_classes=args.num_classes,
      labels_offset=args.labels_offset, preprocessing=args.preprocessing,
      image_size=args.image_size, batch_size=args.batch_size,
      max_examples=args.max_examples, skip_corrupt=args.skip_corrupt)
  if args.json:
    fileio.check_outputs(
        [('--json', args.json)], checkpoints.input_paths(args.checkpoint) +
        [('--data_dir', args.data_dir)])
    fileio.check_writable(args.json, '--json')
  result = evaluate.evaluate(config,
                             log=lambda line: print(line, flush=True))
  print(evaluate.report_line(result))
  if args.json:
    try:
      common.write_json(args.json, result)
    except OSError as exc:
      return common.fail(prog, 'could not write --json %s (%s); the result '
                         'is printed above.' % (args.json, exc.strerror))
    print('wrote %s' % args.json)
  return 0
