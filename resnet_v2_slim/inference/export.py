"""Exports a checkpoint for serving, on TensorFlow and beyond.

A frozen inference graph and a SavedModel (TF1 graph mode), and through
``bridges`` and ``keras_twin`` a Keras 3 model, ONNX, OpenVINO IR and
TFLite (fp32 or int8). Every output is in inference mode (batch norm uses
the moving averages) with one interface: already-preprocessed float32
images ``[batch or None, H, W, 3]`` in (``input``; see ``preprocessing``),
the logits ``[N, num_classes]`` first out, then ``predictions`` (softmax).
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

import dataclasses
import os
import shutil
import tempfile

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v2_slim import checkpoints
from resnet_v2_slim import errors
from resnet_v2_slim.inference import inputs
from resnet_v2_slim.utils import fileio
from resnet_v2_slim.utils.settings import setting
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


def build_inference_graph(model, num_classes, image_size, batch_size=None, *,
                          use_shortcut=True, precision='fp32'):
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


def _replace_dir(tmp_dir, target):
  """Moves ``tmp_dir`` to ``target``, replacing an older export safely."""
  backup = None
  if os.path.exists(target):
    backup = tempfile.mkdtemp(prefix='.old-', dir=os.path.dirname(target))
    os.rmdir(backup)
    os.rename(target, backup)
  try:
    os.rename(tmp_dir, target)
  except OSError:
    if backup:
      os.rename(backup, target)
    raise
  if backup:
    shutil.rmtree(backup, ignore_errors=True)


# The arguments (and flags) of the outputs that leave TF1, in the order they
# are written; the OpenVINO folder may hold only OPENVINO_ENTRIES.
BRIDGE_OUTPUTS = ('keras_file', 'onnx_file', 'openvino_dir', 'tflite_file')
OPENVINO_ENTRIES = ('model.xml', 'model.bin')
QUANTIZE = (None, 'int8')
NUM_CHECK_IMAGES = 8


@dataclasses.dataclass(kw_only=True)
class ExportSettings(inputs.InputSettings):
  """``export``'s settings; its flags are made from these fields."""
  checkpoint: str = setting(help='checkpoint prefix, file or folder')
  output_file: str = setting(None, help='frozen GraphDef to write (.pb)')
  saved_model_dir: str = setting(None, help='SavedModel folder to write '
                                 '(replaced if it holds only a SavedModel)')
  keras_file: str = setting(None, help='Keras 3 model to write (.keras)')
  keras_layout: str = setting('twin', choices=('twin', 'applications'),
                              help='twin: exact, all of the checkpoint\'s '
                              'classes; applications: the stock '
                              'keras.applications ResNet V2 (1000 classes, '
                              'its difference reported)')
  onnx_file: str = setting(None, help='ONNX model to write (.onnx)')
  openvino_dir: str = setting(None, help='folder for OpenVINO IR '
                              '(model.xml, model.bin)')
  tflite_file: str = setting(None, help='TFLite model to write (.tflite)')
  quantize: str = setting(None, choices=('int8',),
                          help='int8: post-training quantization of '
                          '--tflite_file, calibrated on the check images')
  data_dir: str = setting(None, help='class sub-folders: the images to '
                          'check (and calibrate) exports with (default: '
                          'generated images)')
  tfrecord: str = setting(None, metavar='PATTERN', help='TF-Slim shards '
                          'instead of --data_dir')
  tolerance: float = setting(1e-4, help='largest relative logit difference '
                             'an fp32 export may have (default %(default)s)')
  batch_size: int = setting(None, type=int, help='fixed batch size of the '
                            'frozen graph and SavedModel (default: any)')


def check_images(method, image_size, *, data_dir=None, tfrecord=None,
                 count=NUM_CHECK_IMAGES, seed=0):
  """Preprocessed images to verify (and calibrate) exports with.

  The first ``count`` images of ``data_dir`` (class sub-folders) or of the
  ``tfrecord`` shards, through the checkpoint's evaluation preprocessing;
  without either, ``count`` generated images uniform in [-1, 1] (the range
  both preprocessings produce).

  Returns:
    ``(float32 [count, size, size, 3], where they came from)``.
  """
  from resnet_v2_slim.data import images as images_lib  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.data import preprocessing  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.data import tfrecords  # pylint: disable=g-import-not-at-top
  if data_dir is None and tfrecord is None:
    rng = np.random.RandomState(seed)
    return (rng.uniform(-1, 1, (count, image_size, image_size, 3))
            .astype(np.float32), '%d generated images' % count)
  if data_dir is not None:
    encoded = [open(p, 'rb').read() for p in
               images_lib.scan_folder(data_dir).paths[:count]]
    source = '%d images of `data_dir` %s' % (len(encoded), data_dir)
  else:
    encoded = []
    for shard in tfrecords.find_shards(tfrecord):
      for raw in tf.io.tf_record_iterator(shard):
        encoded.append(tf.train.Example.FromString(raw).features.feature[
            'image/encoded'].bytes_list.value[0])
        if len(encoded) == count:
          break
      if len(encoded) == count:
        break
    source = '%d images of `tfrecord` %s' % (len(encoded), tfrecord)
  with tf.Graph().as_default():
    contents = tf.placeholder(tf.string, [])
    image = preprocessing.preprocess(preprocessing.decode_image(contents),
                                     method, image_size)
    with tf.Session() as sess:
      return np.stack([sess.run(image, {contents: e}) for e in encoded]), (
          source)


