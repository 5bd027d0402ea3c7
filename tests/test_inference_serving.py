"""inference/serving.py, serving_files.py, serving_export.py: export
--serving, checked by each engine's own runtime on real photos against a
pipeline written here from TensorFlow's and tf_slim's own pieces (the
reference network, tf.image.central_crop), not from the package."""

import base64
import json
import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v2_slim.cli import main as cli
from resnet_v2_slim.data import images as images_lib
from resnet_v2_slim.data import labels as labels_lib
from resnet_v2_slim.inference import serving
from resnet_v2_slim.inference import serving_export
from resnet_v2_slim.inference import serving_files
import refnets

SIZE = 64          # the network's input: small, so the suite stays fast
CLASSES = 1001     # slim's ImageNet head: output 0 is background
TOP_K = 5


@pytest.fixture(scope='module')
def photos():
  """scikit-image's real photos as JPEG bytes (three sizes)."""
  return [image.data for image in images_lib.bundled_photos()]


@pytest.fixture(scope='module')
def reference(tmp_path_factory, photos):
  """A tf_slim reference checkpoint and its logits on the photos, by the
  Inception eval pipeline written with TensorFlow's own ops."""
  prefix, _ = refnets.save_reference_checkpoint(
      tmp_path_factory.mktemp('ref') / 'rn50.ckpt', 'resnet_v2_50', CLASSES,
      image_size=SIZE)
  with tf.Graph().as_default():
    contents = tf.placeholder(tf.string, [])
    image = tf.image.convert_image_dtype(
        tf.io.decode_image(contents, channels=3, expand_animations=False),
        tf.float32)
    image = tf.image.central_crop(image, 0.875)
    image = tf.image.resize_bilinear(image[tf.newaxis], [SIZE, SIZE],
                                     align_corners=False)
    logits, _ = refnets.build('ref', 'resnet_v2_50', (image - 0.5) * 2.0,
                              CLASSES, is_training=False)
    pooled = tf.get_default_graph().get_tensor_by_name(
        'resnet_v2_50/pool5:0')
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, prefix)
      rows = [sess.run([logits, pooled],
                       {contents: p}) for p in photos]
  return prefix, (np.concatenate([r[0].reshape(1, -1) for r in rows]),
                  np.concatenate([r[1].reshape(1, -1) for r in rows]))


@pytest.fixture(scope='module')
def exported(tmp_path_factory, reference):
  """All four serving artifacts from one ``export --serving`` command."""
  out = tmp_path_factory.mktemp('serving')
  paths = {'saved_model_dir': str(out / 'model'),
           'onnx_file': str(out / 'model.onnx'),
           'openvino_dir': str(out / 'openvino'),
           'tflite_file': str(out / 'model.tflite')}
  argv = ['export', '--checkpoint', reference[0], '--serving', '--features',
          '--image_size', str(SIZE)]
  for flag, path in paths.items():
    argv += ['--' + flag, path]
  assert cli.main(argv) == 0
  return paths


def _assert_close(logits, expected):
  scale = np.abs(expected).max()
  assert np.abs(logits - expected).max() <= 1e-4 * scale


def _check_outputs(out, reference, names):
  """Outputs of any engine against the reference logits and features."""
  logits, features = reference[1]
  _assert_close(out['logits'], logits)
  _assert_close(out['features'], features)
  expected = np.exp(logits - logits.max(1, keepdims=True))
  np.testing.assert_allclose(out['probabilities'],
                             expected / expected.sum(1, keepdims=True),
                             atol=1e-5)
  np.testing.assert_array_equal(out['classes'],
                                np.argsort(-logits, 1)[:, :TOP_K])
  np.testing.assert_allclose(out['scores'], np.take_along_axis(
      out['probabilities'], out['classes'], 1), rtol=1e-6)
  assert list(names)[:3] == ['probabilities', 'classes', 'scores']


