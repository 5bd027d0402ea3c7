"""inference/keras_twin.py, engines.py, bridges.py and export's new outputs:
slim checkpoints to Keras 3, ONNX, OpenVINO and TFLite, each checked
against the TF graph by the engine's own runtime, not by our verify code."""

import hashlib
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf

from resnet_v2_slim import checkpoints
from resnet_v2_slim.cli import export as export_cmd
from resnet_v2_slim.inference import engines
from resnet_v2_slim.inference import export
from resnet_v2_slim.inference import keras_twin
import refnets

SIZE = 64


def _images(n=3, size=SIZE, seed=1):
  return np.random.RandomState(seed).uniform(
      -1, 1, (n, size, size, 3)).astype(np.float32)


def _tf_logits(prefix, images):
  """The frozen graph's logits: build, restore (the reference side)."""
  info = checkpoints.read(prefix)
  with tf.Graph().as_default() as graph:
    inputs, logits, _ = export.build_inference_graph(
        info.model, info.num_classes, images.shape[1],
        use_shortcut=info.use_shortcut)
    _, restore_fn = checkpoints.restorer(info, scope=info.model)
    with tf.Session(graph=graph) as sess:
      restore_fn(sess)
      return sess.run(logits, {inputs: images})


@pytest.fixture(scope='module')
def small(tmp_path_factory):
  """resnet_v2_18 with 10 classes and randomized statistics: the fast case."""
  return refnets.save_our_checkpoint(
      tmp_path_factory.mktemp('rn18') / 'rn18.ckpt', 'resnet_v2_18', 10,
      image_size=SIZE)


def _rel(a, b):
  return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# --- the Keras twin -------------------------------------------------------

def test_twin_of_the_official_net_computes_the_same(saved):
  """tf_slim's own resnet_v2_50 (1001 classes, V1 file) -> Keras 3."""
  prefix, _ = saved('rn50_v1_1001')
  images = _images()
  twin = keras_twin.from_checkpoint(prefix)
  logits, predictions = [np.asarray(t) for t in twin(images)]
  reference = _tf_logits(prefix, images)
  assert logits.shape == (3, 1001)
  assert _rel(logits, reference) < 1e-5
  assert np.allclose(predictions.sum(1), 1, atol=1e-5)


@pytest.mark.parametrize('use_shortcut', [True, False])
def test_twin_of_basic_units_and_plain_twins(tmp_path, use_shortcut):
  prefix = refnets.save_our_checkpoint(tmp_path / 'm.ckpt', 'resnet_v2_34',
                                       7, image_size=SIZE,
                                       use_shortcut=use_shortcut)
  images = _images(2)
  twin = keras_twin.from_checkpoint(prefix)
  assert _rel(np.asarray(twin(images)[0]), _tf_logits(prefix, images)) < 1e-5
  names = {layer.name for layer in twin.layers}
  assert ('conv3_block1_0_conv' in names) == use_shortcut


def test_twin_names_are_keras_applications_names():
  """Every weighted layer of keras.applications.ResNet50V2 has a twin layer
  of the same name and shapes (1000 vs 1001 classes apart)."""
  import keras  # pylint: disable=g-import-not-at-top
  stock = keras.applications.ResNet50V2(weights=None, input_shape=(SIZE, SIZE,
                                                                  3))
  twin = keras_twin.build('resnet_v2_50', 1000)
  twin_layers = {l.name: l for l in twin.layers}
  weighted = [l for l in stock.layers if l.get_weights()]
  for layer in weighted:
    name = 'logits' if layer.name == 'predictions' else layer.name
    assert [w.shape for w in twin_layers[name].get_weights()] == [
        w.shape for w in layer.get_weights()], layer.name
  assert len(weighted) == len([l for l in twin.layers if l.get_weights()])


def test_applications_layout_differs_only_as_stated(saved):
  """The stock model with slim's weights: the background row dropped, and
  pool1's grid shifted, so the logits differ measurably but not wildly."""
  prefix, _ = saved('rn50_v1_1001')
  images = _images(2, size=96)
  stock = keras_twin.from_checkpoint(prefix, layout='applications',
                                     image_size=96)
  logits = np.asarray(stock(images)[0])
  reference = _tf_logits(prefix, images)[:, 1:]
  assert logits.shape == (2, 1000)
  assert 1e-4 < _rel(logits, reference) < 0.5
  with pytest.raises(keras_twin.KerasError, match='resnet_v2_18'):
    keras_twin.build('resnet_v2_18', 10, layout='applications')


