"""Top-k ImageNet classes of image files, with a slim ResNet V2 checkpoint.

    python scripts/classify.py --checkpoint resnet_v2_50.ckpt cat.jpg dog.png

Model and classes come from the checkpoint; preprocessing defaults to what
the slim ResNet V2 checkpoints were trained with (Inception, 299x299).
An unreadable image is reported and skipped; the exit code is then 1.
"""

import sys
from typing import Optional, Sequence

from resnet_v2_slim.cli import common
from resnet_v2_slim.config import inference as inference_config
from resnet_v2_slim.utils import settings


@common.command
def main(argv: Optional[Sequence[str]] = None,
         prog: str = 'resnet-v2-slim classify') -> int:
  """Runs the command; returns its exit code (0, 1 or 2)."""
  parser = common.parser(prog, __doc__)
  parser.add_argument('images', nargs='+', metavar='IMAGE')
  parser.add_argument('--checkpoint', required=True,
                      help='a slim ResNet V2 checkpoint: prefix, one of its '
                      'files, a V1 .ckpt file or a train_dir')
  settings.add_flags(parser, inference_config.InputSettings)
  parser.add_argument('--top_k', type=int, default=5,
                      help='classes shown per image (default %(default)s)')
  parser.add_argument('--labels', default=None,
                      help='class names file, one per line (default: '
                      'ImageNet for 1000/1001 classes)')
  common.add_json_flag(parser, 'the top-k classes of every image')
  args = parser.parse_args(argv)
  common.quiet()
  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim import checkpoints
  from resnet_v2_slim.inference import classifier
  # pylint: enable=g-import-not-at-top
  if args.top_k <= 0:
    return common.fail(prog, '--top_k must be > 0.')
  common.check_json(args.json, lambda: [
      ('IMAGE', path) for path in args.images] + checkpoints.input_paths(
          args.checkpoint))
  clf = classifier.Classifier(
      args.checkpoint, model=args.model, num_classes=args.num_classes,
      preprocessing_method=args.preprocessing, image_size=args.image_size,
      labels_file=args.labels, raw_weights=args.raw_weights,
      precision=args.precision)
  results, failed = [], 0
  with clf:
    print('%s: %s, %d classes, %s preprocessing at %d, from %s%s'
          % (prog, clf.model, clf.num_classes, clf.preprocessing,
             clf.image_size, clf.report.path,
             ' (moving averages of the weights; --raw_weights for the raw '
             'ones)' if clf.moving_averages else ''), file=sys.stderr)
    for path in args.images:
      try:
        top = clf.classify(path, args.top_k)
      except classifier.ImageError as exc:
        failed += 1
        print('%s: skipped: %s' % (prog, exc), file=sys.stderr)
        continue
      results.append({'image': path, 'top_k': top})
      print(path, file=common.human_out(args))
      for hit in top:
        print('  %.4f  %4d  %s' % (hit['probability'], hit['index'],
                                   hit['label']), file=common.human_out(args))
  if args.json and common.emit_json(prog, args.json, results):
    return common.EXIT_BAD_INPUT
  return 1 if failed else 0
