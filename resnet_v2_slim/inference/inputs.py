"""The settings a checkpoint can answer ('auto'), declared once.

``classify``, ``evaluate`` and ``export`` take ``--model``,
``--num_classes``, ``--preprocessing`` and ``--image_size``, each ``auto``
or a value (and ``--precision``, ``--raw_weights``); ``auto`` is resolved from the checkpoint by
``CheckpointInfo.input_defaults`` (and ``checkpoints.choose_model``).

Typical use::

    from resnet_v2_slim.inference import inputs
    from resnet_v2_slim.utils import settings

    settings.add_flags(parser, inputs.InputSettings)
"""

import dataclasses
from typing import Union

from resnet_v2_slim import errors
from resnet_v2_slim.data import preprocessing
from resnet_v2_slim.utils import settings
from resnet_v2_slim.utils.settings import setting

# Inference precisions: the checkpoint's graph (weights cast once) and
# OpenVINO's hint. fp16 is left out: on CPUs it is emulated.
PRECISIONS = ('fp32', 'bf16')


class PrecisionError(errors.Error):
  """An inference precision that is not offered."""


def check_precision(precision: str) -> str:
  """Returns ``precision`` if it is one of ``PRECISIONS``.

  Raises:
    PrecisionError: naming the argument and the choices.
  """
  if precision not in PRECISIONS:
    raise PrecisionError('`precision` must be one of %s, got %r.'
                         % (', '.join(PRECISIONS), precision))
  return precision


@dataclasses.dataclass(kw_only=True)
class InputSettings:
  """What a checkpoint can answer ('auto'): shared by classify, evaluate and
  export, whose flags are made from these fields."""
  model: str = setting('auto', help='network name, or auto (from the '
                       'checkpoint)')
  num_classes: Union[int, str] = setting(
      'auto', type=settings.auto_or_positive_int,
      help='auto (from the checkpoint) or a number')
  preprocessing: str = setting(
      'auto', choices=preprocessing.FLAG_CHOICES,
      help='auto: what the published checkpoint was trained with '
      '(inception), else inception')
  image_size: Union[int, str] = setting(
      'auto', type=settings.auto_or_positive_int,
      help='input height and width (auto: what the published checkpoint '
      'was trained at, 299, else the network\'s default, 224)')
  precision: str = setting(
      'fp32', choices=PRECISIONS,
      help='bf16: compute in bfloat16, the weights cast once when restored '
      '(2-3x faster on CPUs with AVX512_BF16 or AMX; logits within about '
      '1e-2 of fp32); evaluate --model_file: OpenVINO\'s inference '
      'precision (default %(default)s)')
  raw_weights: bool = setting(False, help='restore the raw weights even '
                              'where the checkpoint holds moving averages '
                              '(train --moving_average_decay)')
