"""Converts a folder of class sub-folders into TF-Slim TFRecord shards.

    python scripts/convert.py --data_dir my_images/ --output_dir records/ \
        --num_shards 8 --name validation
    resnet-v2-slim convert --imagenet_val ILSVRC2012_img_val/ \
        --devkit ILSVRC2012_devkit_t12.tar.gz --output_dir records/ --num_shards 128

Writes ``<name>-00000-of-00008`` ... and ``labels.txt`` (``1:cat``,
``2:dog``: 1-based labels, 0 left for background as in TF-Slim's
ImageNet). Each shard is written atomically; a rerun skips finished ones.
"""


from typing import Optional, Sequence

from resnet_v2_slim.cli import common
from resnet_v2_slim.config import convert as convert_config
from resnet_v2_slim.utils import settings


@common.command
def main(argv: Optional[Sequence[str]] = None,
         prog: str = 'resnet-v2-slim convert') -> int:
  """Runs the command; returns its exit code (0 or 2)."""
  parser = common.parser(prog, __doc__)
  settings.add_flags(parser, convert_config.ConvertSettings)
  args = parser.parse_args(argv)
  sources = [s for s in ('devkit', 'solution_csv', 'synset_labels')
             if getattr(args, s)]
  if bool(args.data_dir) == bool(args.imagenet_val):
    return common.fail(prog, 'give --data_dir (class sub-folders) or '
                       '--imagenet_val (ImageNet\'s flat validation folder), '
                       'one of them.')
  if args.data_dir and sources:
    return common.fail(prog, '--%s labels --imagenet_val; --data_dir takes '
                       'its labels from its sub-folders.' % sources[0])
  common.quiet()
  # pylint: disable-next=g-import-not-at-top
  from resnet_v2_slim.data import tfrecords
  common_args = dict(output_dir=args.output_dir, num_shards=args.num_shards,
                     workers=args.workers, log=common.printer())
  if args.imagenet_val:
    shards, count, classes = tfrecords.convert_imagenet_val(
        args.imagenet_val, devkit=args.devkit,
        name='validation' if args.name is None else args.name,
        solution_csv=args.solution_csv, synset_labels=args.synset_labels,
        **common_args)
  else:
    shards, count, classes = tfrecords.convert_folder(
        args.data_dir, name='train' if args.name is None else args.name,
        **common_args)
  print('wrote %d images of %d classes into %d shards in %s (labels.txt '
        'beside them)' % (count, len(classes), len(shards), args.output_dir))
  return 0