def _temporary(path, folder=False):
  """A new temporary file or folder beside ``path``, for an atomic move.

  A file keeps ``path``'s extension (Keras wants ``.keras``).
  """
  where = dict(prefix='.' + os.path.basename(path) + '.',
               dir=os.path.dirname(os.path.abspath(path)))
  if folder:
    return tempfile.mkdtemp(**where)
  fd, tmp = tempfile.mkstemp(suffix='.tmp' + os.path.splitext(path)[1],
                             **where)
  os.close(fd)
  return tmp


def export_inference_graph(checkpoint_path, *, output_file=None,
                           saved_model_dir=None, model='auto',
                           num_classes='auto', image_size=None,
                           batch_size=None, keras_file=None,
                           keras_layout='twin', onnx_file=None,
                           openvino_dir=None, tflite_file=None,
                           quantize=None, data_dir=None, tfrecord=None,
                           tolerance=None, raw_weights=False,
                           precision='fp32', log=None):
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
    tflite_file: a ``.tflite`` file (batch 1).
    quantize: None or 'int8' (TFLite post-training quantization,
      calibrated on the check images).
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
  from resnet_v2_slim.inference import bridges  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import engines  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import keras_twin  # pylint: disable=g-import-not-at-top
  log = log or (lambda line: None)
  tolerance = bridges.TOLERANCE if tolerance is None else tolerance
  bridge = {'keras_file': keras_file, 'onnx_file': onnx_file,
            'openvino_dir': openvino_dir, 'tflite_file': tflite_file}
  if not (output_file or saved_model_dir or any(bridge.values())):
    raise ExportError('give at least one output: `output_file`, '
                      '`saved_model_dir`, `%s`.' % '`, `'.join(
                          BRIDGE_OUTPUTS))
  if quantize not in QUANTIZE:
    raise ExportError('`quantize` must be int8 (or left out), got %r.'
                      % (quantize,))
  if quantize and not tflite_file:
    raise ExportError('`quantize` int8 applies to `tflite_file`; give one.')
  if keras_layout not in keras_twin.LAYOUTS:
    raise ExportError('`keras_layout` must be one of %s, got %r.'
                      % (', '.join(keras_twin.LAYOUTS), keras_layout))
  if not (isinstance(tolerance, (int, float)) and 0 < tolerance < 1):
    raise ExportError('`tolerance` must be a number between 0 and 1, got '
                      '%r.' % (tolerance,))
  if data_dir and tfrecord:
    raise ExportError('give `data_dir` or `tfrecord` for the check images, '
                      'not both.')
  inputs.check_precision(precision)
  if precision != 'fp32' and not (output_file or saved_model_dir):
    raise ExportError('`precision` %s applies to `output_file` and '
                      '`saved_model_dir` (the bridges are made from the '
                      'float32 graph); give one of them.' % precision)
  needs = {'onnx_file': ['tf2onnx', 'onnxruntime'],
           'openvino_dir': ['tf2onnx', 'openvino'],
           'tflite_file': []}
  for name, modules in needs.items():
    if bridge[name]:
      for module in modules:
        engines.require(module)
  input_paths = checkpoints.input_paths(checkpoint_path) + [
      ('`data_dir`', data_dir)] + ([('`tfrecord`', s) for s in
                                    _shards(tfrecord)] if tfrecord else [])
  fileio.check_outputs(
      outputs=[('`output_file`', output_file),
               ('`saved_model_dir`', saved_model_dir)] +
      [('`%s`' % k, v) for k, v in bridge.items()], inputs=input_paths)
  if output_file and saved_model_dir is None and os.path.isdir(output_file):
    raise fileio.OutputPathError('`output_file` %s is a folder; give a file '
                                 'name such as model.pb.' % output_file)
  for name, path in [('output_file', output_file)] + [
      (k, v) for k, v in bridge.items() if k != 'openvino_dir']:
    if path:
      fileio.check_writable(path, '`%s`' % name)
  if saved_model_dir:
    saved_model_dir = fileio.check_replaceable_dir(
        saved_model_dir, SAVED_MODEL_ENTRIES, '`saved_model_dir`',
        'a SavedModel')
  if openvino_dir:
    openvino_dir = fileio.check_replaceable_dir(
        openvino_dir, OPENVINO_ENTRIES, '`openvino_dir`', 'an OpenVINO model')
  model, num_classes, info = checkpoints.choose_model(checkpoint_path, model,
                                                     num_classes)
  method, image_size = info.input_defaults(model, image_size=image_size or
                                           'auto')
  image_size = nets_factory.check_image_size(image_size, model=model)
  averages = checkpoints.has_moving_averages(info) and not raw_weights
  if averages:
    log('exporting the moving averages of the weights (`raw_weights` for '
        'the raw ones)')
  check = None
  if any(bridge.values()) or precision != 'fp32':
    check, source = check_images(method, image_size, data_dir=data_dir,
                                 tfrecord=tfrecord)
    log('checking exports on %s (%s preprocessing at %d)'
        % (source, method, image_size))

  def restored_graph(graph_precision):
    """The frozen GraphDef, the logits on ``check`` and a writer (which
    closes the graph's session)."""
    graph = tf.Graph()
    with graph.as_default():
      images, logits, predictions = build_inference_graph(
          model, num_classes, image_size, batch_size,
          use_shortcut=info.use_shortcut, precision=graph_precision)
      _, restore_fn = checkpoints.restorer(info, scope=model,
                                           moving_averages=averages)
    sess = tf.Session(graph=graph)
    restore_fn(sess)   # also casts the bf16 weight copies, once
    with graph.as_default():
      frozen = tf.graph_util.convert_variables_to_constants(
          sess, graph.as_graph_def(), ['logits', 'predictions'])
    out = sess.run(logits, {images: check}) if check is not None else None

    def write(outputs=True):
      """Writes the TF outputs from this graph (or only closes it)."""
      try:
        if not outputs:
          return
        if output_file:
          fileio.atomic_write_bytes(output_file, frozen.SerializeToString())
        if saved_model_dir:
          with graph.as_default():
            _write_saved_model(sess, images, logits, predictions,
                               saved_model_dir)
      except OSError as exc:   # e.g. a full disk: one line, not a traceback
        raise fileio.OutputPathError(
            'could not write the export (%s); earlier files are intact.'
            % (exc.strerror or exc)) from None
      finally:
        sess.close()
    return frozen, out, write

  frozen, reference, write = restored_graph('fp32')
  if precision != 'fp32':   # the TF outputs come from the half graph
    write(outputs=False)
    _, logits, write = restored_graph(precision)
    log('the %s graph against fp32 on the check images: %s'
        % (precision, bridges.numbers_line(bridges.compare(logits, reference))))
  write()
  reports = []
  if any(bridge.values()):
    reports = _write_bridges(bridge, frozen, info, model, num_classes,
                             image_size, keras_layout, quantize, check,
                             reference, tolerance, log, averages)
  return {'tensors': dict(TENSOR_NAMES), 'reports': reports}


