"""Serving artifacts on disk: write each format with its facts, read and run
them on the engine's own runtime.

Each format keeps the ``serving.Facts`` JSON in its own metadata place:

===============  ===========================================================
SavedModel       ``assets/resnet_v2_slim.json`` and ``assets/labels.txt``
                 (TF Serving's layout: ``DIR/<version>/``, a warmup request
                 in ``assets.extra/tf_serving_warmup_requests``)
ONNX             ``metadata_props['resnet_v2_slim']``
OpenVINO IR      ``rt_info['resnet_v2_slim']`` in ``model.xml``
TFLite           a flatbuffer ``metadata`` entry ``resnet_v2_slim``
Keras 3          the config of its preprocessing layer (``serving_keras``)
===============  ===========================================================

The writers use the engines' own converters (tf2onnx, OpenVINO's
``convert_model``, TensorFlow's TFLite converter from a SavedModel); what is
written here is plumbing: clean tensor names (``pixels``, ``probabilities``
... no ``:0``; one named batch dimension) and the metadata.

Typical use::

    from resnet_v2_slim.inference import serving_files

    runner = serving_files.load('model.onnx')    # onnxruntime
    out = runner.run(pixels)                     # {'probabilities': ...}
    runner.facts.labels[out['classes'][0, 0]]
"""

import os
import re
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v2_slim import _quiet
from resnet_v2_slim.inference import engines
from resnet_v2_slim.inference import serving

FACTS_FILE = serving.METADATA_KEY + '.json'    # in a SavedModel's assets
LABELS_FILE = 'labels.txt'
WARMUP_FILE = 'tf_serving_warmup_requests'     # TF Serving's own name
PREPROCESSED = 'predict_preprocessed'          # the SavedModel's tensor API
_DIMS = {0: 'batch', 1: 'height', 2: 'width'}  # ONNX's dynamic axes


def write_saved_model(sess: tf.Session, graph: serving.ServingGraph,
                      facts: serving.Facts, folder: str, *,
                      preprocessed: Optional[Dict[str, tf.Tensor]] = None,
                      warmup: Optional[List[bytes]] = None) -> None:
  """Writes a SavedModel of the restored serving graph to ``folder``.

  Args:
    sess: the restored session of ``graph``.
    graph: the serving graph (``serving.build``).
    facts: its facts (``assets/``).
    folder: a path that does not exist yet.
    preprocessed: ``{'input', 'logits', 'predictions'}`` tensors of a
      second signature, ``predict_preprocessed``, or None.
    warmup: image files for TF Serving's warmup request, or None.
  """
  signatures = {'serving_default': tf.saved_model.predict_signature_def(
      inputs={facts.input: graph.input}, outputs=graph.outputs)}
  if preprocessed:
    signatures[PREPROCESSED] = tf.saved_model.predict_signature_def(
        inputs={'input': preprocessed['input']},
        outputs={k: v for k, v in preprocessed.items() if k != 'input'})
  with sess.graph.as_default():
    builder = tf.saved_model.Builder(folder)
    builder.add_meta_graph_and_variables(
        sess, [tf.saved_model.tag_constants.SERVING],
        signature_def_map=signatures, strip_default_attrs=True)
    builder.save()
  assets = os.path.join(folder, 'assets')
  os.makedirs(assets, exist_ok=True)
  with open(os.path.join(assets, FACTS_FILE), 'w', encoding='utf-8') as f:
    f.write(facts.to_json())
  with open(os.path.join(assets, LABELS_FILE), 'w', encoding='utf-8') as f:
    f.write(''.join(name + '\n' for name in facts.labels))
  if warmup:
    _write_warmup(os.path.join(folder, 'assets.extra'), facts, warmup)


