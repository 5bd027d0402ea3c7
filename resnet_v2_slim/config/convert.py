"""``convert``'s settings: a folder of class sub-folders -> TF-Slim shards.

``data.tfrecords.convert_folder`` takes its defaults from these fields.

Typical use::

    from resnet_v2_slim.config import convert

    settings.add_flags(parser, convert.ConvertSettings)
"""

import dataclasses

from resnet_v2_slim.utils.settings import setting


@dataclasses.dataclass
class ConvertSettings:
  """``convert``'s settings; its flags and ``convert_folder``'s defaults."""
  data_dir: str = setting(help='folder of class sub-folders of images')
  output_dir: str = setting(help='where the shards, labels.txt and '
                            'convert.json go (created)')
  num_shards: int = setting(4, help='how many shards (default %(default)s)')
  name: str = setting('train', help='shard name prefix, e.g. train or '
                      'validation (default %(default)s)')
  workers: int = setting(4, help='threads reading and decoding images '
                         '(default %(default)s)')
