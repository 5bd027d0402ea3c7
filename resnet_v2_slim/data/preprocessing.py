"""The one place images are decoded and preprocessed (TF-Slim's variants).

Decoding: JPEG, PNG, GIF (first frame) and BMP; grayscale and RGBA become
RGB. Preprocessing, as TF-Slim's ``preprocessing_factory`` offers it:

- ``inception`` evaluation: keep the central 87.5%, resize bilinearly,
  scale pixels from [0, 1] to [-1, 1]. The published slim ResNet V2
  checkpoints were trained and evaluated with this, at 299x299;
- ``inception`` training: a random crop covering 5-100% of the image with
  aspect ratio 3:4-4:3 (``sample_distorted_bounding_box``), resized with a
  random method, a random left-right flip and random brightness and
  saturation (TF-Slim's fast mode), scaled to [-1, 1];
- ``vgg`` evaluation: shorter side to 256, central crop, channel means
  subtracted from 0-255 pixels;
- ``vgg`` training: shorter side to a random 256-512, random crop, random
  flip, means subtracted.

Feeding the published ResNet V2 weights VGG-style inputs runs but gives
wrong predictions. Training, fine-tuning, classify and export all take
their images from here, so training and inference see the same pixels.

Typical use::

    from resnet_v2_slim.data import preprocessing

    contents = tf.placeholder(tf.string, [])
    image = preprocessing.decode_image(contents)              # uint8 HxWx3
    batch = preprocessing.preprocess(image, 'inception', 299)[tf.newaxis]
    train = preprocessing.preprocess(image, 'inception', 224,
                                     is_training=True)
"""

from typing import NamedTuple, Optional

import numpy as np

import tensorflow as tf2  # the stateless crop is a TF2 API only
import tensorflow.compat.v1 as tf

from resnet_v2_slim import names
from resnet_v2_slim.data import images
from resnet_v2_slim.nets import pretrained
from resnet_v2_slim.nets import resnet_utils

METHODS = names.PREPROCESSING
# What --preprocessing accepts: 'auto' takes the checkpoint's (see
# checkpoints.CheckpointInfo.input_defaults).
FLAG_CHOICES = names.PREPROCESSING_CHOICES
DEFAULT_METHOD = pretrained.DEFAULT_PREPROCESSING
DEFAULT_IMAGE_SIZE = 299        # what slim ResNet V2 checkpoints were trained at
INCEPTION_CENTRAL_FRACTION = 0.875
VGG_RESIZE_SIDE = 256
VGG_TRAIN_RESIZE_SIDES = (256, 512)   # TF-Slim's resize_side_min / _max
VGG_MEANS = (123.68, 116.78, 103.94)
# Inception training crop (TF-Slim's distorted_bounding_box_crop defaults).
CROP_MIN_OBJECT_COVERED = 0.1
CROP_ASPECT_RATIO_RANGE = (0.75, 1.33)
CROP_AREA_RANGE = (0.05, 1.0)
RESIZE_METHODS = (tf.image.ResizeMethod.BILINEAR,
                  tf.image.ResizeMethod.NEAREST_NEIGHBOR,
                  tf.image.ResizeMethod.BICUBIC, tf.image.ResizeMethod.AREA)


def decode_image(contents: tf.Tensor) -> tf.Tensor:
  """Decodes JPEG/PNG/GIF/BMP bytes to a uint8 [height, width, 3] tensor."""
  image = tf.io.decode_image(contents, channels=3, expand_animations=False)
  image.set_shape([None, None, 3])
  return image


def scale_to_minus_one_one(image: tf.Tensor) -> tf.Tensor:
  """Float pixels in [0, 1] to [-1, 1], as Inception preprocessing ends."""
  return (image - 0.5) * 2.0


def _random_choice(image, functions, seed=None):
  """Applies one of ``functions`` to ``image``, chosen uniformly at random."""
  index = tf.random_uniform([], maxval=len(functions), dtype=tf.int32,
                            seed=seed)
  return tf.switch_case(index, [lambda f=f: f(image) for f in functions])


