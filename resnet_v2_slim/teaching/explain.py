"""Grad-CAM on any checkpoint the package restores, built from the graph.

Grad-CAM (Selvaraju et al., ICCV 2017) asks where a trained network looks
for a class: the gradient of the class's logit with respect to a feature
map (an ``end_points`` entry), averaged over the map's positions, weights
the map's channels; the ReLU of their weighted sum is the map. In graph
mode that is ``tf.gradients(logit, end_points[key])`` and one session run
per image: the gradients of every explained class, the logits and the
decoded pixels come back together.

The checkpoint is read as ``classify`` reads it (``GradCam`` is a
``Classifier``): its model, classes, preprocessing, size, labels and
moving averages. The map covers what the network saw, the crop of the
photo that the evaluation preprocessing takes (``preprocessing.eval_box``),
and is laid over the whole original photo there.

Typical use::

    from resnet_v2_slim.teaching import explain

    with explain.GradCam('train_dir', top=3) as cam:
      result = cam.explain('cat.jpg')
      for found in result.maps:
        print(found.label, found.probability, found.peak)
"""

import dataclasses
import difflib
import io
import os
import re
from typing import (Any, Callable, List, NamedTuple, Optional, Sequence,
                    Union)

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v2_slim import checkpoints
from resnet_v2_slim import errors
from resnet_v2_slim import names
from resnet_v2_slim.data import images as images_lib
from resnet_v2_slim.data import preprocessing
from resnet_v2_slim.inference import classifier
from resnet_v2_slim.utils import fileio


class ExplainError(errors.Error):
  """Settings or inputs Grad-CAM cannot use (exit code 2)."""


@dataclasses.dataclass(frozen=True)
class ClassMap:
  """Grad-CAM of one class on one image.

  ``cam`` is the raw map on the end point's grid (``[h, w]``, float32,
  non-negative: the ReLU of the channel-weighted feature map); ``peak`` is
  the centre of its largest position (``peak()``), as ``(row, column)``
  pixels of the original photo.
  """
  class_id: int
  label: str
  probability: float
  rank: int                 # 1: the most probable class
  cam: np.ndarray
  peak: tuple


@dataclasses.dataclass(frozen=True)
class ImageMaps:
  """Every explained class of one image, and what they are laid over."""
  image: str
  pixels: np.ndarray        # the decoded photo, [H, W, 3] uint8
  box: preprocessing.Box    # the part of it the network saw
  end_point: str
  maps: List[ClassMap]


