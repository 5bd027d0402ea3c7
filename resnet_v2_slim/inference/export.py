"""Exports a checkpoint for serving, on TensorFlow and beyond.

A frozen inference graph and a SavedModel (TF1 graph mode), and through
``bridges`` and ``keras_twin`` a Keras 3 model, ONNX, OpenVINO IR and
TFLite (fp32, or int8 behind the accuracy gate). Every output is in
inference mode (batch norm uses the moving averages) with one interface:
already-preprocessed float32 images ``[batch or None, H, W, 3]`` in
(``input``; see ``preprocessing``), the logits ``[N, num_classes]`` first
out, then ``predictions`` (softmax).
Every file is written atomically; the bridge outputs only after they ran
on their engine and agreed with the TF graph. A failed export leaves
earlier ones intact.

Typical use::

    from resnet_v2_slim.inference import export

    result = export.export_inference_graph(
        'resnet_v2_50.ckpt', output_file='model.pb', onnx_file='model.onnx',
        image_size=299, log=print)
    result['tensors']   # {'input': 'input:0', 'logits': 'logits:0', ...}
    result['reports']   # one verification per bridge output
"""

import contextlib
import dataclasses
import os
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v2_slim import checkpoints
from resnet_v2_slim import errors
from resnet_v2_slim.config import inference as inference_config
from resnet_v2_slim.inference import inputs
from resnet_v2_slim.utils import fileio
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.nets import precision as precision_lib

TENSOR_NAMES = {'input': 'input:0', 'logits': 'logits:0',
                'predictions': 'predictions:0'}
SIGNATURE_KEY = 'serving_default'
# What tf.saved_model writes into its folder: an existing --saved_model_dir
# is replaced only if it holds nothing else.
SAVED_MODEL_ENTRIES = ('saved_model.pb', 'saved_model.pbtxt', 'variables',
                       'assets', 'assets.extra', 'fingerprint.pb')


class ExportError(errors.Error):
  """An export that cannot be made as asked."""