def _decode(photos):
  with tf.Graph().as_default(), tf.Session() as sess:
    contents = tf.placeholder(tf.string, [])
    image = tf.io.decode_image(contents, channels=3)
    return [sess.run(image, {contents: p}) for p in photos]


def _per_image(run, photos):
  rows = [run(pixels[np.newaxis]) for pixels in _decode(photos)]
  return {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}


def test_saved_model_in_tf_serving_layout_answers_a_rest_request(
    exported, reference, photos):
  version = os.path.join(exported['saved_model_dir'], '1')
  assert sorted(os.listdir(exported['saved_model_dir'])) == ['1']
  with open(os.path.join(version, 'assets', 'labels.txt')) as f:
    names = f.read().splitlines()
  assert names == labels_lib.imagenet_labels(CLASSES)
  assert names[0] == 'background'
  # TF Serving's REST body: {"instances": [{"b64": ...}]}, decoded as the
  # server decodes it, into the signature's input.
  body = json.loads(json.dumps({'instances': [
      {'b64': base64.b64encode(p).decode()} for p in photos]}))
  batch = [base64.b64decode(row['b64']) for row in body['instances']]
  import tensorflow as tf2  # pylint: disable=g-import-not-at-top
  signature = tf2.saved_model.load(version).signatures['serving_default']
  out = {k: v.numpy() for k, v in signature(
      image_bytes=tf2.constant(batch)).items()}
  _check_outputs(out, reference, ['probabilities', 'classes', 'scores'])
  assert [[n.decode() for n in row] for row in out['labels']] == [
      [names[i] for i in row] for row in out['classes']]


def test_saved_model_warmup_record_is_a_real_request(exported, photos):
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top
  path = os.path.join(exported['saved_model_dir'], '1', 'assets.extra',
                      'tf_serving_warmup_requests')
  records = list(tf.io.tf_record_iterator(path))
  assert len(records) == 1
  log = prediction_log_pb2.PredictionLog.FromString(records[0])
  request = log.predict_log.request
  assert request.model_spec.signature_name == 'serving_default'
  assert list(request.inputs['image_bytes'].string_val) == photos[:1]


def test_onnx_takes_pixels_and_carries_its_facts(exported, reference,
                                                 photos):
  import onnx  # pylint: disable=g-import-not-at-top
  import onnxruntime as ort  # pylint: disable=g-import-not-at-top
  model = onnx.load(exported['onnx_file'])
  facts = json.loads({p.key: p.value for p in model.metadata_props}[
      'resnet_v2_slim'])
  assert (facts['network'], facts['labels_offset'], facts['image_size'],
          facts['preprocessing']) == ('resnet_v2_50', 1, SIZE, 'inception')
  assert facts['labels'] == labels_lib.imagenet_labels(CLASSES)
  assert [d.dim_param or d.dim_value for d in
          model.graph.input[0].type.tensor_type.shape.dim] == [
              'batch', 'height', 'width', 3]
  session = ort.InferenceSession(exported['onnx_file'],
                                 providers=['CPUExecutionProvider'])
  assert [i.name for i in session.get_inputs()] == ['pixels']
  names = [o.name for o in session.get_outputs()]
  out = _per_image(lambda x: dict(zip(names, session.run(
      None, {'pixels': x}))), photos)
  _check_outputs(out, reference, names)


def test_openvino_takes_pixels_and_carries_its_facts(exported, reference,
                                                     photos):
  import openvino as ov  # pylint: disable=g-import-not-at-top
  core = ov.Core()
  model = core.read_model(os.path.join(exported['openvino_dir'],
                                       'model.xml'))
  facts = json.loads(model.get_rt_info(['resnet_v2_slim']).astype(str))
  assert facts['input'] == 'pixels' and facts['top_k'] == TOP_K
  compiled = core.compile_model(model, 'CPU',
                                {'INFERENCE_PRECISION_HINT': 'f32'})
  known = {'probabilities', 'classes', 'scores', 'logits', 'features'}
  names = [(o.get_names() & known).pop() for o in compiled.outputs]
  out = _per_image(lambda x: {n: v for n, v in zip(
      names, compiled(x).values())}, photos)
  _check_outputs(out, reference, names)