class GradCam(classifier.Classifier):
  """A restored classifier that also gives Grad-CAM maps.

  Args:
    checkpoint_path: anything ``checkpoints.resolve`` accepts; it must
      hold a classification head (logits).
    end_point: a key of the network's ``end_points`` with a spatial map
      (default: the last block, e.g. ``resnet_v2_50/block4``).
    class_id: explain this class (default: the most probable ones).
    top: with no ``class_id``, explain the ``top`` most probable classes.
    output_stride: run the network at this output stride (8 or 16: atrous
      convolution in the last blocks, the same weights, as DeepLab reads a
      classifier densely) for a map with 2 or 4 times the positions per
      side; None: the nominal 32. The class scores then come from the
      dense network too (close to, not equal to, the nominal ones).
    **kwargs: ``Classifier``'s keywords (model, num_classes,
      preprocessing_method, image_size, labels_file, raw_weights,
      threads); the maps are computed in float32.

  Raises:
    ExplainError: a checkpoint without a head, an end point that is not
      a key or has no spatial map, a class outside the head, an
      ``output_stride`` not in ``names.OUTPUT_STRIDES``.
    CheckpointError, LabelsError: as ``Classifier``.
  """

  def __init__(self, checkpoint_path: Union[str, os.PathLike,
                                             checkpoints.CheckpointInfo],
               *, end_point: Optional[str] = None,
               class_id: Optional[int] = None, top: int = 1,
               output_stride: Optional[int] = None, **kwargs: Any) -> None:
    info = checkpoints.read(checkpoint_path)
    if info.num_classes is None and kwargs.get('num_classes',
                                               'auto') == 'auto':
      raise ExplainError(
          '%s has no classification head (no logits): Grad-CAM explains a '
          'class score. Fine-tune a head on it first (train --checkpoint '
          'CHECKPOINT --data_dir ...), or give a checkpoint that has one.'
          % info.path)
    if not 1 <= top <= names.MAX_EXPLAINED_CLASSES:
      raise ExplainError('`top` must be 1 to %d, got %r.'
                         % (names.MAX_EXPLAINED_CLASSES, top))
    self._asked = (end_point, class_id, 1 if class_id is not None else top)
    if output_stride not in (None,) + names.OUTPUT_STRIDES:
      raise ExplainError('`output_stride` must be one of %s (or None: the '
                         'nominal 32), got %r.' % (
                             ', '.join(map(str, names.OUTPUT_STRIDES)),
                             output_stride))
    self.output_stride = output_stride
    super().__init__(info, **kwargs)

  def _build_graph(self) -> None:
    """The classifier's graph, plus one gradient and map per class."""
    super()._build_graph()
    end_point, class_id, top = self._asked
    self.end_point = self._check_end_point(end_point)
    if class_id is not None and not 0 <= class_id < self.num_classes:
      raise ExplainError(
          '`class_id` %d is outside the head: %s has %d classes (0 to %d).'
          % (class_id, self.model, self.num_classes, self.num_classes - 1))
    features = self._end_points[self.end_point]
    if class_id is not None:
      self._targets = tf.constant([class_id], tf.int32)
    else:
      self._targets = tf.nn.top_k(self._logits, top).indices
    cams = []
    for k in range(top):
      score = tf.gather(self._logits, self._targets[k])
      [gradient] = tf.gradients(score, features)
      if gradient is None:   # e.g. 'predictions', after the logits
        raise ExplainError(
            '`end_point` %s does not lie before the logits; choose a block '
            'or a unit, e.g. %s.' % (self.end_point, self._default_end_point()))
      # Grad-CAM: channel weights are the gradient averaged over the map.
      weights = tf.reduce_mean(gradient, [1, 2])
      cams.append(tf.nn.relu(tf.einsum('nhwc,nc->hw', features, weights)))
    self._cams = tf.stack(cams)

  @property
  def grid(self) -> tuple:
    """The map's ``(height, width)``: the end point's positions."""
    return tuple(self._end_points[self.end_point].shape.as_list()[1:3])

  def _default_end_point(self) -> str:
    """The last block's output, e.g. ``resnet_v2_50/block4``."""
    return [k for k in self._end_points
            if re.fullmatch(r'.*/block\d+', k)][-1]

  def _check_end_point(self, end_point: Optional[str]) -> str:
    """The end point to explain at: a key holding a [1, h, w, c] map."""
    if end_point is None:
      return self._default_end_point()
    keys = list(self._end_points)
    if end_point not in self._end_points:
      near = difflib.get_close_matches(end_point, keys, n=3, cutoff=0.5)
      raise ExplainError(
          '`end_point` %s is not a key of %s\'s end_points; %s (resnet-v2-'
          'slim summarize %s lists the units).' % (
              end_point, self.model, 'nearest: ' + ', '.join(near) if near
              else 'e.g. ' + ', '.join(keys[-5:-2]), self.model))
    shape = self._end_points[end_point].shape
    if shape.ndims != 4:
      raise ExplainError(
          '`end_point` %s is not a feature map (shape %s; Grad-CAM needs '
          '[batch, height, width, channels]); choose a block or a unit, '
          'e.g. %s.' % (end_point, shape.as_list(), self._default_end_point()))
    return end_point

  def explain(self, path: str) -> ImageMaps:
    """The Grad-CAM maps of one image file.

    Raises:
      ImageError: the file cannot be read or does not decode.
    """
    contents = classifier.read_image_file(path)
    try:
      pixels, cams, targets, probs = self._sess.run(
          [self._pixels, self._cams, self._targets, self._probabilities],
          {self._contents: contents})
    except tf.errors.InvalidArgumentError as exc:
      raise classifier.undecodable(path, exc) from None
    box = preprocessing.eval_box(self.preprocessing, pixels.shape[0],
                                 pixels.shape[1], self.image_size)
    maps = [ClassMap(int(c), self.labels[int(c)], float(probs[c]), rank,
                     cam.astype(np.float32), peak(cam, box))
            for rank, (c, cam) in enumerate(zip(targets, cams), 1)]
    if len(targets) == 1 and self._asked[1] is not None:   # a given class
      order = np.argsort(-probs, kind='stable')
      maps = [dataclasses.replace(maps[0], rank=int(
          np.flatnonzero(order == targets[0])[0]) + 1)]
    return ImageMaps(path, pixels, box, self.end_point, maps)


def peak(cam: np.ndarray, box: preprocessing.Box) -> tuple:
  """The centre of the map's largest position, as ``(row, column)`` of
  the photo whose crop ``box`` the map covers.

  Not the maximum of the map upsampled: a bilinear upsampling peaks at the
  same node inside the map, but at a border node it is flat out to the
  photo's edge, and the first pixel of that plateau is the edge itself.
  """
  row, col = np.unravel_index(int(np.argmax(cam)), cam.shape)
  return (box.top + int((row + 0.5) * box.height / cam.shape[0]),
          box.left + int((col + 0.5) * box.width / cam.shape[1]))


# --- files: images in, one PNG and one .npy per explained class out -------

def list_images(paths: Sequence[str]) -> dict:
  """``{image file: the name its outputs start with}``.

  A file given is named by its stem (``cat.jpg``: ``cat``); the images
  under a folder given by their path inside it (``dogs/1.jpg``:
  ``dogs/1``), so the maps of a folder of class folders keep its layout.

  Raises:
    ExplainError: a path that does not exist, a folder without images,
      two images whose outputs would have the same name.
  """
  named = {}
  for path in paths:
    if os.path.isdir(path):
      found = sorted(os.path.join(root, name)
                     for root, _, names in os.walk(path) for name in names
                     if name.lower().endswith(images_lib.EXTENSIONS)
                     and not name.startswith('.'))
      if not found:
        raise ExplainError('IMAGE folder %s holds no image files (%s).'
                           % (path, ', '.join(images_lib.EXTENSIONS)))
      pairs = [(f, os.path.relpath(f, path)) for f in found]
    elif os.path.isfile(path):
      pairs = [(path, os.path.basename(path))]
    else:
      raise ExplainError('IMAGE %s does not exist.' % path)
    for image, name in pairs:
      stem = os.path.splitext(name)[0]
      if stem in named.values():
        first = [p for p, s in named.items() if s == stem][0]
        raise ExplainError(
            'IMAGE %s and %s would both write %s.class*.png; explain them '
            'in two runs with different `output` folders, or rename one.'
            % (first, image, stem))
      named[image] = stem
  return named


