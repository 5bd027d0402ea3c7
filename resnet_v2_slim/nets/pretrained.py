"""The published TF-Slim ResNet V2 checkpoints, as data: one row each.

Every fact about a published checkpoint lives here once; ``inspect`` shows
the matching row, and ``classify``, ``export`` (and ``evaluate``) take their
defaults from it: preprocessing, image size, label offset, accuracy to
compare with. Accuracies are the TF-Slim model zoo's (ILSVRC-2012
validation, single central crop). resnet_v2_200 was listed with its
accuracy but its weights were never released.

Typical use::

    from resnet_v2_slim.nets import pretrained

    row = pretrained.match('resnet_v2_50', 1001)
    row.preprocessing, row.image_size, row.top1     # 'inception', 299, 75.6
"""

import dataclasses
from typing import Optional

# What a checkpoint without a published row is read with: TF-Slim's
# default for its ResNets (data.preprocessing takes its default from here).
DEFAULT_PREPROCESSING = 'inception'


@dataclasses.dataclass(frozen=True)
class Pretrained:
  """One published checkpoint of the TF-Slim model zoo."""
  name: str               # e.g. 'resnet_v2_50_2017_04_14'
  model: str              # registered network name
  tarball: str            # what the zoo published ('' if never released)
  checkpoint_file: str    # the file inside the tarball
  format: str             # 'V1': one legacy file
  num_classes: int        # 1001: index 0 is "background"
  # TF-Slim's labels_offset: subtracted from the dataset's 1-based labels
  # (image/class/label, 0 = background) to get the output index. 0 for
  # these 1001-way heads: output 0 is background, output i is ImageNet
  # label i (the i-th synset, 1-based). 1 would fit a 1000-way head.
  labels_offset: int
  preprocessing: str      # what it was trained and evaluated with
  image_size: int
  top1: float             # published accuracy, percent
  top5: float

  @property
  def released(self) -> bool:
    return bool(self.tarball)


def _row(model, date, top1, top5, released=True):
  name = '%s_%s' % (model, date)
  return Pretrained(
      name=name, model=model,
      tarball=name + '.tar.gz' if released else '',
      checkpoint_file=model + '.ckpt' if released else '', format='V1',
      num_classes=1001, labels_offset=0, preprocessing='inception',
      image_size=299, top1=top1, top5=top5)


PRETRAINED = {row.name: row for row in (
    _row('resnet_v2_50', '2017_04_14', 75.6, 92.8),
    _row('resnet_v2_101', '2017_04_14', 77.0, 93.7),
    _row('resnet_v2_152', '2017_04_14', 77.8, 94.1),
    _row('resnet_v2_200', '2017_04_14', 79.9, 95.2, released=False),
)}


def match(model: Optional[str], num_classes: Optional[int]
          ) -> Optional[Pretrained]:
  """The published row for a checkpoint of ``model`` with ``num_classes``.

  A checkpoint matches when it is the same network with the same 1001-way
  head: converted or re-saved copies (V2 format, another folder) still
  match; a fine-tuned head does not.

  Returns:
    A ``Pretrained`` or None.
  """
  return next((row for row in PRETRAINED.values()
               if row.model == model and row.num_classes == num_classes),
              None)
