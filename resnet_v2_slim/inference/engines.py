"""Run an exported model on its own engine: TF, Keras 3, ONNX Runtime,
OpenVINO or LiteRT/TFLite, behind one call.

Every artifact ``export`` writes has the frozen graph's interface:
preprocessed float32 images ``[N, H, W, 3]`` in, the logits first out. An
``Engine`` loads one artifact and maps a batch of such images to logits, so
verification (``bridges.verify``) and measurements compare like with like.
Nothing here re-implements an engine: each wraps that engine's own Python
API.

Typical use::

    from resnet_v2_slim.inference import engines

    engine = engines.load('rn50.onnx')                # onnxruntime
    engine = engines.load('rn50_ov/model.xml', precision='bf16')
    logits = engine.run(images)                       # numpy [N, classes]
"""

import concurrent.futures
import errno
import importlib.util
import os
import re
import threading
import types
from typing import Any, Callable, Optional, Sequence, Tuple

import numpy as np

from resnet_v2_slim import _quiet
from resnet_v2_slim import errors
from resnet_v2_slim import names
from resnet_v2_slim.config import inference as inference_config
from resnet_v2_slim.inference import inputs

# Optional engines: module to import -> the pip command that brings it.
INSTALL = {
    'onnxruntime': 'pip install "resnet_v2_slim[export]"  (onnxruntime)',
    'openvino': 'pip install "resnet_v2_slim[export]"  (openvino)',
    'tf2onnx': 'pip install "resnet_v2_slim[export]"  (tf2onnx)',
    'ai_edge_litert': 'pip install "resnet_v2_slim[export]"  (ai-edge-litert)',
    'nncf': 'pip install "resnet_v2_slim[export]"  (nncf)',
}
# File kind -> engines that run it (the first is the default).
KINDS = {
    'frozen': ('tensorflow',), 'saved_model': ('tensorflow',),
    'keras': ('keras',), 'onnx': ('onnxruntime', 'openvino'),
    'openvino': ('openvino',), 'tflite': ('litert',),
}
ENGINES = names.ENGINES
PRECISIONS = inputs.PRECISIONS   # OpenVINO's inference precision hint


class EngineError(errors.Error):
  """An artifact that cannot be run, or an engine that is not installed."""


def require(module: str) -> types.ModuleType:
  """Imports an optional engine module, or one line naming the pip command."""
  if importlib.util.find_spec(module) is None:
    raise EngineError('%s is not installed: %s.' % (module, INSTALL[module]))
  try:
    return importlib.import_module(module)
  except Exception as exc:  # pylint: disable=broad-except
    # Installed but broken (a half-finished upgrade, a clashing dependency).
    package = INSTALL[module].rsplit('(', 1)[1].rstrip(')')
    raise EngineError('%s is installed but does not import (%s); reinstall '
                      'it: pip install --force-reinstall %s.'
                      % (module, errors.quoted(exc), package)) from None


def save_openvino(model: Any, folder: str) -> None:
  """Writes an OpenVINO model as ``folder/model.xml`` + ``model.bin``,
  weights kept float32 (the CPU plugin picks the inference precision when
  the model is compiled).

  Raises:
    OSError: the files could not be written (OpenVINO's own error is a
      RuntimeError with an iostream message, e.g. on a full disk).
  """
  ov = require('openvino')
  try:
    ov.save_model(model, os.path.join(folder, 'model.xml'),
                  compress_to_fp16=False)
  except RuntimeError as exc:
    raise OSError(errno.EIO, 'OpenVINO could not write %s: %s; is the disk '
                  'full?' % (folder, errors.quoted(exc, 120))) from None


def kind_of(path: str) -> str:
  """'frozen', 'saved_model', 'keras', 'onnx', 'openvino' or 'tflite'."""
  if not os.path.exists(path):
    raise EngineError('`model_file` %s does not exist: give the path of a '
                      'file or folder that export wrote.' % path)
  if os.path.isdir(path):
    if os.path.isfile(os.path.join(path, 'saved_model.pb')):
      return 'saved_model'
    if os.path.isfile(os.path.join(path, 'model.xml')):
      return 'openvino'
  ext = os.path.splitext(path)[1].lower()
  kind = {'.pb': 'frozen', '.keras': 'keras', '.onnx': 'onnx',
          '.xml': 'openvino', '.tflite': 'tflite'}.get(ext)
  if kind is None:
    raise EngineError(
        '`model_file` %s is not an exported model: give a frozen .pb, a '
        'SavedModel folder, a .keras, .onnx, OpenVINO .xml (or its folder) '
        'or .tflite file.' % path)
  return kind


