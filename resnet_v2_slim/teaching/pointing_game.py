"""The pointing game: do Grad-CAM's maps point at the object?

Zhang et al. (ECCV 2016, "Top-down neural attention by excitation
backprop") score a saliency map by where it is largest: a hit when that
pixel lies on the object (or, in their count, within 15 pixels of it).
Here the objects are real MNIST digits (``mnist5k``, 28x28) placed at
random on a black 56x56 canvas, so where each one is is known to the pixel:
its ink's bounding box. A network learns that placement from centred
canvases moved by up to ``SHIFT`` pixels each way (``train``'s
``random_shift``), seen at ``IMAGE_SIZE`` (each canvas pixel 2x2: at 56
the last block's map is 2x2 and cannot point). The game is then played on
the validation split's digits, which training never sees, placed at seeded
random positions and saved as PNG files that ``teaching.explain.GradCam``
reads like any photo: the checkpoint's own evaluation preprocessing,
labels and moving averages.

Two baselines are counted the same way: always pointing at the canvas's
centre (Zhang et al.'s "center" baseline), and a uniform map, whose maximum
is anywhere: its expected score is the boxes' mean share of the canvas.
benchmarks/pointing_game.py trains and plays; benchmarks/README.md has the
measured scores.

Typical use::

    from resnet_v2_slim.teaching import pointing_game
    from resnet_v2_slim.training import trainer

    config = trainer.TrainConfig(
        model='resnet_v2_18', train_dir='runs/pointing', steps=1200,
        image_size=pointing_game.IMAGE_SIZE,
        random_shift=pointing_game.SHIFT)
    trainer.train(config, dataset=pointing_game.canvases('train'))
    print(pointing_game.play('runs/pointing', images=200).line())
"""

import dataclasses
import io
import os
import tempfile
from typing import Any, Iterator, List, NamedTuple, Optional

import numpy as np
from PIL import Image

from resnet_v2_slim.data import datasets
from resnet_v2_slim.data import preprocessing
from resnet_v2_slim.teaching import explain

# MNIST's 28x28 digits as they are; SHRINK 2 would average 2x2 blocks
# (14x14 digits: see benchmarks/README.md for why batch norm fails there).
SHRINK = 1
DIGIT = 28 // SHRINK
CANVAS = 56                 # twice a digit's size
SHIFT = (CANVAS - DIGIT) // 2   # centred, then moved up to this each way
INK = 0.25                  # a pixel this bright or more is the digit's
SCALE = 2                   # the network sees each canvas pixel as 2x2
IMAGE_SIZE = CANVAS * SCALE
# The PNG around a canvas: Inception's evaluation crop (the central 87.5%)
# of a 128x128 photo is exactly the canvas at IMAGE_SIZE, so the network
# sees what it was trained on, at its own size, with no resampling.
PHOTO = IMAGE_SIZE * 8 // 7
MARGIN = (PHOTO - IMAGE_SIZE) // 2
# Zhang et al.'s 15-pixel tolerance at 224, in canvas pixels here.
TOLERANCE = round(15 * IMAGE_SIZE / 224 / SCALE)


class Placed(NamedTuple):
  """Digits on canvases: ``canvases`` float32 ``[N, CANVAS, CANVAS]`` in
  [0, 1], ``labels`` int64 ``[N]``, ``boxes`` their ink's bounding boxes
  (``preprocessing.Box``, canvas pixels)."""
  canvases: np.ndarray
  labels: np.ndarray
  boxes: List[preprocessing.Box]


def shrink(pixels: np.ndarray) -> np.ndarray:
  """``[N, 28, 28]`` digits averaged over 2x2 blocks: ``[N, 14, 14]``."""
  n = len(pixels)
  return pixels.reshape(n, DIGIT, SHRINK, DIGIT, SHRINK).mean((2, 4))


def place(digits: np.ndarray, labels: np.ndarray, rows: np.ndarray,
          cols: np.ndarray) -> Placed:
  """Each ``[14, 14]`` digit on a black canvas, top-left at (row, col)."""
  canvases = np.zeros((len(digits), CANVAS, CANVAS), np.float32)
  boxes = []
  for canvas, digit, row, col in zip(canvases, digits, rows, cols):
    canvas[row:row + DIGIT, col:col + DIGIT] = digit
    ink_rows = np.flatnonzero((canvas >= INK).any(1))
    ink_cols = np.flatnonzero((canvas >= INK).any(0))
    boxes.append(preprocessing.Box(
        int(ink_rows[0]), int(ink_cols[0]),
        int(ink_rows[-1] - ink_rows[0] + 1),
        int(ink_cols[-1] - ink_cols[0] + 1)))
  return Placed(canvases, np.asarray(labels, np.int64), boxes)


