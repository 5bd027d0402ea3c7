"""What ``serve`` runs: a serving artifact on its engine, or a checkpoint
built in-process, answering a list of images, encoded or decoded.

A request holds image files (JPEG, PNG, GIF, BMP) or decoded RGB uint8
pixels. Each image is checked on its own before it joins a batch (its
header size against ``max_image_pixels``, then decoded with the op the
checkpoint's own pipeline uses), so one bad image fails its own request
with one line and never the batch it would have shared. Then:

- an ``image_bytes`` model (a SavedModel from ``export --serving``, or a
  checkpoint: its serving graph is built here) runs the whole batch at
  once, decoded pixels being sent as PNG files (lossless: the model
  decodes the very pixels it was given);
- a ``pixels`` model (ONNX, OpenVINO, TFLite, Keras 3) runs the batch in
  groups of one image size (its input has one size per batch).

Typical use::

    from resnet_v2_slim.serve import backend

    with backend.load('served/1') as model:
      images = [model.check(open('cat.jpg', 'rb').read(), 'cat.jpg')]
      out = model.run(images)      # {'classes': [1, k], 'scores', ...}
"""

import dataclasses
import io
import os
import warnings
from typing import Dict, List, Optional, Union

import numpy as np
import tensorflow.compat.v1 as tf
from PIL import Image as PILImage

from resnet_v2_slim import errors
from resnet_v2_slim.data import images as images_lib
from resnet_v2_slim.data import preprocessing
from resnet_v2_slim.inference import engines
from resnet_v2_slim.inference import serving
from resnet_v2_slim.inference import serving_files

DEFAULT_MAX_IMAGE_PIXELS = 25_000_000   # 25 megapixels, about 5000 x 5000
# File kinds a serving artifact can be; anything else is read as a
# checkpoint.
_ARTIFACT_EXTENSIONS = ('.onnx', '.keras', '.xml', '.tflite', '.pb')


class ServeError(errors.Error):
  """A model that cannot be served as asked."""


class RequestError(errors.Error):
  """A request that cannot be answered: the client's to fix (a 4xx)."""


@dataclasses.dataclass
class Checked:
  """One image of a request, checked: its file bytes and/or its pixels."""
  data: Optional[bytes]
  pixels: Optional[np.ndarray]     # uint8 [H, W, 3]


class Backend(engines.Loaded):
  """A loaded model: ``check`` each image, ``run`` a batch of them.

  Attributes:
    path: what was loaded.
    engine: its runtime ('tensorflow' for a checkpoint).
    facts: the model's ``serving.Facts`` (input, classes, labels, top k).
    source: 'artifact' or 'checkpoint'.
    top_k: the classes answered per image (at most ``facts.top_k``).
  """

  def __init__(self, runner: serving_files.Runner, source: str, *,
               top_k: int, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
               ) -> None:
    self._runner, self.source, self.top_k = runner, source, top_k
    self.path, self.engine, self.facts = (runner.path, runner.engine,
                                          runner.facts)
    self.max_image_pixels = max_image_pixels
    graph = tf.Graph()
    with graph.as_default():
      self._contents = tf.placeholder(tf.string, [])
      self._decoded = preprocessing.decode_image(self._contents)
    graph.finalize()
    self._decoder = tf.Session(graph=graph)

  def close(self) -> None:
    self._runner.close()
    self._decoder.close()

  def check(self, image: Union[bytes, np.ndarray], name: str) -> Checked:
    """Checks one image of a request; ``name`` is how messages call it.

    Raises:
      RequestError: not an image file this model reads, one larger than
        ``max_image_pixels``, or pixels that are not uint8 [H, W, 3].
    """
    if isinstance(image, np.ndarray):
      if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 \
          or not image.shape[0] or not image.shape[1]:
        raise RequestError('%s must be uint8 pixels [H, W, 3], got %s %s.'
                           % (name, image.dtype, list(image.shape)))
      self._check_size(image.shape[0] * image.shape[1], name)
      return Checked(None, image)
    try:
      with warnings.catch_warnings():   # the size is checked below
        warnings.simplefilter('ignore', PILImage.DecompressionBombWarning)
        with PILImage.open(io.BytesIO(image)) as header:  # reads no pixels
          (width, height), kind = header.size, header.format
    except PILImage.DecompressionBombError:
      raise RequestError('%s has more than %d pixels, over the server\'s '
                         '--max_image_pixels %d; send it smaller.' % (
                             name, PILImage.MAX_IMAGE_PIXELS,
                             self.max_image_pixels)) from None
    except Exception:  # pylint: disable=broad-except
      raise RequestError('%s is not an image file (%s).' % (
          name, images_lib.FORMAT_NAMES)) from None
    if kind not in images_lib.FORMATS and kind != 'MPO':  # MPO: a JPEG
      # The model's graph decodes these four only (TensorFlow's
      # decode_image would take WebP here and fail inside the model).
      raise RequestError('%s is a %s file; send %s.' % (
          name, kind, images_lib.FORMAT_NAMES))
    self._check_size(width * height, name)
    try:
      pixels = self._decoder.run(self._decoded, {self._contents: image})
    except tf.errors.InvalidArgumentError as exc:
      raise RequestError('%s is not a decodable image (%s).' % (
          name, errors.quoted(exc, 120))) from None
    return Checked(image, pixels)

  def _check_size(self, pixels: int, name: str) -> None:
    if pixels > self.max_image_pixels:
      raise RequestError('%s has %d pixels, over the server\'s '
                         '--max_image_pixels %d; send it smaller.'
                         % (name, pixels, self.max_image_pixels))

  def run(self, batch: List[Checked]) -> Dict[str, np.ndarray]:
    """The model's outputs for checked images, in their order.

    Returns:
      ``{output name: array [len(batch), ...]}`` (see ``serving``).
    """
    if self.facts.input == serving.BYTES:
      files = [c.data if c.data is not None else _png(c.pixels)
               for c in batch]
      return self._runner.run(np.array(files, dtype=object))
    groups: Dict[tuple, List[int]] = {}
    for i, c in enumerate(batch):
      groups.setdefault(c.pixels.shape, []).append(i)
    out: Dict[str, np.ndarray] = {}
    for members in groups.values():
      part = self._runner.run(np.stack([batch[i].pixels for i in members]))
      for key, value in part.items():
        if key not in out:
          out[key] = np.empty((len(batch),) + value.shape[1:], value.dtype)
        out[key][members] = value
    return out