def test_tflite_takes_pixels_of_any_size_and_carries_its_facts(
    exported, reference, photos):
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  from tensorflow.lite.python import schema_py_generated as schema  # pylint: disable=g-import-not-at-top
  with open(exported['tflite_file'], 'rb') as f:
    flatbuffer = f.read()
  model = schema.Model.GetRootAs(flatbuffer, 0)
  entries = {model.Metadata(i).Name().decode(): model.Metadata(i).Buffer()
             for i in range(model.MetadataLength())}
  facts = json.loads(model.Buffers(entries['resnet_v2_slim'])
                     .DataAsNumpy().tobytes())
  assert facts['checkpoint_sha256'] and facts['package_version']
  runner = Interpreter(model_path=exported['tflite_file']
                       ).get_signature_runner('serving_default')
  out = _per_image(lambda x: runner(pixels=x), photos)
  _check_outputs(out, reference, ['probabilities', 'classes', 'scores'])


def test_a_bad_image_in_a_batch_is_named_by_its_index(exported, photos):
  import tensorflow as tf2  # pylint: disable=g-import-not-at-top
  signature = tf2.saved_model.load(os.path.join(
      exported['saved_model_dir'], '1')).signatures['serving_default']
  with pytest.raises(tf2.errors.InvalidArgumentError,
                     match=r'image_bytes\[1\] is not a JPEG'):
    signature(image_bytes=tf2.constant([photos[0], b'not an image']))


def test_a_new_export_is_the_next_version_and_never_overwrites_one(
    exported, reference, capsys):
  base = exported['saved_model_dir']
  before = os.path.getmtime(os.path.join(base, '1', 'saved_model.pb'))
  argv = ['export', '--checkpoint', reference[0], '--serving',
          '--image_size', str(SIZE), '--saved_model_dir', base]
  assert cli.main(argv + ['--model_version', '1']) == 2
  assert '--model_version 1 exists' in capsys.readouterr().err
  assert cli.main(argv) == 0
  assert sorted(os.listdir(base)) == ['1', '2']
  assert os.path.getmtime(os.path.join(base, '1', 'saved_model.pb')) == before


def test_serving_refuses_targets_that_cannot_carry_it(tmp_path, reference,
                                                      capsys):
  argv = ['export', '--checkpoint', reference[0], '--serving',
          '--output_file', str(tmp_path / 'frozen.pb')]
  assert cli.main(argv) == 2
  err = capsys.readouterr().err
  assert '--output_file cannot carry a serving artifact' in err
  assert os.listdir(tmp_path) == []


def test_an_artifact_beyond_the_tolerance_is_refused_and_nothing_written(
    tmp_path, reference, capsys):
  argv = ['export', '--checkpoint', reference[0], '--serving',
          '--image_size', str(SIZE), '--onnx_file',
          str(tmp_path / 'model.onnx'), '--tolerance', '1e-12']
  assert cli.main(argv) == 1
  assert 'disagrees with the checkpoint\'s classify pipeline' in (
      capsys.readouterr().err)
  assert os.listdir(tmp_path) == []


def test_every_artifact_reads_back_the_same_facts(exported):
  facts = [serving_files.read_facts(path) for path in (
      os.path.join(exported['saved_model_dir'], '1'), exported['onnx_file'],
      exported['openvino_dir'], exported['tflite_file'])]
  assert facts[0].input == serving.BYTES
  assert {f.input for f in facts[1:]} == {serving.PIXELS}
  assert len({f.checkpoint_sha256 for f in facts}) == 1
  assert facts[1] == facts[2] == facts[3]
  described = serving_export.describe(exported['onnx_file'])
  assert described['outputs'][:3] == ['probabilities', 'classes', 'scores']
  assert described['labels'][0] == 'background'
