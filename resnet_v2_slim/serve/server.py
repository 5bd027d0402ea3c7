"""The server: one ``backend.Backend`` as a ``kserve.Model`` on KServe's
model server (uvicorn REST and gRPC), until SIGTERM or Ctrl-C.

KServe gives the endpoints, health (``/v2/health/ready``,
``/v1/models/NAME``), model metadata, Prometheus ``/metrics`` and the
graceful stop; this module adds what a classifier needs: images checked
one by one (``backend``), requests batched (``batcher``), the body size
capped (413 before the body is read), class names in the answers
(``protocol``) and logs without a line per request unless asked.

Typical use::

    from resnet_v2_slim.config import serve as serve_config
    from resnet_v2_slim.serve import server

    server.serve(serve_config.ServeSettings(model='served'))
"""

import asyncio
import contextlib
import json
import logging
import math
import socket
import sys
import time
import uuid
import warnings
from typing import Any, Dict, List, Optional

import numpy as np

from resnet_v2_slim import errors
from resnet_v2_slim.config.serve import ServeSettings
from resnet_v2_slim.inference import serving
from resnet_v2_slim.serve import backend
from resnet_v2_slim.serve import batcher as batcher_lib
from resnet_v2_slim.serve import protocol


@contextlib.contextmanager
def _program_name_only():
  """``kserve.model_server`` parses ``sys.argv`` when imported: it sees
  only the program's name, so our flags are not read as its own."""
  saved = sys.argv
  sys.argv = saved[:1]
  try:
    yield
  finally:
    sys.argv = saved


try:
  with _program_name_only():
    # pylint: disable=g-import-not-at-top
    import kserve
    from kserve import errors as kserve_errors
    from kserve import model_server as kserve_server
    from kserve.protocol import infer_type
    import prometheus_client   # KServe's own metrics library
    # pylint: enable=g-import-not-at-top
except ImportError as exc:
  raise backend.ServeError(
      'serve needs KServe\'s model server, which is not installed (%s): '
      'pip install "resnet_v2_slim[serve]".' % exc) from None

_LOG = logging.getLogger('resnet_v2_slim.serve')
# KServe 0.21 answers with FastAPI's ORJSONResponse, deprecated in the
# FastAPI it installs: a warning per request shape, not ours to fix.
warnings.filterwarnings('ignore', message='ORJSONResponse is deprecated')
# KServe logs each with a traceback at ERROR; each is the client's (501:
# ``:explain``, which a classifier does not offer).
_CLIENT_ERRORS = (kserve_errors.InvalidInput, kserve_errors.ModelNotFound,
                  NotImplementedError)
# On /metrics beside KServe's: how well batching works under the load.
_BATCH_SIZE = prometheus_client.Histogram(
    'resnet_v2_slim_batch_size', 'Images per model run (requests batched '
    'together)', buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))


class SlimModel(kserve.Model):
  """A slim ResNet V2 classifier as KServe sees it.

  ``load`` loads and warms the model, then marks it ready; ``predict``
  takes a v1 body (a dict) or a v2 ``InferRequest`` (REST or gRPC).
  """

  def __init__(self, name: str, settings: ServeSettings) -> None:
    super().__init__(name)
    self.settings = settings
    self.backend: Optional[backend.Backend] = None
    self.batcher: Optional[batcher_lib.Batcher] = None

  def load(self) -> bool:
    s = self.settings
    self.backend = backend.load(
        s.model, engine=s.engine, top_k=s.top_k, labels=s.labels,
        max_image_pixels=s.max_image_pixels)
    # The first run of a session or engine is slow (graph setup, kernels
    # picked): it happens here, before the server says it is ready.
    size = self.backend.facts.image_size
    self.backend.run([self.backend.check(
        np.full((size, size, 3), 128, np.uint8), 'warm-up')])
    self.batcher = batcher_lib.Batcher(
        self._run, max_batch_size=s.max_batch_size,
        timeout_s=s.batch_timeout_ms / 1000)
    self.ready = True
    return True

  def _run(self, batch: List[backend.Checked]) -> Dict[str, np.ndarray]:
    _BATCH_SIZE.observe(len(batch))
    return self.backend.run(batch)

  def stop(self) -> None:
    """Not ready; the model closed (KServe calls it on SIGTERM, and
    ``serve`` once more on the way out)."""
    self.ready = False
    if self.batcher is not None:
      self.batcher.close()
    if self.backend is not None:
      self.backend.close()
    self.batcher = self.backend = None

  async def predict(self, payload: Any, headers: Optional[Dict] = None,
                    response_headers: Optional[Dict] = None) -> Any:
    del headers, response_headers
    start = time.perf_counter()
    v2 = isinstance(payload, infer_type.InferRequest)
    try:
      images = (protocol.v2_images(payload.inputs) if v2
                else protocol.v1_images(protocol.v1_json(payload)))
      loop = asyncio.get_running_loop()
      # Decoding is CPU work: off the event loop, as the model run is.
      checked = await loop.run_in_executor(
          None, lambda: [self.backend.check(*i) for i in images])
      outputs = await self.batcher.submit(checked)
      answer = (self._v2_answer(payload, outputs) if v2 else
                protocol.v1_answer(outputs, self._labels, self.backend.top_k))
    except backend.RequestError as exc:
      # KServe answers InvalidInput with 400 (REST) / INVALID_ARGUMENT.
      raise kserve_errors.InvalidInput(str(exc)) from None
    _LOG.debug('%s %d image(s) in %.1f ms', 'v2' if v2 else 'v1',
               len(images), 1000 * (time.perf_counter() - start))
    return answer

  @property
  def _labels(self) -> List[str]:
    return list(self.backend.facts.labels)

  def _v2_answer(self, request, outputs) -> 'infer_type.InferResponse':
    asked = [o.name for o in request.request_outputs or []]
    arrays = protocol.v2_outputs(outputs, self._labels, self.backend.top_k,
                                 asked)
    binary = request.use_binary_outputs
    infer_outputs = []
    for name, array in arrays:
      out = infer_type.InferOutput(name, list(array.shape),
                                   protocol.V2_TYPES[name])
      out.set_data_from_numpy(array, binary_data=binary)
      infer_outputs.append(out)
    # The id is optional in the protocol; KServe's response requires one.
    return infer_type.InferResponse(
        request.id if request.id is not None else str(uuid.uuid4()),
        self.name, infer_outputs, from_grpc=request.from_grpc,
        use_binary_outputs=binary, requested_outputs=request.request_outputs)

  def get_input_types(self) -> List[Dict]:
    return [{'name': serving.BYTES, 'datatype': 'BYTES',
             'shape': [-1]},
            {'name': serving.PIXELS, 'datatype': 'UINT8',
             'shape': [-1, -1, -1, 3]}]

  def get_output_types(self) -> List[Dict]:
    k, n = self.backend.top_k, self.backend.facts.num_classes
    return [{'name': name, 'datatype': protocol.V2_TYPES[name],
             'shape': [-1, k if name in protocol.TOP else n]}
            for name in protocol.TOP + protocol.FULL]


