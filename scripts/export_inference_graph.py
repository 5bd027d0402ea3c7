#!/usr/bin/env python
"""Exports a checkpoint as a frozen inference graph and/or a SavedModel.

    python scripts/export_inference_graph.py --checkpoint resnet_v2_50.ckpt \
        --output_file resnet_v2_50.pb --saved_model_dir resnet_v2_50_saved

Input ``input:0``: float32 [batch, H, W, 3], already preprocessed (Inception
style for the slim checkpoints: [-1, 1] at 299x299). Outputs ``logits:0``
and ``predictions:0``.
"""

import argparse
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from resnet_v2_slim import checkpoint  # pylint: disable=wrong-import-position
from resnet_v2_slim import cli  # pylint: disable=wrong-import-position
from resnet_v2_slim import export  # pylint: disable=wrong-import-position
from resnet_v2_slim import io_utils  # pylint: disable=wrong-import-position
from resnet_v2_slim import preprocessing  # pylint: disable=wrong-import-position


def main(argv=None):
  parser = argparse.ArgumentParser(prog='export_inference_graph.py',
                                   description=__doc__.splitlines()[0])
  parser.add_argument('--checkpoint', required=True)
  parser.add_argument('--output_file', default=None,
                      help='frozen GraphDef to write (.pb)')
  parser.add_argument('--saved_model_dir', default=None,
                      help='SavedModel folder to write (replaced if present)')
  parser.add_argument('--model', default='auto',
                      help='network name, or auto (from the checkpoint)')
  parser.add_argument('--num_classes', default='auto',
                      type=cli.auto_or_positive_int,
                      help='auto (from the checkpoint) or a number')
  parser.add_argument('--image_size', type=int,
                      default=preprocessing.DEFAULT_IMAGE_SIZE,
                      help='input height and width (default %(default)s, as '
                      'the slim checkpoints were trained)')
  parser.add_argument('--batch_size', type=int, default=None,
                      help='fixed batch size (default: any)')
  args = parser.parse_args(argv)
  cli.quiet()
  if not args.output_file and not args.saved_model_dir:
    return cli.fail('export_inference_graph.py',
                    'give --output_file and/or --saved_model_dir.')
  if args.image_size <= 0 or (args.batch_size is not None and
                              args.batch_size <= 0):
    return cli.fail('export_inference_graph.py',
                    '--image_size and --batch_size must be > 0.')
  try:
    names = export.export_inference_graph(
        args.checkpoint, output_file=args.output_file,
        saved_model_dir=args.saved_model_dir, model=args.model,
        num_classes=args.num_classes, image_size=args.image_size,
        batch_size=args.batch_size)
  except (checkpoint.CheckpointError, io_utils.OutputPathError,
          ValueError) as exc:
    return cli.fail('export_inference_graph.py', str(exc))
  if args.output_file:
    print('wrote frozen graph %s' % args.output_file)
  if args.saved_model_dir:
    print('wrote SavedModel %s (signature %r)' % (args.saved_model_dir,
                                                  export.SIGNATURE_KEY))
  for role, name in names.items():
    print('%-12s %s' % (role, name))
  return 0


if __name__ == '__main__':
  sys.exit(main())
