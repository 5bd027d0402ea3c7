"""Classifies image files with a slim ResNet V2 checkpoints.

Builds one inference graph (decode -> preprocess -> network -> softmax),
restores the checkpoint once (after checking it fits) and classifies files
one by one. Model, classes, preprocessing and size default to what the
published slim ResNet V2 checkpoints need: read from the checkpoint, and
Inception preprocessing at 299x299.

Typical use::

    from resnet_v2_slim.inference.classifier import Classifier

    with Classifier('resnet_v2_50.ckpt') as clf:
      for hit in clf.classify('cat.jpg', top_k=5):
        print(hit['probability'], hit['label'])
"""

import os
import re
from typing import Dict, List, Optional, Union

import numpy as np

import tensorflow.compat.v1 as tf

from resnet_v2_slim import errors
from resnet_v2_slim import checkpoints
from resnet_v2_slim.data import labels as labels_lib
from resnet_v2_slim.inference import engines
from resnet_v2_slim.inference import inputs
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.nets import precision as precision_lib
from resnet_v2_slim.data import images as images_lib
from resnet_v2_slim.data import preprocessing


class ImageError(errors.Error):
  """An image file that cannot be read or decoded."""


def undecodable(name: str, exc: Exception) -> ImageError:
  """The one message for a file that does not decode: TensorFlow's reason,
  less its list of formats (it names ones this package does not take)."""
  reason = re.sub(r'\s*One of [^.]* required\.?', '',
                  errors.quoted(exc, 160)).strip()
  return ImageError('%s is not a decodable image (%s)%s' % (
      name, images_lib.FORMAT_NAMES, ': ' + reason if reason else '.'))


def read_image_file(path: str) -> bytes:
  """An image file's bytes.

  Raises:
    ImageError: the file cannot be read (naming it and why).
  """
  try:
    with open(path, 'rb') as f:
      return f.read()
  except OSError as exc:
    raise ImageError('cannot read %s: %s' % (path, exc.strerror)) from None


def top_hits(probs: np.ndarray, labels: List[str], top_k: int, *,
             logits: Optional[np.ndarray] = None
             ) -> List[Dict[str, Union[int, str, float]]]:
  """The ``top_k`` classes as ``{'index', 'label', 'probability'}`` dicts,
  most probable first (ties: the lower index).

  Ranked by ``logits`` where given: probabilities that underflow to 0 (or
  round to 1) in float32 tie where the logits do not.
  """
  rank = probs if logits is None else logits
  order = np.argsort(-np.asarray(rank), kind='stable')[:top_k]
  return [{'index': int(i), 'label': labels[i],
           'probability': float(probs[i])} for i in order]


class _ImageClassifier(engines.Loaded):
  """What both classifiers share: ``outputs(path)`` (their own) gives
  ``probabilities`` and ``classify``; ``labels`` names the outputs."""

  labels: Optional[List[str]] = None

  def outputs(self, path: str) -> Dict[str, np.ndarray]:
    """``{'logits', 'probabilities'}`` of one image file (each
    classifier's own)."""
    raise NotImplementedError

  def probabilities(self, path: str) -> np.ndarray:
    """Class probabilities for one image file.

    Raises:
      ImageError: if the file cannot be read or is not a decodable image.
    """
    return self.outputs(path)['probabilities']

  def classify(self, path: str, top_k: int = 5
               ) -> List[Dict[str, Union[int, str, float]]]:
    """The ``top_k`` classes of one image file, most probable first.

    Returns:
      A list of ``{'index', 'label', 'probability'}`` dicts; ``index`` is
      the network's output index (with 1001 classes, 0 is background).
    """
    out = self.outputs(path)
    return top_hits(out['probabilities'], self.labels, top_k,
                    logits=out['logits'])