class _BodyLimit:
  """ASGI middleware: a request body over ``max_bytes`` gets 413 and one
  line, known by its Content-Length or as soon as it grows past the limit
  (chunked). Its bytes are read and dropped, never kept: a client that is
  still sending would otherwise see its connection reset instead of the
  answer. Hand-written: neither uvicorn nor Starlette caps a body, and
  KServe reads a whole body into memory before it looks at it.
  """

  def __init__(self, app, max_bytes: int) -> None:
    self.app, self.max_bytes = app, max_bytes

  async def __call__(self, scope, receive, send):
    if scope['type'] != 'http':
      return await self.app(scope, receive, send)
    length = dict(scope['headers']).get(b'content-length', b'0')
    if length.isdigit() and int(length) > self.max_bytes:
      try:   # a Content-Length the client never sends is not waited for
        await asyncio.wait_for(_drain(receive), _DRAIN_TIMEOUT_S)
      except asyncio.TimeoutError:
        pass
      return await self._refuse(send, int(length))
    seen, started = 0, False

    async def counted():
      nonlocal seen
      message = await receive()
      seen += len(message.get('body', b''))
      if seen > self.max_bytes:
        raise _TooLarge()
      return message

    async def watched(message):
      nonlocal started
      started = started or message['type'] == 'http.response.start'
      await send(message)

    try:
      await self.app(scope, counted, watched)
    except _TooLarge:
      if not started:
        seen += await _drain(receive)
        await self._refuse(send, seen)

  async def _refuse(self, send, size: int) -> None:
    await _answer(send, 413, 'the request body has %d bytes, over the '
                  'server\'s --max_body_mb (%d bytes): send fewer or '
                  'smaller images, or start the server with a larger '
                  '--max_body_mb.' % (size, self.max_bytes))


async def _answer(send, status: int, error: str) -> None:
  """An error answer as KServe's own: ``{"error": "one line"}``."""
  body = json.dumps({'error': error}).encode()
  await send({'type': 'http.response.start', 'status': status,
              'headers': [(b'content-type', b'application/json'),
                          (b'content-length', str(len(body)).encode())]})
  await send({'type': 'http.response.body', 'body': body})


async def _drain(receive) -> int:
  """Reads the rest of a request body, dropping it; returns its size."""
  size, more = 0, True
  while more:
    message = await receive()
    if message['type'] != 'http.request':
      break                  # the client went away
    size += len(message.get('body', b''))
    more = message.get('more_body', False)
  return size


_DRAIN_TIMEOUT_S = 5.0


class _TooLarge(errors.Error):
  """A body past the limit, seen while it was read."""


