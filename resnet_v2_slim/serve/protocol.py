"""The two protocols ``serve`` speaks, read into images and written back.

- **v1**, TensorFlow Serving's REST predict API
  (``POST /v1/models/NAME:predict``): ``{"instances": [...]}``, each
  instance ``{"b64": "<image file, base64>"}`` (TF Serving's binary form),
  ``{"image_bytes": {"b64": ...}}`` (the same, named as the SavedModel's
  input) or ``{"pixels": [[[r, g, b], ...], ...]}`` (uint8 rows). Answer:
  ``{"predictions": [{"classes": [...], "labels": [...], "scores":
  [...]}, ...]}``, the top k per instance, most probable first.
- **v2**, the Open Inference Protocol (KServe, Triton, OpenVINO Model
  Server; ``POST /v2/models/NAME/infer`` and gRPC): one input, either
  ``image_bytes`` BYTES ``[N]`` (image files; base64 strings in plain
  JSON) or ``pixels`` UINT8 ``[N, H, W, 3]``. Outputs ``classes`` INT32,
  ``scores`` FP32 and ``labels`` BYTES, each ``[N, k]``; ``probabilities``
  and ``logits`` FP32 ``[N, classes]`` when asked for by name.

``classes`` are the network's output indices (with 1001 classes, 0 is
'background'), as ``classify`` prints them. Every malformed request is a
``backend.RequestError`` whose one line names what was wrong.

Typical use (see ``server``)::

    images = protocol.v1_images(payload)      # [(image, name), ...]
    body = protocol.v1_answer(outputs, top_k)
"""

import base64
import binascii
import json
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from resnet_v2_slim.inference import serving
from resnet_v2_slim.serve.backend import RequestError

Image = Union[bytes, np.ndarray]
TOP = ('classes', 'scores', 'labels')          # the default v2 outputs
FULL = ('probabilities', 'logits')             # given when asked for
V2_TYPES = {'classes': 'INT32', 'scores': 'FP32', 'labels': 'BYTES',
            'probabilities': 'FP32', 'logits': 'FP32'}


def _b64(value: Any, name: str) -> bytes:
  if not isinstance(value, str):
    raise RequestError('%s: "b64" must be a base64 string, got %s.'
                       % (name, type(value).__name__))
  try:
    return base64.b64decode(value, validate=True)
  except (binascii.Error, ValueError):
    raise RequestError('%s: "b64" is not valid base64.' % name) from None


def _pixels(value: Any, name: str) -> np.ndarray:
  try:
    array = np.asarray(value)
  except ValueError:
    array = None
  if array is None or array.ndim != 3 or array.dtype.kind not in 'iu' or (
      array.size and (array.min() < 0 or array.max() > 255)):
    raise RequestError('%s: "pixels" must be uint8 rows [H][W][3] (whole '
                       'numbers 0-255).' % name)
  return array.astype(np.uint8)


def v1_json(payload: Any) -> Any:
  """A v1 body as parsed JSON. KServe parses it only when the request says
  ``Content-Type: application/json``; TF Serving reads JSON whatever the
  header says (``curl -d`` sends a form type), and so does this.

  Raises:
    RequestError: bytes that are not JSON.
  """
  if not isinstance(payload, (bytes, str)):
    return payload
  try:
    return json.loads(payload)
  except ValueError as exc:
    raise RequestError('the body is not JSON (%s).' % exc) from None


def v1_images(payload: Any) -> List[Tuple[Image, str]]:
  """The images of a v1 request body (parsed JSON), each with its name.

  Raises:
    RequestError: a body that is not ``{"instances": [...]}`` of images.
  """
  if not isinstance(payload, dict) or 'instances' not in payload:
    raise RequestError('the body must be a JSON object {"instances": '
                       '[{"b64": "<image file, base64>"}, ...]}.')
  instances = payload['instances']
  if not isinstance(instances, list) or not instances:
    raise RequestError('"instances" must be a non-empty list.')
  images = []
  for i, instance in enumerate(instances):
    name = 'instances[%d]' % i
    if isinstance(instance, dict) and isinstance(
        instance.get(serving.BYTES), dict):
      instance = instance[serving.BYTES]
    if isinstance(instance, dict) and 'b64' in instance:
      images.append((_b64(instance['b64'], name), name))
    elif isinstance(instance, dict) and serving.PIXELS in instance:
      images.append((_pixels(instance[serving.PIXELS], name), name))
    else:
      raise RequestError('%s must be {"b64": "<image file, base64>"} or '
                         '{"pixels": [[[r, g, b], ...], ...]}.' % name)
  return images


def v1_answer(outputs: Dict[str, np.ndarray], labels: List[str],
              top_k: int) -> Dict[str, Any]:
  """The v1 response body: the top ``top_k`` of each instance."""
  classes = outputs['classes'][:, :top_k]
  scores = outputs['scores'][:, :top_k]
  return {'predictions': [
      {'classes': [int(c) for c in row], 'labels': [labels[c] for c in row],
       'scores': [float(s) for s in srow]}
      for row, srow in zip(classes, scores)]}