class Classifier(_ImageClassifier):
  """A restored network that classifies image files.

  Args:
    checkpoint_path: anything ``checkpoints.resolve`` accepts.
    model: network name, or 'auto' (from the checkpoint).
    num_classes: class count, or 'auto' (from the checkpoint). A number that
      disagrees with the checkpoint fails with the restore report.
    preprocessing_method: 'inception' or 'vgg'; 'auto' takes what
      ``train`` recorded beside the checkpoint (``train_facts.json``), else
      the published checkpoint's (``nets.pretrained``), else 'inception'.
    image_size: network input size; 'auto' as ``preprocessing_method``:
      recorded, else published (299), else the network's default (224).
    labels_file: optional names file, one per line (default: the
      recorded class names, else ImageNet's for 1000/1001 classes).
    raw_weights: restore the raw weights where the checkpoint also holds
      moving averages (used by default).
    precision: 'fp32' or 'bf16' (bfloat16 compute, the weights cast once
      at restore).
    threads: TensorFlow's intra- and inter-op threads (None: every core).

  Raises:
    CheckpointError: unusable or mismatching checkpoints.
    LabelsError: labels that do not fit the classes.
    ValueError: unknown model or preprocessing.
  """

  def __init__(self, checkpoint_path: Union[str, os.PathLike,
                                             checkpoints.CheckpointInfo],
               *, model: str = 'auto', num_classes: Union[int, str] = 'auto',
               preprocessing_method: str = 'auto',
               image_size: Union[int, str] = 'auto',
               labels_file: Optional[str] = None, raw_weights: bool = False,
               precision: str = 'fp32',
               threads: Optional[int] = None) -> None:
    self.model, self.num_classes, self.info = checkpoints.choose_model(
        checkpoint_path, model, num_classes)
    # Moving averages of the weights (train --moving_average_decay) where
    # the checkpoint has them, as research/slim's eval restores them.
    self.moving_averages = (checkpoints.has_moving_averages(self.info) and
                            not raw_weights)
    self.precision = inputs.check_precision(precision)
    # 'auto' and the default names: what train recorded beside the
    # checkpoint, else its published row, else the package's defaults.
    defaults = self.info.defaults(self.model,
                                  preprocessing=preprocessing_method,
                                  image_size=image_size)
    self.defaults_source = defaults.source
    self.labels = labels_lib.labels_for(self.num_classes, labels_file,
                                        recorded=defaults.class_names)
    preprocessing_method, image_size = (defaults.preprocessing,
                                        defaults.image_size)
    self.preprocessing = preprocessing.check_method(preprocessing_method)
    self.image_size = nets_factory.check_image_size(image_size,
                                                    model=self.model)
    self._graph = tf.Graph()
    with self._graph.as_default():
      self._build_graph()
      self.report, restore_fn = checkpoints.restorer(
          self.info, scope=self.model, moving_averages=self.moving_averages)
    self._graph.finalize()
    self._sess = tf.Session(graph=self._graph,
                            config=engines.session_config(threads))
    try:
      restore_fn(self._sess)
    except checkpoints.CheckpointError:
      self._sess.close()
      raise

  # The network's nominal stride; teaching.explain's GradCam asks for a
  # denser one (atrous convolution, the same weights) for a finer map.
  output_stride: Optional[int] = None

  def _build_graph(self) -> None:
    """One image file's bytes -> decoded pixels -> the network's input ->
    logits and probabilities (a subclass adds to it: teaching.explain)."""
    self._contents = tf.placeholder(tf.string, [], name='contents')
    self._pixels = preprocessing.decode_image(self._contents)
    image = preprocessing.preprocess(self._pixels, self.preprocessing,
                                     self.image_size)
    network_fn = nets_factory.get_network_fn(self.model, self.num_classes)
    logits, self._end_points = precision_lib.build(
        network_fn, image[tf.newaxis], self.precision, cast_once=True,
        spatial_squeeze=True, use_shortcut=self.info.use_shortcut,
        output_stride=self.output_stride)
    self._logits = logits[0]
    self._probabilities = tf.nn.softmax(logits)[0]

  def close(self) -> None:
    self._sess.close()

  def outputs(self, path: str) -> Dict[str, np.ndarray]:
    """``{'logits', 'probabilities'}`` of one image file.

    Raises:
      ImageError: if the file cannot be read or is not a decodable image.
    """
    return self.run(read_image_file(path), path)

  def run(self, contents: bytes, name: str = 'image'
          ) -> Dict[str, np.ndarray]:
    """Logits and probabilities of one image file's bytes.

    Args:
      contents: the file's bytes (JPEG, PNG, GIF or BMP).
      name: how a message names the image.

    Returns:
      ``{'logits', 'probabilities'}``, each ``[num_classes]``.

    Raises:
      ImageError: if the bytes are not a decodable image.
    """
    try:
      return self._sess.run({'logits': self._logits,
                             'probabilities': self._probabilities},
                            {self._contents: contents})
    except tf.errors.InvalidArgumentError as exc:
      raise undecodable(name, exc) from None



def near_uniform(probs: np.ndarray) -> bool:
  """Whether ``probs`` is close to uniform (entropy >= 98% of the maximum):
  the output of an untrained or randomly initialised network, whose top
  names mean nothing."""
  probs = np.asarray(probs, np.float64)
  if probs.size < 2:
    return False
  entropy = -np.sum(probs * np.log(np.clip(probs, 1e-30, None)))
  return bool(entropy >= 0.98 * np.log(probs.size))