class _V2RestBodies:
  """ASGI middleware for v2 REST ``infer`` bodies, as Triton's clients send
  them: binary BYTES inputs (image files, tritonclient.http's default)
  become base64 strings in the JSON before KServe reads them
  (``protocol.inline_binary_bytes`` says why), and a JSON body sent
  without a Content-Type (tritonclient.http's, when nothing is binary) is
  read as JSON, not as a binary body missing its header.
  """
  _HEADER = b'inference-header-content-length'

  def __init__(self, app) -> None:
    self.app = app

  async def __call__(self, scope, receive, send):
    if scope['type'] != 'http' or scope['method'] != 'POST' or not (
        scope['path'].endswith('/infer')):
      return await self.app(scope, receive, send)
    headers = dict(scope['headers'])
    if self._HEADER not in headers:
      headers[b'content-type'] = b'application/json'
      scope = dict(scope, headers=list(headers.items()))
      return await self.app(scope, receive, send)
    body, more = b'', True
    while more:
      message = await receive()
      body += message.get('body', b'')
      more = message.get('more_body', False)
    try:
      body, json_length = protocol.inline_binary_bytes(
          body, int(headers[self._HEADER]))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
      return await _answer(send, 400, 'the body does not follow the binary '
                           'data extension (Inference-Header-Content-Length '
                           'and each input\'s binary_data_size): %s.' % exc)
    headers[self._HEADER] = str(json_length).encode()
    headers[b'content-length'] = str(len(body)).encode()
    sent = False

    async def replay():
      nonlocal sent
      if sent:
        return await receive()    # waits for the client's disconnect
      sent = True
      return {'type': 'http.request', 'body': body, 'more_body': False}

    scope = dict(scope, headers=list(headers.items()))
    await self.app(scope, replay, send)


def _check_ports(settings: ServeSettings) -> None:
  """Fails before the model loads (minutes for a big one) if a port is
  taken.

  Raises:
    ServeError: naming the port and its flag.
  """
  for name in ('http_port', 'grpc_port'):
    port = getattr(settings, name)
    if not port:
      continue
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
      probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
      try:
        probe.bind(('0.0.0.0', port))
      except OSError as exc:
        raise backend.ServeError(
            '`%s` %d cannot be used (%s): stop what holds it or give '
            'another port.' % (name, port, exc.strerror)) from None


class _ClientErrorsInOneLine(logging.Filter):
  """KServe logs every 4xx with a traceback at ERROR: a client's mistake
  is not the server's. Dropped, or one debug line with --log_level debug.
  """

  def filter(self, record: logging.LogRecord) -> bool:
    error = record.exc_info[1] if record.exc_info else None
    if not isinstance(error, _CLIENT_ERRORS):
      return True
    record.msg, record.args = 'refused: %s', (error,)
    record.exc_info = record.exc_text = None
    record.levelno, record.levelname = logging.DEBUG, 'DEBUG'
    return _LOG.isEnabledFor(logging.DEBUG)


def _set_log_level(level: str) -> None:
  """info: our start line, uvicorn's, and problems; debug: KServe's own
  lines too, the access log and our line per request; warning: problems.
  KServe's per-request timing lines (two per request) stay off: the
  access log and ours say the same, and ``/metrics`` has the histograms.
  """
  debug = level == 'debug'
  main = logging.WARNING if level == 'warning' else logging.INFO
  levels = {'kserve': logging.INFO if debug else logging.WARNING,
            'kserve.trace': logging.WARNING,
            'uvicorn.access': logging.INFO if debug else logging.WARNING,
            'uvicorn': main, 'uvicorn.error': main,
            _LOG.name: logging.DEBUG if debug else main}
  for name, value in levels.items():
    logging.getLogger(name).setLevel(value)
  kserve_log = logging.getLogger('kserve')
  if not any(isinstance(f, _ClientErrorsInOneLine)
             for f in kserve_log.filters):
    kserve_log.addFilter(_ClientErrorsInOneLine())


def serve(settings: ServeSettings) -> SlimModel:
  """Serves ``settings.model`` until SIGTERM or Ctrl-C.

  Requests in flight get ``settings.grace_s`` to finish; the model is
  then closed.

  Returns:
    The model that was served (stopped).

  Raises:
    ServeSettingsError, ServeError: a setting or port that does not fit.
    EngineError, ServingError, CheckpointError: the model did not load.
  """
  settings.validate()
  _check_ports(settings)
  _set_log_level(settings.log_level)
  model = SlimModel(settings.model_name or 'model', settings)
  model.load()
  try:
    model.name = settings.model_name or model.backend.facts.network
    max_bytes = int(settings.max_body_mb * 1e6)
    # The last added runs first: the size is checked before anything reads.
    kserve_server.app.add_middleware(_V2RestBodies)
    kserve_server.app.add_middleware(_BodyLimit, max_bytes=max_bytes)
    # KServe's gRPC server reads its message limits from its own flags.
    kserve_server.args.grpc_max_receive_message_length = max_bytes
    server = kserve.ModelServer(
        http_port=settings.http_port, grpc_port=settings.grpc_port or 1,
        enable_grpc=bool(settings.grpc_port),
        grace_period=math.ceil(settings.grace_s),
        enable_latency_logging=False)
    _LOG.info('serving %s (%s on %s) as %s: HTTP on port %d%s',
              settings.model, model.backend.source, model.backend.engine,
              model.name, settings.http_port,
              ', gRPC on port %d' % settings.grpc_port
              if settings.grpc_port else '')
    server.start([model])
  finally:
    model.stop()
  return model