def _shards(pattern):
  from resnet_v2_slim.data import tfrecords  # pylint: disable=g-import-not-at-top
  return tfrecords.find_shards(pattern)


def _write_saved_model(sess, images, logits, predictions, saved_model_dir):
  tmp_dir = tempfile.mkdtemp(prefix='.saved_model-',
                             dir=os.path.dirname(saved_model_dir))
  os.rmdir(tmp_dir)  # the builder wants to create it
  try:
    builder = tf.saved_model.Builder(tmp_dir)
    signature = tf.saved_model.predict_signature_def(
        inputs={'input': images},
        outputs={'logits': logits, 'predictions': predictions})
    # A bf16 graph's weight copies are cast from the restored float32
    # variables once, by the op a loader runs after restoring.
    copies = sess.graph.get_collection(precision_lib.CAST_ONCE_COPIES)
    builder.add_meta_graph_and_variables(
        sess, [tf.saved_model.tag_constants.SERVING],
        signature_def_map={SIGNATURE_KEY: signature},
        strip_default_attrs=True,
        main_op=tf.group([c.initializer for c in copies]) if copies else None)
    builder.save()
    _replace_dir(tmp_dir, saved_model_dir)
  finally:
    shutil.rmtree(tmp_dir, ignore_errors=True)


def _write_bridges(bridge, frozen, info, model, num_classes, image_size,
                   keras_layout, quantize, check, reference, tolerance, log,
                   averages):
  """Converts, verifies and moves each bridge output into place."""
  from resnet_v2_slim.inference import bridges  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import engines  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import keras_twin  # pylint: disable=g-import-not-at-top
  reports, temporary = [], []

  def new_temp(path, folder=False):
    temporary.append(_temporary(path, folder))
    return temporary[-1]

  def checked(path, target, engine=None, precision='fp32', exact=True,
              classes=None, holds=None):
    with engines.load(path, engine, precision=precision) as run:
      report = bridges.verify(run, check, reference, exact=exact,
                              tolerance=tolerance, classes=classes)
    report['path'] = target
    report['precision'] = holds or report['precision']
    log(bridges.report_line(report))
    reports.append(report)
    return report

  moves = []
  scratch = tempfile.mkdtemp(prefix='resnet-v2-slim-export-')
  temporary.append(scratch)   # intermediate files, not outputs
  try:
    frozen_path = os.path.join(scratch, 'frozen.pb')
    with open(frozen_path, 'wb') as f:
      f.write(frozen.SerializeToString())
    if bridge['keras_file']:
      tmp = new_temp(bridge['keras_file'])
      keras_twin.from_checkpoint(
          info.path, model=model, num_classes=num_classes,
          image_size=image_size if keras_layout == 'applications' else None,
          layout=keras_layout, moving_averages=averages).save(tmp)
      applications = keras_layout == 'applications'
      checked(tmp, bridge['keras_file'], exact=not applications,
              classes=slice(1, None) if applications and num_classes == 1001
              else None)
      if applications:
        log('note: the stock keras.applications model pads pool1 on both '
            'sides (slim: SAME) and has no background class; the numbers '
            'above are that difference. `keras_layout` twin is exact.')
      moves.append((tmp, bridge['keras_file'], False))
    onnx_path = None
    if bridge['onnx_file'] or bridge['openvino_dir']:
      onnx_path = (new_temp(bridge['onnx_file']) if bridge['onnx_file']
                   else os.path.join(scratch, 'model.onnx'))
      bridges.to_onnx(frozen, onnx_path)
      if bridge['onnx_file']:
        checked(onnx_path, bridge['onnx_file'])
        moves.append((onnx_path, bridge['onnx_file'], False))
    if bridge['openvino_dir']:
      folder = new_temp(bridge['openvino_dir'], folder=True)
      bridges.to_openvino(onnx_path, folder)
      checked(folder, bridge['openvino_dir'])
      # What the CPU plugin runs by default here (bf16 on AVX512_BF16/AMX):
      # reported, not refused.
      checked(folder, bridge['openvino_dir'], precision='bf16', exact=False)
      moves.append((folder, bridge['openvino_dir'], True))
    if bridge['tflite_file']:
      tmp = new_temp(bridge['tflite_file'])
      bridges.to_tflite(frozen_path, tmp, image_size, quantize=quantize,
                        calibration=check)
      checked(tmp, bridge['tflite_file'], exact=quantize is None,
              holds=quantize)
      moves.append((tmp, bridge['tflite_file'], False))
    for tmp, target, folder in moves:   # all verified: now into place
      # The mode a plain write would give (mkstemp/mkdtemp make 0600/0700).
      mode = fileio.default_mode(target)
      if folder:
        os.chmod(tmp, mode | ((mode & 0o444) >> 2))   # r -> x for folders
        for name in os.listdir(tmp):
          os.chmod(os.path.join(tmp, name), mode)
        _replace_dir(tmp, target)
      else:
        os.chmod(tmp, mode)
        os.replace(tmp, target)
  except OSError as exc:
    raise fileio.OutputPathError('could not write the exports (%s); nothing '
                                 'was replaced.' % (exc.strerror or exc)
                                 ) from None
  finally:
    for path in temporary:
      if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
      elif os.path.exists(path):
        os.unlink(path)
  return reports


