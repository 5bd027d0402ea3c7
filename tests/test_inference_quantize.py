"""export --quantize int8 on ONNX Runtime, OpenVINO (NNCF) and TFLite, and
the accuracy gate: each int8 file read back by its engine's own runtime, a
gate that keeps a calibrated file and refuses one calibrated on a single
grey image, and the bad inputs."""

import os

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
from PIL import Image

from resnet_v2_slim import checkpoints
from resnet_v2_slim.cli import export as export_cmd
from resnet_v2_slim.data import preprocessing
from resnet_v2_slim.inference import engines
from resnet_v2_slim.inference import export
import refnets

SIZE, CLASSES, PER_CLASS = 32, 10, 3


def _run_cli(capsys, argv):
  code = export_cmd.main(argv)
  out, err = capsys.readouterr()
  return code, out, err


def _reference_logits(prefix, pixels, *, center=False):
  """TF's logits (and the images) for uint8 photos through inception
  preprocessing at SIZE; with ``center``, the logits bias is first moved so
  that every class wins on some of them (a random net favours a few) and
  saved back."""
  info = checkpoints.read(prefix)
  with tf.Graph().as_default():
    raw = tf.placeholder(tf.uint8, [None] + list(pixels.shape[1:]))
    images = tf.map_fn(lambda im: preprocessing.preprocess(
        im, 'inception', SIZE), raw, dtype=tf.float32)
    inputs, logits, _ = export.build_inference_graph(info.model, CLASSES,
                                                     SIZE)
    _, restore_fn = checkpoints.restorer(info, scope=info.model)
    [bias] = [v for v in tf.global_variables()
              if v.op.name.endswith('logits/biases')]
    with tf.Session() as sess:
      restore_fn(sess)
      batch = sess.run(images, {raw: pixels})
      out = sess.run(logits, {inputs: batch})
      if center:
        sess.run(bias.assign(sess.run(bias) - out.mean(0)))
        tf.train.Saver().save(sess, prefix)
        out = sess.run(logits, {inputs: batch})
  return out, batch


@pytest.fixture(scope='module')
def gated(tmp_path_factory):
  """A 10-class resnet_v2_18 and a labelled folder it classifies right:
  per class, the 3 of 3,000 random photos it is surest of, filed under the
  class it gives them (fp32 top-1 is 100% by construction, with margins that int8
  keeps and a broken calibration does not)."""
  root = tmp_path_factory.mktemp('gated')
  prefix = refnets.save_our_checkpoint(root / 'm.ckpt', 'resnet_v2_18',
                                       CLASSES, image_size=SIZE)
  pixels = np.random.RandomState(0).randint(0, 256, (3000, 40, 40, 3),
                                            np.uint8)
  _reference_logits(prefix, pixels, center=True)
  logits, _ = _reference_logits(prefix, pixels)
  top2 = np.sort(logits, 1)[:, -2:]
  margin = top2[:, 1] - top2[:, 0]
  for label in range(CLASSES):
    mine = np.flatnonzero(logits.argmax(1) == label)
    assert len(mine) >= PER_CLASS, np.bincount(logits.argmax(1))
    folder = root / 'data' / str(label)
    folder.mkdir(parents=True)
    for i in mine[np.argsort(-margin[mine])][:PER_CLASS]:
      Image.fromarray(pixels[i]).save(folder / ('%d.png' % i))
  grey = root / 'grey'
  grey.mkdir()
  Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(grey / 'g.png')
  return {'checkpoint': prefix, 'data': str(root / 'data'),
          'grey': str(grey)}


def _int8_nodes(path):
  """What makes each file int8, read with the format's own tools."""
  if path.endswith('.onnx'):
    import onnx  # pylint: disable=g-import-not-at-top
    return sum(n.op_type == 'QuantizeLinear'
               for n in onnx.load(path).graph.node)
  if path.endswith('.tflite'):
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
    return sum(d['dtype'] == np.int8 for d in
               Interpreter(model_path=path).get_tensor_details())
  with open(os.path.join(path, 'model.xml')) as f:
    return f.read().count('type="FakeQuantize"')


