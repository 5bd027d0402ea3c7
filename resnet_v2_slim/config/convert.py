"""``convert``'s settings: a folder of class sub-folders, or ImageNet's
flat validation folder with its labels, -> TF-Slim shards.

``data.tfrecords.convert_folder`` takes its defaults from these fields.

Typical use::

    from resnet_v2_slim.config import convert

    settings.add_flags(parser, convert.ConvertSettings)
"""

import dataclasses
from typing import Optional

from resnet_v2_slim.utils.settings import setting


@dataclasses.dataclass(kw_only=True)
class ImageNetLabels:
  """Where the labels of ImageNet's flat validation folder come from
  (``data.imagenet``); ``convert`` and ``evaluate`` take the same flags."""
  devkit: Optional[str] = setting(
      None, help='ImageNet\'s flat validation folder labelled from '
      'ILSVRC2012_devkit_t12.tar.gz or its folder (data/meta.mat and the '
      'ground truth)')
  solution_csv: Optional[str] = setting(
      None, help='the same, from Kaggle\'s LOC_val_solution.csv')
  synset_labels: Optional[str] = setting(
      None, help='the same, from one WNID per image in file order '
      '(research/slim\'s imagenet_2012_validation_synset_labels.txt, '
      'tensorflow-datasets\' validation_labels.txt)')

  def label_sources(self) -> dict:
    """The label sources given, by name."""
    return {name: getattr(self, name) for name in (
        'devkit', 'solution_csv', 'synset_labels') if getattr(self, name)}


@dataclasses.dataclass(kw_only=True)
class ConvertSettings(ImageNetLabels):
  """``convert``'s settings; its flags and ``convert_folder``'s defaults."""
  data_dir: Optional[str] = setting(
      None, help='folder of class sub-folders of images')
  imagenet_val: Optional[str] = setting(
      None, metavar='DIR', help='instead of --data_dir: ImageNet\'s flat '
      'validation folder (ILSVRC2012_val_00000001.JPEG ...), labelled in '
      'slim\'s order from one of --devkit, --solution_csv, --synset_labels')
  output_dir: str = setting(help='where the shards, labels.txt and '
                            'convert.json go (created)')
  num_shards: int = setting(4, help='how many shards (default %(default)s)')
  name: Optional[str] = setting(None, help='shard name prefix (default: '
                                'train; validation with --imagenet_val)')
  workers: int = setting(4, help='threads reading and decoding images '
                         '(default %(default)s)')