# --- export to every engine, checked by each engine's own runtime -----------

def _run_cli(capsys, argv):
  code = export_cmd.main(argv)
  out, err = capsys.readouterr()
  return code, out, err


def test_export_writes_every_target_and_each_runs_the_same(small, tmp_path,
                                                           capsys):
  out = {'keras_file': str(tmp_path / 'm.keras'),
         'onnx_file': str(tmp_path / 'm.onnx'),
         'openvino_dir': str(tmp_path / 'm_ov'),
         'tflite_file': str(tmp_path / 'm.tflite')}
  argv = ['--checkpoint', small, '--image_size', str(SIZE)]
  for flag, path in out.items():
    argv += ['--' + flag, path]
  code, stdout, err = _run_cli(capsys, argv)
  assert code == 0, err
  for engine in ('keras fp32', 'onnxruntime fp32', 'openvino fp32',
                 'openvino bf16', 'litert fp32'):
    assert 'on %s: max |logit difference|' % engine in stdout, stdout
  images = _images(2)
  reference = _tf_logits(small, images)
  for path in out.values():
    logits = refnets.own_runtime_logits(path, images)
    assert logits.shape == (2, 10)
    assert _rel(logits, reference) < 1e-4, path
    assert oct(os.stat(path).st_mode & 0o777) != oct(0o600), path
  assert sorted(os.listdir(out['openvino_dir'])) == ['model.bin', 'model.xml']
  leftovers = [f for f in os.listdir(tmp_path) if f.startswith('.')]
  assert not leftovers
  # Dynamic batch: ONNX, OpenVINO and TFLite take 5 images.
  assert refnets.own_runtime_logits(out['onnx_file'],
                                    _images(5)).shape == (5, 10)


def test_check_images_that_do_not_decode_are_one_line(small, tmp_path,
                                                       capsys):
  """Found by the adversarial run: an undecodable check image or a damaged
  check record was a 60-line traceback of the graph."""
  from resnet_v2_slim.data import tfrecords  # pylint: disable=g-import-not-at-top
  data = refnets.image_folder(tmp_path / 'data', per_class=2)
  (data / 'a' / '0.png').write_bytes(b'not an image')
  code, _, err = _run_cli(capsys, [
      '--checkpoint', small, '--image_size', str(SIZE), '--onnx_file',
      str(tmp_path / 'm.onnx'), '--data_dir', str(data)])
  assert code == 2 and err.count('\n') == 1, err
  assert '%s, a check image, does not decode' % (data / 'a' / '0.png') in err
  good = refnets.image_folder(tmp_path / 'good', per_class=2)
  tfrecords.convert_folder(str(good), str(tmp_path / 'rec'), num_shards=1,
                           log=lambda _: None)
  [shard] = tfrecords.find_shards(str(tmp_path / 'rec' / 'train-*'))
  with open(shard, 'r+b') as f:
    f.truncate(os.path.getsize(shard) - 50)
  code, _, err = _run_cli(capsys, [
      '--checkpoint', small, '--image_size', str(SIZE), '--onnx_file',
      str(tmp_path / 'm.onnx'), '--tfrecord', shard])
  assert code == 2 and err.count('\n') == 1, err
  assert '--tfrecord shard %s is damaged near record' % shard in err
  assert not (tmp_path / 'm.onnx').exists()


def _fp32_pb(checkpoint, tmp_path):
  from resnet_v2_slim.inference import export  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / 'fp32.pb')
  export.export_inference_graph(checkpoint, output_file=path,
                                image_size=SIZE)
  return path


def test_int8_tflite_is_reported_not_refused(small, tmp_path, capsys):
  data = refnets.image_folder(tmp_path / 'data', per_class=4,
                              shape=(70, 70))
  path = tmp_path / 'q.tflite'
  code, stdout, err = _run_cli(capsys, [
      '--checkpoint', small, '--image_size', str(SIZE), '--tflite_file',
      str(path), '--quantize', 'int8', '--calibration_data', str(data)])
  # Calibrated on the images without their labels: a random net's int8
  # top-1 on 8 labelled images is noise, and the gate (tested in
  # test_inference_quantize.py) refused it at times.
  assert code == 0, err
  assert 'int8 calibrated on 8 images of --calibration_data' in stdout
  assert 'accuracy gate: not applied' in stdout
  assert 'on litert int8' in stdout
  fp32_size = os.path.getsize(small + '.data-00000-of-00001')
  assert os.path.getsize(path) < 0.5 * fp32_size
  with engines.load(str(path)) as engine:   # what it computes in
    assert engine.precision == 'int8'


