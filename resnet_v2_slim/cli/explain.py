"""Grad-CAM: where a checkpoint's network looks, per image and class.

    resnet-v2-slim explain --checkpoint train_dir cat.jpg photos/ --output maps
    resnet-v2-slim explain --checkpoint resnet_v2_50.ckpt cat.jpg \
        --class_id top3 --end_point resnet_v2_50/block3 --output maps
    resnet-v2-slim explain --checkpoint train_dir cat.jpg --output_stride 16 \
        --output maps

For each image (files, or folders of images) and each explained class,
writes into --output a PNG of the map laid over the photo (class name and
score in the title; the dashed box is the crop the network saw) and the
raw map as .npy (the end point's grid); prints one line per image. The
checkpoint's model, classes, preprocessing, size and labels are read as
classify reads them. Everything is written only when every image was
explained.
"""

import argparse
import re
import sys
from typing import Optional, Sequence

from resnet_v2_slim import names
from resnet_v2_slim.cli import common
from resnet_v2_slim.config import inference as inference_config
from resnet_v2_slim.utils import settings


def class_choice(text: str) -> tuple:
  """``--class_id``: a class index, ``top`` or ``topK``.

  Returns:
    ``(class index or None, how many top classes)``.
  """
  most = names.MAX_EXPLAINED_CLASSES
  match = re.fullmatch(r'top(\d*)', text)
  if match and 1 <= int(match.group(1) or 1) <= most:
    return None, int(match.group(1) or 1)
  if re.fullmatch(r'\d+', text):
    return int(text), 1
  raise argparse.ArgumentTypeError(
      'expected a class index, top or topK with K up to %d (e.g. top3), got '
      '%r' % (most, text))


def _parser(prog):
  parser = common.parser(prog, __doc__)
  parser.add_argument('images', nargs='+', metavar='IMAGE',
                      help='image files or folders of images')
  parser.add_argument('--checkpoint', required=True,
                      help='a slim ResNet V2 checkpoint with a '
                      'classification head: prefix, one of its files, a V1 '
                      '.ckpt file or a train_dir')
  parser.add_argument('--output', required=True, metavar='DIR',
                      help='folder for the maps: new, empty, or holding only '
                      'earlier maps of these images (replaced as a whole)')
  parser.add_argument('--end_point', default=None,
                      help='the end_points key to explain at (default: the '
                      'last block, e.g. resnet_v2_50/block4; an earlier one '
                      'gives a finer map)')
  parser.add_argument('--output_stride', type=int, default=None,
                      choices=names.OUTPUT_STRIDES,
                      help='run the network at this output stride, 16 or 8 '
                      '(atrous convolution, the same weights) for a map '
                      'with 2 or 4 times the positions per side (default: '
                      'the nominal 32)')
  parser.add_argument('--class_id', type=class_choice, default='top',
                      help='the class to explain: an index, top (the most '
                      'probable) or topK, e.g. top3 (default %(default)s)')
  settings.add_flags(parser, inference_config.InputSettings,
                     exclude=('precision',))
  settings.add_flags(parser, inference_config.RuntimeSettings,
                     exclude=('streams',))
  parser.add_argument('--labels', default=None,
                      help='class names file, one per line (default: the '
                      'checkpoint\'s own, else ImageNet for 1000/1001 '
                      'classes)')
  common.add_json_flag(parser, 'every map\'s class, score, peak and files')
  return parser


def _check_paths(args, explain):
  """Before any work: the images exist; --output and --json are no input
  and can be written.

  Returns:
    The ``explain.Plan``.
  """
  from resnet_v2_slim import checkpoints  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.utils import fileio  # pylint: disable=g-import-not-at-top
  inputs = [('IMAGE', path) for path in args.images] + (
      checkpoints.input_paths(args.checkpoint))
  outputs = [('--output', args.output)]
  if args.json not in (None, common.STDOUT):
    outputs.append(('--json', args.json))
  fileio.check_outputs(outputs, inputs)
  common.check_json(args.json, lambda: inputs)
  return explain.plan_outputs(args.images, args.output)


@common.command
def main(argv: Optional[Sequence[str]] = None,
         prog: str = 'resnet-v2-slim explain') -> int:
  """Runs the command; returns its exit code (0 or 2)."""
  args = _parser(prog).parse_args(argv)
  common.quiet()
  from resnet_v2_slim.teaching import explain  # pylint: disable=g-import-not-at-top
  settings.from_args(inference_config.RuntimeSettings, args).check_runtime(
      None)   # the checkpoint's TensorFlow graph
  plan = _check_paths(args, explain)
  class_id, top = args.class_id
  with explain.GradCam(
      args.checkpoint, end_point=args.end_point, class_id=class_id, top=top,
      output_stride=args.output_stride,
      model=args.model, num_classes=args.num_classes,
      preprocessing_method=args.preprocessing, image_size=args.image_size,
      labels_file=args.labels, raw_weights=args.raw_weights,
      threads=args.threads) as cam:
    print('%s: %s, %d classes, %s preprocessing at %d, Grad-CAM at %s (a '
          '%dx%d map)' % (prog, cam.model, cam.num_classes, cam.preprocessing,
                          cam.image_size, cam.end_point, *cam.grid),
          file=sys.stderr)
    if cam.grid == (1, 1):
      print('%s: warning: %s is 1x1 at --image_size %d: the map cannot say '
            'where; give an earlier --end_point or a larger --image_size.'
            % (prog, cam.end_point, cam.image_size), file=sys.stderr)
    rows = explain.explain_files(cam, plan,
                                 log=common.printer(common.human_out(args)))
  print('wrote %d map(s) to %s' % (len(rows), args.output),
        file=common.human_out(args))
  if args.json and common.emit_json(prog, args.json, rows):
    return common.EXIT_BAD_INPUT
  return 0