def _png(pixels: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  PILImage.fromarray(pixels).save(buffer, format='PNG', compress_level=1)
  return buffer.getvalue()


def is_artifact(path: str) -> bool:
  """Whether ``path`` names an exported model rather than a checkpoint."""
  path = serving_files.resolve(path)
  if os.path.isdir(path):
    return any(os.path.isfile(os.path.join(path, name))
               for name in ('saved_model.pb', 'model.xml'))
  return os.path.splitext(path)[1].lower() in _ARTIFACT_EXTENSIONS


def load(model: str, *, engine: Optional[str] = None,
         top_k: Optional[int] = None,
         labels: Optional[str] = None,
         max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> Backend:
  """Loads ``model``: a serving artifact or a checkpoint.

  Args:
    model: what ``export --serving`` wrote (a TF Serving base folder
      serves its newest version), or a checkpoint.
    engine: the artifact's runtime (default: its kind's first).
    top_k: the classes answered per image (default: an artifact's own,
      5 for a checkpoint); at most an artifact's own.
    labels: for a checkpoint, a class names file (default: its own).
    max_image_pixels: the largest image taken, in pixels.

  Raises:
    ServeError: ``model`` is neither, or an option that does not apply.
    EngineError, ServingError, CheckpointError: as their loaders.
  """
  if not (os.path.exists(model) or os.path.exists(model + '.index')):
    raise ServeError('MODEL %s does not exist: give a serving artifact '
                     '(export --serving) or a checkpoint.' % model)
  if is_artifact(model):
    if labels:
      raise ServeError('`labels` is for a checkpoint: %s has its '
                       'class names inside.' % model)
    runner = serving_files.load(serving_files.resolve(model), engine)
    own = runner.facts.top_k
    if top_k is not None and not 0 < top_k <= own:
      runner.close()
      raise ServeError('`top_k` %d: %s gives its top %d; ask for 1 to %d, or '
                       're-export it with --top_k %d.'
                       % (top_k, model, own, own, top_k))
    return Backend(runner, 'artifact', top_k=top_k or own,
                   max_image_pixels=max_image_pixels)
  if engine not in (None, 'tensorflow'):
    raise ServeError('`engine` %s runs an exported model; a checkpoint '
                     'runs on tensorflow.' % engine)
  top_k = serving.DEFAULT_TOP_K if top_k is None else top_k
  facts = serving.facts_for(model, input=serving.BYTES, top_k=top_k,
                            labels_file=labels)
  sess, graph = serving.restored_session(facts, model)
  fetch = dict(graph.outputs)
  runner = serving_files.Runner(
      model, 'tensorflow', facts,
      lambda x: sess.run(fetch, {graph.input: x}), sess.close)
  return Backend(runner, 'checkpoint', top_k=top_k,
                 max_image_pixels=max_image_pixels)