def test_a_disagreeing_export_leaves_nothing_and_exits_1(small, tmp_path,
                                                         capsys):
  target = tmp_path / 'm.onnx'
  target.write_bytes(b'an older export')
  code, _, err = _run_cli(capsys, [
      '--checkpoint', small, '--image_size', str(SIZE), '--onnx_file',
      str(target), '--tolerance', '1e-12'])
  assert code == 1
  assert 'disagrees with the TensorFlow graph' in err
  assert err.count('\n') == 1 and '--tolerance' in err
  assert target.read_bytes() == b'an older export'
  assert sorted(os.listdir(tmp_path)) == ['m.onnx']


def test_export_outputs_are_guarded(small, tmp_path, capsys):
  before = hashlib.sha256(open(small + '.index', 'rb').read()).hexdigest()
  said = []
  for argv in (['--onnx_file', small + '.index'],
               ['--onnx_file', str(tmp_path / 'x'), '--keras_file',
                str(tmp_path / 'x')],
               ['--quantize', 'int8', '--keras_file',
                str(tmp_path / 'y.keras')],
               ['--keras_layout', 'applications', '--onnx_file',
                str(tmp_path / 'z')],
               ['--batch_size', '2', '--onnx_file', str(tmp_path / 'b')],
               ['--keras_file', str(tmp_path / 'k.h5')]):
    code, _, err = _run_cli(capsys, ['--checkpoint', small] + argv)
    assert code == 2 and err.count('\n') == 1, err
    said.append(err)
  assert '--keras_layout applications shapes the --keras_file; give one' in (
      said[3])
  # Found by the adversarial run: a traceback (the check images fed to the
  # fixed batch); a message blaming a --model_file and a temp file.
  assert '--batch_size fixes the batch of --output_file and ' \
      '--saved_model_dir only; export the --onnx_file without it' in said[4]
  assert '--keras_file must end in .keras' in said[5]
  assert '--quantize int8 applies to --onnx_file, --openvino_dir, ' \
      '--tflite_file; give one of them' in said[2]
  assert hashlib.sha256(open(small + '.index', 'rb').read()).hexdigest() == (
      before)
  assert not os.listdir(tmp_path)


def test_a_missing_engine_names_the_pip_command(small, tmp_path, capsys,
                                                monkeypatch):
  real = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, 'find_spec',
                      lambda name, *a: None if name == 'tf2onnx'
                      else real(name, *a))
  code, _, err = _run_cli(capsys, ['--checkpoint', small, '--onnx_file',
                                   str(tmp_path / 'm.onnx')])
  assert code == 2
  assert 'tf2onnx is not installed: pip install "resnet_v2_slim[export]"' in err
  assert not os.listdir(tmp_path)


def test_engines_refuse_what_they_cannot_run(tmp_path):
  with pytest.raises(engines.EngineError, match='model.h5 does not exist'):
    engines.load(str(tmp_path / 'model.h5'))
  (tmp_path / 'model.h5').write_bytes(b'x')
  with pytest.raises(engines.EngineError, match='not an exported model'):
    engines.load(str(tmp_path / 'model.h5'))
  (tmp_path / 'm.onnx').write_bytes(b'x')
  with pytest.raises(engines.EngineError, match='does not run a onnx file'):
    engines.load(str(tmp_path / 'm.onnx'), 'litert')


def test_a_broken_engine_package_is_one_line(monkeypatch):
  real = importlib.import_module

  def broken(name, *args):
    if name == 'onnxruntime':
      raise ImportError('libonnxruntime.so: cannot open shared object file')
    return real(name, *args)
  monkeypatch.setattr(importlib, 'import_module', broken)
  with pytest.raises(engines.EngineError) as caught:
    engines.require('onnxruntime')
  assert str(caught.value) == (
      'onnxruntime is installed but does not import (libonnxruntime.so: '
      'cannot open shared object file); reinstall it: pip install '
      '--force-reinstall onnxruntime.')