def test_int8_on_three_engines_passes_the_gate_and_runs_any_batch(
    gated, tmp_path, capsys):
  out = {'onnx_file': str(tmp_path / 'q.onnx'),
         'openvino_dir': str(tmp_path / 'q_ov'),
         'tflite_file': str(tmp_path / 'q.tflite')}
  argv = ['--checkpoint', gated['checkpoint'], '--image_size', str(SIZE),
          '--quantize', 'int8', '--data_dir', gated['data'],
          '--calibration_size', '20']
  for flag, path in out.items():
    argv += ['--' + flag, path]
  code, stdout, err = _run_cli(capsys, argv)
  assert code == 0, err
  assert 'accuracy gate: fp32 top-1 100.00% on 30 images' in stdout
  assert stdout.count('int8 calibrated on 20 images of --data_dir') == 3
  for engine in ('onnxruntime', 'openvino', 'litert'):
    assert '(%s int8): top-1 ' % engine in stdout
  assert stdout.count(': kept') == 3
  # The labelled photos, all at once (TFLite too), on each engine's own
  # runtime: the same classes as fp32 (what the gate measured through
  # evaluate), logits near fp32's (not equal: int8).
  paths = sorted(os.path.join(d, f) for d, _, files in os.walk(gated['data'])
                 for f in files)
  pixels = np.stack([np.asarray(Image.open(p)) for p in paths])
  reference, images = _reference_logits(gated['checkpoint'], pixels)
  for path in out.values():
    assert _int8_nodes(path) > 20, path
    got = refnets.own_runtime_logits(path, images)
    assert got.shape == (len(paths), CLASSES)
    assert np.mean(got.argmax(1) == reference.argmax(1)) >= 0.95, path
    rel = np.max(np.abs(got - reference)) / np.max(np.abs(reference))
    assert 1e-4 < rel < 0.5, (path, rel)
    with engines.load(path) as engine:   # what it says it computes in
      assert engine.precision == 'int8'
  assert not [f for f in os.listdir(tmp_path) if f.startswith('.')]


def test_the_gate_refuses_a_calibration_on_one_grey_image(gated, tmp_path,
                                                          capsys):
  target = tmp_path / 'q.onnx'
  target.write_bytes(b'an older export')
  code, stdout, err = _run_cli(capsys, [
      '--checkpoint', gated['checkpoint'], '--image_size', str(SIZE),
      '--quantize', 'int8', '--data_dir', gated['data'], '--onnx_file',
      str(target), '--calibration_data', gated['grey'],
      '--output_file', str(tmp_path / 'm.pb')])
  assert code == 1, (stdout, err)
  assert err.count('\n') == 1, err
  assert 'int8 calibrated on 1 images of --calibration_data' in stdout
  assert '(onnxruntime int8): top-1 ' in err
  assert '< --min_accuracy_ratio 0.99; refused, nothing was written' in err
  assert '--calibration_data' in err.split('refused')[1]
  # Nothing written: the older file kept, no frozen graph, no temporaries.
  assert target.read_bytes() == b'an older export'
  assert sorted(os.listdir(tmp_path)) == ['q.onnx']
  # The same file with a gate the user lowered to what it reaches is kept.
  ratio = float(err.split('ratio ')[1].split()[0])
  assert ratio < 0.9
  code, stdout, err = _run_cli(capsys, [
      '--checkpoint', gated['checkpoint'], '--image_size', str(SIZE),
      '--quantize', 'int8', '--data_dir', gated['data'], '--onnx_file',
      str(target), '--calibration_data', gated['grey'],
      '--min_accuracy_ratio', str(ratio / 2)])
  assert code == 0, err
  assert target.read_bytes() != b'an older export'


