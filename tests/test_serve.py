"""serve: a real server process on free ports, called over loopback with
Triton's own clients (tritonclient.http and tritonclient.grpc, v2) and
plain HTTP carrying TF Serving's JSON (v1), on scikit-image's photos; its
answers against ``classify`` on the same files. Every server is a child of
the test's fork server, given a timeout and ended by its id.

KServe's v2 protobufs and tritonclient.grpc's clash in one process: the
gRPC client runs in a process of its own (as in any real deployment), and
no test process imports tritonclient.grpc.
"""

import asyncio
import base64
import concurrent.futures
import io
import json
import os
import re
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import NamedTuple

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import yaml
from PIL import Image as PILImage

from resnet_v2_slim.cli import main as cli
from resnet_v2_slim.data import images as images_lib
from resnet_v2_slim.inference import triton
from resnet_v2_slim.config.serve import ServeSettings
from resnet_v2_slim.serve import backend
from resnet_v2_slim.serve import batcher
from resnet_v2_slim.serve import protocol
import refnets

tritonclient_http = pytest.importorskip('tritonclient.http')

SIZE, CLASSES, NAME = 64, 1001, 'resnet_v2_18'
START_TIMEOUT = 180      # a server's start: fork, import kserve, load, warm up
MAX_PIXELS = 300_000     # the astronaut (512 x 512) is over it; the others not


class Model(NamedTuple):
  checkpoint: str
  served: str          # export --serving's SavedModel (TF Serving layout)
  onnx: str            # the same, taking pixels
  triton: str          # a Triton model repository holding it
  photos: list         # JPEG files
  expected: list       # classify --model_file on them: [(ids, labels, probs)]


class Server(NamedTuple):
  child: object
  http: int
  grpc: int

  def url(self, path):
    return 'http://127.0.0.1:%d%s' % (self.http, path)


def _free_port():
  with socket.socket() as probe:
    probe.bind(('127.0.0.1', 0))
    return probe.getsockname()[1]


def _top(results):
  return [([h['index'] for h in r['top_k']], [h['label'] for h in r['top_k']],
           [h['probability'] for h in r['top_k']]) for r in results]


def _classify(argv, folder):
  out = os.path.join(folder, 'top.json')
  assert cli.main(['classify'] + argv + ['--json', out]) == 0
  with open(out) as f:
    return _top(json.load(f))


@pytest.fixture(scope='module')
def model(tmp_path_factory):
  folder = str(tmp_path_factory.mktemp('serve'))
  prefix = refnets.save_our_checkpoint(os.path.join(folder, 'rn18.ckpt'),
                                       NAME, CLASSES, image_size=SIZE)
  served = os.path.join(folder, 'served')
  onnx = os.path.join(folder, 'model.onnx')
  triton = os.path.join(folder, 'models')
  assert cli.main(['export', '--checkpoint', prefix, '--serving',
                   '--image_size', str(SIZE), '--saved_model_dir',
                   served, '--onnx_file', onnx, '--triton_repository',
                   triton]) == 0
  photos = []
  for i, image in enumerate(images_lib.bundled_photos()[:2]):
    photos.append(os.path.join(folder, 'photo%d.jpg' % i))
    with open(photos[-1], 'wb') as f:
      f.write(image.data)
  return Model(prefix, served, onnx, triton, photos,
               _classify(['--model_file', served] + photos, folder))


def _start(forks, folder, argv, *, grpc=True):
  http, grpc_port = _free_port(), (_free_port() if grpc else 0)
  child = forks.start(['resnet-v2-slim', 'serve'] + argv + [
      '--http_port', str(http), '--grpc_port', str(grpc_port)],
                      log=os.path.join(folder, 'server-%d.log' % http))
  server = Server(child, http, grpc_port)
  deadline = time.time() + START_TIMEOUT
  while time.time() < deadline:
    assert child.poll() is None, child.output()
    try:
      with urllib.request.urlopen(server.url('/v2/health/ready'),
                                  timeout=5) as answer:
        if json.load(answer) == {'ready': True}:
          return server
    except (OSError, ValueError):
      pass
    time.sleep(0.5)
  child.kill()
  raise AssertionError('not ready in %d s: %s' % (START_TIMEOUT,
                                                  child.output()))