def test_a_damaged_model_is_one_line_on_every_engine(tmp_path, capsys):
  """0-byte, random and cut-short files: each engine's own traceback
  before (25-40 lines); one line naming the file now."""
  from resnet_v2_slim.cli import time_forward  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(0)
  (tmp_path / 'empty.onnx').write_bytes(b'')
  (tmp_path / 'random.tflite').write_bytes(rng.bytes(300))
  (tmp_path / 'cut.keras').write_bytes(b'PK\x03\x04' + rng.bytes(96))
  (tmp_path / 'frozen.pb').write_bytes(rng.bytes(300))
  garbage = tmp_path / 'ov_garbage'
  garbage.mkdir()
  (garbage / 'model.xml').write_bytes(rng.bytes(200))
  (garbage / 'model.bin').write_bytes(rng.bytes(200))
  cut = tmp_path / 'ov_cut'
  cut.mkdir()
  (cut / 'model.xml').write_text('<?xml version="1.0"?>\n<net name="x" '
                                 'version="11"><layers>')
  (cut / 'model.bin').write_bytes(b'')
  lonely = tmp_path / 'ov_lonely'
  lonely.mkdir()
  (lonely / 'model.xml').write_text('<?xml version="1.0"?><net/>')
  for name, said in (('empty.onnx', 'onnxruntime: '),
                     ('random.tflite', 'litert: '),
                     ('cut.keras', 'keras: not a readable zip archive'),
                     ('frozen.pb', 'tensorflow: '),
                     ('ov_garbage', 'its model.xml is not XML'),
                     ('ov_cut', 'openvino: '),
                     ('ov_lonely', 'has no %s' % (lonely / 'model.bin'))):
    path = str(tmp_path / name)
    with pytest.raises(engines.EngineError) as caught:
      engines.load(path)
    message = str(caught.value)
    assert path in message and said in message and 'Export it again' in (
        message), message
    assert '\n' not in message and 'Exception from' not in message, message
  code = time_forward.main(['--model_file', str(tmp_path / 'empty.onnx')])
  err = capsys.readouterr().err
  assert code == 2 and err.count('\n') == 1, err
  assert 'empty.onnx is not a readable onnx model' in err
  # Only OpenVINO and TensorFlow take --precision: the others ran float32
  # and said bf16.
  code = time_forward.main(['--model_file', str(tmp_path / 'random.tflite'),
                            '--precision', 'bf16'])
  err = capsys.readouterr().err
  assert code == 2 and err.count('\n') == 1, err
  assert '--precision bf16 is an OpenVINO and TensorFlow setting; litert ' \
      'runs' in err


@pytest.mark.skipif(importlib.util.find_spec('jax') is None,
                    reason='Keras 3 JAX backend: jax is not installed')
def test_the_twin_runs_under_keras_jax_backend(small, tmp_path):
  path = str(tmp_path / 'm.keras')
  keras_twin.from_checkpoint(small).save(path)
  images = _images(2)
  np.save(tmp_path / 'x.npy', images)
  code = ('import keras, numpy as np; m = keras.saving.load_model(%r); '
          'np.save(%r, np.asarray(m(np.load(%r))[0]))'
          % (path, str(tmp_path / 'y.npy'), str(tmp_path / 'x.npy')))
  done = subprocess.run([sys.executable, '-c', code], timeout=300,
                        env=dict(os.environ, KERAS_BACKEND='jax'),
                        capture_output=True, text=True, check=False)
  assert done.returncode == 0, done.stderr[-2000:]
  assert _rel(np.load(tmp_path / 'y.npy'), _tf_logits(small, images)) < 1e-4


# --- the same data and protocol for every artifact -------------------------

