"""The settings a checkpoint can answer ('auto'), declared once.

``classify``, ``evaluate`` and ``export`` take ``--model``,
``--num_classes``, ``--preprocessing`` and ``--image_size``, each ``auto``
or a value; ``auto`` is resolved from the checkpoint by
``CheckpointInfo.input_defaults`` (and ``checkpoints.choose_model``).

Typical use::

    from resnet_v2_slim.inference import inputs
    from resnet_v2_slim.utils import settings

    settings.add_flags(parser, inputs.InputSettings)
"""

import dataclasses

from resnet_v2_slim.data import preprocessing
from resnet_v2_slim.utils import settings
from resnet_v2_slim.utils.settings import setting


@dataclasses.dataclass(kw_only=True)
class InputSettings:
  """What a checkpoint can answer ('auto'): shared by classify, evaluate and
  export, whose flags are made from these fields."""
  model: str = setting('auto', help='network name, or auto (from the '
                       'checkpoint)')
  num_classes: object = setting('auto', type=settings.auto_or_positive_int,
                                help='auto (from the checkpoint) or a '
                                'number')
  preprocessing: str = setting(
      'auto', choices=preprocessing.FLAG_CHOICES,
      help='auto: what the published checkpoint was trained with '
      '(inception), else inception')
  image_size: object = setting(
      'auto', type=settings.auto_or_positive_int,
      help='input height and width (auto: what the published checkpoint '
      'was trained at, 299, else the network\'s default, 224)')
  raw_weights: bool = setting(False, help='restore the raw weights even '
                              'where the checkpoint holds moving averages '
                              '(train --moving_average_decay)')