def _stop(server):
  if server.child.poll() is None:
    server.child.send_signal(signal.SIGTERM)
    try:
      server.child.wait(timeout=60)
    except Exception:  # pylint: disable=broad-except
      server.child.kill()


@pytest.fixture(scope='module')
def server(forks, model, tmp_path_factory):
  """The SavedModel served, batching on, small limits to test them."""
  started = _start(forks, str(tmp_path_factory.mktemp('server')), [
      model.served, '--max_batch_size', '8', '--batch_timeout_ms', '150',
      '--max_image_pixels', str(MAX_PIXELS), '--max_body_mb', '2'])
  yield started
  _stop(started)


def _post(url, body, content_type='application/json', timeout=60):
  """(status, parsed JSON body) of a POST."""
  request = urllib.request.Request(url, data=body, method='POST', headers={
      'Content-Type': content_type})
  try:
    with urllib.request.urlopen(request, timeout=timeout) as answer:
      return answer.status, json.load(answer)
  except urllib.error.HTTPError as error:
    return error.code, json.loads(error.read() or b'null')


def _v1(files):
  return json.dumps({'instances': [
      {'b64': base64.b64encode(open(p, 'rb').read()).decode()}
      for p in files]}).encode()


def _assert_same(got, expected, k=5):
  """Server answers [(ids, labels, scores)] against classify's."""
  assert len(got) == len(expected)
  for (ids, labels, scores), (want_ids, want_labels, want) in zip(
      got, expected):
    assert list(ids) == want_ids[:k]
    assert [str(x, 'utf-8') if isinstance(x, bytes) else x
            for x in labels] == want_labels[:k]
    np.testing.assert_allclose(scores, want[:k], atol=1e-4)


def _v2_rows(result):
  return list(zip(result.as_numpy('classes'), result.as_numpy('labels'),
                  result.as_numpy('scores')))


def _decoded(files):
  """The photos' pixels, decoded by TensorFlow's own op (what the model's
  graph uses on a file)."""
  with tf.Graph().as_default(), tf.Session() as sess:
    contents = tf.placeholder(tf.string, [])
    image = tf.io.decode_image(contents, channels=3)
    return [sess.run(image, {contents: open(p, 'rb').read()}) for p in files]


def test_ready_answers_with_the_models_inputs_and_outputs(server):
  client = tritonclient_http.InferenceServerClient('127.0.0.1:%d'
                                                   % server.http)
  assert client.is_server_ready() and client.is_model_ready(NAME)
  meta = client.get_model_metadata(NAME)
  assert [(i['name'], i['datatype']) for i in meta['inputs']] == [
      ('image_bytes', 'BYTES'), ('pixels', 'UINT8')]
  shapes = {o['name']: (o['datatype'], o['shape']) for o in meta['outputs']}
  assert shapes['classes'] == ('INT32', [-1, 5])
  assert shapes['logits'] == ('FP32', [-1, CLASSES])


def test_v1_json_over_plain_http_gives_classifys_top_5(server, model):
  status, body = _post(server.url('/v1/models/%s:predict' % NAME),
                       _v1(model.photos))
  assert status == 200, body
  _assert_same([(p['classes'], p['labels'], p['scores'])
                for p in body['predictions']], model.expected)


def test_v2_with_tritonclient_http_image_files_and_pixels(server, model):
  client = tritonclient_http.InferenceServerClient('127.0.0.1:%d'
                                                   % server.http)
  files = tritonclient_http.InferInput('image_bytes', [2], 'BYTES')
  # binary_data=True (the client's default): the Binary Data extension.
  files.set_data_from_numpy(np.array([open(p, 'rb').read()
                                      for p in model.photos], dtype=object))
  _assert_same(_v2_rows(client.infer(NAME, [files])), model.expected)
  for pixels, expected in zip(_decoded(model.photos), model.expected):
    given = tritonclient_http.InferInput('pixels', [1, *pixels.shape],
                                         'UINT8')
    given.set_data_from_numpy(pixels[np.newaxis])
    _assert_same(_v2_rows(client.infer(NAME, [given])), [expected])