class Loaded:
  """A loaded model's lifetime: ``close()`` (what it needs freed, if
  anything: a ``_close`` callable, or an overriding ``close``) and
  ``with``. ``Engine`` and ``serving_files.Runner`` add their ``run``; the
  classifiers and ``embed.Embedder`` are ``with`` objects the same way."""

  _close: Optional[Callable[[], None]] = None

  def close(self) -> None:
    if self._close:
      self._close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


class Engine(Loaded):
  """One loaded artifact: ``run(images) -> logits`` (numpy float32).

  With several ``run_fns`` (``streams``), a batch is split into that many
  parts, run at once from as many threads (each engine's own requests or
  sessions release the GIL), and joined in order.

  ``input_size`` is the (height, width) the file declares, None where its
  input takes any size. ``run`` refuses other sizes, and a result that
  is not one row of logits per image (a file run at a size it was not
  exported at, where its engine lets it), as an ``EngineError``: some
  engines would otherwise give logits of the wrong shape without a word.
  """

  def __init__(self, path: str, engine: str, precision: str,
               run_fn: Callable[[np.ndarray], np.ndarray],
               close: Optional[Callable[[], None]] = None, *,
               more_run_fns: Sequence[Callable] = (),
               runtime: Optional[dict] = None,
               input_size: Optional[Tuple[int, int]] = None) -> None:
    self.path, self.engine, self.precision = path, engine, precision
    self.input_size = input_size
    # What the engine says it runs with (threads, streams), read back.
    self.runtime = runtime or {}
    self._run, self._close = run_fn, close
    self._run_fns = [run_fn] + list(more_run_fns)
    self._pool = (concurrent.futures.ThreadPoolExecutor(len(self._run_fns))
                  if more_run_fns else None)

  @property
  def streams(self) -> int:
    return len(self._run_fns)

  def run(self, images: np.ndarray) -> np.ndarray:
    images = np.asarray(images, np.float32)
    if self.input_size and tuple(images.shape[1:3]) != self.input_size:
      raise EngineError(self._wrong_size(images))
    if self._pool is None or len(images) < 2:
      logits = np.asarray(self._run(images), np.float32)
    else:
      parts = [p for p in np.array_split(images, len(self._run_fns))
               if len(p)]
      logits = np.concatenate(list(self._pool.map(
          lambda fn, part: np.asarray(fn(part), np.float32),
          self._run_fns[:len(parts)], parts)))
    if logits.ndim != 2 or len(logits) != len(images):
      raise EngineError(self._wrong_size(images, logits.shape))
    return logits

  def _wrong_size(self, images, got=None) -> str:
    said = ('gave logits of shape %s for %d images' % (got, len(images))
            if got else 'takes %dx%d images' % self.input_size)
    return ('%s %s, not %dx%d: give the `image_size` it was exported at.'
            % (self.path, said, images.shape[1], images.shape[2]))

  def close(self) -> None:
    if self._pool is not None:
      self._pool.shutdown()
    super().close()