def test_evaluate_model_file_matches_the_checkpoint(small, tmp_path, capsys):
  from resnet_v2_slim.data import tfrecords  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import evaluate  # pylint: disable=g-import-not-at-top
  refnets.image_folder(tmp_path / 'img', ('a', 'b', 'c'), 3, (50, 60), 2)
  tfrecords.convert_folder(str(tmp_path / 'img'), str(tmp_path / 'rec'),
                           num_shards=2, log=lambda _: None)
  onnx_file = str(tmp_path / 'm.onnx')
  assert _run_cli(capsys, ['--checkpoint', small, '--image_size', str(SIZE),
                           '--onnx_file', onnx_file])[0] == 0
  common = dict(tfrecord=str(tmp_path / 'rec' / 'train-*'), image_size=SIZE,
                batch_size=4)
  want = evaluate.evaluate(evaluate.EvalConfig(checkpoint=small, **common),
                           log=lambda _: None)
  for extra in ({'checkpoint': small}, {}):
    got = evaluate.evaluate(evaluate.EvalConfig(model_file=onnx_file,
                                                **extra, **common),
                            log=lambda _: None)
    assert (got['num_examples'], got['top1'], got['top5']) == (
        want['num_examples'], want['top1'], want['top5'])
    assert got['loss'] == pytest.approx(want['loss'], rel=1e-5)
    assert got['engine'] == 'onnxruntime'


def test_evaluate_reads_the_size_a_file_declares_and_runs_keras(
    small, tmp_path, capsys):
  """OpenVINO and LiteRT files declare their size (no `image_size` needed);
  the Keras twin takes any size and runs eagerly beside evaluate's graph
  (it failed with "Graph is finalized"); LiteRT at another size is refused
  (it resized its input and gave 9 rows of logits per image)."""
  from resnet_v2_slim.data import tfrecords  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import engines  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import evaluate  # pylint: disable=g-import-not-at-top
  refnets.image_folder(tmp_path / 'img', ('a', 'b', 'c'), 3, (50, 60), 2)
  tfrecords.convert_folder(str(tmp_path / 'img'), str(tmp_path / 'rec'),
                           num_shards=1, log=lambda _: None)
  files = {'keras_file': str(tmp_path / 'm.keras'),
           'openvino_dir': str(tmp_path / 'm_ov'),
           'tflite_file': str(tmp_path / 'm.tflite')}
  argv = ['--checkpoint', small, '--image_size', str(SIZE)]
  for flag, path in files.items():
    argv += ['--' + flag, path]
  assert _run_cli(capsys, argv)[0] == 0
  common = dict(tfrecord=str(tmp_path / 'rec' / 'train-*'), batch_size=4)
  want = evaluate.evaluate(evaluate.EvalConfig(
      checkpoint=small, image_size=SIZE, **common), log=lambda _: None)
  for flag, path in files.items():
    size = {'image_size': SIZE} if flag == 'keras_file' else {}
    got = evaluate.evaluate(evaluate.EvalConfig(model_file=path, **size,
                                                **common), log=lambda _: None)
    assert got['image_size'] == SIZE, flag
    assert (got['num_examples'], got['top1']) == (want['num_examples'],
                                                  want['top1']), flag
    assert got['loss'] == pytest.approx(want['loss'], rel=1e-3), flag
  with engines.load(files['tflite_file']) as engine:
    assert engine.input_size == (SIZE, SIZE)
    with pytest.raises(engines.EngineError,
                       match=r'm.tflite takes 64x64 images, not 96x96: '
                       'give the `image_size` it was exported at'):
      engine.run(np.zeros((2, 96, 96, 3), np.float32))
  with pytest.raises(evaluate.EvalError, match='not 96x96'):
    evaluate.evaluate(evaluate.EvalConfig(
        model_file=files['openvino_dir'], image_size=96, **common),
                      log=lambda _: None)


def test_numpy_metrics_count_like_in_top_k():
  from resnet_v2_slim.inference import evaluate  # pylint: disable=g-import-not-at-top
  logits = np.array([[3., 1., 2., 0., -1., -2.],     # label 0: top-1
                     [1., 1., 0., 0., 0., 0.],        # a tie: in_top_k(1)
                     [0., 1., 2., 3., 4., 5.]])       # label 0: rank 6
  labels = np.array([0, 1, 0])
  got = evaluate._metrics(logits, labels, 6)  # pylint: disable=protected-access
  with tf.Graph().as_default(), tf.Session() as sess:
    want = sess.run([tf.reduce_sum(tf.cast(tf.nn.in_top_k(
        logits.astype(np.float32), labels, k), tf.int32)) for k in (1, 5)] + [
            tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=labels, logits=logits))])
  assert (got['top1'], got['top5']) == (want[0], want[1]) == (2, 2)
  assert got['loss'] == pytest.approx(want[2], rel=1e-9)