# Run in a process of its own: tritonclient.grpc and KServe cannot share one.
GRPC_CLIENT = r"""
import json, sys
import numpy as np
import tritonclient.grpc as grpcclient
port, name, files = sys.argv[1], sys.argv[2], sys.argv[3:]
client = grpcclient.InferenceServerClient('127.0.0.1:' + port)
given = grpcclient.InferInput('image_bytes', [len(files)], 'BYTES')
given.set_data_from_numpy(np.array([open(f, 'rb').read() for f in files],
                                   dtype=object))
asked = [grpcclient.InferRequestedOutput(n)
         for n in ('classes', 'labels', 'scores', 'probabilities')]
result = client.infer(name, [given], outputs=asked)
bad = grpcclient.InferInput('image_bytes', [1], 'BYTES')
bad.set_data_from_numpy(np.array([b'not an image'], dtype=object))
try:
  client.infer(name, [bad])
  error = None
except grpcclient.InferenceServerException as exc:
  error = [exc.status(), exc.message()]
print(json.dumps({
    'ready': client.is_model_ready(name),
    'rows': [[c.tolist(), [x.decode() for x in l], s.tolist()] for c, l, s in
             zip(*(result.as_numpy(n) for n in ('classes', 'labels',
                                                 'scores')))],
    'sums': result.as_numpy('probabilities').sum(1).tolist(),
    'shape': list(result.as_numpy('probabilities').shape),
    'error': error}))
"""


def test_v2_with_tritonclient_grpc_in_a_process_of_its_own(
    forks, server, model, tmp_path):
  script = tmp_path / 'grpc_client.py'
  script.write_text(GRPC_CLIENT)
  done = forks.run([str(script), str(server.grpc), NAME] + model.photos,
                   timeout=120)
  assert done.returncode == 0, done.stderr
  answer = json.loads(done.stdout.strip().splitlines()[-1])
  assert answer['ready']
  _assert_same(answer['rows'], model.expected)
  assert answer['shape'] == [2, CLASSES]
  np.testing.assert_allclose(answer['sums'], 1, rtol=1e-5)
  assert answer['error'][0] == 'StatusCode.INVALID_ARGUMENT'
  assert answer['error'][1] == 'image_bytes[0] is not an image file (%s).' % (
      images_lib.FORMAT_NAMES)


def _batch_metrics(server):
  with urllib.request.urlopen(server.url('/metrics'), timeout=10) as answer:
    text = answer.read().decode()
  return [float(re.search(r'^resnet_v2_slim_batch_size_%s (\S+)$' % what,
                          text, re.M).group(1)) for what in ('count', 'sum')]


def test_concurrent_requests_share_model_runs(server, model):
  runs, images = _batch_metrics(server)
  body = _v1(model.photos[:1])
  barrier = threading.Barrier(8)

  def call(_):
    barrier.wait()
    return _post(server.url('/v1/models/%s:predict' % NAME), body)

  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    answers = list(pool.map(call, range(8)))
  for status, answer in answers:
    assert status == 200, answer
    _assert_same([(p['classes'], p['labels'], p['scores'])
                  for p in answer['predictions']], model.expected[:1])
  runs_after, images_after = _batch_metrics(server)
  assert images_after - images == 8
  assert runs_after - runs < 8     # some requests ran together


def _image(shape, kind):
  out = io.BytesIO()
  PILImage.fromarray(np.full(shape, 90, np.uint8)).save(out, format=kind)
  return out.getvalue()


def _png(shape):
  return _image(shape, 'PNG')


def _huge_png():
  """A PNG whose header says 100000 x 100000 (its IHDR rewritten, CRC
  and all): PIL refuses it as a decompression bomb."""
  import struct  # pylint: disable=g-import-not-at-top
  import zlib  # pylint: disable=g-import-not-at-top
  data = bytearray(_png((4, 4, 3)))
  ihdr = data[12:29]          # b'IHDR' + width, height, depth...
  ihdr[4:12] = struct.pack('>II', 100000, 100000)
  data[12:29] = ihdr
  data[29:33] = struct.pack('>I', zlib.crc32(bytes(ihdr)))
  return bytes(data)