def load(path: str, engine: Optional[str] = None, *,
         precision: str = 'fp32', threads: Optional[int] = None,
         streams: int = 1) -> Engine:
  """Loads an artifact on its engine.

  Args:
    path: the artifact (see ``kind_of``).
    engine: one of ``KINDS[kind]``; default: the first.
    precision: 'fp32' or 'bf16': OpenVINO's inference precision; for a
      float32 TensorFlow graph, bf16 runs it through TensorFlow's own
      rewrites (``_bf16_session``); the other engines run what the file
      holds.
    threads: the engine's intra-op threads (None: its default).
    streams: parallel requests (OpenVINO, ONNX Runtime), each on part of a
      batch.

  Returns:
    An ``Engine``.

  Raises:
    EngineError: unknown file, an engine that does not run it, one that is
      not installed, a precision it does not take, a file the engine cannot
      read (damaged or cut short).
  """
  kind = kind_of(path)
  engine = engine or KINDS[kind][0]
  if engine not in KINDS[kind]:
    raise EngineError('`engine` %s does not run a %s file (%s); use %s.'
                      % (engine, kind, path, ' or '.join(KINDS[kind])))
  inputs.check_precision(precision)
  runtime = inference_config.RuntimeSettings(threads=threads,
                                             streams=streams)
  try:
    runtime.check_runtime(engine)
  except inference_config.RuntimeSettingsError as exc:
    raise EngineError(str(exc)) from None
  if precision != 'fp32' and engine not in ('openvino', 'tensorflow'):
    # Only OpenVINO and TensorFlow take an inference precision; the others
    # run what the file holds, and a report saying bf16 for their float32
    # run is wrong.
    raise EngineError('`precision` %s is an OpenVINO and TensorFlow setting; '
                      '%s runs %s in the precision it was exported with: '
                      'leave `precision` out.' % (precision, engine, path))
  try:
    return _LOADERS[engine](path, kind, precision, runtime)
  except (errors.Error, ImportError):
    raise
  except Exception as exc:  # pylint: disable=broad-except
    # One guard for every engine: each reports a damaged file its own way
    # (onnxruntime's InvalidArgument, LiteRT's and Keras' ValueError, a
    # protobuf DecodeError, OpenVINO's RuntimeError), in 25-40 lines.
    raise EngineError(_damaged(path, kind, engine, exc)) from None


def _damaged(path: str, kind: str, engine: str, exc: Exception) -> str:
  # OpenVINO opens its message with the C++ source lines that raised.
  lines = [l for l in str(exc).splitlines()
           if l.strip() and not re.match(r'^Exception from \S+:\d+:$', l)]
  said = errors.quoted(RuntimeError('\n'.join(lines) or type(exc).__name__))
  if 'File not found' in said:   # Keras' words for a file it cannot parse
    said = 'not a readable zip archive of a Keras model'
  return ('%s is not a readable %s model (damaged or cut short?): %s: %s. '
          'Export it again.' % (path, kind, engine, said.rstrip('. ')))


def session_config(threads: Optional[int]) -> Any:
  """A TensorFlow session ``ConfigProto`` with ``threads`` intra-op and
  inter-op threads, or None (TensorFlow's default: every core)."""
  fields = inference_config.RuntimeSettings(threads=threads).session_threads()
  if not fields:
    return None
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  return tf.ConfigProto(**fields)


def _tensorflow(path, kind, precision, runtime):
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  graph = tf.Graph()
  config = (_bf16_session(runtime.threads) if precision == 'bf16'
            else session_config(runtime.threads))
  with graph.as_default():
    if kind == 'frozen':
      graph_def = tf.GraphDef()
      with open(path, 'rb') as f:
        graph_def.ParseFromString(f.read())
      if precision == 'bf16':
        graph_def = _fold_batch_norms(graph_def)
      tf.import_graph_def(graph_def, name='')
      session = tf.Session(graph=graph, config=config)
      images, logits = 'input:0', 'logits:0'
    else:
      session = tf.Session(graph=graph, config=config)
      meta = tf.saved_model.loader.load(
          session, [tf.saved_model.tag_constants.SERVING], path)
      signature = meta.signature_def['serving_default']
      images = signature.inputs['input'].name
      logits = signature.outputs['logits'].name
  graph.finalize()
  # What the file computes in: a graph exported with --precision bf16
  # holds bfloat16 tensors; a float32 one runs in bf16 when asked.
  holds = 'bf16' if any(t.dtype == tf.bfloat16 for op in
                        graph.get_operations() for t in op.outputs) else (
                            precision)
  return Engine(path, 'tensorflow', holds,
                lambda x: session.run(logits, {images: x}), session.close,
                input_size=_static_size(
                    graph.get_tensor_by_name(images).shape.as_list()))