def inception_train(image: tf.Tensor, height: int, width: int,
                    bbox: Optional[tf.Tensor] = None,
                    seed: Optional[int] = None) -> tf.Tensor:
  """TF-Slim's Inception training preprocessing (fast mode).

  Args:
    image: a [H, W, 3] image, uint8 (0-255) or float (0-1).
    height, width: output size.
    bbox: optional [1, N, 4] boxes (ymin, xmin, ymax, xmax in [0, 1]) the
      crop should cover; default the whole image.
    seed: optional op seed, for a deterministic pipeline.

  Returns:
    A float32 [height, width, 3] image in [-1, 1].
  """
  image = tf.image.convert_image_dtype(image, tf.float32)
  if bbox is None:
    bbox = tf.constant([0.0, 0.0, 1.0, 1.0], tf.float32, [1, 1, 4])
  # The stateless op with a seed drawn from a stateful one: the stateful
  # sample_distorted_bounding_box ignores the graph-level seed, so runs with
  # the same --seed would crop differently.
  crop_seed = tf.random_uniform([2], maxval=2**31 - 1, dtype=tf.int32,
                                seed=seed)
  begin, size, _ = tf2.image.stateless_sample_distorted_bounding_box(
      tf.shape(image), bounding_boxes=bbox, seed=crop_seed,
      min_object_covered=CROP_MIN_OBJECT_COVERED,
      aspect_ratio_range=CROP_ASPECT_RATIO_RANGE,
      area_range=CROP_AREA_RANGE, max_attempts=100,
      use_image_if_no_bounding_boxes=True)
  image = tf.slice(image, begin, size)
  image = _random_choice(image, [
      lambda x, m=m: tf.image.resize(x, [height, width], method=m)
      for m in RESIZE_METHODS], seed=seed)
  image.set_shape([height, width, 3])
  image = tf.image.random_flip_left_right(image, seed=seed)
  image = tf.image.random_brightness(image, max_delta=32. / 255., seed=seed)
  image = tf.image.random_saturation(image, lower=0.5, upper=1.5, seed=seed)
  image = tf.clip_by_value(image, 0.0, 1.0)
  return scale_to_minus_one_one(image)


