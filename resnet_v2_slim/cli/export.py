"""Exports a checkpoint for serving: frozen graph, SavedModel, Keras, ONNX...

Frozen GraphDef, SavedModel, Keras 3, ONNX, OpenVINO and TFLite; each of
the last four is run on its engine and verified against the TF graph.

    python scripts/export_inference_graph.py --checkpoint resnet_v2_50.ckpt \
        --output_file resnet_v2_50.pb --saved_model_dir resnet_v2_50_saved
    resnet-v2-slim export --checkpoint resnet_v2_50.ckpt --onnx_file m.onnx \
        --openvino_dir m_ov --keras_file m.keras --tflite_file m.tflite

Input ``input:0``: float32 [batch, H, W, 3], already preprocessed (Inception
style for the slim checkpoints: [-1, 1] at 299x299). Outputs ``logits:0``
and ``predictions:0``.

With --serving (docs/deploy.md) the artifacts are self-contained: the
SavedModel takes image files' bytes, the others uint8 pixels; the
checkpoint's preprocessing and class names are inside, and each is checked
on real photos against classify before it is written:

    resnet-v2-slim export --checkpoint resnet_v2_50.ckpt --serving \
        --saved_model_dir served --onnx_file served.onnx
"""


import dataclasses
import os
from typing import Optional, Sequence

from resnet_v2_slim.cli import common
from resnet_v2_slim.config import inference as inference_config
from resnet_v2_slim.utils import settings


# Flags that mean something only with --serving.
SERVING_ONLY = ('serving', 'model_version', 'top_k', 'labels', 'features',
                'triton_repository')
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(
    inference_config.ExportSettings) if f.name in SERVING_ONLY}


@common.command
def main(argv: Optional[Sequence[str]] = None,
         prog: str = 'resnet-v2-slim export') -> int:
  """Runs the command; returns its exit code (0, 1 or 2)."""
  parser = common.parser(prog, __doc__)
  settings.add_flags(parser, inference_config.ExportSettings,
                     exclude=('preprocessing',))
  args = parser.parse_args(argv)
  common.quiet()
  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import bridges
  from resnet_v2_slim.inference import export
  # pylint: enable=g-import-not-at-top
  if args.batch_size is not None and args.batch_size <= 0:
    return common.fail(prog, '--batch_size must be > 0.')
  config = settings.from_args(inference_config.ExportSettings, args)
  common.say_recorded_defaults(prog, config, ('preprocessing', 'image_size'))
  if config.serving:
    return _serving(prog, config)
  for name in SERVING_ONLY:
    if getattr(config, name) != _DEFAULTS[name]:
      return common.fail(prog, '--%s applies with --serving; add it.' % name)
  try:
    result = export.export(config, log=common.printer())
  except bridges.VerificationError as exc:   # the artifact is wrong: 1
    return common.fail(prog, exc, code=1)   # (the accuracy gate's too)
  if args.output_file:
    print('wrote frozen graph %s' % args.output_file)
  if args.saved_model_dir:
    print('wrote SavedModel %s (signature %r)' % (args.saved_model_dir,
                                                  export.SIGNATURE_KEY))
  for name in export.BRIDGE_OUTPUTS:
    if getattr(args, name):
      print('wrote %s' % getattr(args, name))
  for role, name in result['tensors'].items():
    print('%-12s %s' % (role, name))
  return 0


def _serving(prog: str, config) -> int:
  """``export --serving``: the verified self-contained artifacts."""
  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import bridges
  from resnet_v2_slim.inference import serving_export
  # pylint: enable=g-import-not-at-top
  if config.tolerance is None:
    config = dataclasses.replace(config, tolerance=bridges.TOLERANCE)
  try:
    result = serving_export.export_serving(config, log=common.printer())
  except bridges.VerificationError as exc:   # the artifact is wrong: 1
    return common.fail(prog, exc, code=1)
  for report in result['reports']:
    print('wrote %s (input `%s`)' % (report['path'], report['input']))
  if result['triton_version_dir']:
    print('wrote Triton model %s (config.pbtxt, labels.txt, %s/%s)' % (
        os.path.dirname(result['triton_version_dir']),
        os.path.basename(result['triton_version_dir']), 'model.onnx'))
  return 0