def _bf16_session(threads: Optional[int]) -> Any:
  """A session ``ConfigProto`` that runs a float32 graph in bfloat16 by
  TensorFlow's own grappler rewrite for oneDNN CPUs (what OpenVINO's bf16
  hint does at compile time; benchmarks/README.md, "the TensorFlow graph
  path against OpenVINO bf16", measures it)."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.core.protobuf import rewriter_config_pb2  # pylint: disable=g-import-not-at-top
  config = session_config(threads) or tf.ConfigProto()
  config.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
      rewriter_config_pb2.RewriterConfig.ON)
  return config


def _fold_batch_norms(graph_def: Any) -> Any:
  """The frozen graph with every batch norm that follows a convolution
  folded into its weights and a bias, by TensorFlow's own
  ``optimize_for_inference`` steps. Grappler folds them only in float32:
  in bf16 the convolution and its batch norm + ReLU run apart (a fifth of
  a step). The pre-activation batch norms stay (a ReLU follows them)."""
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  from tensorflow.python.tools import optimize_for_inference_lib  # pylint: disable=g-import-not-at-top
  # (`'T' in attr` first: reading a missing key of a proto map adds it.)
  if any('T' in n.attr and n.attr['T'].type == tf.bfloat16.as_datatype_enum
         for n in graph_def.node):
    return graph_def   # exported in bf16: its weights are rounded already
  # Keep the names a caller feeds and fetches (export's are top level:
  # 'input', 'logits', 'predictions') and every node nothing reads: the
  # Identity nodes that name them are what remove_training_nodes drops.
  read = {i.split(':')[0].lstrip('^') for n in graph_def.node for i in n.input}
  keep = [n.name for n in graph_def.node
          if '/' not in n.name or n.name not in read]
  graph_def = tf.graph_util.remove_training_nodes(graph_def,
                                                  protected_nodes=keep)
  return optimize_for_inference_lib.fold_batch_norms(graph_def)


def _keras(path, kind, precision, runtime):
  import keras  # pylint: disable=g-import-not-at-top
  # safe_mode: a .keras file may carry Python (Lambda layers); never run it.
  model = keras.saving.load_model(path, safe_mode=True, compile=False)
  return Engine(path, 'keras', precision,
                lambda x: np.asarray(model(x, training=False)[0]),
                input_size=_static_size(list(model.inputs[0].shape)))


def _onnxruntime(path, kind, precision, runtime):
  ort = require('onnxruntime')
  options = ort.SessionOptions()
  if runtime.threads or runtime.streams > 1:
    # Parallel sessions share the cores: each gets its part of them.
    options.intra_op_num_threads = max(1, (runtime.threads or os.cpu_count())
                                       // runtime.streams)
  sessions = [ort.InferenceSession(path, options,
                                   providers=['CPUExecutionProvider'])
              for _ in range(runtime.streams)]
  name = sessions[0].get_inputs()[0].name
  run_fns = [lambda x, s=s: s.run(None, {name: x})[0] for s in sessions]
  said = sessions[0].get_session_options().intra_op_num_threads
  return Engine(path, 'onnxruntime', _int8_or(path, precision), run_fns[0],
                more_run_fns=run_fns[1:], runtime={
                    'threads': said or None, 'streams': len(sessions)},
                input_size=_static_size(sessions[0].get_inputs()[0].shape))


def _int8_or(path: str, precision: str) -> str:
  """'int8' for an ONNX or OpenVINO model quantized by export (QDQ or
  FakeQuantize nodes), else ``precision``: what the file computes in."""
  if path.endswith('.onnx'):
    import onnx  # pylint: disable=g-import-not-at-top
    ops = {n.op_type for n in onnx.load(path, load_external_data=False)
           .graph.node}
    return 'int8' if 'QuantizeLinear' in ops else precision
  with open(path, 'rb') as f:   # an IR's model.xml names its layer types
    return 'int8' if b'type="FakeQuantize"' in f.read() else precision


def _openvino(path, kind, precision, runtime):
  ov = require('openvino')
  if kind == 'openvino' and os.path.isdir(path):
    path = os.path.join(path, 'model.xml')
  if kind == 'openvino':
    _check_ir(path)
  core = ov.Core()
  # The CPU plugin's default on AVX512_BF16/AMX machines is bf16; ask for
  # the precision explicitly so fp32 means fp32.
  config = {'INFERENCE_PRECISION_HINT': 'f32' if precision == 'fp32'
            else 'bf16', 'NUM_STREAMS': runtime.streams}
  if runtime.threads:
    config['INFERENCE_NUM_THREADS'] = runtime.threads
  compiled = core.compile_model(path, 'CPU', config)
  output = compiled.outputs[0]
  # One infer request per stream: a request runs one batch at a time.
  requests = [compiled.create_infer_request()
              for _ in range(runtime.streams)]
  run_fns = _first_shape_alone(
      [lambda x, r=r: r.infer({0: x})[output] for r in requests])
  shape = compiled.inputs[0].get_partial_shape()
  return Engine(path, 'openvino', _int8_or(path, precision), run_fns[0],
                more_run_fns=run_fns[1:], runtime={
                    'threads': compiled.get_property('INFERENCE_NUM_THREADS'),
                    'streams': int(compiled.get_property('NUM_STREAMS'))},
                input_size=_static_size([d.get_length() if d.is_static
                                         else None for d in shape]))


def _first_shape_alone(run_fns: Sequence[Callable]) -> list:
  """``run_fns`` whose first run at an input shape holds one shared lock.

  An OpenVINO infer request specializes the model to an input shape on its
  first inference at that shape; several requests doing so at once have
  hung the CPU plugin on 2-core AMD EPYC runners (this project's CI, at a
  new image size with ``--streams 2``; ultralytics issue 25923 describes
  the same). Hand-written because OpenVINO offers no switch for it: the
  specialization runs one request at a time, later runs in parallel.
  """
  if len(run_fns) < 2:
    return list(run_fns)
  lock = threading.Lock()

  def alone_first(fn):
    seen = set()

    def run(images):
      if images.shape in seen:
        return fn(images)
      with lock:
        out = fn(images)
      seen.add(images.shape)
      return out
    return run
  return [alone_first(fn) for fn in run_fns]


def _check_ir(xml: str) -> None:
  """An IR's .xml must be XML with its .bin beside it: OpenVINO would try
  every frontend on anything else (TensorFlow's among them, which logs)."""
  with open(xml, 'rb') as f:
    head = f.read(64).lstrip(b'\xef\xbb\xbf \t\r\n')
  if not head.startswith(b'<'):
    raise EngineError('%s is not a readable openvino model (damaged or cut '
                      'short?): its model.xml is not XML. Export it again.'
                      % xml)
  weights = os.path.splitext(xml)[0] + '.bin'
  if not os.path.isfile(weights):
    raise EngineError('%s has no %s beside it: an OpenVINO model is both '
                      'files. Export it again.' % (xml, weights))


def _litert(path, kind, precision, runtime):
  if importlib.util.find_spec('ai_edge_litert') is not None:
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  else:   # TensorFlow's own, deprecated in favour of LiteRT
    import tensorflow as tf2  # pylint: disable=g-import-not-at-top
    Interpreter = tf2.lite.Interpreter  # pylint: disable=invalid-name
  with _quiet.stderr_parked():   # LiteRT's INFO line about its delegate
    interpreter = Interpreter(model_path=path,
                              num_threads=runtime.threads or os.cpu_count())
    interpreter.allocate_tensors()
  inp = interpreter.get_input_details()[0]
  out = next((d for d in interpreter.get_output_details()
              if 'logits' in d['name']),
             interpreter.get_output_details()[0])

  # export writes any batch (shape signature -1); older files batch 1.
  resizable = inp['shape_signature'][0] == -1

  def run(images):
    if not resizable:   # one image at a time
      return np.concatenate([run_batch(image[np.newaxis])
                             for image in images])
    return run_batch(images)

  def run_batch(batch):
    if tuple(interpreter.get_input_details()[0]['shape']) != batch.shape:
      interpreter.resize_tensor_input(inp['index'], batch.shape)
      interpreter.allocate_tensors()
    interpreter.set_tensor(inp['index'], batch)
    interpreter.invoke()
    return interpreter.get_tensor(out['index']).copy()
  # What the file computes in: --quantize int8 leaves int8 tensors.
  holds = 'int8' if any(d['dtype'] == np.int8 for d in
                        interpreter.get_tensor_details()) else precision
  # LiteRT resizes a fixed-size input when asked, and then computes
  # nonsense at the logits: the size it was converted at is the size.
  return Engine(path, 'litert', holds, run,
                input_size=_static_size(list(inp['shape_signature'])))


def _static_size(shape: Sequence[Any]) -> Optional[Tuple[int, int]]:
  """(height, width) of an NHWC input shape where both are fixed, else
  None (each engine writes a free size its own way: None, -1, a name)."""
  if len(shape) != 4:
    return None
  size = tuple(shape[1:3])
  if all(isinstance(d, (int, np.integer)) and d > 0 for d in size):
    return int(size[0]), int(size[1])
  return None


_LOADERS = {'tensorflow': _tensorflow, 'keras': _keras,
            'onnxruntime': _onnxruntime, 'openvino': _openvino,
            'litert': _litert}