def test_without_labels_the_gate_says_it_was_not_applied(gated, tmp_path,
                                                         capsys):
  code, stdout, err = _run_cli(capsys, [
      '--checkpoint', gated['checkpoint'], '--image_size', str(SIZE),
      '--quantize', 'int8', '--tflite_file', str(tmp_path / 'q.tflite'),
      '--calibration_size', '4'])
  assert code == 0, err
  assert ('warning: int8 calibrated on 4 generated images, not on real '
          'ones: the result is not calibrated') in stdout
  assert 'accuracy gate: not applied (no labelled images' in stdout
  assert 'int8 NOT calibrated: 4 generated images' in stdout


@pytest.mark.parametrize('argv, said', [
    (['--quantize', 'int8', '--output_file', 'm.pb'],
     '--quantize int8 applies to --onnx_file, --openvino_dir, --tflite_file'),
    (['--quantize', 'int8', '--onnx_file', 'm.onnx', '--keras_file',
      'm.keras'], '--quantize int8 has no Keras 3 engine here'),
    (['--onnx_file', 'm.onnx', '--calibration_data', 'x'],
     '--calibration_data calibrates --quantize int8'),
    (['--quantize', 'int8', '--onnx_file', 'm.onnx', '--calibration_size',
      '0'], '--calibration_size must be a positive number of images'),
    (['--openvino_dir', 'ov', '--min_accuracy_ratio', '1.5'],
     '--min_accuracy_ratio must be a number in (0, 1]'),
    (['--openvino_dir', 'ov', '--min_accuracy_ratio', '0'],
     '--min_accuracy_ratio must be a number in (0, 1]'),
    (['--onnx_file', 'm.onnx', '--max_examples', '-1'],
     '--max_examples must be > 0'),
    (['--onnx_file', 'm.onnx', '--dataset_name', 'digits', '--data_dir',
      'd'], 'give one of --data_dir, --tfrecord and --dataset_name'),
    (['--quantize', 'int8', '--onnx_file', 'm.onnx', '--calibration_data',
      'nothing-*'], '--calibration_data nothing-* matches no file'),
])
def test_bad_quantize_settings_are_one_line_and_write_nothing(
    gated, tmp_path, capsys, monkeypatch, argv, said):
  monkeypatch.chdir(tmp_path)
  code, _, err = _run_cli(capsys, ['--checkpoint', gated['checkpoint']] +
                          argv)
  assert code == 2 and err.count('\n') == 1, err
  assert said in err
  assert os.listdir(tmp_path) == []


def test_a_calibration_image_that_does_not_decode_is_named(gated, tmp_path,
                                                           capsys):
  folder = tmp_path / 'cal'
  folder.mkdir()
  (folder / 'broken.jpg').write_bytes(b'not an image')
  code, _, err = _run_cli(capsys, [
      '--checkpoint', gated['checkpoint'], '--image_size', str(SIZE),
      '--quantize', 'int8', '--onnx_file', str(tmp_path / 'q.onnx'),
      '--calibration_data', str(folder)])
  assert code == 2 and err.count('\n') == 1, err
  assert '%s, a calibration image, does not decode' % (
      folder / 'broken.jpg') in err
  assert not (tmp_path / 'q.onnx').exists()


def test_one_class_is_enough_where_labels_are_not_read(gated, tmp_path,
                                                      capsys):
  """Images of one class sub-folder calibrate and check an export (labels
  unused); gating on them (labels read) is one line naming --data_dir."""
  one = refnets.image_folder(tmp_path / 'one', classes=('cats',),
                             per_class=3)
  base = ['--checkpoint', gated['checkpoint'], '--image_size', str(SIZE)]
  code, stdout, err = _run_cli(capsys, base + [
      '--onnx_file', str(tmp_path / 'q.onnx'), '--quantize', 'int8',
      '--calibration_data', str(one), '--min_accuracy_ratio', '0.01'])
  assert code == 0, err
  assert 'int8 calibrated on 3 images of --calibration_data' in stdout
  code, stdout, err = _run_cli(capsys, base + [
      '--onnx_file', str(tmp_path / 'f.onnx'), '--data_dir', str(one)])
  assert code == 0, err
  assert 'on 3 images of --data_dir' in stdout
  code, _, err = _run_cli(capsys, base + [
      '--onnx_file', str(tmp_path / 'g.onnx'), '--quantize', 'int8',
      '--data_dir', str(one)])
  assert code == 2 and err.count('\n') == 1, err
  assert ('--data_dir %s holds one class (cats); labels number the class '
          'sub-folders in sorted order' % one) in err
  assert not (tmp_path / 'g.onnx').exists()