def v2_images(inputs: List[Any]) -> List[Tuple[Image, str]]:
  """The images of a v2 request's inputs (kserve ``InferInput``s).

  Raises:
    RequestError: not one input named ``image_bytes`` (BYTES [N]) or
      ``pixels`` (UINT8 [N, H, W, 3]).
  """
  if len(inputs) != 1 or inputs[0].name not in serving.INPUTS:
    raise RequestError('give one input: image_bytes (BYTES [N], image '
                       'files) or pixels (UINT8 [N, H, W, 3]); got %s.'
                       % ([i.name for i in inputs] or 'none'))
  given = inputs[0]
  want = ('BYTES', 1) if given.name == serving.BYTES else ('UINT8', 4)
  if given.datatype != want[0] or len(given.shape) != want[1] or (
      want[1] == 4 and given.shape[3] != 3) or min(given.shape) <= 0:
    raise RequestError('input %s must be %s %s, got %s %s.' % (
        given.name, want[0], '[N]' if want[1] == 1 else '[N, H, W, 3]',
        given.datatype, list(given.shape)))
  if given.name == serving.PIXELS:
    _check_json_pixels(given)
  try:
    data = given.as_numpy()
  except Exception as exc:  # pylint: disable=broad-except
    raise RequestError('input %s: its data do not fit its shape %s (%s).'
                       % (given.name, list(given.shape),
                          str(exc).splitlines()[0][:100])) from None
  names = ['%s[%d]' % (given.name, i) for i in range(len(data))]
  if given.name == serving.PIXELS:
    return list(zip(data, names))
  return [(value if isinstance(value, bytes) else _b64(value, name), name)
          for value, name in zip(data, names)]


def inline_binary_bytes(body: bytes, json_length: int) -> Tuple[bytes, int]:
  """A v2 REST body with BYTES inputs in the Binary Data extension,
  rewritten with those inputs as base64 strings in its JSON.

  The extension (tritonclient.http's default) puts each element after the
  JSON as a 4-byte little-endian length and its bytes. KServe 0.21 reads
  such inputs back as UTF-8 text, which an image file is not; as base64
  strings in the JSON they reach ``v2_images`` as image files. Other
  binary inputs (``pixels``) stay binary, in their order.

  Args:
    body: the request body.
    json_length: its ``Inference-Header-Content-Length``.

  Returns:
    ``(body, json_length)``, rewritten.

  Raises:
    ValueError: a body that does not follow the extension (KServe then
      answers it as it is).
  """
  header = json.loads(body[:json_length])
  offset, tail = json_length, []
  for given in header.get('inputs', []):
    parameters = given.get('parameters') or {}
    size = parameters.get('binary_data_size')
    if size is None:
      continue
    segment = body[offset:offset + size]
    offset += size
    if len(segment) != size:
      raise ValueError('binary_data_size %d is past the body' % size)
    if given.get('datatype') != 'BYTES':
      tail.append(segment)
      continue
    items, at = [], 0
    while at < len(segment):
      length = int.from_bytes(segment[at:at + 4], 'little')
      items.append(base64.b64encode(segment[at + 4:at + 4 + length]).decode())
      at += 4 + length
    if at != len(segment):
      raise ValueError('element lengths do not add up to %d' % size)
    del parameters['binary_data_size']
    given['data'] = items
  head = json.dumps(header).encode()
  return head + b''.join(tail), len(head)


def _check_json_pixels(given: Any) -> None:
  """JSON ``data`` of UINT8 pixels: whole numbers 0-255 (KServe's
  conversion to uint8 would cut 1.5 to 1 and wrap 300 to 44)."""
  if not isinstance(given.data, list):
    return                   # binary: uint8 bytes already
  values = np.asarray(given.data)
  if values.dtype.kind not in 'iuf' or values.size and (
      values.min() < 0 or values.max() > 255 or
      (values.dtype.kind == 'f' and np.any(values != np.round(values)))):
    raise RequestError('input pixels: "data" must be whole numbers 0-255 '
                       '(UINT8).')


def v2_outputs(outputs: Dict[str, np.ndarray], labels: List[str],
               top_k: int, asked: Optional[List[str]]
               ) -> List[Tuple[str, np.ndarray]]:
  """``(name, array)`` of the v2 outputs asked for (default ``TOP``).

  Raises:
    RequestError: an output name the model does not give.
  """
  asked = list(asked or TOP)
  unknown = [name for name in asked if name not in V2_TYPES]
  if unknown:
    raise RequestError('output %s is not one this model gives: %s.'
                       % (unknown[0], ', '.join(V2_TYPES)))
  classes = outputs['classes'][:, :top_k]
  arrays = {'classes': classes.astype(np.int32),
            'scores': outputs['scores'][:, :top_k].astype(np.float32),
            'labels': np.array([[labels[c].encode() for c in row]
                                for row in classes], dtype=object),
            'probabilities': outputs['probabilities'].astype(np.float32),
            'logits': outputs['logits'].astype(np.float32)}
  return [(name, arrays[name]) for name in asked]