def build_inference_graph(model: str, num_classes: int, image_size: int,
                          batch_size: Optional[int] = None, *,
                          use_shortcut: bool = True, precision: str = 'fp32'
                          ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """Builds input -> logits/predictions in the default graph.

  With ``precision`` bf16 the layers compute in bfloat16 from weight copies
  cast once (``nets.precision``; run ``precision.cast_weights`` after a
  restore that is not ``checkpoints.restorer``'s); input and outputs stay
  float32.

  Returns:
    ``(input, logits, predictions)`` tensors named as in ``TENSOR_NAMES``.
  """
  network_fn = nets_factory.get_network_fn(model, num_classes,
                                           is_training=False)
  images = tf.placeholder(tf.float32, [batch_size, image_size, image_size, 3],
                          name='input')
  net, _ = precision_lib.build(network_fn, images, precision, cast_once=True,
                               spatial_squeeze=True, use_shortcut=use_shortcut)
  logits = tf.identity(net, name='logits')
  predictions = tf.nn.softmax(logits, name='predictions')
  return images, logits, predictions


# The arguments (and flags) of the outputs that leave TF1, in the order they
# are written; the OpenVINO folder may hold only OPENVINO_ENTRIES.
BRIDGE_OUTPUTS = ('keras_file', 'onnx_file', 'openvino_dir', 'tflite_file')
OPENVINO_ENTRIES = ('model.xml', 'model.bin')
QUANTIZE = (None, 'int8')
NUM_CHECK_IMAGES = 8


# Declared without TensorFlow in config.inference (the command line parses
# its flags before TensorFlow loads): the same class here.
ExportSettings = inference_config.ExportSettings


def check_images(method: str, image_size: int, *,
                 data_dir: Optional[str] = None,
                 tfrecord: Optional[str] = None,
                 dataset: Optional[Tuple[str, str]] = None,
                 count: int = NUM_CHECK_IMAGES, seed: int = 0,
                 role: str = 'check') -> Tuple[np.ndarray, str]:
  """Preprocessed images to verify (and calibrate) exports with.

  The first ``count`` images of ``data_dir`` (class sub-folders) or of the
  ``tfrecord`` shards, through the checkpoint's evaluation preprocessing;
  a seeded sample of a built-in ``dataset`` (name, split), as train sees
  it; without any, ``count`` generated images uniform in [-1, 1] (the range
  both preprocessings produce).

  Args:
    role: what the images are for, in error messages ('check',
      'calibration').

  Returns:
    ``(float32 [count, size, size, 3], where they came from)``.
  """
  if dataset is not None:
    return builtin_images(dataset[0], dataset[1], image_size, count, seed)
  if data_dir is None and tfrecord is None:
    rng = np.random.RandomState(seed)
    return (rng.uniform(-1, 1, (count, image_size, image_size, 3))
            .astype(np.float32), '%d generated images' % count)
  if data_dir is not None:
    from resnet_v2_slim.data import images as images_lib  # pylint: disable=g-import-not-at-top
    paths = images_lib.scan_folder(data_dir, min_classes=1).paths
    images, _ = preprocess_files(paths[:count], method, image_size,
                                 role=role)
    return images, '%d images of `data_dir` %s' % (len(images), data_dir)
  flag = 'calibration_data' if role == 'calibration' else 'tfrecord'
  encoded, source = check_files(tfrecord=tfrecord, count=count, role=role,
                                flag=flag)
  return _preprocess(encoded, lambda i: 'record %d of `%s` %s' % (
      i, flag, tfrecord), method, image_size, role), source


def builtin_images(name: str, split: str, image_size: int, count: int,
                   seed: int = 0) -> Tuple[np.ndarray, str]:
  """A seeded sample of ``count`` images of a built-in set's split, as
  train and evaluate see them (upsampled, [-1, 1]).

  Returns:
    ``(float32 [count, size, size, 3], where they came from)``.
  """
  from resnet_v2_slim.data import datasets  # pylint: disable=g-import-not-at-top
  data = datasets.builtin(name, split, image_size)
  chosen = np.random.RandomState(seed).permutation(len(data.labels))[:count]
  with tf.Graph().as_default(), tf.Session() as sess:
    pixels = tf.placeholder(tf.float32, [None, None])
    image = datasets.Dataset.upsample(pixels, image_size)
    images = np.stack([sess.run(image, {pixels: data.images[i]})
                       for i in sorted(chosen)])
  return images, '%d images of %s' % (len(images), data.name)


def preprocess_files(paths: List[str], method: str, image_size: int, *,
                     role: str = 'check') -> Tuple[np.ndarray, List[str]]:
  """Image files through the checkpoint's evaluation preprocessing.

  Returns:
    ``(float32 [N, size, size, 3], paths)``.

  Raises:
    ExportError: a file that does not decode, named.
  """
  encoded = []
  for path in paths:
    with open(path, 'rb') as f:
      encoded.append(f.read())
  return _preprocess(encoded, lambda i: paths[i], method, image_size,
                     role), paths


def _preprocess(encoded: List[bytes], name: Callable[[int], str],
                method: str, image_size: int, role: str) -> np.ndarray:
  """Decodes and preprocesses encoded images; ``name(i)`` names a bad one."""
  from resnet_v2_slim.data import preprocessing  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    contents = tf.placeholder(tf.string, [])
    image = preprocessing.preprocess(preprocessing.decode_image(contents),
                                     method, image_size)
    rows = []
    with tf.Session() as sess:
      for index, data in enumerate(encoded):
        try:
          rows.append(sess.run(image, {contents: data}))
        except tf.errors.OpError as exc:   # one line, not the graph's trace
          raise ExportError(
              '%s, a %s image, does not decode: %s. Fix or remove it, or '
              'give other %s images.' % (name(index), role, role,
                                         errors.quoted(exc))) from None
  if not rows:
    raise ExportError('no %s images were found; give a folder or shards '
                      'that hold images.' % role)
  return np.stack(rows)


def check_files(*, data_dir: Optional[str] = None,
                tfrecord: Optional[str] = None,
                count: int = NUM_CHECK_IMAGES, role: str = 'check',
                flag: str = 'tfrecord') -> Tuple[List[bytes], str]:
  """The first ``count`` image files of ``data_dir`` or ``tfrecord``, as
  stored (encoded bytes); ``flag`` names the shards in messages.

  Returns:
    ``(list of bytes, where they came from)``.
  """
  from resnet_v2_slim.data import images as images_lib  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.data import tfrecords  # pylint: disable=g-import-not-at-top
  if data_dir is not None:
    encoded = []
    paths = images_lib.scan_folder(data_dir, min_classes=1).paths
    for path in paths[:count]:
      with open(path, 'rb') as f:
        encoded.append(f.read())
    return encoded, '%d images of `data_dir` %s' % (len(encoded), data_dir)
  encoded = []
  for shard in tfrecords.find_shards(tfrecord, flag):
    try:
      for raw in tf.io.tf_record_iterator(shard):
        encoded.append(tf.train.Example.FromString(raw).features.feature[
            'image/encoded'].bytes_list.value[0])
        if len(encoded) == count:
          return encoded, '%d images of `%s` %s' % (count, flag, tfrecord)
    except Exception as exc:  # pylint: disable=broad-except
      # TensorFlow's DataLossError, protobuf's DecodeError, a missing key.
      raise ExportError('`%s` shard %s is damaged near record %d (%s): '
                        'reconvert it, or give other %s images.'
                        % (flag, shard, len(encoded), errors.quoted(exc),
                           role)) from None
  return encoded, '%d images of `%s` %s' % (len(encoded), flag, tfrecord)


def export_inference_graph(
    checkpoint_path: str, *, output_file: Optional[str] = None,
    saved_model_dir: Optional[str] = None, model: str = 'auto',
    num_classes: Any = 'auto', image_size: Optional[int] = None,
    batch_size: Optional[int] = None, keras_file: Optional[str] = None,
    keras_layout: str = 'twin', onnx_file: Optional[str] = None,
    openvino_dir: Optional[str] = None, tflite_file: Optional[str] = None,
    quantize: Optional[str] = None, data_dir: Optional[str] = None,
    tfrecord: Optional[str] = None, tolerance: Optional[float] = None,
    raw_weights: bool = False, precision: str = 'fp32',
    log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
  """Restores a checkpoint and writes it for serving, on any set of engines.

  Every output has the frozen graph's interface: preprocessed float32
  images ``[N, H, W, 3]`` in, the logits first out (then the softmax).
  Each bridge output (Keras, ONNX, OpenVINO, TFLite) is written to a
  temporary path, run on its engine next to the TensorFlow graph on the
  same images (``check_images``) and moved into place only if it agrees:
  an fp32 artifact beyond ``tolerance`` leaves nothing at its path.

  Args:
    checkpoint_path: anything ``checkpoints.resolve`` accepts.
    output_file: where to write the frozen GraphDef (``.pb``), or None.
    saved_model_dir: where to write a SavedModel, or None.
    model: network name or 'auto' (from the checkpoint).
    num_classes: class count or 'auto' (from the checkpoint).
    image_size: input height and width (default: the published
      checkpoint's, e.g. 299, else the network's ``default_image_size``).
    batch_size: fixed batch size, or None for any.
    keras_file: a Keras 3 ``.keras`` file (``keras_twin``).
    keras_layout: 'twin' (exact) or 'applications' (the stock
      ``keras.applications`` model, 1000 classes; its difference is
      reported, not refused).
    onnx_file: an ONNX file (tf2onnx, opset ``bridges.ONNX_OPSET``,
      dynamic batch).
    openvino_dir: a folder for OpenVINO IR (``model.xml``/``.bin``).
    tflite_file: a ``.tflite`` file (any batch).
    quantize: None or 'int8': post-training quantization of the ONNX,
      OpenVINO and TFLite outputs (``quantize``), calibrated on the images
      of ``data_dir``/``tfrecord`` (``ExportSettings`` has the other
      calibration and accuracy-gate settings).
    data_dir, tfrecord: the user's images to verify and calibrate with.
    tolerance: relative logit difference an fp32 artifact may have
      (default ``bridges.TOLERANCE``).
    raw_weights: export the raw weights even where the checkpoint holds
      moving averages (used by default, as research/slim's eval).
    precision: 'fp32' or 'bf16': the frozen graph and SavedModel compute in
      bfloat16 (weights frozen as bfloat16 constants; the SavedModel casts
      its float32 variables once, when loaded), their logits compared with
      fp32's and the difference reported. The bridges are made from the
      float32 graph (OpenVINO's bf16 is chosen when it runs).
    log: where report lines go (default: nowhere).

  Returns:
    ``{'tensors': TENSOR_NAMES, 'reports': [verify reports]}``.

  Raises:
    ExportError: nothing to write, or a bad option.
    fileio.OutputPathError: an output path that cannot be used.
    CheckpointError: if the checkpoint does not fit (nothing is written).
    bridges.VerificationError: an fp32 artifact that disagrees.
    engines.EngineError: a converter or engine that is not installed.
  """
  settings = ExportSettings(
      checkpoint=checkpoint_path, output_file=output_file,
      saved_model_dir=saved_model_dir, model=model, num_classes=num_classes,
      image_size=image_size or 'auto', batch_size=batch_size,
      keras_file=keras_file, keras_layout=keras_layout, onnx_file=onnx_file,
      openvino_dir=openvino_dir, tflite_file=tflite_file, quantize=quantize,
      data_dir=data_dir, tfrecord=tfrecord, tolerance=tolerance,
      raw_weights=raw_weights, precision=precision)
  return export(settings, log=log)


def export(settings: ExportSettings,
           log: Optional[Callable[[str], None]] = None) -> Dict[str, Any]:
  """``export_inference_graph`` with its arguments in an ``ExportSettings``.

  Checks every option and path first, then resolves the checkpoint (and
  the check and calibration images), converts and verifies every bridge
  output, applies the accuracy gate to each reduced-precision one
  (``accuracy_gate``: int8, OpenVINO's bf16, ``precision`` bf16), and only
  then writes the TensorFlow outputs and moves the bridge outputs into
  place: a refused output leaves every older file as it was.

  Args:
    settings: what to export where (``preprocessing`` is not used: each
      output takes preprocessed images); ``tolerance`` None means
      ``bridges.TOLERANCE``.
    log: where report lines go (default: nowhere).

  Returns:
    ``{'tensors': TENSOR_NAMES, 'reports': [verify reports]}``.

  Raises:
    As ``export_inference_graph``.
  """
  from resnet_v2_slim.inference import bridges  # pylint: disable=g-import-not-at-top
  log = log or (lambda line: None)
  if settings.tolerance is None:
    settings = dataclasses.replace(settings, tolerance=bridges.TOLERANCE)
  _check_options(settings)
  settings = check_paths(settings)
  resolved = _resolve(settings, log)
  reference, source = _tf_graphs(settings, resolved, log)
  with contextlib.closing(source.session):
    gate = _gate(settings, resolved, log)
    if gate and settings.precision != 'fp32':   # before anything is written
      gate.judge(settings.output_file or settings.saved_model_dir,
                 'tensorflow %s' % settings.precision,
                 precision=settings.precision)
    write_tf = lambda: _write_tf_outputs(settings, source)
    if not any(_bridge_paths(settings).values()):
      write_tf()
      return {'tensors': dict(TENSOR_NAMES), 'reports': []}
    reports = _write_bridges(_BridgeRun(
        settings=settings, resolved=resolved, reference=reference, log=log,
        gate=gate), before_commit=write_tf)
  return {'tensors': dict(TENSOR_NAMES), 'reports': reports}


def _gate(settings: ExportSettings, resolved: '_Resolved',
          log: Callable[[str], None]):
  """The accuracy gate, where an output computes in reduced precision
  (int8, OpenVINO's bf16, ``precision`` bf16); else None."""
  from resnet_v2_slim.inference import accuracy_gate  # pylint: disable=g-import-not-at-top
  if not (settings.quantize or settings.openvino_dir or
          settings.precision != 'fp32'):
    return None
  return accuracy_gate.Gate.from_settings(settings, resolved.image_size,
                                          log=log)


# The modules each bridge output needs, checked before any work.
_BRIDGE_MODULES = {'onnx_file': ('tf2onnx', 'onnxruntime'),
                   'openvino_dir': ('tf2onnx', 'openvino'),
                   'tflite_file': ()}


def _bridge_paths(settings: ExportSettings) -> Dict[str, Optional[str]]:
  """``{argument: path or None}`` of the bridge outputs, in BRIDGE_OUTPUTS
  order."""
  return {name: getattr(settings, name) for name in BRIDGE_OUTPUTS}


def _check_options(settings: ExportSettings) -> None:
  """Refuses options that do not fit together, before any work.

  Args:
    settings: the export's settings, ``tolerance`` resolved.

  Raises:
    ExportError: nothing to write, or a bad option.
    inputs.PrecisionError: a precision that is not offered.
    engines.EngineError: a converter or engine that is not installed.
  """
  from resnet_v2_slim.inference import engines  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import keras_twin  # pylint: disable=g-import-not-at-top
  s, bridge = settings, _bridge_paths(settings)
  if not (s.output_file or s.saved_model_dir or any(bridge.values())):
    raise ExportError('give at least one output: `output_file`, '
                      '`saved_model_dir`, `%s`.' % '`, `'.join(
                          BRIDGE_OUTPUTS))
  _check_quantize(s)
  if s.keras_layout not in keras_twin.LAYOUTS:
    raise ExportError('`keras_layout` must be one of %s, got %r.'
                      % (', '.join(keras_twin.LAYOUTS), s.keras_layout))
  if s.keras_layout != 'twin' and not s.keras_file:
    raise ExportError('`keras_layout` %s shapes the `keras_file`; give one.'
                      % s.keras_layout)
  check_tolerance(s.tolerance)
  if s.batch_size and any(bridge.values()):
    # The check images are fed in one batch of their own size; each bridge
    # sets its batch itself (ONNX and OpenVINO any, TFLite 1).
    raise ExportError('`batch_size` fixes the batch of `output_file` and '
                      '`saved_model_dir` only; export the %s without it.'
                      % ', '.join('`%s`' % b for b in BRIDGE_OUTPUTS
                                  if bridge[b]))
  if s.keras_file and not s.keras_file.endswith('.keras'):
    raise ExportError('`keras_file` must end in .keras (Keras 3\'s own '
                      'format), got %s.' % s.keras_file)
  if [s.data_dir, s.tfrecord, s.dataset_name].count(None) < 2:
    raise ExportError('give one of `data_dir`, `tfrecord` and `dataset_name` '
                      'for the check images, not several.')
  inputs.check_precision(s.precision)
  if s.precision != 'fp32' and not (s.output_file or s.saved_model_dir):
    raise ExportError('`precision` %s applies to `output_file` and '
                      '`saved_model_dir` (the bridges are made from the '
                      'float32 graph); give one of them.' % s.precision)
  for name, modules in _BRIDGE_MODULES.items():
    if bridge[name]:
      for module in modules:
        engines.require(module)


# The outputs int8 applies to (Keras 3 quantizes Dense layers only).
QUANTIZABLE = ('onnx_file', 'openvino_dir', 'tflite_file')


def _check_quantize(settings: ExportSettings) -> None:
  """Refuses quantization settings that cannot be applied, before any work.

  Raises:
    ExportError: naming the setting and what to do.
  """
  from resnet_v2_slim.inference import accuracy_gate  # pylint: disable=g-import-not-at-top
  s = settings
  if s.quantize not in QUANTIZE:
    raise ExportError('`quantize` must be int8 (or left out), got %r.'
                      % (s.quantize,))
  if s.quantize and not any(getattr(s, name) for name in QUANTIZABLE):
    raise ExportError('`quantize` int8 applies to `%s`; give one of them.'
                      % '`, `'.join(QUANTIZABLE))
  if s.quantize and s.keras_file:
    raise ExportError('`quantize` int8 has no Keras 3 engine here (Keras 3 '
                      'quantizes Dense layers only): export `keras_file` '
                      'without `quantize`, in a command of its own.')
  if not s.quantize and s.calibration_data:
    raise ExportError('`calibration_data` calibrates `quantize` int8; add '
                      '`quantize` int8 or leave it out.')
  if not (isinstance(s.calibration_size, int) and s.calibration_size > 0):
    raise ExportError('`calibration_size` must be a positive number of '
                      'images, got %r.' % (s.calibration_size,))
  if s.max_examples is not None and s.max_examples <= 0:
    raise ExportError('`max_examples` must be > 0, got %r.'
                      % (s.max_examples,))
  accuracy_gate.check_ratio(s.min_accuracy_ratio)


def check_tolerance(tolerance: Any) -> None:
  """Raises ExportError unless ``tolerance`` is a number in (0, 1)."""
  if not (isinstance(tolerance, (int, float)) and 0 < tolerance < 1):
    raise ExportError('`tolerance` must be a number between 0 and 1, got '
                      '%r.' % (tolerance,))


def check_paths(settings: ExportSettings) -> ExportSettings:
  """Refuses output paths that cannot be written or would hit an input.

  Args:
    settings: the export's settings.

  Returns:
    ``settings`` with the output folders made absolute.

  Raises:
    fileio.OutputPathError: an output path that cannot be used.
  """
  s, bridge = settings, _bridge_paths(settings)
  input_paths = checkpoints.input_paths(s.checkpoint) + [
      ('`data_dir`', s.data_dir)] + ([('`tfrecord`', shard) for shard in
                                      _shards(s.tfrecord)]
                                     if s.tfrecord else []) + (
                                         _calibration_inputs(
                                             s.calibration_data))
  fileio.check_outputs(
      outputs=[('`output_file`', s.output_file),
               ('`saved_model_dir`', s.saved_model_dir)] +
      [('`%s`' % k, v) for k, v in bridge.items()], inputs=input_paths)
  if (s.output_file and s.saved_model_dir is None and
      os.path.isdir(s.output_file)):
    raise fileio.OutputPathError('`output_file` %s is a folder; give a file '
                                 'name such as model.pb.' % s.output_file)
  for name, path in [('output_file', s.output_file)] + [
      (k, v) for k, v in bridge.items() if k != 'openvino_dir']:
    if path:
      fileio.check_writable(path, '`%s`' % name)
  folders = {}
  if s.saved_model_dir:
    folders['saved_model_dir'] = fileio.check_replaceable_dir(
        s.saved_model_dir, SAVED_MODEL_ENTRIES, '`saved_model_dir`',
        'a SavedModel')
  if s.openvino_dir:
    folders['openvino_dir'] = fileio.check_replaceable_dir(
        s.openvino_dir, OPENVINO_ENTRIES, '`openvino_dir`',
        'an OpenVINO model')
  return dataclasses.replace(s, **folders)


@dataclasses.dataclass(frozen=True)
class _Resolved:
  """What the checkpoint answered, and the images the outputs are checked on.
  """
  model: str
  num_classes: int
  info: Any              # checkpoints.CheckpointInfo
  method: str            # the evaluation preprocessing of ``check``
  image_size: int
  averages: bool         # restore the moving averages of the weights
  check: Optional[np.ndarray]   # None when no output is compared
  calibration: Any = None   # quantize.Calibration, with ``quantize``


def _resolve(settings: ExportSettings, log: Callable[[str], None]
             ) -> _Resolved:
  """Resolves 'auto' from the checkpoint and makes the check images.

  Args:
    settings: the export's settings, checked.
    log: where report lines go.

  Returns:
    A ``_Resolved``.

  Raises:
    CheckpointError: if the checkpoint does not fit.
  """
  s = settings
  model, num_classes, info = checkpoints.choose_model(s.checkpoint, s.model,
                                                     s.num_classes)
  method, image_size = info.input_defaults(model, image_size=s.image_size or
                                           'auto')
  image_size = nets_factory.check_image_size(image_size, model=model)
  averages = checkpoints.has_moving_averages(info) and not s.raw_weights
  if averages:
    log('exporting the moving averages of the weights (`raw_weights` for '
        'the raw ones)')
  check, calibration = None, None
  if s.dataset_name:
    method = 'upsampled'   # built-in sets: as train and evaluate see them
  if any(_bridge_paths(s).values()) or s.precision != 'fp32':
    check, source = check_images(
        method, image_size, data_dir=s.data_dir, tfrecord=s.tfrecord,
        dataset=(s.dataset_name, s.dataset_split_name) if s.dataset_name
        else None)
    log('checking exports on %s (%s preprocessing at %d)'
        % (source, method, image_size))
  if s.quantize:
    from resnet_v2_slim.inference import quantize  # pylint: disable=g-import-not-at-top
    calibration = quantize.calibration_images(s, method, image_size, log=log)
  return _Resolved(model=model, num_classes=num_classes, info=info,
                   method=method, image_size=image_size, averages=averages,
                   check=check, calibration=calibration)


class _Restored(NamedTuple):
  """A restored inference graph in its open session."""
  session: Any           # tf.Session; the caller closes it
  images: Any            # the input placeholder
  logits: Any
  predictions: Any
  frozen: Any            # tf.GraphDef with the weights as constants
  check_logits: Optional[np.ndarray]   # the logits on ``_Resolved.check``


class _Reference(NamedTuple):
  """The float32 graph the bridge outputs are made from and checked against.
  """
  frozen: Any            # tf.GraphDef
  logits: Optional[np.ndarray]   # on ``_Resolved.check``


def _restore(resolved: _Resolved, batch_size: Optional[int],
             precision: str) -> _Restored:
  """Builds the inference graph, restores the checkpoint and freezes it.

  Args:
    resolved: the model and check images.
    batch_size: the fixed batch size, or None for any.
    precision: 'fp32' or 'bf16' (weights cast once, when restored).

  Returns:
    A ``_Restored`` whose session the caller closes.
  """
  r = resolved
  graph = tf.Graph()
  with graph.as_default():
    images, logits, predictions = build_inference_graph(
        r.model, r.num_classes, r.image_size, batch_size,
        use_shortcut=r.info.use_shortcut, precision=precision)
    _, restore_fn = checkpoints.restorer(r.info, scope=r.model,
                                         moving_averages=r.averages)
  sess = tf.Session(graph=graph)
  try:
    restore_fn(sess)   # also casts the bf16 weight copies, once
    with graph.as_default():
      frozen = tf.graph_util.convert_variables_to_constants(
          sess, graph.as_graph_def(), ['logits', 'predictions'])
    out = sess.run(logits, {images: r.check}) if r.check is not None else None
  except BaseException:
    sess.close()
    raise
  return _Restored(session=sess, images=images, logits=logits,
                   predictions=predictions, frozen=frozen, check_logits=out)


def _tf_graphs(settings: ExportSettings, resolved: _Resolved,
               log: Callable[[str], None]) -> Tuple[_Reference, _Restored]:
  """Restores the float32 graph (the bridges' source and reference) and,
  for ``precision`` bf16, the graph the TF outputs are written from.

  Returns:
    ``(the float32 _Reference, the _Restored to write)``; the caller closes
    the second's session.
  """
  from resnet_v2_slim.inference import bridges  # pylint: disable=g-import-not-at-top
  fp32 = _restore(resolved, settings.batch_size, 'fp32')
  reference = _Reference(frozen=fp32.frozen, logits=fp32.check_logits)
  if settings.precision == 'fp32':
    return reference, fp32
  fp32.session.close()   # the TF outputs come from the half graph
  source = _restore(resolved, settings.batch_size, settings.precision)
  log('the %s graph against fp32 on the check images: %s'
      % (settings.precision, bridges.numbers_line(bridges.compare(
          source.check_logits, reference.logits))))
  return reference, source


def _write_tf_outputs(settings: ExportSettings, source: _Restored) -> None:
  """Writes the frozen graph and SavedModel (from the ``precision`` graph).

  Raises:
    fileio.OutputPathError: an output could not be written (e.g. a full
      disk); earlier files are intact.
  """
  try:
    if settings.output_file:
      _write_frozen_graph(source.frozen, settings.output_file)
    if settings.saved_model_dir:
      _write_saved_model(source, settings.saved_model_dir)
  except OSError as exc:   # e.g. a full disk: one line, not a traceback
    raise fileio.OutputPathError(
        'could not write the export (%s); earlier files are intact.'
        % (exc.strerror or exc)) from None


def _calibration_inputs(data: Optional[str]) -> List[Tuple[str, str]]:
  """``calibration_data`` as inputs the outputs must not hit."""
  if data is None or os.path.isdir(data):
    return [('`calibration_data`', data)] if data else []
  return [('`calibration_data`', shard) for shard in
          _shards(data, 'calibration_data')]


def _shards(pattern, flag='tfrecord'):
  from resnet_v2_slim.data import tfrecords  # pylint: disable=g-import-not-at-top
  return tfrecords.find_shards(pattern, flag)


def _write_frozen_graph(frozen, output_file: str) -> None:
  """Writes the frozen GraphDef to ``output_file`` atomically.

  Args:
    frozen: a ``tf.GraphDef``.
    output_file: the ``.pb`` path.
  """
  fileio.atomic_write_bytes(output_file, frozen.SerializeToString())


def _write_saved_model(restored: _Restored, saved_model_dir: str) -> None:
  """Writes a SavedModel of the restored graph, replacing the folder.

  It is built in a temporary folder beside ``saved_model_dir`` and swapped
  into place whole (``fileio.replace_dir``), so a failed write leaves the
  older export intact.

  Args:
    restored: the graph and its session.
    saved_model_dir: the folder (checked: empty or an older SavedModel).
  """
  tmp_dir = fileio.temporary_path(saved_model_dir, folder=True)
  os.rmdir(tmp_dir)  # the builder wants to create it
  try:
    with restored.session.graph.as_default():
      builder = tf.saved_model.Builder(tmp_dir)
      signature = tf.saved_model.predict_signature_def(
          inputs={'input': restored.images},
          outputs={'logits': restored.logits,
                   'predictions': restored.predictions})
      # A bf16 graph's weight copies are cast from the restored float32
      # variables once, by the op a loader runs after restoring.
      copies = restored.session.graph.get_collection(
          precision_lib.CAST_ONCE_COPIES)
      builder.add_meta_graph_and_variables(
          restored.session, [tf.saved_model.tag_constants.SERVING],
          signature_def_map={SIGNATURE_KEY: signature},
          strip_default_attrs=True,
          main_op=tf.group([c.initializer for c in copies]) if copies
          else None)
      builder.save()
    fileio.replace_dir(tmp_dir, saved_model_dir)
  finally:
    fileio.remove_path(tmp_dir)


@dataclasses.dataclass
class _BridgeRun:
  """One export's bridge outputs: what they are made from and checked
  against, and what has been written so far."""
  settings: ExportSettings
  resolved: _Resolved
  reference: _Reference
  log: Callable[[str], None]
  stage: Optional[fileio.Staging] = None   # temporaries, scratch folder
  onnx_path: Optional[str] = None   # the fp32 ONNX model (OpenVINO's too)
  gate: Any = None   # accuracy_gate.Gate, or None
  reports: List[Dict[str, Any]] = dataclasses.field(default_factory=list)


def _write_bridges(run: _BridgeRun, *, before_commit: Callable[[], None]
                   ) -> List[Dict[str, Any]]:
  """Converts and verifies each bridge output, then moves all into place.

  Nothing is moved (and ``before_commit``, the TF outputs' writer, is not
  called) until every output agreed with the TF graph and passed the
  accuracy gate, so a failed export replaces none of the older files.

  Args:
    run: the export's settings, check images and reference.
    before_commit: called once all are verified, before they are moved.

  Returns:
    The ``bridges.verify`` reports, one per check.

  Raises:
    fileio.OutputPathError: a file could not be written.
    bridges.VerificationError: an fp32 artifact that disagrees.
  """
  s = run.settings
  with fileio.staging('resnet-v2-slim-export-') as run.stage:
    staged = [   # each verified (and gated) when made; then all into place
        _keras_bridge(run) if s.keras_file else None,
        _onnx_bridge(run) if s.onnx_file or s.openvino_dir else None,
        _openvino_bridge(run) if s.openvino_dir else None,
        _tflite_bridge(run) if s.tflite_file else None]
    before_commit()
    run.stage.commit(staged)
  return run.reports


def _verify(run: _BridgeRun, path: str, target: str, *,
            precision: str = 'fp32', exact: bool = True,
            classes: Optional[slice] = None,
            holds: Optional[str] = None) -> Dict[str, Any]:
  """Runs a written bridge output on its engine next to the TF graph.

  Args:
    run: the export (check images, reference logits, tolerance, reports).
    path: the temporary file or folder to run.
    target: where it will go (named in the report).
    precision: the engine's inference precision.
    exact: refuse it beyond the tolerance (else only report).
    classes: the logits to compare (the stock Keras model has no
      background class).
    holds: the precision the report names, if not ``precision``.

  Returns:
    The report, also logged and appended to ``run.reports``.

  Raises:
    bridges.VerificationError: an exact output that disagrees.
  """
  from resnet_v2_slim.inference import bridges  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import engines  # pylint: disable=g-import-not-at-top
  with engines.load(path, None, precision=precision) as engine:
    report = bridges.verify(engine, run.resolved.check, run.reference.logits,
                            exact=exact, tolerance=run.settings.tolerance,
                            classes=classes)
  report['path'] = target
  report['precision'] = holds or report['precision']
  run.log(bridges.report_line(report))
  run.reports.append(report)
  return report


def _keras_bridge(run: _BridgeRun) -> fileio.Staged:
  """Writes and verifies the Keras 3 model (``keras_twin``)."""
  from resnet_v2_slim.inference import keras_twin  # pylint: disable=g-import-not-at-top
  s, r = run.settings, run.resolved
  applications = s.keras_layout == 'applications'
  tmp = run.stage.new_temp(s.keras_file)
  keras_twin.from_checkpoint(
      r.info.path, model=r.model, num_classes=r.num_classes,
      image_size=r.image_size if applications else None,
      layout=s.keras_layout, moving_averages=r.averages).save(tmp)
  _verify(run, tmp, s.keras_file, exact=not applications,
          classes=slice(1, None) if applications and r.num_classes == 1001
          else None)
  if applications:
    run.log('note: the stock keras.applications model pads pool1 on both '
            'sides (slim: SAME) and has no background class; the numbers '
            'above are that difference. `keras_layout` twin is exact.')
  return fileio.Staged(tmp, s.keras_file, folder=False)


def _onnx_bridge(run: _BridgeRun) -> Optional[fileio.Staged]:
  """Converts the frozen graph to ONNX (for ``onnx_file`` or OpenVINO);
  with ``quantize`` int8, ONNX Runtime's static quantization of it.

  Returns:
    The verified ``onnx_file``, or None when ONNX is only OpenVINO's input
    (then it stays in the scratch folder).
  """
  from resnet_v2_slim.inference import bridges  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import quantize  # pylint: disable=g-import-not-at-top
  s = run.settings
  int8 = s.quantize == 'int8'
  run.onnx_path = (run.stage.new_temp(s.onnx_file) if s.onnx_file and
                   not int8 else os.path.join(run.stage.scratch,
                                              'model.onnx'))
  bridges.to_onnx(run.reference.frozen, run.onnx_path)
  if not s.onnx_file:
    return None
  path = run.onnx_path
  if int8:
    path = run.stage.new_temp(s.onnx_file)
    quantize.onnx_int8(run.onnx_path, path, run.resolved.calibration.images)
  _checked(run, path, s.onnx_file, 'onnxruntime')
  return fileio.Staged(path, s.onnx_file, folder=False)


def _checked(run: _BridgeRun, path: str, target: str, engine: str) -> None:
  """Verifies an output; int8 is reported (not refused) and gated."""
  from resnet_v2_slim.inference import quantize  # pylint: disable=g-import-not-at-top
  if not run.settings.quantize:
    _verify(run, path, target)
    return
  _verify(run, path, target, exact=False, holds='int8')
  run.log('  int8 %s' % quantize.describe(run.resolved.calibration))
  if run.gate:
    run.gate.judge(target, '%s int8' % engine, model_file=path)


def _openvino_bridge(run: _BridgeRun) -> fileio.Staged:
  """Converts the ONNX model to OpenVINO IR (int8: NNCF) and verifies it.
  """
  from resnet_v2_slim.inference import bridges  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import quantize  # pylint: disable=g-import-not-at-top
  s = run.settings
  folder = run.stage.new_temp(s.openvino_dir, folder=True)
  if s.quantize == 'int8':
    quantize.openvino_int8(run.onnx_path, folder,
                           run.resolved.calibration.images)
    _checked(run, folder, s.openvino_dir, 'openvino')
    return fileio.Staged(folder, s.openvino_dir, folder=True)
  bridges.to_openvino(run.onnx_path, folder)
  _verify(run, folder, s.openvino_dir)
  # What the CPU plugin runs by default here (bf16 on AVX512_BF16/AMX):
  # reported, and judged by the gate.
  _verify(run, folder, s.openvino_dir, precision='bf16', exact=False)
  if run.gate:
    run.gate.judge(s.openvino_dir, 'openvino bf16', model_file=folder,
                   precision='bf16')
  return fileio.Staged(folder, s.openvino_dir, folder=True)


def _tflite_bridge(run: _BridgeRun) -> fileio.Staged:
  """Converts the frozen graph to TFLite (any batch; int8: calibrated on
  the calibration images) and verifies it."""
  from resnet_v2_slim.inference import bridges  # pylint: disable=g-import-not-at-top
  s, r = run.settings, run.resolved
  # The converter's input, an intermediate file.
  frozen_path = os.path.join(run.stage.scratch, 'frozen.pb')
  with open(frozen_path, 'wb') as f:
    f.write(run.reference.frozen.SerializeToString())
  tmp = run.stage.new_temp(s.tflite_file)
  bridges.to_tflite(frozen_path, tmp, r.image_size, quantize=s.quantize,
                    calibration=r.calibration.images if r.calibration
                    else None)
  _checked(run, tmp, s.tflite_file, 'litert')
  return fileio.Staged(tmp, s.tflite_file, folder=False)