def _v2_json(name, datatype, shape, data):
  return json.dumps({'inputs': [{'name': name, 'datatype': datatype,
                                 'shape': shape, 'data': data}]}).encode()


def _malformed(model):
  jpeg = open(model.photos[0], 'rb').read()
  b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
  v1 = '/v1/models/%s:predict' % NAME
  v2 = '/v2/models/%s/infer' % NAME
  return [
      ('not an image', v1, _v1_of(b'hello'), 400, 'is not an image file'),
      ('truncated JPEG', v1, _v1_of(jpeg[:len(jpeg) // 3]), 400,
       'not a decodable image'),
      ('over --max_image_pixels', v1, _v1_of(_png((600, 600, 3))), 400,
       'over the server\'s --max_image_pixels %d' % MAX_PIXELS),
      ('wrong dtype', v2, _v2_json('pixels', 'FP32', [1, 2, 2, 3],
                                   [0.5] * 12), 400, 'must be UINT8'),
      ('wrong shape', v2, _v2_json('pixels', 'UINT8', [1, 2, 2],
                                   [1] * 4), 400, '[N, H, W, 3]'),
      ('wrong input name', v2, _v2_json('image', 'BYTES', [1],
                                        [b64(jpeg)]), 400,
       'give one input: image_bytes'),
      ('empty body', v1, b'', 400, ''),
      ('not JSON', v1, b'{"instances": [', 400, ''),
      ('no instances', v1, b'{"inputs": []}', 400, '"instances"'),
      ('wrong model name', '/v1/models/resnet_v2_50:predict',
       _v1_of(jpeg), 404, 'resnet_v2_50'),
      ('a body over --max_body_mb', v1, b'x' * 3_000_000, 413,
       '--max_body_mb'),
      ('a WebP image', v1, _v1_of(_image((10, 10, 3), 'WEBP')), 400,
       'instances[0] is a WEBP file; send JPEG, PNG, BMP, GIF'),
      ('a header of 10^10 pixels', v1, _v1_of(_huge_png()), 400,
       'over the server\'s --max_image_pixels'),
      ('a negative dimension', v2, _v2_json('pixels', 'UINT8', [1, -2, 2, 3],
                                            [1] * 12), 400, '[N, H, W, 3]'),
      ('pixels that are not whole numbers 0-255', v2, _v2_json(
          'pixels', 'UINT8', [1, 1, 1, 3], [1.5, 2, 3]), 400,
       'whole numbers 0-255'),
      ('pixels over 255', v2, _v2_json('pixels', 'UINT8', [1, 1, 1, 3],
                                       [300, 2, 3]), 400,
       'whole numbers 0-255'),
  ]


def _v1_of(data):
  return json.dumps({'instances': [
      {'b64': base64.b64encode(data).decode()}]}).encode()


def test_v2_json_without_an_id_and_odd_bodies(server, model):
  """The id is optional; a body that breaks the binary data extension or
  promises more than it sends is the client's, in one line; ``:explain``
  is not offered (501), and none of it is a traceback in the log."""
  pixels = _decoded(model.photos[:1])[0]
  status, answer = _post(server.url('/v2/models/%s/infer' % NAME), _v2_json(
      'pixels', 'UINT8', [1, *pixels.shape], pixels.ravel().tolist()))
  assert status == 200, answer
  assert answer['outputs'][0]['data'][:5] == model.expected[0][0]
  request = urllib.request.Request(
      server.url('/v2/models/%s/infer' % NAME), method='POST',
      data=b'{"inputs": []}', headers={
          'Inference-Header-Content-Length': 'abc'})
  with pytest.raises(urllib.error.HTTPError) as error:
    urllib.request.urlopen(request, timeout=30)
  assert error.value.code == 400
  assert 'binary data extension' in json.load(error.value)['error']
  start = time.time()
  with socket.create_connection(('127.0.0.1', server.http), 30) as raw:
    raw.sendall(b'POST /v1/models/%s:predict HTTP/1.1\r\nHost: x\r\n'
                b'Content-Length: 999999999999\r\n\r\n{}' % NAME.encode())
    assert raw.recv(4096).startswith(b'HTTP/1.1 413')
  assert time.time() - start < 20
  status, answer = _post(server.url('/v1/models/%s:explain' % NAME),
                         _v1(model.photos[:1]))
  assert status == 501
  assert 'Traceback' not in server.child.output()


def test_each_malformed_request_gets_a_4xx_in_one_line(server, model):
  for what, path, body, status, words in _malformed(model):
    got, answer = _post(server.url(path), body)
    assert got == status, (what, got, answer)
    assert isinstance(answer, dict) and '\n' not in answer['error'], what
    assert words in answer['error'], (what, answer)
  # The server is still up and right, and its log holds no client's
  # mistakes (KServe's own would be a traceback each, at ERROR).
  status, answer = _post(server.url('/v1/models/%s:predict' % NAME),
                         _v1(model.photos))
  assert status == 200
  _assert_same([(p['classes'], p['labels'], p['scores'])
                for p in answer['predictions']], model.expected)
  log = server.child.output()
  assert 'Traceback' not in log and 'not an image' not in log, log


def test_a_checkpoint_serves_its_top_k_and_sigterm_finishes_what_is_in_flight(
    forks, model, tmp_path):
  expected = _classify(['--checkpoint', model.checkpoint] + model.photos,
                       str(tmp_path))
  # A request waits up to 3 s for company: it is in flight at SIGTERM.
  server = _start(forks, str(tmp_path), [
      model.checkpoint, '--top_k', '3', '--batch_timeout_ms', '3000',
      '--log_level', 'debug'], grpc=False)
  try:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
      in_flight = pool.submit(_post, server.url(
          '/v1/models/%s:predict' % NAME), _v1(model.photos))
      time.sleep(1)
      server.child.send_signal(signal.SIGTERM)
      time.sleep(0.5)
      with pytest.raises(OSError):      # no new connection is taken
        urllib.request.urlopen(server.url('/v2/health/ready'), timeout=5)
      status, answer = in_flight.result(timeout=60)
    assert status == 200, answer
    _assert_same([(p['classes'], p['labels'], p['scores'])
                  for p in answer['predictions']], expected, k=3)
    assert all(len(p['classes']) == 3 for p in answer['predictions'])
    assert server.child.wait(timeout=60) == 0
    # --log_level debug: a line for the request.
    assert re.search(r'^v1 2 image\(s\) in [0-9.]+ ms$', server.child.output(),
                     re.M), server.child.output()
  finally:
    if server.child.poll() is None:
      server.child.kill()


def _one_line_error(done):
  lines = [line for line in done.stderr.splitlines() if line.strip()]
  assert done.returncode == 2 and len(lines) == 1, (done.returncode,
                                                    done.stderr)
  return lines[0]


def test_a_port_in_use_is_one_line_before_the_model_loads(forks, model):
  with socket.socket() as holder:
    holder.bind(('0.0.0.0', 0))
    holder.listen()
    port = holder.getsockname()[1]
    start = time.time()
    done = forks.run(['resnet-v2-slim', 'serve', model.served,
                      '--http_port', str(port), '--grpc_port', '0'],
                     timeout=120)
  line = _one_line_error(done)
  assert '--http_port %d cannot be used' % port in line, line
  assert time.time() - start < 60


@pytest.mark.parametrize('argv,words', [
    (['/no/such/model'], 'does not exist'),
    (['SERVED', '--engine', 'onnxruntime'], 'onnxruntime'),
    (['CHECKPOINT', '--engine', 'openvino'], 'a checkpoint runs on '
     'tensorflow'),
    (['SERVED', '--labels', 'labels.txt'], '--labels is for a checkpoint'),
    (['SERVED', '--http_port', '0'], '--http_port must be 1 to 65535'),
    (['SERVED', '--model_name', 'a/b'], '--model_name'),
])
def test_bad_input_is_one_line_and_nothing_starts(forks, model, argv, words):
  argv = [{'SERVED': model.served, 'CHECKPOINT': model.checkpoint}.get(a, a)
          for a in argv]
  done = forks.run(['resnet-v2-slim', 'serve'] + argv + [
      '--http_port', str(_free_port())] * ('--http_port' not in argv),
                   timeout=120)
  assert words in _one_line_error(done)


def test_without_kserve_the_error_names_the_extra(forks, tmp_path, model):
  fake = tmp_path / 'fake' / 'kserve'
  fake.mkdir(parents=True)
  (fake / '__init__.py').write_text(
      'raise ImportError("No module named \'kserve\'")\n')
  script = tmp_path / 'run.py'
  script.write_text(
      'import sys\nsys.path.insert(0, %r)\n'
      'from resnet_v2_slim.cli import main\n'
      'sys.exit(main.main(["serve", %r]))\n' % (str(tmp_path / 'fake'),
                                                model.served))
  done = forks.run([str(script)], timeout=120)
  line = _one_line_error(done)
  assert 'pip install "resnet_v2_slim[serve]"' in line, line


def test_binary_bytes_inputs_become_base64_in_the_json():
  files = [b'\xff\xd8first', b'\x89PNGsecond']
  segment = b''.join(len(f).to_bytes(4, 'little') + f for f in files)
  pixels = bytes(range(12))
  head = json.dumps({'inputs': [
      {'name': 'image_bytes', 'datatype': 'BYTES', 'shape': [2],
       'parameters': {'binary_data_size': len(segment)}},
      {'name': 'pixels', 'datatype': 'UINT8', 'shape': [1, 2, 2, 3],
       'parameters': {'binary_data_size': 12}}]}).encode()
  body, length = protocol.inline_binary_bytes(head + segment + pixels,
                                              len(head))
  rewritten = json.loads(body[:length])
  assert rewritten['inputs'][0]['data'] == ['/9hmaXJzdA==',
                                            'iVBOR3NlY29uZA==']
  assert 'binary_data_size' not in rewritten['inputs'][0]['parameters']
  assert rewritten['inputs'][1]['parameters'] == {'binary_data_size': 12}
  assert body[length:] == pixels
  with pytest.raises(ValueError):   # a length past the data
    protocol.inline_binary_bytes(head + segment + pixels[:-1], len(head))


def test_the_server_refuses_a_port_in_use_before_it_loads_anything():
  from resnet_v2_slim.serve import server  # pylint: disable=g-import-not-at-top
  with socket.socket() as holder:
    holder.bind(('0.0.0.0', 0))
    holder.listen()
    port = holder.getsockname()[1]
    settings = ServeSettings(model='/not/loaded', http_port=_free_port(),
                             grpc_port=port)
    with pytest.raises(backend.ServeError,
                       match='`grpc_port` %d cannot be used' % port):
      server.serve(settings)


def test_the_batcher_fills_runs_in_arrival_order_up_to_the_limit():
  runs = []

  def run(items):
    runs.append(list(items))
    return {'twice': np.array(items) * 2}

  async def main():
    batches = batcher.Batcher(run, max_batch_size=5, timeout_s=0.05)
    answers = await asyncio.gather(*(batches.submit(items) for items in (
        [1, 2], [3, 4, 5], [6, 7, 8, 9])))
    batches.close()
    return answers

  answers = asyncio.run(main())
  assert runs == [[1, 2, 3, 4, 5], [6, 7, 8, 9]]
  assert [a['twice'].tolist() for a in answers] == [[2, 4], [6, 8, 10],
                                                    [12, 14, 16, 18]]


def test_a_request_that_fails_its_batch_fails_alone():
  runs = []

  def run(items):
    runs.append(list(items))
    if 'bad' in items:
      raise ValueError('bad item')
    return {'same': np.array(items)}

  async def main():
    batches = batcher.Batcher(run, max_batch_size=8, timeout_s=0.05)
    answers = await asyncio.gather(*(batches.submit(items) for items in (
        ['a'], ['bad'], ['b', 'c'])), return_exceptions=True)
    batches.close()
    return answers

  first, second, third = asyncio.run(main())
  assert first['same'].tolist() == ['a'] and third['same'].tolist() == [
      'b', 'c']
  assert isinstance(second, ValueError)
  assert runs == [['a', 'bad', 'b', 'c'], ['a'], ['bad'], ['b', 'c']]


def test_a_pixels_model_runs_a_batch_of_mixed_sizes(model):
  files = [open(p, 'rb').read() for p in model.photos]
  with backend.load(model.onnx) as loaded:
    assert (loaded.engine, loaded.source) == ('onnxruntime', 'artifact')
    # A file and decoded pixels of another size, in one batch.
    checked = [loaded.check(files[0], 'first'),
               loaded.check(_decoded(model.photos)[1], 'second')]
    out = loaded.run(checked)
    with pytest.raises(backend.RequestError, match='third is not an image'):
      loaded.check(b'GIF8 but not', 'third')
  assert out['classes'].tolist() == [ids for ids, _, _ in model.expected]
  np.testing.assert_allclose(out['scores'], [p for _, _, p in model.expected],
                             atol=1e-4)


def _triton_model_config():
  """Triton's own ``ModelConfig`` message, from tritonclient's generated
  module, loaded by its path: importing ``tritonclient.grpc`` would load
  the gRPC service protos, which clash with KServe's in this process."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  import tritonclient  # pylint: disable=g-import-not-at-top
  path = os.path.join(os.path.dirname(tritonclient.__file__), 'grpc',
                      'model_config_pb2.py')
  spec = importlib.util.spec_from_file_location('triton_model_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_the_triton_repository_states_what_the_onnx_model_computes(model):
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  import onnxruntime  # pylint: disable=g-import-not-at-top
  folder = os.path.join(model.triton, NAME)
  assert sorted(os.listdir(folder)) == ['1', 'config.pbtxt', 'labels.txt']
  config = text_format.Parse(open(os.path.join(folder, 'config.pbtxt')).read(),
                             _triton_model_config().ModelConfig())
  assert (config.name, config.backend) == (NAME, 'onnxruntime')
  assert config.max_batch_size == ServeSettings(model='x').max_batch_size
  assert config.dynamic_batching.max_queue_delay_microseconds == round(
      ServeSettings(model='x').batch_timeout_ms * 1000)
  # What onnxruntime reads from the model file is what the config says.
  session = onnxruntime.InferenceSession(
      os.path.join(folder, '1', 'model.onnx'),
      providers=['CPUExecutionProvider'])
  types = {'tensor(float)': 'TYPE_FP32', 'tensor(uint8)': 'TYPE_UINT8',
           'tensor(int32)': 'TYPE_INT32', 'tensor(int64)': 'TYPE_INT64'}
  data_type = _triton_model_config().DataType.Name
  for stated, real in ((config.input, session.get_inputs()),
                       (config.output, session.get_outputs())):
    assert [(t.name, data_type(t.data_type), list(t.dims)) for t in stated] == [
        (t.name, types[t.type], [d if isinstance(d, int) else -1
                                 for d in t.shape[1:]]) for t in real]
  labelled = [t for t in config.output if t.label_filename]
  assert [t.name for t in labelled] == ['probabilities']
  labels = open(os.path.join(folder, 'labels.txt')).read().splitlines()
  assert len(labels) == CLASSES
  for ids, names, _ in model.expected:
    assert [labels[i] for i in ids] == names
  assert open(os.path.join(folder, '1', 'model.onnx'), 'rb').read() == open(
      model.onnx, 'rb').read()


def test_a_second_triton_export_adds_a_version_and_never_overwrites_one(
    model, tmp_path, capsys):
  import shutil  # pylint: disable=g-import-not-at-top
  repository = str(tmp_path / 'models')
  shutil.copytree(model.triton, repository)   # holds version 1
  argv = ['export', '--checkpoint', model.checkpoint, '--serving',
          '--image_size', str(SIZE), '--triton_repository', repository]
  assert cli.main(argv) == 0
  folder = os.path.join(repository, NAME)
  assert sorted(os.listdir(folder)) == ['1', '2', 'config.pbtxt',
                                        'labels.txt']
  before = {name: os.path.getmtime(os.path.join(folder, name, 'model.onnx'))
            for name in ('1', '2')}
  capsys.readouterr()
  assert cli.main(argv + ['--model_version', '2']) == 2
  assert capsys.readouterr().err.strip().endswith(
      '--model_version 2 of %s exists; give a new one, or leave it out for '
      'the next free version (3).' % folder)
  assert before == {
      name: os.path.getmtime(os.path.join(folder, name, 'model.onnx'))
      for name in ('1', '2')}
  assert not [n for n in os.listdir(folder) if n.startswith('.')]
  with pytest.raises(triton.TritonError, match='is a file; give a folder'):
    triton.version_dir(os.path.join(folder, 'labels.txt'), NAME, None)
  # A folder of that name that is not this package's: left as it is.
  theirs = tmp_path / 'theirs' / NAME
  theirs.mkdir(parents=True)
  (theirs / 'labels.txt').write_text('mine\n')
  capsys.readouterr()
  assert cli.main(argv[:-1] + [str(tmp_path / 'theirs')]) == 2
  assert 'which this package did not write' in capsys.readouterr().err
  assert os.listdir(theirs) == ['labels.txt']
  assert (theirs / 'labels.txt').read_text() == 'mine\n'


def _manifests():
  text = open(os.path.join(os.path.dirname(__file__), '..', 'docs',
                           'serve.md')).read()
  return [yaml.safe_load(block) for block in re.findall(
      r'^```yaml\n(.*?)^```', text, re.M | re.S)]


def _as_api_object(data, type_name):
  """``data`` built into KServe's (or Kubernetes') own API model classes:
  every key must be one of the class's fields, and the generated classes
  refuse a missing required field (client-side validation)."""
  import kserve  # pylint: disable=g-import-not-at-top
  import kubernetes.client  # pylint: disable=g-import-not-at-top
  if type_name.lower().startswith('list['):
    return [_as_api_object(x, type_name[5:-1]) for x in data]
  if type_name.lower().startswith(('dict(', 'dict[')):
    inner = type_name[type_name.index(',') + 1:-1].strip()
    return {k: _as_api_object(v, inner) for k, v in data.items()}
  if type_name in ('str', 'int', 'bool', 'float', 'object', 'datetime'):
    return data
  cls = getattr(kserve, type_name, None) or getattr(kubernetes.client,
                                                     type_name)
  fields = {json_name: name for name, json_name in cls.attribute_map.items()}
  unknown = sorted(set(data) - set(fields))
  assert not unknown, (type_name, unknown)
  return cls(**{fields[k]: _as_api_object(v, cls.openapi_types[fields[k]])
                for k, v in data.items()})


def test_the_inference_service_manifests_are_what_kserve_takes():
  from resnet_v2_slim.cli import serve as serve_cli  # pylint: disable=g-import-not-at-top
  manifests = _manifests()
  assert len(manifests) == 3
  for manifest in manifests:
    service = _as_api_object(manifest, 'V1beta1InferenceService')
    assert (service.api_version, service.kind) == (
        'serving.kserve.io/v1beta1', 'InferenceService')
    assert re.fullmatch(r'[a-z]([-a-z0-9]*[a-z0-9])?',
                        service.metadata.name)   # a DNS-1035 label
    predictor = service.spec.predictor
    # One way to serve per predictor: a model for a runtime, or a container.
    assert (predictor.model is None) != (predictor.containers is None)
  custom, tf_serving, triton = (m.spec.predictor for m in (
      _as_api_object(m, 'V1beta1InferenceService') for m in manifests))
  container = custom.containers[0]
  assert container.name == 'kserve-container'   # KServe's required name
  parsed = serve_cli.parser('serve').parse_args(container.args[1:])
  assert container.args[0] == 'serve' and parsed.model == '/mnt/models'
  assert [p.container_port for p in container.ports] == [parsed.http_port]
  assert container.readiness_probe.http_get.port == parsed.http_port
  assert parsed.model_name == manifests[0]['metadata']['name']
  assert [(e.name, e.value.startswith(('gs://', 's3://', 'pvc://')))
          for e in container.env] == [('STORAGE_URI', True)]
  assert (tf_serving.model.model_format.name, triton.model.model_format.name,
          triton.model.runtime) == ('tensorflow', 'triton',
                                    'kserve-tritonserver')