def test_a_builtin_set_calibrates_on_its_train_split_as_train_sees_it():
  """Hand-computed: the 8x8 digits, nearest-neighbour to 16 (each pixel
  a 2x2 block), three channels, [0, 1] to [-1, 1]; never the held-out
  split the gate evaluates."""
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.data import datasets  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import quantize  # pylint: disable=g-import-not-at-top
  settings = export.ExportSettings(checkpoint='m', quantize='int8',
                                   dataset_name='digits',
                                   calibration_size=12)
  said = []
  calibration = quantize.calibration_images(settings, 'inception', 16,
                                            log=said.append)
  assert calibration.images.shape == (12, 16, 16, 3)
  assert calibration.source == '12 images of digits/train'
  assert calibration.calibrated and not said
  pixels = load_digits().images / 16.0
  expected = np.repeat(np.repeat(pixels, 2, 1), 2, 2) * 2 - 1
  held = datasets.builtin('digits', 'validation').images
  for image in calibration.images:
    assert np.allclose(image[..., 0], image[..., 2])
    matches = np.flatnonzero(np.all(np.abs(expected - image[..., 0]) < 1e-6,
                                    axis=(1, 2)))
    assert len(matches) >= 1
    assert not any(np.array_equal(pixels[m], h) for m in matches
                   for h in held)


@pytest.mark.parametrize('ratio, ok', [(1, True), (0.99, True), (1e-3, True),
                                       (0, False), (1.01, False),
                                       ('0.9', False)])
def test_min_accuracy_ratio_must_be_in_zero_one(ratio, ok):
  from resnet_v2_slim.inference import accuracy_gate  # pylint: disable=g-import-not-at-top
  if ok:
    accuracy_gate.check_ratio(ratio)
  else:
    with pytest.raises(export.ExportError, match='`min_accuracy_ratio`'):
      accuracy_gate.check_ratio(ratio)


def test_the_gate_judges_bf16_too(gated, tmp_path, capsys):
  """OpenVINO's bf16 (its CPU default on AVX512_BF16/AMX) and the bf16
  frozen graph are evaluated on the labelled images like int8."""
  code, stdout, err = _run_cli(capsys, [
      '--checkpoint', gated['checkpoint'], '--image_size', str(SIZE),
      '--data_dir', gated['data'], '--output_file', str(tmp_path / 'h.pb'),
      '--precision', 'bf16', '--openvino_dir', str(tmp_path / 'ov')])
  assert code == 0, err
  for what in ('tensorflow bf16', 'openvino bf16'):
    assert ('(%s): top-1 100.00%% against fp32\'s 100.00%% on 30 images, '
            'ratio 1.0000 >= 0.99: kept' % what) in stdout, stdout
  assert stdout.count('accuracy gate: fp32 top-1') == 1   # evaluated once
  with engines.load(str(tmp_path / 'h.pb')) as engine:
    assert engine.precision == 'bf16'


# --- --threads and --streams ----------------------------------------------

@pytest.fixture(scope='module')
def fp32_files(gated, tmp_path_factory):
  root = tmp_path_factory.mktemp('fp32')
  files = {'onnx': str(root / 'm.onnx'), 'openvino': str(root / 'ov')}
  export.export_inference_graph(gated['checkpoint'], image_size=SIZE,
                                onnx_file=files['onnx'],
                                openvino_dir=files['openvino'])
  return files