def test_time_forward_times_an_exported_model(small, tmp_path, capsys):
  from resnet_v2_slim.cli import time_forward  # pylint: disable=g-import-not-at-top
  onnx_file = str(tmp_path / 'm.onnx')
  assert _run_cli(capsys, ['--checkpoint', small, '--image_size', str(SIZE),
                           '--onnx_file', onnx_file])[0] == 0
  code = time_forward.main(['--model_file', onnx_file, '--engine', 'openvino',
                            '--image_size', str(SIZE), '--batch_size', '2',
                            '--num_batches', '3', '--num_burn_in', '1',
                            '--json', str(tmp_path / 'r.json')])
  out, err = capsys.readouterr()
  assert code == 0, err
  assert 'Forward across 3 steps' in out
  assert 'm.onnx on openvino forward fp32, batch 2' in out
  code = time_forward.main(['--model_file', onnx_file, '--image_size', '48',
                            '--num_batches', '1'])
  assert code == 2 and 'give the --image_size it was exported at' in (
      capsys.readouterr().err)


# --- the reverse: import-keras ---------------------------------------------

def _run_import(capsys, argv):
  from resnet_v2_slim.cli import import_keras  # pylint: disable=g-import-not-at-top
  code = import_keras.main(argv)
  out, err = capsys.readouterr()
  return code, out, err


def _variables(prefix):
  reader = tf.train.load_checkpoint(prefix)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if not name.startswith('global_step')}


@pytest.mark.parametrize('suffix', ['.keras', '.weights.h5'])
def test_import_keras_gives_back_the_checkpoint(small, tmp_path, capsys,
                                                suffix):
  twin = keras_twin.from_checkpoint(small)
  path = str(tmp_path / ('m' + suffix))
  (twin.save_weights if suffix == '.weights.h5' else twin.save)(path)
  code, out, err = _run_import(capsys, [path, '--output',
                                        str(tmp_path / 'back.ckpt')])
  assert code == 0, err
  assert 'holds resnet_v2_18 (twin, 10 classes)' in out
  original, back = _variables(small), _variables(str(tmp_path / 'back.ckpt'))
  assert sorted(back) == sorted(original)
  for name, value in original.items():
    assert np.array_equal(back[name], value), name
  assert checkpoints.read(str(tmp_path / 'back.ckpt')).model == (
      'resnet_v2_18')


@pytest.mark.parametrize('classes', [1000, 10])
def test_import_keras_reads_the_stock_applications_model(tmp_path, capsys,
                                                         classes):
  """keras.applications' own ResNet50V2 -> slim -> the applications layout
  again: the same model (the mapping's names are Keras' names). A stock
  model of 10 classes was a traceback (its head was built with 1000)."""
  import keras  # pylint: disable=g-import-not-at-top
  stock = keras.applications.ResNet50V2(weights=None, input_shape=(SIZE,
                                                                   SIZE, 3),
                                        classes=classes,
                                        classifier_activation=None)
  path = str(tmp_path / 'stock.keras')
  stock.save(path)
  code, out, err = _run_import(capsys, [path, '--output',
                                        str(tmp_path / 's.ckpt')])
  assert code == 0, err
  assert '(applications, %d classes)' % classes in out and 'pads pool1' in (
      out)
  if classes != 1000:   # the applications layout goes back for ImageNet only
    assert tf.train.load_checkpoint(str(tmp_path / 's.ckpt')).get_tensor(
        'resnet_v2_50/logits/weights').shape == (1, 1, 2048, classes)
    return
  back = keras_twin.from_checkpoint(str(tmp_path / 's.ckpt'),
                                    layout='applications', image_size=SIZE)
  images = _images(2)
  assert _rel(np.asarray(back(images)[0]), np.asarray(stock(images))) < 1e-5


