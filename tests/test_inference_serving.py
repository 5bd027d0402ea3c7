"""inference/serving.py, serving_files.py, serving_export.py: export
--serving, checked by each engine's own runtime on real photos against a
pipeline written here from TensorFlow's and tf_slim's own pieces (the
reference network, tf.image.central_crop), not from the package."""

import base64
import json
import logging
import os
import shutil

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
def small(tmp_path_factory):
  """resnet_v2_18, 1001 classes: for the tests that only need an export to
  exist or fail (the rn50 reference costs about 25 s per ONNX export)."""
  return refnets.save_our_checkpoint(
      tmp_path_factory.mktemp('rn18') / 'rn18.ckpt', 'resnet_v2_18',
      CLASSES, image_size=SIZE)


@pytest.fixture(scope='module')
def exported(tmp_path_factory, reference):
  """All four serving artifacts from one ``export --serving`` command."""
  out = tmp_path_factory.mktemp('serving')
  paths = {'saved_model_dir': str(out / 'model'),
           'onnx_file': str(out / 'model.onnx'),
           'openvino_dir': str(out / 'openvino'),
           'tflite_file': str(out / 'model.tflite'),
           'keras_file': str(out / 'model.keras')}
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


def test_keras_takes_pixels_and_carries_its_facts(exported, reference,
                                                  photos):
  import keras  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import serving_keras  # pylint: disable=g-import-not-at-top
  model = keras.saving.load_model(exported['keras_file'], safe_mode=True,
                                  custom_objects=serving_keras.LAYERS)
  facts = json.loads(model.get_layer('preprocessing').get_config()[
      'facts_json'])
  assert (facts['input'], facts['image_size'], facts['labels'][0]) == (
      'pixels', SIZE, 'background')
  out = _per_image(lambda x: {k: np.asarray(v) for k, v in model(
      x, training=False).items()}, photos)
  _check_outputs(out, reference, ['probabilities', 'classes', 'scores'])


def test_a_bad_image_in_a_batch_is_named_by_its_index(exported, photos):
  import tensorflow as tf2  # pylint: disable=g-import-not-at-top
  signature = tf2.saved_model.load(os.path.join(
      exported['saved_model_dir'], '1')).signatures['serving_default']
  with pytest.raises(tf2.errors.InvalidArgumentError,
                     match=r'image_bytes\[1\] is not a JPEG'):
    signature(image_bytes=tf2.constant([photos[0], b'not an image']))


def test_a_new_export_is_the_next_version_and_never_overwrites_one(
    exported, reference, capsys, caplog):
  base = exported['saved_model_dir']
  before = os.path.getmtime(os.path.join(base, '1', 'saved_model.pb'))
  argv = ['export', '--checkpoint', reference[0], '--serving',
          '--image_size', str(SIZE), '--saved_model_dir', base]
  assert cli.main(argv + ['--model_version', '1']) == 2
  assert '--model_version 1 exists' in capsys.readouterr().err
  with caplog.at_level(logging.INFO):
    assert cli.main(argv) == 0
  # Restored into the reference and the SavedModel's graph: said once.
  assert [r.getMessage() for r in caplog.records].count(
      'Restored 272 variables from %s' % reference[0]) == 1
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


@pytest.mark.parametrize('flag', ['saved_model_dir', 'onnx_file',
                                  'openvino_dir'])
def test_serving_output_paths_are_checked_before_any_work(
    tmp_path, reference, capsys, flag):
  missing = tmp_path / 'missing' / 'out'
  argv = ['export', '--checkpoint', reference[0], '--serving',
          '--' + flag, str(missing)]
  assert cli.main(argv) == 2
  out, err = capsys.readouterr()
  assert err.strip().endswith('--%s %s: folder %s does not exist; create it '
                              'first.' % (flag, missing, missing.parent)), err
  assert 'Restored' not in out + err     # refused before the checkpoint
  # A folder holding the input checkpoint is never replaced.
  argv = ['export', '--checkpoint', reference[0], '--serving',
          '--openvino_dir', os.path.dirname(reference[0])]
  assert cli.main(argv) == 2
  assert 'contains the input --checkpoint' in capsys.readouterr().err
  assert os.listdir(tmp_path) == []