def _write_warmup(folder: str, facts: serving.Facts, images: List[bytes]
                  ) -> None:
  """TF Serving's warmup file: one PredictionLog holding a real request."""
  from tensorflow_serving.apis import model_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import predict_pb2  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  request = predict_pb2.PredictRequest(
      model_spec=model_pb2.ModelSpec(signature_name='serving_default'))
  request.inputs[facts.input].CopyFrom(tf.make_tensor_proto(
      np.array(images, dtype=object), dtype=tf.string))
  log = prediction_log_pb2.PredictionLog(
      predict_log=prediction_log_pb2.PredictLog(request=request))
  os.makedirs(folder, exist_ok=True)
  with tf.io.TFRecordWriter(os.path.join(folder, WARMUP_FILE)) as writer:
    writer.write(log.SerializeToString())


def write_onnx(frozen: tf.GraphDef, facts: serving.Facts, path: str) -> None:
  """tf2onnx on the frozen serving graph, clean names and the facts."""
  from resnet_v2_slim.inference import bridges  # pylint: disable=g-import-not-at-top
  engines.require('tf2onnx')
  import logging  # pylint: disable=g-import-not-at-top
  logging.getLogger('tf2onnx').setLevel(logging.ERROR)
  from tf2onnx import convert  # pylint: disable=g-import-not-at-top
  model, _ = convert.from_graph_def(
      frozen, input_names=[facts.input + ':0'],
      output_names=[name + ':0' for name in facts.outputs],
      opset=bridges.ONNX_OPSET)
  _clean_onnx_names(model)
  entry = model.metadata_props.add()
  entry.key, entry.value = serving.METADATA_KEY, facts.to_json()
  with open(path, 'wb') as f:
    f.write(model.SerializeToString())


def _clean_onnx_names(model) -> None:
  """``pixels:0`` -> ``pixels``, ``unk__12`` -> ``batch`` (in place)."""
  graph = model.graph
  renames = {v.name: v.name[:-2] for v in list(graph.input) +
             list(graph.output) if v.name.endswith(':0')}
  for node in graph.node:
    node.input[:] = [renames.get(n, n) for n in node.input]
    node.output[:] = [renames.get(n, n) for n in node.output]
  for value in list(graph.input) + list(graph.output):
    value.name = renames.get(value.name, value.name)
    for axis, dim in enumerate(value.type.tensor_type.shape.dim):
      if dim.dim_param and axis in _DIMS:
        dim.dim_param = _DIMS[axis]


def write_openvino(onnx_path: str, facts: serving.Facts, folder: str
                   ) -> None:
  """OpenVINO IR from the serving ONNX model, the facts in ``rt_info``."""
  ov = engines.require('openvino')
  model = ov.convert_model(onnx_path)
  model.set_rt_info(facts.to_json(), [serving.METADATA_KEY])
  engines.save_openvino(model, folder)


def write_tflite(saved_model_dir: str, facts: serving.Facts, path: str
                 ) -> None:
  """TensorFlow's TFLite converter on a pixels SavedModel; the facts as a
  flatbuffer metadata entry (TFLite's place for them)."""
  import tensorflow as tf2  # pylint: disable=g-import-not-at-top
  converter = tf2.lite.TFLiteConverter.from_saved_model(saved_model_dir)
  flatbuffer = _add_tflite_metadata(converter.convert(), facts.to_json())
  with open(path, 'wb') as f:
    f.write(flatbuffer)


def _tflite_schema():
  from tensorflow.lite.python import schema_py_generated  # pylint: disable=g-import-not-at-top
  return schema_py_generated


def _add_tflite_metadata(flatbuffer: bytes, text: str) -> bytes:
  """Adds a ``metadata`` entry named METADATA_KEY (what TFLite's metadata
  writers do; their package is not needed for one JSON buffer)."""
  import flatbuffers  # pylint: disable=g-import-not-at-top
  schema = _tflite_schema()
  model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(flatbuffer, 0))
  buffer = schema.BufferT()
  buffer.data = np.frombuffer(text.encode('utf-8'), np.uint8)
  model.buffers.append(buffer)
  entry = schema.MetadataT()
  entry.name = serving.METADATA_KEY
  entry.buffer = len(model.buffers) - 1
  model.metadata = (model.metadata or []) + [entry]
  builder = flatbuffers.Builder(1024)
  builder.Finish(model.Pack(builder), file_identifier=b'TFL3')
  return bytes(builder.Output())


