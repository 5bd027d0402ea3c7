"""Converts a folder of class sub-folders into TF-Slim TFRecord shards.

    python scripts/convert.py --data_dir my_images/ --output_dir records/ \
        --num_shards 8 --name validation

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
  common.quiet()
  # pylint: disable-next=g-import-not-at-top
  from resnet_v2_slim.data import tfrecords
  shards, count, classes = tfrecords.convert_folder(
      args.data_dir, args.output_dir, num_shards=args.num_shards,
      name=args.name, workers=args.workers,
      log=common.printer())
  print('wrote %d images of %d classes into %d shards in %s (labels.txt '
        'beside them)' % (count, len(classes), len(shards), args.output_dir))
  return 0
