"""The pointing game: placed digits and boxes by hand, a tiny game played."""

import io

import numpy as np
import pytest
from PIL import Image

from resnet_v2_slim.data import datasets
from resnet_v2_slim.data import preprocessing
from resnet_v2_slim.teaching import explain
from resnet_v2_slim.teaching import pointing_game as game
from resnet_v2_slim.training import trainer


def test_a_digit_lands_where_asked_and_its_box_is_its_ink():
  mnist = np.zeros((1, 28, 28), np.float32)
  mnist[0, 8:12, 10:16] = 1.0
  small = game.shrink(mnist)
  assert small.shape == (1, game.DIGIT, game.DIGIT)
  assert small.sum() * game.SHRINK ** 2 == mnist.sum()
  digit = np.zeros((1, game.DIGIT, game.DIGIT), np.float32)
  digit[0, 2:4, 5:8] = 1.0        # ink: rows 2-3, columns 5-7
  digit[0, 4, 5] = 0.3            # faint, still ink (>= INK)
  digit[0, 5, 5] = 0.2            # fainter: not ink
  placed = game.place(digit, [7], np.array([20]), np.array([1]))
  canvas = placed.canvases[0]
  assert canvas.shape == (56, 56) and canvas.sum() == digit.sum()
  assert canvas[22, 6] == 1.0                    # (2, 5) moved by (20, 1)
  assert placed.boxes == [preprocessing.Box(22, 6, 3, 3)]
  assert placed.labels.tolist() == [7]
  box = placed.boxes[0]
  assert game.on(box, 22, 6) and game.on(box, 24, 8)
  assert not game.on(box, 25, 8) and not game.on(box, 24, 9)
  assert not game.on(box, 21, 6) and not game.on(box, 22, 5)


def test_the_photo_is_what_the_evaluation_crop_gives_back():
  canvas = np.random.default_rng(0).random((56, 56)).astype(np.float32)
  pixels = game.photo(canvas)
  assert game.IMAGE_SIZE == 112 and game.PHOTO == 128
  assert pixels.shape == (128, 128, 3) and pixels.dtype == np.uint8
  box = preprocessing.eval_box('inception', 128, 128, game.IMAGE_SIZE)
  assert box == preprocessing.Box(8, 8, 112, 112)
  crop = pixels[8:120, 8:120, 0]
  # Every canvas pixel as a 2x2 square, by hand.
  for dr in (0, 1):
    for dc in (0, 1):
      np.testing.assert_array_equal(crop[dr::2, dc::2],
                                    np.round(canvas * 255))
  assert pixels.sum() == crop.sum() * 3            # the margin is black
  assert game.canvas_pixel((8, 9)) == (0, 0)
  assert game.canvas_pixel((119, 10)) == (55, 1)


def test_the_held_out_digits_are_the_validation_split_placed_anywhere():
  placed = game.held_out(200, seed=0)
  again = game.held_out(200, seed=0)
  np.testing.assert_array_equal(placed.canvases, again.canvases)
  validation = datasets.builtin('mnist5k', 'validation')
  assert set(placed.labels.tolist()) <= set(validation.labels.tolist())
  tops = [b.top for b in placed.boxes]
  lefts = [b.left for b in placed.boxes]
  far = (game.CANVAS - game.DIGIT) * 3 // 4
  assert min(tops) < 5 and max(tops) > far        # all over the canvas
  assert min(lefts) < 5 and max(lefts) > far
  assert all(b.height <= game.DIGIT and b.width <= game.DIGIT
             for b in placed.boxes)
  train = game.canvases('train')
  assert train.image_size == 112 and len(train) == 4500
  # Training canvases are centred: the shift moves them up to the edges.
  assert train.images[:, :game.SHIFT].sum() == 0
  assert train.images[:, :, game.SHIFT + game.DIGIT:].sum() == 0
  with pytest.raises(explain.ExplainError, match='`images` must be 1 to '
                     '500'):
    game.held_out(501)


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
  """resnet_v2_18 after two steps on the canvases."""
  train_dir = str(tmp_path_factory.mktemp('pointing') / 'run')
  trainer.train(trainer.TrainConfig(
      model='resnet_v2_18', train_dir=train_dir, steps=2, batch_size=4,
      image_size=game.IMAGE_SIZE, random_shift=game.SHIFT, save_every=2),
      log=lambda _: None, dataset=game.canvases('train'))
  return train_dir