def read_facts(path: str) -> Optional[serving.Facts]:
  """The facts of a serving artifact, or None for a preprocessed-form one.

  Raises:
    EngineError: not an exported model.
    ServingError: damaged metadata.
  """
  kind = engines.kind_of(path)
  text = _FACT_READERS.get(kind, lambda p: None)(path)
  return serving.Facts.from_json(text, path) if text else None


def _saved_model_facts(path):
  facts = os.path.join(path, 'assets', FACTS_FILE)
  if not os.path.isfile(facts):
    return None
  with open(facts, encoding='utf-8') as f:
    return f.read()


def _onnx_facts(path):
  import onnx  # pylint: disable=g-import-not-at-top
  model = onnx.load(path, load_external_data=False)
  return {p.key: p.value for p in model.metadata_props}.get(
      serving.METADATA_KEY)


def _openvino_facts(path):
  ov = engines.require('openvino')
  xml = os.path.join(path, 'model.xml') if os.path.isdir(path) else path
  model = ov.Core().read_model(xml)
  if not model.has_rt_info([serving.METADATA_KEY]):
    return None
  return model.get_rt_info([serving.METADATA_KEY]).astype(str)


def _tflite_facts(path):
  schema = _tflite_schema()
  with open(path, 'rb') as f:
    data = f.read()
  model = schema.Model.GetRootAs(data, 0)
  for i in range(model.MetadataLength()):
    entry = model.Metadata(i)
    if entry.Name() and entry.Name().decode() == serving.METADATA_KEY:
      return model.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode()
  return None


def _keras_facts(path):
  """From the archive's config.json, without loading Keras: the config of
  ``serving_keras``'s preprocessing layer."""
  import json  # pylint: disable=g-import-not-at-top
  import zipfile  # pylint: disable=g-import-not-at-top
  with zipfile.ZipFile(path) as archive:
    nodes = [json.loads(archive.read('config.json'))]
  while nodes:   # depth-first over the nested layer configs
    node = nodes.pop()
    if isinstance(node, dict):
      if str(node.get('class_name', '')).endswith('SlimEvalPreprocessing'):
        return node.get('config', {}).get('facts_json')
      nodes.extend(node.values())
    elif isinstance(node, list):
      nodes.extend(node)
  return None


_FACT_READERS = {'saved_model': _saved_model_facts, 'onnx': _onnx_facts,
                 'openvino': _openvino_facts, 'tflite': _tflite_facts,
                 'keras': _keras_facts}


class Runner(engines.Loaded):
  """A loaded serving artifact: ``run(batch) -> {output name: array}``."""

  def __init__(self, path: str, engine: str, facts: serving.Facts,
               run_fn: Callable[[np.ndarray], Dict[str, np.ndarray]],
               close: Optional[Callable[[], None]] = None) -> None:
    self.path, self.engine, self.facts = path, engine, facts
    self._run, self._close = run_fn, close

  def run(self, batch: Any) -> Dict[str, np.ndarray]:
    """Runs one batch: image files' bytes, or uint8 pixels of one size."""
    if self.facts.input == serving.PIXELS:
      try:
        batch = np.asarray(batch)
        got = '%s %s' % (batch.dtype, list(batch.shape))
      except ValueError:   # no one array: images of different sizes
        batch, got = None, 'images of different sizes'
      if batch is None or batch.dtype != np.uint8 or batch.ndim != 4 or (
          batch.shape[3] != 3):
        raise serving.ServingError(
            '`pixels` must be uint8 [N, H, W, 3] (one size per batch: '
            'stack images of the same size), got %s.' % got)
    return {k: np.asarray(v) for k, v in self._run(batch).items()}