def test_an_artifact_beyond_the_tolerance_is_refused_and_nothing_written(
    tmp_path, small, capsys):
  argv = ['export', '--checkpoint', small, '--serving',
          '--image_size', str(SIZE), '--onnx_file',
          str(tmp_path / 'model.onnx'), '--tolerance', '1e-12']
  assert cli.main(argv) == 1
  assert 'disagrees with the checkpoint\'s classify pipeline' in (
      capsys.readouterr().err)
  assert os.listdir(tmp_path) == []


def test_every_artifact_reads_back_the_same_facts(exported):
  facts = [serving_files.read_facts(path) for path in (
      os.path.join(exported['saved_model_dir'], '1'), exported['onnx_file'],
      exported['openvino_dir'], exported['tflite_file'],
      exported['keras_file'])]
  assert facts[0].input == serving.BYTES
  assert {f.input for f in facts[1:]} == {serving.PIXELS}
  assert len({f.checkpoint_sha256 for f in facts}) == 1
  assert facts[1] == facts[2] == facts[3] == facts[4]
  described = serving_export.describe(exported['onnx_file'])
  assert described['outputs'][:3] == ['probabilities', 'classes', 'scores']
  assert described['labels'][0] == 'background'


@pytest.fixture(scope='module')
def photo_files(tmp_path_factory, photos):
  """The photos as files, as a user hands them to ``classify``."""
  folder = tmp_path_factory.mktemp('photos')
  paths = []
  for i, data in enumerate(photos):
    paths.append(str(folder / ('photo%d.jpg' % i)))
    with open(paths[-1], 'wb') as f:
      f.write(data)
  return paths


def _classify_json(argv, tmp_path):
  out = str(tmp_path / 'top.json')
  assert cli.main(['classify'] + argv + ['--json', out]) == 0
  with open(out) as f:
    return json.load(f)


@pytest.mark.parametrize('target,engine', [
    ('saved_model_dir', None), ('onnx_file', None), ('onnx_file', 'openvino'),
    ('openvino_dir', None), ('tflite_file', None), ('keras_file', None)])
def test_classify_model_file_gives_the_reference_top_k_on_each_engine(
    exported, reference, photo_files, tmp_path, target, engine):
  # The TF Serving base folder itself: its newest version is run.
  argv = ['--model_file', exported[target]] + (
      ['--engine', engine] if engine else []) + photo_files
  results = _classify_json(argv, tmp_path)
  logits = reference[1][0]
  probs = np.exp(logits - logits.max(1, keepdims=True))
  probs /= probs.sum(1, keepdims=True)
  names = labels_lib.imagenet_labels(CLASSES)
  assert [r['image'] for r in results] == photo_files
  for row, result in zip(range(len(photo_files)), results):
    ids = [hit['index'] for hit in result['top_k']]
    assert ids == list(np.argsort(-logits[row])[:TOP_K])
    assert [hit['label'] for hit in result['top_k']] == [
        names[i] for i in ids]
    np.testing.assert_allclose([hit['probability'] for hit in
                                result['top_k']], probs[row, ids],
                               rtol=1e-4, atol=1e-6)


def test_classify_model_file_on_a_preprocessed_export_takes_the_flags(
    reference, photo_files, tmp_path, capsys):
  onnx_file = str(tmp_path / 'plain.onnx')
  assert cli.main(['export', '--checkpoint', reference[0], '--image_size',
                   str(SIZE), '--onnx_file', onnx_file]) == 0
  capsys.readouterr()
  assert cli.main(['classify', '--model_file', onnx_file] +
                  photo_files[:1]) == 2
  err = capsys.readouterr().err
  assert 'has no resnet_v2_slim serving metadata' in err
  assert '--image_size' in err
  results = _classify_json(['--model_file', onnx_file, '--image_size',
                            str(SIZE)] + photo_files[:1], tmp_path)
  logits = reference[1][0][0]
  assert [hit['index'] for hit in results[0]['top_k']] == list(
      np.argsort(-logits)[:TOP_K])