def canvases(split: str = 'train') -> datasets.Dataset:
  """``mnist5k``'s ``split`` on centred canvases, a training set: give
  ``image_size=IMAGE_SIZE`` and ``random_shift=SHIFT`` to place each digit
  anywhere, a new place every time it is drawn."""
  source = datasets.builtin('mnist5k', split)
  centre = np.full(len(source.labels), SHIFT)
  placed = place(shrink(source.images), source.labels, centre, centre)
  return dataclasses.replace(source, name='%s-canvas' % source.name,
                             image_size=IMAGE_SIZE, images=placed.canvases)


def held_out(count: int = 200, *, seed: int = 0) -> Placed:
  """``count`` validation digits (never trained on), drawn with ``seed``,
  each at a random position of its canvas (uniform over all of them)."""
  source = datasets.builtin('mnist5k', 'validation')
  if not 0 < count <= len(source.labels):
    raise explain.ExplainError('`images` must be 1 to %d (the validation '
                               'digits), got %r.' % (len(source.labels),
                                                     count))
  rng = np.random.default_rng(seed)
  chosen = rng.permutation(len(source.labels))[:count]
  rows, cols = rng.integers(0, CANVAS - DIGIT + 1, (2, count))
  return place(shrink(source.images[chosen]), source.labels[chosen], rows,
               cols)


def photo(canvas: np.ndarray) -> np.ndarray:
  """A canvas as the RGB uint8 ``PHOTO`` x ``PHOTO`` image explained: each
  pixel ``SCALE`` x ``SCALE`` (nearest, as training upsamples), in a black
  margin that the evaluation crop takes away again."""
  big = np.kron(canvas, np.ones((SCALE, SCALE), np.float32))
  pixels = np.zeros((PHOTO, PHOTO, 3), np.uint8)
  pixels[MARGIN:MARGIN + IMAGE_SIZE, MARGIN:MARGIN + IMAGE_SIZE] = np.round(
      big[..., None] * 255).astype(np.uint8)
  return pixels