def inception_eval(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
  """Central 87.5% crop, bilinear resize to (height, width), scale to [-1, 1].

  Args:
    image: a [H, W, 3] image, uint8 (0-255) or float (0-1).
    height, width: output size.

  Returns:
    A float32 [height, width, 3] image in [-1, 1].
  """
  return _inception_eval_batch(image[tf.newaxis], height, width)[0]


def _inception_eval_batch(images, height, width):
  """``inception_eval`` of a [N, H, W, 3] batch of one size (same ops)."""
  images = tf.image.convert_image_dtype(images, tf.float32)
  images = _central_crop(images, INCEPTION_CENTRAL_FRACTION)
  images = tf.image.resize_bilinear(images, [height, width],
                                    align_corners=False)
  return scale_to_minus_one_one(images)


def _central_crop(images, fraction):
  """``tf.image.central_crop`` of a [N, H, W, C] batch, in float32.

  Hand-written because TensorFlow's computes the offsets in float64 when
  H and W are unknown, which TFLite cannot run; the offsets are the same
  (``int((h - h * fraction) / 2)``, exact in float32 for any image size:
  tests compare it with TensorFlow's).
  """
  shape = tf.shape(images)
  size = tf.cast(shape[1:3], tf.float32)
  start = tf.cast((size - size * fraction) / 2, tf.int32)
  crop = shape[1:3] - 2 * start
  # The channel count stays static in the slice size: TFLite's shape
  # inference cannot see through set_shape.
  channels = images.shape[3] if images.shape[3] is not None else -1
  return tf.slice(images, tf.concat([[0], start, [0]], 0),
                  tf.concat([[-1], crop, [channels]], 0))


def _resize_shorter_side(images, side):
  """Bilinear resize of a [N, H, W, 3] batch so its shorter side is ``side``.
  """
  shape = tf.shape(images)
  h, w = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
  scale = tf.cast(side, tf.float32) / tf.minimum(h, w)
  new_size = tf.cast(tf.round(tf.stack([h * scale, w * scale])), tf.int32)
  return tf.image.resize_bilinear(tf.cast(images, tf.float32), new_size,
                                  align_corners=False)


class Box(NamedTuple):
  """A rectangle of an image, in its pixels."""
  top: int
  left: int
  height: int
  width: int


def eval_box(method: str, height: int, width: int, image_size: int) -> Box:
  """The part of a ``height`` x ``width`` image that the evaluation
  preprocessing ``method`` gives the network (resized to ``image_size``).

  The same arithmetic as the graph's ops, in numpy, for drawing on the
  original image (tests compare both): Inception's central 87.5% crop;
  VGG's central ``image_size`` crop of the image scaled to a shorter side
  of 256, mapped back to the original.
  """
  if check_method(method) == 'inception':
    start = [int((np.float32(side) - np.float32(side) *
                  np.float32(INCEPTION_CENTRAL_FRACTION)) / 2)
             for side in (height, width)]
    return Box(start[0], start[1], height - 2 * start[0],
               width - 2 * start[1])
  scale = np.float32(VGG_RESIZE_SIDE) / np.float32(min(height, width))
  top, left = [(int(np.round(np.float32(side) * scale)) - image_size) // 2
               for side in (height, width)]
  return Box(int(top / scale), int(left / scale),
             int(round(image_size / scale)), int(round(image_size / scale)))


def vgg_eval(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
  """Resize the shorter side to 256, central crop, subtract channel means.

  Args:
    image: a uint8 [H, W, 3] image.
    height, width: crop size (at most 256).

  Returns:
    A float32 [height, width, 3] image with mean-subtracted 0-255 values.
  """
  return _vgg_eval_batch(image[tf.newaxis], height, width)[0]


def _vgg_eval_batch(images, height, width):
  """``vgg_eval`` of a [N, H, W, 3] batch of one size (same ops)."""
  images = _resize_shorter_side(images, VGG_RESIZE_SIDE)
  new_size = tf.shape(images)
  top = (new_size[1] - height) // 2
  left = (new_size[2] - width) // 2
  images = tf.slice(images, [0, top, left, 0], [-1, height, width, 3])
  return images - tf.constant(VGG_MEANS, tf.float32)


def vgg_train(image: tf.Tensor, height: int, width: int,
              seed: Optional[int] = None) -> tf.Tensor:
  """Shorter side to a random 256-512, random crop and flip, minus means.

  Args:
    image: a uint8 [H, W, 3] image.
    height, width: crop size (at most 256).
    seed: optional op seed.

  Returns:
    A float32 [height, width, 3] image with mean-subtracted 0-255 values.
  """
  side = tf.random_uniform([], VGG_TRAIN_RESIZE_SIDES[0],
                           VGG_TRAIN_RESIZE_SIDES[1] + 1, dtype=tf.int32,
                           seed=seed)
  image = _resize_shorter_side(image[tf.newaxis], side)[0]
  image = tf.image.random_crop(image, [height, width, 3], seed=seed)
  image = tf.image.random_flip_left_right(image, seed=seed)
  return image - tf.constant(VGG_MEANS, tf.float32)


def check_method(method: str) -> str:
  """Returns ``method`` if it is a known preprocessing, else a DataError."""
  if method not in METHODS:
    raise images.DataError('preprocessing must be one of %s, got %r.'
                     % (', '.join(METHODS), method))
  return method


def preprocess(image: tf.Tensor, method: str = DEFAULT_METHOD,
               image_size: int = DEFAULT_IMAGE_SIZE, *,
               is_training: bool = False,
               seed: Optional[int] = None) -> tf.Tensor:
  """Preprocessing by name, for evaluation (default) or training.

  Args:
    image: a [H, W, 3] image tensor (uint8, or float in [0, 1]).
    method: 'inception' (slim ResNet V2 checkpoints) or 'vgg'.
    image_size: square output size.
    is_training: the random training variant instead of evaluation.
    seed: optional op seed for the training variant.

  Returns:
    A float32 [image_size, image_size, 3] tensor.

  Raises:
    ValueError: for an unknown method or a size VGG cannot crop.
  """
  image_size = resnet_utils.check_positive_int(image_size, 'image_size')
  check_method(method)
  if method == 'inception':
    if is_training:
      return inception_train(image, image_size, image_size, seed=seed)
    return inception_eval(image, image_size, image_size)
  _check_vgg_size(image_size)
  if is_training:
    return vgg_train(image, image_size, image_size, seed=seed)
  return vgg_eval(image, image_size, image_size)


def preprocess_batch(images: tf.Tensor, method: str = DEFAULT_METHOD,
                     image_size: int = DEFAULT_IMAGE_SIZE) -> tf.Tensor:
  """``preprocess`` for evaluation, on a [N, H, W, 3] batch of one size.

  The same ops as ``preprocess`` runs on each image (it calls these on a
  batch of one), so a serving artifact that takes decoded pixels computes
  what ``classify`` computes from the file.

  Args:
    images: a [N, H, W, 3] tensor (uint8, or float in [0, 1]).
    method: 'inception' or 'vgg'.
    image_size: square output size.

  Returns:
    A float32 [N, image_size, image_size, 3] tensor.

  Raises:
    DataError: for an unknown method or a size VGG cannot crop.
  """
  image_size = resnet_utils.check_positive_int(image_size, 'image_size')
  check_method(method)
  if method == 'inception':
    return _inception_eval_batch(images, image_size, image_size)
  _check_vgg_size(image_size)
  return _vgg_eval_batch(images, image_size, image_size)


def _check_vgg_size(image_size):
  if image_size > VGG_RESIZE_SIDE:
    raise images.DataError('vgg preprocessing crops from a %d-pixel side; '
                           'image_size must be <= %d, got %d.'
                           % (VGG_RESIZE_SIDE, VGG_RESIZE_SIDE, image_size))
