"""Feature vectors of image files, for backbone use: the global-pooled
pre-logits output (2048 numbers for resnet_v2_50/101/152/200, 512 for
18/34), from a checkpoint or a serving artifact exported with
``--features``.

The vectors are what the serving graph's ``features`` output computes:
the checkpoint's own evaluation preprocessing, the network up to its
global pool. A checkpoint runs in-process (TF1 graph and session); an
artifact on its engine's own runtime.

Typical use::

    from resnet_v2_slim.inference import embed

    with embed.Embedder(checkpoint='resnet_v2_50.ckpt') as embedder:
      result = embed.embed_folder(embedder, 'my_images/')
    result.vectors.shape    # (number of images, 2048)
"""

import dataclasses
import io
import os
from typing import Any, List, Optional, Union

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v2_slim.data import images as images_lib
from resnet_v2_slim.inference import classifier
from resnet_v2_slim.inference import engines
from resnet_v2_slim.inference import serving
from resnet_v2_slim.inference import serving_export
from resnet_v2_slim.inference import serving_files
from resnet_v2_slim.utils import fileio


@dataclasses.dataclass
class EmbedResult:
  """The vectors of a folder's images, in ``files`` order."""
  vectors: np.ndarray        # float32 [len(files), depth]
  files: List[str]           # relative to the folder
  skipped: List[str]         # one line per image that could not be read


class Embedder(engines.Loaded):
  """A checkpoint or a ``--features`` serving artifact, giving vectors.

  Args:
    checkpoint: anything ``checkpoints.resolve`` accepts; or
    model_file: a serving artifact exported with ``--features``.
    engine: the artifact's runtime (default: its kind's first).
    model, num_classes, preprocessing_method, image_size: for a
      checkpoint, a value or 'auto' (as ``classify`` resolves them).
    raw_weights: the raw weights even where moving averages exist.

  Raises:
    ServingError: neither or both sources, or an artifact without
      ``features``.
    CheckpointError, EngineError: an unusable checkpoint or artifact.
  """

  def __init__(self, *, checkpoint: Any = None,
               model_file: Optional[str] = None,
               engine: Optional[str] = None, model: str = 'auto',
               num_classes: Union[int, str] = 'auto',
               preprocessing_method: str = 'auto',
               image_size: Union[int, str] = 'auto',
               raw_weights: bool = False) -> None:
    if (checkpoint is None) == (model_file is None):
      raise serving.ServingError('give one of `checkpoint` and `model_file`.')
    self._sess = self._runner = None
    if model_file is not None:
      self._runner = serving_files.load(serving_files.resolve(model_file),
                                        engine)
      self.facts = self._runner.facts
      if not self.facts.features:
        self._runner.close()
        raise serving.ServingError(
            '`model_file` %s was exported without features: re-export it '
            'with --serving --features.' % model_file)
      return
    self.facts = serving.facts_for(
        checkpoint, input=serving.BYTES, model=model, num_classes=num_classes,
        preprocessing_method=preprocessing_method, image_size=image_size,
        features=True)
    self._sess, self._graph = serving.restored_session(
        self.facts, checkpoint, raw_weights=raw_weights)

  def close(self) -> None:
    if self._runner is not None:
      self._runner.close()
    if self._sess is not None:
      self._sess.close()

  def vector(self, path: str) -> np.ndarray:
    """The feature vector ``[depth]`` of one image file.

    Raises:
      ImageError: the file cannot be read or is not a decodable image.
    """
    contents = classifier.read_image_file(path)
    try:
      if self._runner is not None:
        return serving_export.run_on_files(self._runner, [contents])[
            serving.FEATURES][0]
      return self._sess.run(self._graph.outputs[serving.FEATURES],
                            {self._graph.input: [contents]})[0]
    except tf.errors.InvalidArgumentError as exc:
      raise classifier.undecodable(path, exc) from None


def image_files(image_dir: str) -> List[str]:
  """The image files under ``image_dir`` (recursively, sorted), relative
  to it; hidden files and other extensions are left out.

  Raises:
    DataError: not a folder, or no image files in it.
  """
  if not os.path.isdir(image_dir):
    raise images_lib.DataError('`image_dir` %s is not a folder.' % image_dir)
  found = []
  for folder, dirs, names in os.walk(image_dir):
    dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
    found += [os.path.relpath(os.path.join(folder, name), image_dir)
              for name in sorted(names) if not name.startswith('.') and
              name.lower().endswith(images_lib.EXTENSIONS)]
  if not found:
    raise images_lib.DataError(
        '`image_dir` %s holds no image files (%s).'
        % (image_dir, ', '.join(images_lib.EXTENSIONS)))
  return found


def embed_folder(embedder: Embedder, image_dir: str) -> EmbedResult:
  """Vectors of every image under ``image_dir``; an unreadable image is
  skipped and named in ``skipped``."""
  vectors, files, skipped = [], [], []
  for name in image_files(image_dir):
    try:
      vectors.append(embedder.vector(os.path.join(image_dir, name)))
    except classifier.ImageError as exc:
      skipped.append(str(exc))
      continue
    files.append(name)
  depth = len(vectors[0]) if vectors else 0
  return EmbedResult(np.asarray(vectors, np.float32).reshape(-1, depth),
                     files, skipped)


def order_path(output: str) -> str:
  """Where the file order goes beside ``output`` (``x.npy`` -> ``x.txt``)."""
  return os.path.splitext(output)[0] + '.txt'


def write(result: EmbedResult, output: str) -> None:
  """Writes the vectors (``.npy``) and the file order beside them.

  Both are written to temporaries first and then renamed into place, so a
  failed write leaves the earlier pair as it was.

  Raises:
    OSError: a file could not be written (the temporaries are removed).
  """
  buffer = io.BytesIO()
  np.save(buffer, result.vectors)
  staged = [(order_path(output),
             ''.join(name + '\n' for name in result.files).encode()),
            (output, buffer.getvalue())]
  temporaries = []
  try:
    for path, data in staged:
      temporaries.append(fileio.temporary_path(path))
      with open(temporaries[-1], 'wb') as f:
        f.write(data)
    for (path, _), tmp in zip(staged, temporaries):
      fileio.replace_file(tmp, path)
  finally:
    for tmp in temporaries:
      fileio.remove_path(tmp)