def canvas_pixel(peak: tuple) -> tuple:
  """A photo pixel ``(row, col)`` as the canvas pixel it shows."""
  return tuple((value - MARGIN) // SCALE for value in peak)


def on(box: preprocessing.Box, row: int, col: int, tolerance: int = 0
       ) -> bool:
  """Whether pixel (row, col) lies inside ``box`` grown by ``tolerance``
  pixels on every side."""
  return (box.top - tolerance <= row < box.top + box.height + tolerance and
          box.left - tolerance <= col < box.left + box.width + tolerance)


def grown_share(box: preprocessing.Box, tolerance: int) -> float:
  """The share of the canvas within ``tolerance`` pixels of ``box``."""
  rows = min(box.top + box.height + tolerance, CANVAS) - max(
      box.top - tolerance, 0)
  cols = min(box.left + box.width + tolerance, CANVAS) - max(
      box.left - tolerance, 0)
  return rows * cols / CANVAS ** 2


def peak_points(grid: tuple) -> List[tuple]:
  """The canvas pixels where a ``grid``-sized map can point: the centres
  of its positions (``explain.peak``). A 4x4 map, the last block at 112
  pixels, can point at 16 places only, whatever it learned."""
  crop = preprocessing.Box(MARGIN, MARGIN, IMAGE_SIZE, IMAGE_SIZE)
  points = []
  for row in range(grid[0]):
    for col in range(grid[1]):
      alone = np.zeros(grid, np.float32)
      alone[row, col] = 1.0
      points.append(canvas_pixel(explain.peak(alone, crop)))
  return points


def reachable(game: Placed, grid: tuple) -> int:
  """How many of ``game``'s boxes hold one of ``peak_points(grid)``: the
  most hits any map of that size can score."""
  points = peak_points(grid)
  return sum(any(on(box, *point) for point in points) for box in game.boxes)


@dataclasses.dataclass(frozen=True)
class Score:
  """The game's result over ``images`` held-out canvases.

  ``hits``: maps whose maximum is on the digit's ink box; ``near_hits``:
  within ``tolerance`` canvas pixels of it (Zhang et al. count a hit
  within 15 pixels of the box on ImageNet photos; ``TOLERANCE`` is those
  15 pixels at 224 scaled to this network's input). The baselines count
  the same way: ``centre_hits``/``centre_near`` always point at the
  canvas centre; ``uniform``/``uniform_near`` are a uniform map's
  expected rates (the boxes' mean share of the canvas). ``correct``:
  images whose top class is the digit's label. ``grid``: the map's size;
  ``reachable``: the most hits a map of that size can score.
  """
  end_point: str
  images: int
  tolerance: int
  hits: int
  near_hits: int
  centre_hits: int
  centre_near: int
  uniform: float
  uniform_near: float
  correct: int
  grid: tuple
  reachable: int

  def line(self) -> str:
    def pct(count):
      return 100.0 * count / self.images
    return ('pointing game at %s (%dx%d), %d images: the map peaks on the '
            'digit %.1f%% (a map this size: at most %.1f%%; within %d px '
            '%.1f%%); baselines: the canvas centre %.1f%% (%.1f%%), a uniform '
            'map %.1f%% (%.1f%%); top-1 %.1f%%'
            % (self.end_point, *self.grid, self.images, pct(self.hits),
               pct(self.reachable), self.tolerance,
               pct(self.near_hits), pct(self.centre_hits),
               pct(self.centre_near), 100.0 * self.uniform,
               100.0 * self.uniform_near, pct(self.correct)))


def score(end_point: str, game: Placed, peaks: List[tuple],
          classes: List[int], grid: tuple,
          tolerance: Optional[int] = None) -> Score:
  """A ``Score`` from the maps' ``peaks`` (canvas pixels) and top
  ``classes`` on ``game``, the maps ``grid`` positions in size."""
  tolerance = TOLERANCE if tolerance is None else tolerance
  centre = CANVAS // 2

  def count(points, grow):
    return sum(int(on(box, *point, grow))
               for box, point in zip(game.boxes, points))

  middle = [(centre, centre)] * len(game.boxes)
  return Score(
      end_point, len(peaks), tolerance, count(peaks, 0),
      count(peaks, tolerance), count(middle, 0), count(middle, tolerance),
      float(np.mean([grown_share(b, 0) for b in game.boxes])),
      float(np.mean([grown_share(b, tolerance) for b in game.boxes])),
      int(np.sum(np.asarray(classes) == game.labels)), tuple(grid),
      reachable(game, grid))


def _explained(cam: explain.GradCam, game: Placed
               ) -> Iterator[explain.ClassMap]:
  """The top class's map of every canvas of ``game``, each explained
  from a PNG file as a photo would be (scratch files, removed after)."""
  with tempfile.TemporaryDirectory() as folder:
    for index, canvas in enumerate(game.canvases):
      path = os.path.join(folder, '%03d.png' % index)
      Image.fromarray(photo(canvas)).save(path)
      [found] = cam.explain(path).maps
      yield found


def play(checkpoint: str, *, images: int = 200, seed: int = 0,
         end_point: Optional[str] = None, **kwargs: Any) -> Score:
  """Explains ``images`` held-out canvases (the top class) and scores them.

  Args:
    checkpoint: a checkpoint trained on ``canvases`` (``GradCam`` reads it).
    images: how many validation digits to place (at most 500).
    seed: which digits, and where.
    end_point: ``GradCam``'s (default: the last block).
    **kwargs: more ``GradCam`` keywords (e.g. ``output_stride=16``).

  Returns:
    A ``Score``.

  Raises:
    ExplainError, CheckpointError: as ``GradCam``; a bad ``images``.
  """
  game = held_out(images, seed=seed)
  with explain.GradCam(checkpoint, end_point=end_point, **kwargs) as cam:
    found = list(_explained(cam, game))
  return score(cam.end_point, game, [canvas_pixel(f.peak) for f in found],
               [f.class_id for f in found], cam.grid)


def gallery(checkpoint: str, *, shown: int = 8, images: int = 200,
            seed: int = 0, end_point: Optional[str] = None,
            **kwargs: Any) -> bytes:
  """A PNG of the game's first ``shown`` canvases: each map over its
  digit, the ink box (green: the peak is on it; red: not) and the peak.

  Args:
    checkpoint, images, seed, end_point, **kwargs: as ``play`` (the same
      ``images`` and ``seed`` show the same canvases that ``play`` scores).
    shown: how many canvases, in rows of four.

  Returns:
    The PNG file's bytes.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import figure  # pylint: disable=g-import-not-at-top
  game = held_out(images, seed=seed)
  game = Placed(game.canvases[:shown], game.labels[:shown],
                game.boxes[:shown])
  with explain.GradCam(checkpoint, end_point=end_point, **kwargs) as cam:
    found = list(_explained(cam, game))
    title = 'Grad-CAM at %s (a %dx%d map)' % (cam.end_point, *cam.grid)
  rows = -(-shown // 4)
  fig = figure.Figure(figsize=(8, 2.2 * rows + 0.4), dpi=100,
                      layout='constrained')
  for index, (canvas, box, label, result) in enumerate(zip(
      game.canvases, game.boxes, game.labels, found)):
    axes = fig.add_subplot(rows, 4, index + 1)
    axes.imshow(canvas, cmap='gray', vmin=0, vmax=1)
    peak = max(float(result.cam.max()), 1e-12)
    axes.imshow(result.cam / peak, cmap='jet', alpha=0.45, vmin=0, vmax=1,
                interpolation='bilinear', extent=(0, CANVAS, CANVAS, 0))
    row, col = canvas_pixel(result.peak)
    hit = on(box, row, col)
    axes.add_patch(matplotlib.patches.Rectangle(
        (box.left - 0.5, box.top - 0.5), box.width, box.height, fill=False,
        edgecolor='lime' if hit else 'red'))
    axes.plot(col, row, marker='+', color='white', markersize=10)
    axes.set_title('%d read as %d: %s' % (label, result.class_id,
                                          'on the digit' if hit else 'off'),
                   fontsize=9)
    axes.axis('off')
  fig.suptitle(title, fontsize=10)
  out = io.BytesIO()
  fig.savefig(out, format='png')
  return out.getvalue()