def load(path: str, engine: Optional[str] = None) -> Runner:
  """Loads a serving artifact on its engine (default: the kind's first).

  Raises:
    EngineError: not an exported model, or an engine that cannot run it.
    ServingError: a preprocessed-form artifact (no facts), or damaged ones.
  """
  kind = engines.kind_of(path)
  engine = engine or engines.KINDS[kind][0]
  if engine not in engines.KINDS[kind] or kind not in _FACT_READERS:
    raise engines.EngineError(
        '`engine` %s cannot run %s as a serving artifact; use %s.'
        % (engine, path, ' or '.join(engines.KINDS[kind])))
  facts = read_facts(path)
  if facts is None:
    raise serving.ServingError(
        '%s has no resnet_v2_slim serving metadata: it takes preprocessed '
        'images (export without --serving, or written before it).' % path)
  return _RUNNERS[engine](path, facts)


def _saved_model_runner(path, facts):
  graph = tf.Graph()
  sess = tf.Session(graph=graph)
  with graph.as_default():
    meta = tf.saved_model.loader.load(
        sess, [tf.saved_model.tag_constants.SERVING], path)
  signature = meta.signature_def['serving_default']
  feed = signature.inputs[facts.input].name
  fetch = {k: v.name for k, v in signature.outputs.items()}
  return Runner(path, 'tensorflow', facts,
                lambda x: sess.run(fetch, {feed: x}), sess.close)


def _onnxruntime_runner(path, facts):
  ort = engines.require('onnxruntime')
  session = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
  names = [o.name for o in session.get_outputs()]
  return Runner(path, 'onnxruntime', facts, lambda x: dict(zip(
      names, session.run(names, {facts.input: x}))))


def _openvino_runner(path, facts):
  ov = engines.require('openvino')
  xml = os.path.join(path, 'model.xml') if os.path.isdir(path) else path
  compiled = ov.Core().compile_model(xml, 'CPU', {
      'INFERENCE_PRECISION_HINT': 'f32'})
  wanted = set(facts.outputs)
  # A tensor may carry several names (the ONNX one and OpenVINO's own).
  named = {next(iter(o.get_names() & wanted), o.get_any_name()): o
           for o in compiled.outputs}

  def run(x):
    result = compiled(x)
    return {name: result[o] for name, o in named.items()}
  return Runner(path, 'openvino', facts, run)


def _litert_runner(path, facts):
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  with _quiet.stderr_parked():   # LiteRT's INFO line about its delegate
    interpreter = Interpreter(model_path=path, num_threads=os.cpu_count())
    runner = interpreter.get_signature_runner('serving_default')
  first = [True]

  def run(x):
    if not first[0]:
      return runner(**{facts.input: x})
    # Any H and W: LiteRT applies its delegate (and prints that it did)
    # at the first run, once the input shape is known.
    first[0] = False
    with _quiet.stderr_parked():
      return runner(**{facts.input: x})
  return Runner(path, 'litert', facts, run)


def _keras_runner(path, facts):
  import keras  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import serving_keras  # pylint: disable=g-import-not-at-top
  # safe_mode stays on: the file holds layer configs, no Python.
  model = keras.saving.load_model(path, safe_mode=True, compile=False,
                                  custom_objects=serving_keras.LAYERS)
  return Runner(path, 'keras', facts, lambda x: {
      k: np.asarray(v) for k, v in model(x, training=False).items()})


_RUNNERS = {'tensorflow': _saved_model_runner, 'keras': _keras_runner,
            'onnxruntime': _onnxruntime_runner,
            'openvino': _openvino_runner, 'litert': _litert_runner}


def resolve(path: str) -> str:
  """``path``, or its newest version folder when ``path`` is a TF Serving
  model base folder (``DIR/<version>/saved_model.pb``), as TF Serving
  itself serves the newest."""
  if not os.path.isdir(path) or os.path.isfile(
      os.path.join(path, 'saved_model.pb')):
    return path
  versions = [int(name) for name in os.listdir(path) if re.fullmatch(
      r'\d+', name) and os.path.isfile(os.path.join(path, name,
                                                      'saved_model.pb'))]
  return os.path.join(path, str(max(versions))) if versions else path


def next_version(base: str) -> int:
  """TF Serving's next model version under ``base``: 1 + the largest
  integer folder, or 1."""
  versions = [int(name) for name in (os.listdir(base) if os.path.isdir(base)
                                     else []) if re.fullmatch(r'\d+', name)]
  return max(versions, default=0) + 1