def import_keras(keras_path, output_prefix, *, tolerance=None, log=None):
  """A Keras ResNetV2 (``.keras`` or ``.weights.h5``) -> a slim checkpoint.

  The file is read without running code from it
  (``keras_twin.read_keras``); its weights are mapped onto the slim
  network's variable names, saved as a V2 checkpoint at ``output_prefix``
  and checked: the slim graph restored from it runs next to the Keras
  model on generated images. A twin must agree within ``tolerance`` (else
  nothing is written, ``bridges.VerificationError``); the stock
  ``keras.applications`` layout differs by design (pool1's padding), and
  the difference is reported.

  Args:
    keras_path: the Keras file.
    output_prefix: the checkpoint prefix to write (``.index`` and
      ``.data-00000-of-00001`` beside it).
    tolerance: as ``export_inference_graph``.
    log: where report lines go.

  Returns:
    ``(prefix, report)``.
  """
  from resnet_v2_slim.inference import bridges  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import keras_twin  # pylint: disable=g-import-not-at-top
  log = log or (lambda line: None)
  tolerance = bridges.TOLERANCE if tolerance is None else tolerance
  files = [output_prefix + '.index',
           output_prefix + '.data-00000-of-00001']
  fileio.check_outputs([('`output`', f) for f in files],
                       [('`model`', keras_path)])
  model, num_classes, use_shortcut, layout, keras_model = (
      keras_twin.read_keras(keras_path))
  folder = os.path.dirname(os.path.abspath(output_prefix))
  if not os.path.exists(folder):   # as train does with its train_dir
    os.makedirs(folder)
  for f in files:
    fileio.check_writable(f, '`output`')
  log('%s holds %s (%s, %d classes%s)' % (
      keras_path, model, layout, num_classes,
      '' if use_shortcut else ', no shortcuts'))
  values = keras_twin.keras_to_slim(keras_model, model,
                                    use_shortcut=use_shortcut, layout=layout)
  size = 64
  images = np.random.RandomState(0).uniform(
      -1, 1, (4, size, size, 3)).astype(np.float32)
  if layout == 'applications':
    # The stock model may fix its size and ends in a softmax: compare
    # logits through the same architecture with a linear head.
    size = keras_model.input_shape[1] or size
    images = np.random.RandomState(0).uniform(
        -1, 1, (4, size, size, 3)).astype(np.float32)
    linear = keras_twin.build(model, 1000, size, layout='applications')
    for layer in keras_model.layers:
      if layer.get_weights():
        linear.get_layer(layer.name).set_weights(layer.get_weights())
    keras_model = linear
  keras_logits = np.asarray(keras_model(images, training=False)[0])
  scratch = tempfile.mkdtemp(prefix='.import-', dir=os.path.dirname(
      os.path.abspath(output_prefix)))
  try:
    with tf.Graph().as_default() as graph:
      inputs, logits, _ = build_inference_graph(model, num_classes, size,
                                                use_shortcut=use_shortcut)
      variables = {v.op.name: v for v in tf.global_variables()}
      missing = sorted(set(variables) - set(values))
      if missing:
        raise ExportError('the Keras model has nothing for %s.'
                          % ', '.join(missing[:3]))
      saver = tf.train.Saver(variables, write_version=tf.train.SaverDef.V2)
      with tf.Session(graph=graph) as sess:
        for name, variable in variables.items():
          variable.load(values[name], sess)
        slim_logits = sess.run(logits, {inputs: images})
        tmp = saver.save(sess, os.path.join(scratch, 'model.ckpt'),
                         write_meta_graph=False, write_state=False)
    report = bridges.compare(slim_logits, keras_logits)
    line = ('checked %s against %s: %s (generated images)'
            % (output_prefix, keras_path, bridges.numbers_line(report)))
    if layout == 'twin' and not report['max_rel'] <= tolerance:
      raise bridges.VerificationError('%s; a twin must stay within '
                                      '`tolerance` %g, so nothing was '
                                      'written.' % (line, tolerance))
    log(line)
    if (keras_path.endswith('.weights.h5') and model in
        keras_twin.APPLICATIONS and use_shortcut and num_classes == 1000):
      # A weights file does not say its architecture: the twin's weights and
      # keras.applications' are the same arrays. If it came from the stock
      # model, say what the slim network computes differently.
      stock = keras_twin.build(model, 1000, size, layout='applications')
      stock.load_weights(keras_path)
      stock_logits = np.asarray(stock(images, training=False)[0])
      log('note: if %s came from keras.applications.%s, that model computes '
          'differently (pool1 padded on both sides): max |logit difference| '
          '%.2g of the logit scale against this checkpoint.'
          % (keras_path, keras_twin.APPLICATIONS[model],
             float(np.max(np.abs(slim_logits - stock_logits))) /
             float(np.max(np.abs(stock_logits)))))
    if layout == 'applications':
      log('note: keras.applications pads pool1 on both sides where slim '
          'max-pools SAME, so the slim network computes slightly '
          'differently from the stock Keras model: the numbers above.')
    for suffix, target in zip(('.index', '.data-00000-of-00001'), files):
      os.chmod(tmp + suffix, fileio.default_mode(target))
      os.replace(tmp + suffix, target)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  return output_prefix, report