def test_scores_and_baselines_by_hand():
  box = preprocessing.Box(10, 20, 5, 4)   # rows 10-14, columns 20-23
  assert game.on(box, 8, 18, 2) and game.on(box, 16, 25, 2)
  assert not game.on(box, 7, 20, 2) and not game.on(box, 10, 26, 2)
  placed = game.Placed(np.zeros((3, 56, 56), np.float32),
                       np.array([1, 2, 3]), [
                           box, preprocessing.Box(25, 25, 6, 6),
                           preprocessing.Box(0, 0, 3, 3)])
  # On the box; 5 rows below its last (a miss even within 4); 3 below.
  peaks = [(12, 21), (35, 28), (5, 5)]
  score = game.score('e', placed, peaks, [1, 0, 3], (14, 14), tolerance=4)
  assert (score.hits, score.near_hits, score.correct) == (1, 2, 2)
  # The centre (28, 28) lies in the second box only; within 4 pixels too.
  assert (score.centre_hits, score.centre_near) == (1, 1)
  assert score.uniform == pytest.approx((20 + 36 + 9) / 3 / 56 ** 2)
  # Grown by 4 and clipped to the canvas: 13x12, 14x14 and 7x7.
  assert score.uniform_near == pytest.approx((156 + 196 + 49) / 3 / 56 ** 2)
  assert game.TOLERANCE == 4     # 15 pixels at 224, at 112 over 2
  # A 14x14 map points at the centres of its 4-pixel cells (2, 6, 10, ...):
  # rows 10-14 hold 10 and 14, columns 20-23 hold 22; 25-30 hold 26 and
  # 30; 0-2 hold 2. A 4x4 map's centres (7, 21, 35, 49) miss all three.
  assert game.peak_points((14, 14))[:3] == [(2, 2), (2, 6), (2, 10)]
  assert game.peak_points((4, 4))[5] == (21, 21)
  assert (score.grid, score.reachable) == ((14, 14), 3)
  assert game.reachable(placed, (4, 4)) == 0
  assert ('at e (14x14), 3 images: the map peaks on the digit 33.3% (a map '
          'this size: at most 100.0%; within 4 px 66.7%)' in score.line())


def test_a_tiny_game_is_played_on_png_files(tiny_run):
  score = game.play(tiny_run, images=6, seed=1,
                    end_point='resnet_v2_18/block1')
  placed = game.held_out(6, seed=1)
  assert score.images == 6 and score.end_point == 'resnet_v2_18/block1'
  assert 0 <= score.hits <= score.near_hits <= 6
  assert 0 <= score.correct <= 6
  assert score.centre_hits == sum(
      b.top <= 28 < b.top + b.height and b.left <= 28 < b.left + b.width
      for b in placed.boxes)
  # The same canvases drawn: a row of four digits with their maps.
  png = game.gallery(tiny_run, shown=4, images=6, seed=1,
                     end_point='resnet_v2_18/block1')
  drawn = Image.open(io.BytesIO(png))
  assert drawn.format == 'PNG' and drawn.size == (800, 260)
  assert len(np.unique(np.asarray(drawn.convert('RGB')).reshape(-1, 3),
                       axis=0)) > 100      # maps, not a blank page


def test_the_maps_on_a_canvas_are_finite_non_negative_on_the_grid(
    tiny_run, tmp_path):
  path = str(tmp_path / 'digit.png')
  Image.fromarray(game.photo(game.held_out(1, seed=2).canvases[0])).save(
      path)
  with explain.GradCam(tiny_run, end_point='resnet_v2_18/block1',
                       top=2) as cam:
    result = cam.explain(path)
    assert cam.grid == (14, 14)     # stride 8 at 112 pixels
  assert result.box == preprocessing.Box(8, 8, 112, 112)
  for found in result.maps:
    assert found.cam.shape == (14, 14)
    assert np.isfinite(found.cam).all() and (found.cam >= 0).all()
    assert 8 <= found.peak[0] < 120 and 8 <= found.peak[1] < 120