def test_import_keras_writes_only_a_new_checkpoint(small, tmp_path, capsys,
                                                    monkeypatch):
  """Found by the adversarial run: an empty --output wrote hidden files into
  the current folder, a training checkpoint's prefix was replaced (its
  optimizer state gone), an existing folder got files beside it."""
  path = str(tmp_path / 'm.keras')
  keras_twin.from_checkpoint(small).save(path)
  run = tmp_path / 'run'
  run.mkdir()
  for suffix in ('.index', '.data-00000-of-00001'):
    (run / ('model.ckpt-4' + suffix)).write_bytes(b'training state')
  monkeypatch.chdir(tmp_path)
  for output, message in (
      ('', "--output must be a checkpoint prefix, a folder and a name such "
           "as rn50/model.ckpt; got ''"),
      (str(run) + os.sep, 'must be a checkpoint prefix'),
      (str(run), '--output %s is a folder; give a prefix inside it, such as '
                 '%s' % (run, run / 'model.ckpt')),
      (str(run / 'model.ckpt-4'), 'is already a checkpoint (%s exists); '
                                  'choose a new prefix' % (
                                      run / 'model.ckpt-4.index'))):
    code, _, err = _run_import(capsys, [path, '--output', output])
    assert code == 2 and message in err and err.count('\n') == 1, err
  code, _, err = _run_import(capsys, [str(run), '--output', 'x/model.ckpt'])
  assert code == 2 and 'the Keras model %s is a folder' % run in err, err
  code, _, err = _run_import(capsys, [path, '--output', 'x/model.ckpt',
                                      '--tolerance', '5'])
  assert code == 2 and '--tolerance must be a number between 0 and 1' in err
  assert sorted(os.listdir(tmp_path)) == ['m.keras', 'run']
  assert sorted(os.listdir(run)) == ['model.ckpt-4.data-00000-of-00001',
                                     'model.ckpt-4.index']
  assert (run / 'model.ckpt-4.index').read_bytes() == b'training state'


def test_import_keras_refuses_what_is_not_a_resnet(tmp_path, capsys):
  import keras  # pylint: disable=g-import-not-at-top
  inputs = keras.Input((4,))
  keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(
      str(tmp_path / 'lambda.keras'))
  keras.Model(inputs, keras.layers.Dense(3, name='dense')(inputs)).save(
      str(tmp_path / 'dense.keras'))
  for name, message in (('lambda.keras', 'safe mode'),
                        ('dense.keras', 'not a ResNetV2 of a known depth')):
    code, _, err = _run_import(capsys, [str(tmp_path / name), '--output',
                                        str(tmp_path / 'x.ckpt')])
    assert code == 2 and message in err and err.count('\n') == 1, err
    assert '--function' not in err
  assert sorted(os.listdir(tmp_path)) == ['dense.keras', 'lambda.keras']


# --- bf16 inference: the weights cast once ---------------------------------
def _frozen_logits(path, images):
  """A frozen GraphDef run by TensorFlow directly (not engines.py)."""
  graph_def = tf.GraphDef()
  with open(path, 'rb') as f:
    graph_def.ParseFromString(f.read())
  with tf.Graph().as_default() as graph:
    tf.import_graph_def(graph_def, name='')
    with tf.Session(graph=graph) as sess:
      return sess.run('logits:0', {'input:0': images}), graph_def


def test_bf16_exports_hold_bf16_weights_and_stay_close(small, tmp_path,
                                                        capsys):
  pb, sm = str(tmp_path / 'm.pb'), str(tmp_path / 'sm')
  code, out, err = _run_cli(capsys, [
      '--checkpoint', small, '--image_size', str(SIZE), '--precision', 'bf16',
      '--output_file', pb, '--saved_model_dir', sm])
  assert code == 0, err
  assert 'the bf16 graph against fp32 on the check images: max |logit ' \
      'difference|' in out
  images = _images(4)
  reference = _tf_logits(small, images)
  logits, graph_def = _frozen_logits(pb, images)
  assert 0 < _rel(logits, reference) < 3e-2   # really bf16, and close
  # Every weight and bias frozen as a bf16 constant, batch norm float32;
  # the only casts left are the images in and the logits out.
  weights = [name for name, _ in tf.train.list_variables(small)
             if name.endswith(('/weights', '/biases'))]
  consts = [n for n in graph_def.node if n.op == 'Const' and
            n.attr['dtype'].type == tf.bfloat16.as_datatype_enum]
  assert len(consts) == len(weights) > 20
  assert sum(n.op == 'Cast' for n in graph_def.node) == 2
  # The SavedModel casts its float32 variables once, when loaded: TF's own
  # loader gives the frozen graph's logits.
  with tf.Graph().as_default() as graph, tf.Session() as sess:
    meta = tf.saved_model.loader.load(sess, ['serve'], sm)
    signature = meta.signature_def['serving_default']
    saved = sess.run(signature.outputs['logits'].name,
                     {signature.inputs['input'].name: images})
  np.testing.assert_allclose(saved, logits, rtol=1e-6, atol=1e-6)
  # Run by --model_file, each says what it computes in (they said fp32).
  for path in (pb, sm):
    with engines.load(path) as engine:
      assert engine.precision == 'bf16', path
  with engines.load(_fp32_pb(small, tmp_path)) as engine:
    assert engine.precision == 'fp32'
  # Only for the TF graphs: the bridges are made from the float32 graph.
  code, _, err = _run_cli(capsys, ['--checkpoint', small, '--precision',
                                   'bf16', '--onnx_file',
                                   str(tmp_path / 'm.onnx')])
  assert code == 2 and '--precision bf16 applies to --output_file and ' \
      '--saved_model_dir' in err
  assert not os.path.exists(tmp_path / 'm.onnx')


