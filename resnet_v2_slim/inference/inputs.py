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

from resnet_v2_slim import errors
from resnet_v2_slim import names
from resnet_v2_slim.config import inference as inference_config

# Inference precisions: the checkpoint's graph (weights cast once) and
# OpenVINO's hint (names.INFERENCE_PRECISIONS).
PRECISIONS = names.INFERENCE_PRECISIONS
# Declared without TensorFlow in config.inference (the command line parses
# its flags before TensorFlow loads): the same class here.
InputSettings = inference_config.InputSettings


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
