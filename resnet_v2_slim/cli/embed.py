"""Feature vectors of a folder's images: one global-pooled pre-logits
vector per image (2048 numbers for resnet_v2_50/101/152/200, 512 for 18/34).

    resnet-v2-slim embed --checkpoint resnet_v2_50.ckpt my_images/ \
        --output vectors.npy
    resnet-v2-slim embed --model_file served.onnx my_images/ --output v.npy

IMAGE_DIR is read recursively (JPEG, PNG, GIF, BMP files, sorted). The
vectors go to --output (.npy, float32 [images, depth]), the file order
(paths relative to IMAGE_DIR, one per line) beside it as .txt. A serving
artifact must have been exported with --serving --features. An unreadable
image is reported and skipped; the exit code is then 1.
"""

import sys
from typing import Optional, Sequence

from resnet_v2_slim import names
from resnet_v2_slim.cli import common
from resnet_v2_slim.config import inference as inference_config
from resnet_v2_slim.utils import settings

# Flags that describe a checkpoint; an exported model has its own.
_CHECKPOINT_ONLY = ('model', 'num_classes', 'preprocessing', 'image_size',
                    'raw_weights')


def _parser(prog):
  parser = common.parser(prog, __doc__)
  parser.add_argument('image_dir', metavar='IMAGE_DIR')
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument('--checkpoint', help='a slim ResNet V2 checkpoint: '
                      'prefix, one of its files, a V1 .ckpt file or a '
                      'train_dir')
  source.add_argument('--model_file', help='a serving artifact exported '
                      'with --serving --features')
  parser.add_argument('--engine', choices=names.ENGINES, default=None,
                      help='with --model_file: the runtime (default: the '
                      'file kind\'s first)')
  parser.add_argument('--output', required=True,
                      help='the vectors file to write (.npy); the file '
                      'order goes beside it (.txt)')
  settings.add_flags(parser, inference_config.InputSettings,
                     exclude=('precision',))
  return parser


def _check_flags(args):
  """One line naming the flag that does not fit, or None."""
  if not args.output.endswith('.npy'):
    return '--output %s must end in .npy (numpy\'s format).' % args.output
  if args.engine and not args.model_file:
    return '--engine runs an exported model: give --model_file.'
  given = [name for name in _CHECKPOINT_ONLY
           if getattr(args, name) not in ('auto', False)]
  if args.model_file and given:
    return ('--%s describes a checkpoint; a serving artifact has its own '
            'inside: leave it out.' % given[0])
  return None


@common.command
def main(argv: Optional[Sequence[str]] = None,
         prog: str = 'resnet-v2-slim embed') -> int:
  """Runs the command; returns its exit code (0, 1 or 2)."""
  args = _parser(prog).parse_args(argv)
  common.quiet()
  problem = _check_flags(args)
  if problem:
    return common.fail(prog, problem)
  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim import checkpoints
  from resnet_v2_slim.data import images as images_lib
  from resnet_v2_slim.inference import embed
  from resnet_v2_slim.utils import fileio
  # pylint: enable=g-import-not-at-top
  fileio.check_outputs(
      [('--output', args.output), ('--output', embed.order_path(args.output))],
      [('IMAGE_DIR', args.image_dir), ('--model_file', args.model_file)] + (
          checkpoints.input_paths(args.checkpoint) if args.checkpoint
          else []))
  fileio.check_writable(args.output, '--output')
  try:   # a bad folder: before loading; it is the positional IMAGE_DIR
    files = embed.image_files(args.image_dir)
  except images_lib.DataError as exc:
    return common.fail(prog, str(exc).replace('`image_dir`', 'IMAGE_DIR'))
  with embed.Embedder(
      checkpoint=args.checkpoint, model_file=args.model_file,
      engine=args.engine, model=args.model, num_classes=args.num_classes,
      preprocessing_method=args.preprocessing, image_size=args.image_size,
      raw_weights=args.raw_weights) as embedder:
    facts = embedder.facts
    print('%s: %d image(s), %s, %s preprocessing at %d' % (
        prog, len(files), facts.network, facts.preprocessing,
        facts.image_size), file=sys.stderr)
    result = embed.embed_folder(embedder, args.image_dir)
  for line in result.skipped:
    print('%s: skipped: %s' % (prog, line), file=sys.stderr)
  if not result.files:
    return common.fail(prog, 'no image in %s could be read; nothing was '
                       'written.' % args.image_dir)
  try:
    embed.write(result, args.output)
  except OSError as exc:   # e.g. the disk filled up during the run
    return common.fail(prog, 'could not write --output %s (%s); earlier '
                       'files are intact.' % (args.output, exc.strerror))
  print('wrote %s (%d vector%s of %d) and %s' % (
      args.output, len(result.files), '' if len(result.files) == 1 else 's',
      result.vectors.shape[1],
      embed.order_path(args.output)))
  return 1 if result.skipped else 0