def test_a_float32_graph_runs_in_bf16_when_asked(small, tmp_path):
  pb = _fp32_pb(small, tmp_path)
  images = _images(4)
  reference = _tf_logits(small, images)
  with engines.load(pb) as engine:
    assert engine.precision == 'fp32'
    assert _rel(engine.run(images), reference) < 1e-5
  # TensorFlow's own rewrites: batch norms folded, then computed in bf16
  # (a bf16 error, not float32's), and said so; any batch size.
  with engines.load(pb, precision='bf16') as engine:
    assert engine.precision == 'bf16'
    assert 1e-4 < _rel(engine.run(images), reference) < 3e-2
    assert engine.run(images[:1]).shape == (1, 10)
  # A float32 SavedModel: the rewrite alone (its weights are variables).
  sm = str(tmp_path / 'sm')
  export.export(export.ExportSettings(checkpoint=small, image_size=SIZE,
                                      saved_model_dir=sm), log=lambda _: None)
  with engines.load(sm, precision='bf16') as engine:
    assert engine.precision == 'bf16'
    assert 1e-4 < _rel(engine.run(images), reference) < 3e-2
  # The folding keeps every output the graph had (softmax too).
  _, graph_def = _frozen_logits(pb, images)
  folded = engines._fold_batch_norms(graph_def)  # pylint: disable=protected-access
  names = {n.name for n in folded.node}
  assert {'input', 'logits', 'predictions'} <= names
  assert not any(n.op.startswith('FusedBatchNorm') and 'conv' in n.name
                 for n in folded.node if '/preact/' not in n.name)


def test_bf16_classify_and_evaluate_stay_close_to_fp32(small, tmp_path):
  from resnet_v2_slim.data import tfrecords  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import classifier  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import evaluate  # pylint: disable=g-import-not-at-top
  folder = refnets.image_folder(tmp_path / 'img', ('a', 'b'), 3, (50, 60), 4)
  files = sorted(str(p) for p in folder.glob('*/*'))
  probs = {}
  for prec in ('fp32', 'bf16'):
    with classifier.Classifier(small, image_size=SIZE,
                               precision=prec) as clf:
      probs[prec] = np.stack([clf.probabilities(f) for f in files])
  # bf16 logits are within ~1e-2 of the logit scale; a softmax of large
  # logits turns that into a few hundredths where classes are close.
  assert 0 < np.max(np.abs(probs['bf16'] - probs['fp32'])) < 0.1
  sure = probs['fp32'].max(1) > 0.9
  assert (probs['bf16'].argmax(1) == probs['fp32'].argmax(1))[sure].all()
  tfrecords.convert_folder(str(folder), str(tmp_path / 'rec'), num_shards=1,
                           log=lambda _: None)
  results = {prec: evaluate.evaluate(evaluate.EvalConfig(
      checkpoint=small, tfrecord=str(tmp_path / 'rec' / 'train-*'),
      image_size=SIZE, batch_size=4, precision=prec), log=lambda _: None)
             for prec in ('fp32', 'bf16')}
  assert results['bf16']['precision'] == 'bf16'
  assert results['bf16']['num_examples'] == 6
  assert results['bf16']['loss'] == pytest.approx(results['fp32']['loss'],
                                                  rel=0.1)
  assert results['bf16']['loss'] != results['fp32']['loss']
  assert ' in bf16 on 6 images' in evaluate.report_line(results['bf16'])
  with pytest.raises(ValueError, match="`precision` must be one of fp32, "
                     "bf16, got 'fp16'"):
    classifier.Classifier(small, precision='fp16')
