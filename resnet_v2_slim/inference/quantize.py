"""int8 on every engine that has it, calibrated on the user's images.

The quantizers are the engines' own: ONNX Runtime's static quantization
(QDQ format, per-channel weights), NNCF's post-training quantization of an
OpenVINO model, and TensorFlow's TFLite converter (full integer, any
batch: ``bridges.to_tflite``). What is written here is the calibration set:
``calibration_images`` reads the user's images through the checkpoint's
own preprocessing, as ``export``'s check images are read.

Typical use::

    from resnet_v2_slim.inference import quantize

    images = quantize.calibration_images(settings, 'inception', 224, log=print)
    quantize.onnx_int8('fp32.onnx', 'int8.onnx', images.images)
    quantize.openvino_int8('fp32.onnx', 'int8_ov/', images.images)
"""

import contextlib
import glob
import io
import logging
import os
from typing import Any, Callable, List, NamedTuple, Optional

import numpy as np

from resnet_v2_slim.inference import engines

_SEED = 0               # the sample of a folder or built-in split


class Calibration(NamedTuple):
  """The preprocessed images int8 is calibrated on."""
  images: np.ndarray     # float32 [N, H, W, 3]
  source: str            # where they came from, in words
  calibrated: bool       # False: generated images (not calibrated)


def calibration_images(settings: Any, method: str, image_size: int, *,
                       log: Callable[[str], None]) -> Calibration:
  """The images to calibrate int8 on, preprocessed as the network sees them.

  From ``settings.calibration_data`` (a folder of images, sub-folders too,
  or a TFRecord glob); else the built-in ``dataset_name``'s train split
  (never the split the gate evaluates); else the images of ``data_dir`` or
  ``tfrecord``; else generated images, with a warning through ``log``.
  Folders and built-in splits are sampled at random (seeded) so every
  class is represented; shards give their first records (``convert``
  shuffles them).

  Args:
    settings: an ``ExportSettings``.
    method: the checkpoint's evaluation preprocessing.
    image_size: the network's input size.
    log: where the warning goes.

  Returns:
    A ``Calibration`` of at most ``settings.calibration_size`` images.

  Raises:
    export.ExportError: no images, or one that does not decode (named).
  """
  from resnet_v2_slim.inference import export  # pylint: disable=g-import-not-at-top
  s, count = settings, settings.calibration_size
  data = s.calibration_data
  if data is None and s.dataset_name is not None:
    images, source = export.builtin_images(s.dataset_name, 'train',
                                           image_size, count, _SEED)
  elif data is None and s.data_dir is None and s.tfrecord is None:
    log('warning: int8 calibrated on %d generated images, not on real ones: '
        'the result is not calibrated. Give `calibration_data` (or '
        '`data_dir`, `tfrecord`, `dataset_name`).' % count)
    images, source = export.check_images(method, image_size, count=count)
    return Calibration(images, source, False)
  elif (data or s.data_dir) and os.path.isdir(data or s.data_dir):
    paths = _image_files(data) if data else _folder_paths(s.data_dir)
    images, _ = export.preprocess_files(_sample(paths, count), method,
                                        image_size, role='calibration')
    source = '%d images of `%s` %s' % (
        len(images), 'calibration_data' if data else 'data_dir',
        data or s.data_dir)
  else:   # shards
    images, source = export.check_images(
        method, image_size, tfrecord=data or s.tfrecord, count=count,
        role='calibration' if data else 'check')
  return Calibration(images, source, True)


def _sample(items: List, count: int) -> List:
  if len(items) <= count:
    return list(items)
  order = np.random.RandomState(_SEED).permutation(len(items))[:count]
  return [items[i] for i in sorted(order)]


def _folder_paths(data_dir: str) -> List[str]:
  from resnet_v2_slim.data import images as images_lib  # pylint: disable=g-import-not-at-top
  return images_lib.scan_folder(data_dir, min_classes=1).paths


def _image_files(folder: str) -> List[str]:
  """Every non-hidden file under ``folder``, sorted (any layout: no class
  sub-folders needed to calibrate)."""
  from resnet_v2_slim.inference import export  # pylint: disable=g-import-not-at-top
  paths = sorted(p for p in glob.glob(os.path.join(folder, '**', '*'),
                                      recursive=True)
                 if os.path.isfile(p) and not os.path.basename(p)
                 .startswith('.'))
  if not paths:
    raise export.ExportError('`calibration_data` %s holds no files; give a '
                           'folder of images or TF-Slim shards.' % folder)
  return paths


def onnx_int8(fp32_path: str, path: str, images: np.ndarray) -> None:
  """ONNX Runtime's static quantization (QDQ, int8 weights per channel,
  uint8 activations, min-max ranges) of an fp32 ONNX model.

  U8S8 is ONNX Runtime's fast path on x86 (VPMADDUBSW/VNNI): measured 1.6x
  the speed of S8S8 at the same accuracy on resnet_v2_50, batch 8 (Intel
  Xeon Ice Lake, AVX-512 VNNI, 2 cores).

  Args:
    fp32_path: the float32 model (tf2onnx's, dynamic batch), in a scratch
      folder (the quantizer's intermediate file goes beside it).
    path: the int8 model to write.
    images: preprocessed calibration images ``[N, H, W, 3]``.
  """
  engines.require('onnxruntime')
  import onnxruntime  # pylint: disable=g-import-not-at-top
  from onnxruntime import quantization  # pylint: disable=g-import-not-at-top
  name = onnxruntime.InferenceSession(
      fp32_path, providers=['CPUExecutionProvider']).get_inputs()[0].name

  class Reader(quantization.CalibrationDataReader):
    def __init__(self):
      self._rows = iter(images)

    def get_next(self):
      row = next(self._rows, None)
      return None if row is None else {name: row[np.newaxis]}

  # ONNX Runtime's recommended first step: shapes inferred, graph cleaned.
  prepared = os.path.join(os.path.dirname(fp32_path), 'prepared.onnx')
  logging.getLogger().setLevel(logging.ERROR)   # its per-node INFO lines
  try:
    quantization.quant_pre_process(fp32_path, prepared)
    quantization.quantize_static(
        prepared, path, Reader(), quant_format=quantization.QuantFormat.QDQ,
        per_channel=True, activation_type=quantization.QuantType.QUInt8,
        weight_type=quantization.QuantType.QInt8)
  finally:
    if os.path.exists(prepared):
      os.remove(prepared)


def openvino_int8(onnx_path: str, folder: str, images: np.ndarray) -> None:
  """NNCF's post-training quantization (its defaults: min-max ranges, fast
  bias correction) of the OpenVINO model converted from ``onnx_path``,
  saved as IR (``model.xml`` + ``model.bin``) in ``folder``.
  """
  ov = engines.require('openvino')
  nncf = engines.require('nncf')
  nncf.set_log_level(logging.ERROR)   # its INFO lines
  model = ov.convert_model(onnx_path)
  with contextlib.redirect_stdout(io.StringIO()):   # rich progress bars
    quantized = nncf.quantize(model, nncf.Dataset([row[np.newaxis]
                                                   for row in images]),
                              subset_size=len(images))
  engines.save_openvino(quantized, folder)


def describe(calibration: Optional[Calibration]) -> str:
  """``calibrated on ...`` for the report lines."""
  if calibration is None:
    return ''
  if not calibration.calibrated:
    return 'NOT calibrated: %s' % calibration.source
  return 'calibrated on %s' % calibration.source