@pytest.mark.parametrize('argv,message', [
    (['--engine', 'litert'], '--engine litert cannot run'),
    (['--preprocessing', 'vgg'], '--preprocessing vgg does not apply'),
    (['--image_size', '224'], '--image_size 224 does not apply'),
    (['--model', 'resnet_v2_101'], '--model describes a checkpoint'),
])
def test_classify_model_file_refuses_settings_it_cannot_take(
    exported, photo_files, capsys, argv, message):
  assert cli.main(['classify', '--model_file', exported['onnx_file']] +
                  argv + photo_files[:1]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and message in err[0], err


def test_classify_model_file_refuses_a_file_that_is_not_a_model(
    tmp_path, photo_files, capsys):
  bogus = tmp_path / 'notes.txt'
  bogus.write_text('hello')
  assert cli.main(['classify', '--model_file', str(bogus)] +
                  photo_files[:1]) == 2
  err = capsys.readouterr().err
  assert '--model_file %s is not an exported model' % bogus in err
  assert cli.main(['classify', '--model_file', str(tmp_path / 'gone.onnx')] +
                  photo_files[:1]) == 2
  assert '--model_file %s does not exist' % (tmp_path / 'gone.onnx') in (
      capsys.readouterr().err)


def test_inspect_shows_an_artifacts_facts(exported, capsys):
  assert cli.main(['inspect', exported['tflite_file'], '--json', '-']) == 0
  captured = capsys.readouterr()
  info = json.loads(captured.out)
  assert (info['kind'], info['network'], info['num_classes']) == (
      'tflite', 'resnet_v2_50', CLASSES)
  assert info['input'] == 'pixels' and info['image_size'] == SIZE
  assert 'index 0 = background' in captured.err
  assert cli.main(['inspect', exported['saved_model_dir']]) == 0
  out = capsys.readouterr().out
  assert 'image_bytes: string [N]' in out and '(saved_model)' in out
  assert cli.main(['inspect', exported['onnx_file'], '--list']) == 2


def test_near_uniform_is_told_apart_from_a_trained_answer():
  from resnet_v2_slim.inference import classifier  # pylint: disable=g-import-not-at-top
  assert classifier.near_uniform(np.full(1001, 1 / 1001))
  flat = np.full(1001, 0.9 / 1000)
  flat[3] = 0.1   # one class at 0.1: a trained net's uncertain answer
  assert not classifier.near_uniform(flat)
  assert not classifier.near_uniform(np.array([0.9, 0.1]))
  assert classifier.near_uniform(np.array([0.52, 0.48]))


@pytest.mark.parametrize('source', ['checkpoint', 'onnx_file',
                                    'saved_model_dir'])
def test_embed_writes_the_reference_pooled_vectors_in_file_order(
    exported, reference, photo_files, tmp_path, source, capsys):
  image_dir = os.path.dirname(photo_files[0])
  output = str(tmp_path / 'vectors.npy')
  # Version 1 of the SavedModel: a later test adds a version without
  # features.
  model_file = (os.path.join(exported[source], '1')
                if source == 'saved_model_dir' else exported.get(source))
  flag = (['--checkpoint', reference[0], '--image_size', str(SIZE)]
          if source == 'checkpoint' else ['--model_file', model_file])
  assert cli.main(['embed', image_dir, '--output', output] + flag) == 0
  with open(str(tmp_path / 'vectors.txt')) as f:
    order = f.read().splitlines()
  assert order == [os.path.basename(p) for p in photo_files]
  vectors = np.load(output)
  assert vectors.dtype == np.float32 and vectors.shape == (3, 2048)
  _assert_close(vectors, reference[1][1])
  assert 'wrote %s (3 vectors of 2048)' % output in capsys.readouterr().out
  if source == 'checkpoint':   # one image: one vector
    (tmp_path / 'one').mkdir()
    shutil.copy(photo_files[0], str(tmp_path / 'one'))
    output = str(tmp_path / 'one.npy')
    assert cli.main(['embed', str(tmp_path / 'one'), '--output', output] +
                    flag) == 0
    assert 'wrote %s (1 vector of 2048)' % output in capsys.readouterr().out


def test_embed_refuses_what_it_cannot_use_and_writes_nothing(
    reference, small, photo_files, tmp_path, capsys):
  image_dir = os.path.dirname(photo_files[0])
  plain = str(tmp_path / 'plain.onnx')
  assert cli.main(['export', '--checkpoint', small, '--serving',
                   '--image_size', str(SIZE), '--onnx_file', plain]) == 0
  capsys.readouterr()
  output = str(tmp_path / 'v.npy')
  cases = [
      (['--model_file', plain], 'exported without features'),
      (['--checkpoint', reference[0], '--output', str(tmp_path / 'v.csv')],
       '--output %s must end in .npy' % (tmp_path / 'v.csv')),
      (['--model_file', plain, '--image_size', '64'],
       '--image_size describes a checkpoint'),
  ]
  for argv, message in cases:
    assert cli.main(['embed', image_dir, '--output', output] + argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1], err
  assert cli.main(['embed', str(tmp_path / 'missing'), '--output', output,
                   '--checkpoint', reference[0]]) == 2
  assert 'error: IMAGE_DIR %s is not a folder' % (tmp_path / 'missing') in (
      capsys.readouterr().err)
  (tmp_path / 'empty').mkdir()
  assert cli.main(['embed', str(tmp_path / 'empty'), '--output', output,
                   '--checkpoint', reference[0]]) == 2
  assert 'error: IMAGE_DIR %s holds no image files' % (tmp_path / 'empty') in (
      capsys.readouterr().err)
  (tmp_path / 'empty').rmdir()
  assert sorted(os.listdir(tmp_path)) == ['plain.onnx']


def test_classify_warns_when_the_answer_is_near_uniform(
    tmp_path, photo_files, capsys):
  # The reference net with its logits layer zeroed: every class equally
  # likely, as an untrained head gives.
  prefix, values = refnets.save_reference_checkpoint(
      tmp_path / 'flat.ckpt', 'resnet_v2_50', 10, image_size=32)
  with tf.Graph().as_default():
    for name, value in values.items():
      tf.Variable(np.zeros_like(value) if '/logits/' in name else value,
                  name=name)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      tf.train.Saver().save(sess, prefix, write_meta_graph=False)
  assert cli.main(['classify', '--checkpoint', prefix, '--image_size', '32',
                   photo_files[0]]) == 0
  err = capsys.readouterr().err
  assert 'near-uniform for 1 of 1 image(s)' in err


def test_a_pixels_batch_must_be_uint8_of_one_size(exported, photos):
  small, large = _decode(photos[:2])   # 300x451 and 400x600
  with serving_files.load(exported['onnx_file']) as runner:
    for batch in ([small, large], small.astype(np.float32)[np.newaxis],
                  small):
      with pytest.raises(serving.ServingError, match='one size per batch'):
        runner.run(batch)
    assert runner.run(small[np.newaxis])['classes'].shape == (1, TOP_K)


def test_classify_on_litert_is_quiet_in_a_fresh_process(forks, exported,
                                                        photo_files):
  # LiteRT prints its delegate line from native code once per process, at
  # the first run: only a process where LiteRT never ran shows it (a fork
  # of the fork server, which imported TensorFlow but ran nothing).
  done = forks.run(['resnet-v2-slim', 'classify', '--model_file',
                    exported['tflite_file'], photo_files[0]], timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  assert 'XNNPACK' not in done.stderr and 'INFO' not in done.stderr, (
      done.stderr[-2000:])