@pytest.mark.parametrize('engine', ['onnx', 'openvino'])
def test_streams_split_a_batch_and_give_the_engine_s_own_answer(
    fp32_files, engine):
  path = fp32_files[engine]
  images = np.random.RandomState(4).uniform(-1, 1, (5, SIZE, SIZE, 3)
                                            ).astype(np.float32)
  expected = refnets.own_runtime_logits(path, images)
  with engines.load(path, threads=2, streams=2) as two:
    assert two.streams == 2
    np.testing.assert_allclose(two.run(images), expected, rtol=1e-5,
                               atol=1e-5)
    assert two.runtime == {'threads': 1 if engine == 'onnx' else 2,
                           'streams': 2}   # ORT: 2 sessions x 1 thread
  with engines.load(path, threads=1) as one:   # read back from the engine
    assert one.runtime == {'threads': 1, 'streams': 1}


def test_openvino_requests_meet_a_new_shape_one_at_a_time():
  """Two streams at a new input shape never specialize at once (that hung
  OpenVINO's CPU plugin on a 2-core EPYC); at a shape both have seen they
  run in parallel."""
  import threading  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  running, overlaps, lock = [0], [], threading.Lock()

  def slow(images):
    with lock:
      running[0] += 1
      overlaps.append(running[0])
    time.sleep(0.2)
    with lock:
      running[0] -= 1
    return images

  def both(fns, shape):
    del overlaps[:]
    threads = [threading.Thread(target=fn, args=(np.zeros(shape),))
               for fn in fns]
    for t in threads:
      t.start()
    for t in threads:
      t.join(timeout=10)
    return max(overlaps)

  fns = engines._first_shape_alone([slow, slow])  # pylint: disable=protected-access
  assert both(fns, (4, 3)) == 1       # first time at (4, 3): one at a time
  assert both(fns, (4, 3)) == 2       # seen by both: in parallel
  assert both(fns, (2, 3)) == 1       # a new shape again: one at a time
  assert engines._first_shape_alone([slow]) == [slow]  # pylint: disable=protected-access


def test_threads_and_streams_are_flags_recorded_in_the_json(
    fp32_files, gated, tmp_path):
  from resnet_v2_slim.cli import evaluate as evaluate_cmd  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.cli import time_forward  # pylint: disable=g-import-not-at-top
  import json  # pylint: disable=g-import-not-at-top
  assert time_forward.main([
      '--model_file', fp32_files['openvino'], '--image_size', str(SIZE),
      '--batch_size', '4', '--num_batches', '2', '--num_burn_in', '1',
      '--threads', '2', '--streams', '2', '--json',
      str(tmp_path / 't.json')]) == 0
  timed = json.loads((tmp_path / 't.json').read_text())
  assert (timed['threads'], timed['streams']) == (2, 2)
  assert timed['engine_runtime'] == {'threads': 2, 'streams': 2}
  assert evaluate_cmd.main([
      '--checkpoint', gated['checkpoint'], '--image_size', str(SIZE),
      '--data_dir', gated['data'], '--threads', '1', '--json',
      str(tmp_path / 'e.json')]) == 0
  evaluated = json.loads((tmp_path / 'e.json').read_text())
  assert (evaluated['threads'], evaluated['top1']) == (1, 1.0)


@pytest.mark.parametrize('argv, said', [
    (['time-forward', '--threads', '0'], '--threads must be >= 1'),
    (['time-forward', '--streams', '2'],
     '--streams 2 runs parallel requests on openvino and onnxruntime; the '
     'TensorFlow graph runs one at a time'),
    (['evaluate', '--checkpoint', 'CKPT', '--dataset_name', 'digits',
      '--streams', '0'], '--streams must be >= 1'),
    (['classify', '--checkpoint', 'CKPT', 'x.png', '--threads', '-1'],
     '--threads must be >= 1'),
])
def test_bad_thread_and_stream_counts_are_one_line(gated, capsys, argv,
                                                   said):
  from resnet_v2_slim.cli import main as main_cmd  # pylint: disable=g-import-not-at-top
  argv = [gated['checkpoint'] if a == 'CKPT' else a for a in argv]
  assert main_cmd.main(argv) == 2
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and said in err, err
