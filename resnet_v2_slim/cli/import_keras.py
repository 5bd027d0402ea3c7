"""Imports a Keras ResNetV2 (.keras or .weights.h5) as a slim checkpoint.

    resnet-v2-slim import-keras resnet_v2_50.keras --output rn50/model.ckpt
    resnet-v2-slim import-keras stock_rn50v2.weights.h5 --output rn50/model.ckpt

The Keras file is read without running code from it (safe mode; weights
files as data). The twin ``export --keras_file`` writes and the stock
``keras.applications.ResNet{50,101,152}V2`` layout both work; the
checkpoint is checked against the Keras model before it is written, and
``inspect``, ``classify``, ``evaluate``, ``time-forward`` and fine-tuning
use it as it is.
"""

from typing import Optional, Sequence

from resnet_v2_slim.cli import common
from resnet_v2_slim.config import inference as inference_config


@common.command
def main(argv: Optional[Sequence[str]] = None,
         prog: str = 'resnet-v2-slim import-keras') -> int:
  """Runs the command; returns its exit code (0, 1 or 2)."""
  parser = common.parser(prog, __doc__)
  parser.add_argument('model', metavar='MODEL',
                      help='a .keras or .weights.h5 file')
  parser.add_argument('--output', required=True, metavar='PREFIX',
                      help='checkpoint prefix to write (e.g. '
                      'rn50/model.ckpt)')
  parser.add_argument('--tolerance', type=float,
                      default=inference_config.TOLERANCE,
                      help='largest relative logit difference a twin may '
                      'have (default %(default)s)')
  args = parser.parse_args(argv)
  common.quiet()
  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import bridges
  from resnet_v2_slim.inference import import_keras as import_keras_lib
  # pylint: enable=g-import-not-at-top
  try:
    prefix, _ = import_keras_lib.import_keras(
        args.model, args.output, tolerance=args.tolerance,
        log=common.printer())
  except bridges.VerificationError as exc:
    return common.fail(prog, exc, code=1)
  print('wrote %s' % prefix)
  return 0