def output_name(stem: str, found: ClassMap, extension: str) -> str:
  """``cat.class281.png``: the image's stem and the explained class."""
  return '%s.class%d.%s' % (stem, found.class_id, extension)


def render(result: ImageMaps, found: ClassMap) -> bytes:
  """A PNG: the map (scaled to its maximum) over the photo's crop the
  network saw, the crop outlined, class name and score in the title."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import figure  # pylint: disable=g-import-not-at-top
  height, width = result.pixels.shape[:2]
  photo = 6 * height / width   # inches, below a 0.6-inch title
  fig = figure.Figure(figsize=(6, photo + 0.6), dpi=100)
  axes = fig.add_axes((0, 0, 1, photo / (photo + 0.6)))
  axes.imshow(result.pixels)
  box = result.box
  top = float(found.cam.max())
  axes.imshow(found.cam / top if top > 0 else found.cam, cmap='jet',
              alpha=0.45, vmin=0, vmax=1, interpolation='bilinear',
              extent=(box.left, box.left + box.width, box.top + box.height,
                      box.top))
  axes.add_patch(matplotlib.patches.Rectangle(
      (box.left, box.top), box.width, box.height, fill=False,
      linestyle='--', edgecolor='white'))
  axes.set_xlim(0, width)
  axes.set_ylim(height, 0)
  axes.axis('off')
  fig.suptitle('%s (class %d): %.3f\nGrad-CAM at %s%s' % (
      found.label, found.class_id, found.probability, result.end_point,
      '' if top > 0 else ' (zero: no position raises this class)'),
      fontsize=10)
  out = io.BytesIO()
  fig.savefig(out, format='png')
  return out.getvalue()


def summary_line(result: ImageMaps) -> str:
  """One line per image: each explained class and where its map peaks."""
  return '%s: %s' % (result.image, '; '.join(
      '%s (%d) %.3f, peak at row %d col %d' % (
          m.label, m.class_id, m.probability, m.peak[0], m.peak[1])
      for m in result.maps))


class Plan(NamedTuple):
  """What ``explain_files`` reads and where it writes, checked up front."""
  stems: dict               # image file -> the name its outputs start with
  output: str               # the maps' folder (absolute)


def plan_outputs(paths: Sequence[str], output: str) -> Plan:
  """Lists the images and checks ``output`` before any work.

  An existing ``output`` may hold only earlier maps of these images: it
  is replaced as a whole.

  Raises:
    ExplainError: as ``list_images``.
    OutputPathError: ``output`` is a file, cannot be written, or holds
      other files.
  """
  stems = list_images(paths)
  pattern = re.compile(r'(%s)\.class\d+\.(png|npy)' % '|'.join(
      re.escape(s) for s in stems.values()))
  return Plan(stems, fileio.check_replaceable_dir(
      output, pattern.fullmatch, '`output`', 'Grad-CAM maps of these images'))


def explain_files(cam: GradCam, plan: Plan, *,
                  log: Callable[[str], None] = print) -> List[dict]:
  """Explains every image of ``plan`` and writes its maps.

  Everything is written into a temporary folder that replaces
  ``plan.output`` only when every image was explained: a failure writes
  nothing.

  Args:
    cam: a ``GradCam``.
    plan: from ``plan_outputs``.
    log: gets one summary line per image.

  Returns:
    One dict per image and class: image, class_id, label, probability,
    rank, peak, map shape, png and npy (names inside the output folder).

  Raises:
    ImageError: an image that cannot be read or decoded.
    OutputPathError: the maps could not be written.
  """
  rows = []
  with fileio.staging('explain', what='the maps') as stage:
    folder = stage.new_temp(plan.output, folder=True)
    for path, stem in plan.stems.items():
      result = cam.explain(path)
      os.makedirs(os.path.join(folder, os.path.dirname(stem)), exist_ok=True)
      for found in result.maps:
        png, npy = (output_name(stem, found, e) for e in ('png', 'npy'))
        with open(os.path.join(folder, png), 'wb') as f:
          f.write(render(result, found))
        np.save(os.path.join(folder, npy), found.cam)
        rows.append(dict(image=path, class_id=found.class_id,
                         label=found.label, probability=found.probability,
                         rank=found.rank, peak=list(found.peak),
                         map_shape=list(found.cam.shape), png=png, npy=npy))
      log(summary_line(result))
    stage.commit([fileio.Staged(folder, plan.output, True)])
  return rows