class ArtifactClassifier(_ImageClassifier):
  """Classifies image files with an exported model, on its own engine.

  A serving artifact (``export --serving``) brings its preprocessing,
  class names and size; a preprocessed-form one (float32 images in) has
  none of them, so they come from the arguments, as for a checkpoint.

  Args:
    path: the artifact (see ``engines.kind_of``).
    engine: the runtime (default: the artifact kind's first).
    preprocessing_method: for a preprocessed-form artifact: 'inception'
      or 'vgg' ('auto': inception). A serving artifact has its own inside:
      only 'auto' or that method.
    image_size: for a preprocessed-form artifact (required there); a
      serving artifact takes only 'auto' or its own.
    labels_file: class names instead of the artifact's (or ImageNet's).
    precision: OpenVINO's inference precision for a preprocessed-form
      artifact ('fp32' or 'bf16'); a serving artifact runs at fp32.
    threads, streams: the engine's threads and parallel requests
      (``engines.load``), for a preprocessed-form artifact.

  Raises:
    EngineError: not a model, or an engine that cannot run it.
    ServingError: damaged metadata, settings the artifact cannot take, or
      a preprocessed-form artifact without ``image_size``.
    LabelsError: a labels file that does not fit the classes.
  """

  def __init__(self, path: str, *, engine: Optional[str] = None,
               preprocessing_method: str = 'auto',
               image_size: Union[int, str] = 'auto',
               labels_file: Optional[str] = None,
               precision: str = 'fp32', threads: Optional[int] = None,
               streams: int = 1) -> None:
    from resnet_v2_slim.inference import serving_files  # pylint: disable=g-import-not-at-top
    path = serving_files.resolve(path)
    self.path, self.facts = path, serving_files.read_facts(path)
    self._labels_file, self._sess = labels_file, None
    if self.facts is not None:
      _check_served(self.facts, path, preprocessing_method, image_size,
                    precision)
      if threads is not None or streams != 1:
        raise engines.EngineError(
            '`threads` and `streams` apply to an export without --serving; '
            '%s is a serving artifact and runs with its engine\'s defaults: '
            'leave them out.' % path)
      self._runner = serving_files.load(path, engine)
      self.preprocessing = self.facts.preprocessing
      self.image_size, self.num_classes = (self.facts.image_size,
                                           self.facts.num_classes)
      self.labels = (labels_lib.labels_for(self.num_classes, labels_file)
                     if labels_file else list(self.facts.labels))
      self.engine, self.source = self._runner.engine, 'its metadata'
      return
    self._runner = engines.load(path, engine, precision=precision,
                                threads=threads, streams=streams)
    self.engine, self.source = self._runner.engine, 'the flags'
    self._preprocessed_form(path, preprocessing_method, image_size)

  def _preprocessed_form(self, path, preprocessing_method, image_size):
    """The decode + preprocess graph a preprocessed-form artifact needs."""
    from resnet_v2_slim.inference import serving  # pylint: disable=g-import-not-at-top
    if image_size == 'auto':
      raise serving.ServingError(
          '%s has no resnet_v2_slim serving metadata (a preprocessed-form '
          'export, or one written before --serving): give its `image_size` '
          '(and `preprocessing`, `labels` if not inception/ImageNet), or '
          're-export it with --serving.' % path)
    self.preprocessing = preprocessing.check_method(
        preprocessing.DEFAULT_METHOD if preprocessing_method == 'auto'
        else preprocessing_method)
    self.image_size, self.num_classes, self.labels = image_size, None, None
    self._graph = tf.Graph()
    with self._graph.as_default():
      self._contents = tf.placeholder(tf.string, [])
      self._image = preprocessing.preprocess(
          preprocessing.decode_image(self._contents), self.preprocessing,
          self.image_size)
    self._sess = tf.Session(graph=self._graph)

  def close(self) -> None:
    self._runner.close()
    if self._sess is not None:
      self._sess.close()

  def outputs(self, path: str) -> Dict[str, np.ndarray]:
    """``{'logits', 'probabilities'}`` of one image file, as the artifact
    computes them.

    Raises:
      ImageError: if the file cannot be read or is not a decodable image.
    """
    from resnet_v2_slim.inference import serving_export  # pylint: disable=g-import-not-at-top
    contents = read_image_file(path)
    try:
      if self.facts is not None:
        out = serving_export.run_on_files(self._runner, [contents])
        return {k: out[k][0] for k in ('logits', 'probabilities')}
      image = self._sess.run(self._image, {self._contents: contents})
    except tf.errors.InvalidArgumentError as exc:
      raise undecodable(path, exc) from None
    logits = self._runner.run(image[np.newaxis])[0].astype(np.float64)
    if self.labels is None:   # known once the artifact has run
      self.num_classes = len(logits)
      self.labels = labels_lib.labels_for(self.num_classes, self._labels_file)
    probs = np.exp(logits - logits.max())
    return {'logits': logits.astype(np.float32),
            'probabilities': (probs / probs.sum()).astype(np.float32)}


def _check_served(facts, path, preprocessing_method, image_size, precision):
  """A serving artifact has its preprocessing inside and runs at fp32:
  settings that ask for something else are refused, naming them."""
  from resnet_v2_slim.inference import serving  # pylint: disable=g-import-not-at-top
  asked = [('preprocessing', preprocessing_method, facts.preprocessing),
           ('image_size', image_size, facts.image_size),
           ('precision', precision, 'fp32')]
  for name, value, own in asked:
    if value not in ('auto', own):
      raise serving.ServingError(
          '`%s` %s does not apply to %s: a serving artifact has %s %s '
          'inside; leave `%s` out, or re-export it.'
          % (name, value, path, name, own, name))
