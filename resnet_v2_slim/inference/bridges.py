"""Out of TF1 with proof: a frozen slim graph to ONNX, OpenVINO and TFLite,
the checkpoint to Keras 3, and a check that each still computes the same.

The converters are the engines' own (tf2onnx, ``openvino.convert_model``,
TensorFlow's TFLite converter, Keras 3); what is written here is the
plumbing and ``verify``: run the artifact on its engine next to the
TensorFlow graph on the same preprocessed images and report the largest
logit difference (relative to the logit scale), top-1 agreement and size.

Typical use::

    from resnet_v2_slim.inference import bridges, engines

    bridges.to_onnx(frozen_graph_def, 'rn50.onnx')
    with engines.load('rn50.onnx') as engine:
      report = bridges.verify(engine, images, tf_logits, exact=True)
    print(bridges.report_line(report))
"""

import logging
import os
from typing import Any, Dict, Optional

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v2_slim import _quiet
from resnet_v2_slim import errors
from resnet_v2_slim.config import inference as inference_config
from resnet_v2_slim.inference import engines

ONNX_OPSET = 17           # what onnxruntime and OpenVINO both run
# Relative: an fp32 artifact beyond it is refused (config.inference, where
# the flags' default is declared).
TOLERANCE = inference_config.TOLERANCE
INPUT, OUTPUTS = 'input', ('logits', 'predictions')


class VerificationError(errors.Error):
  """An fp32 artifact whose logits differ from TensorFlow's (exit code 1)."""


def to_onnx(graph_def: tf.GraphDef, path: str, opset: int = ONNX_OPSET
            ) -> None:
  """tf2onnx: a frozen GraphDef (``input`` -> ``logits``) to ``path``.

  The batch axis stays dynamic (the graph's input is ``[None, H, W, 3]``).
  """
  tf2onnx = engines.require('tf2onnx')
  logging.getLogger('tf2onnx').setLevel(logging.ERROR)
  from tf2onnx import convert  # pylint: disable=g-import-not-at-top
  del tf2onnx
  convert.from_graph_def(
      graph_def, input_names=[INPUT + ':0'],
      output_names=[o + ':0' for o in OUTPUTS], opset=opset,
      output_path=path)


def to_openvino(onnx_path: str, folder: str) -> None:
  """OpenVINO IR (``model.xml`` + ``model.bin``) from an ONNX file.

  Weights stay float32 (``compress_to_fp16=False``); the CPU plugin picks
  the inference precision when the model is compiled.
  """
  ov = engines.require('openvino')
  engines.save_openvino(ov.convert_model(onnx_path), folder)


def to_tflite(frozen_path: str, path: str, image_size: int, *,
              quantize: Optional[str] = None,
              calibration: Optional[np.ndarray] = None) -> None:
  """TensorFlow's TFLite converter on the frozen graph, any batch (the
  interpreter resizes the input: ``engines``).

  Args:
    frozen_path: the frozen ``.pb``.
    path: the ``.tflite`` to write.
    image_size: the graph's input height and width.
    quantize: None (float32) or 'int8' (full-integer post-training
      quantization of weights and activations; input and output stay
      float32).
    calibration: preprocessed images ``[N, H, W, 3]`` for int8.
  """
  import tensorflow as tf2  # pylint: disable=g-import-not-at-top
  converter = tf2.compat.v1.lite.TFLiteConverter.from_frozen_graph(
      frozen_path, [INPUT], list(OUTPUTS),
      input_shapes={INPUT: [None, image_size, image_size, 3]})
  if quantize == 'int8':
    converter.optimizations = [tf2.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: (
        [image[np.newaxis].astype(np.float32)] for image in calibration)
  with _quiet.stderr_parked():   # the quantizer's "fully_quantize: 0, ..."
    model = converter.convert()
  with open(path, 'wb') as f:
    f.write(model)


def verify(engine: engines.Engine, images: np.ndarray, reference: np.ndarray,
           *, exact: bool, tolerance: float = TOLERANCE,
           classes: Optional[slice] = None) -> Dict[str, Any]:
  """Runs ``engine`` on ``images`` and compares with ``reference`` logits.

  Args:
    engine: an ``engines.Engine``.
    images: preprocessed float32 images ``[N, H, W, 3]``.
    reference: TensorFlow's logits for them ``[N, C]``.
    exact: True for an fp32 artifact that must match (refused beyond
      ``tolerance``); False for quantized or reduced-precision ones
      (reported only).
    tolerance: the largest relative difference an exact artifact may have.
    classes: a slice of the reference's classes to compare with (the
      stock Keras layout drops slim's background class 0).

  Returns:
    A dict: path, engine, precision, max_abs, max_rel (of the reference's
    largest |logit|), top1_agree, images, size_bytes, exact, tolerance.

  Raises:
    VerificationError: an exact artifact beyond the tolerance.
  """
  logits = engine.run(images)
  if classes is not None:
    reference = reference[:, classes]
  if logits.shape != reference.shape:
    raise VerificationError('%s on %s gives logits of shape %s, TensorFlow '
                            '%s.' % (engine.path, engine.engine,
                                     logits.shape, reference.shape))
  report = {
      'path': engine.path, 'engine': engine.engine,
      'precision': engine.precision, 'size_bytes': _size(engine.path),
      'exact': exact, 'tolerance': tolerance}
  report.update(compare(logits, reference))
  if exact and not report['max_rel'] <= tolerance:
    raise VerificationError(
        '%s disagrees with the TensorFlow graph: %s. An fp32 artifact must '
        'stay within `tolerance` %g; nothing was written.'
        % (engine.path, numbers_line(report), tolerance))
  return report


def compare(logits: np.ndarray, reference: np.ndarray) -> Dict[str, float]:
  """How far ``logits`` are from ``reference`` (both ``[N, C]``).

  Returns:
    A dict: max_abs, max_rel (of the reference's largest |logit|),
    top1_agree (images whose arg-max is the same) and images;
    ``numbers_line`` puts them in words.
  """
  max_abs = float(np.max(np.abs(logits - reference)))
  scale = float(np.max(np.abs(reference))) or 1.0
  return {'max_abs': max_abs, 'max_rel': max_abs / scale,
          'top1_agree': int(np.sum(np.argmax(logits, 1) ==
                                   np.argmax(reference, 1))),
          'images': len(reference)}


def _size(path):
  if os.path.isdir(path):
    return sum(os.path.getsize(os.path.join(path, f))
               for f in os.listdir(path))
  base = os.path.splitext(path)[0]
  extra = base + '.bin' if path.endswith('.xml') else None
  return os.path.getsize(path) + (os.path.getsize(extra) if extra and
                                  os.path.exists(extra) else 0)


def numbers_line(report: Dict[str, Any]) -> str:
  """``compare``'s numbers (or a report's) in words."""
  return ('max |logit difference| %.2g (%.2g of the logit scale), top-1 '
          'the same on %d/%d images' % (report['max_abs'], report['max_rel'],
                                        report['top1_agree'],
                                        report['images']))


def report_line(report: Dict[str, Any], shown_path: Optional[str] = None
                ) -> str:
  """One line: what was verified, on which engine, the numbers, the size."""
  return 'verified %s on %s %s: %s, %.1f MB' % (
      shown_path or report['path'], report['engine'], report['precision'],
      numbers_line(report), report['size_bytes'] / 1e6)
