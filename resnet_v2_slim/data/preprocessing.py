"""Evaluation preprocessing, as the slim checkpoints were trained with.

The published slim ResNet V2 checkpoints were trained with *Inception*
preprocessing at 299x299: keep the central 87.5% of the image, resize it
bilinearly to 299x299 and scale pixels from [0, 1] to [-1, 1]. Feeding them
VGG-style inputs (mean-subtracted 0-255 pixels at 224) runs without error but
gives wrong predictions; VGG preprocessing is here for ResNet V1-style
weights and for comparison.

Typical use::

    from resnet_v2_slim.data import preprocessing

    contents = tf.placeholder(tf.string, [])
    image = preprocessing.decode_image(contents)              # uint8 HxWx3
    batch = preprocessing.preprocess(image, 'inception', 299)[tf.newaxis]
"""

import tensorflow.compat.v1 as tf

from resnet_v2_slim.nets import resnet_utils

METHODS = ('inception', 'vgg')
DEFAULT_METHOD = 'inception'
DEFAULT_IMAGE_SIZE = 299        # what slim ResNet V2 checkpoints were trained at
INCEPTION_CENTRAL_FRACTION = 0.875
VGG_RESIZE_SIDE = 256
VGG_MEANS = (123.68, 116.78, 103.94)


def decode_image(contents):
  """Decodes JPEG/PNG/GIF/BMP bytes to a uint8 [height, width, 3] tensor."""
  image = tf.io.decode_image(contents, channels=3, expand_animations=False)
  image.set_shape([None, None, 3])
  return image


def inception_eval(image, height, width):
  """Central 87.5% crop, bilinear resize to (height, width), scale to [-1, 1].

  Args:
    image: a [H, W, 3] image, uint8 (0-255) or float (0-1).
    height, width: output size.

  Returns:
    A float32 [height, width, 3] image in [-1, 1].
  """
  image = tf.image.convert_image_dtype(image, tf.float32)
  image = tf.image.central_crop(image,
                                central_fraction=INCEPTION_CENTRAL_FRACTION)
  image = tf.image.resize_bilinear(image[tf.newaxis], [height, width],
                                   align_corners=False)[0]
  return (image - 0.5) * 2.0


def vgg_eval(image, height, width):
  """Resize the shorter side to 256, central crop, subtract channel means.

  Args:
    image: a uint8 [H, W, 3] image.
    height, width: crop size (at most 256).

  Returns:
    A float32 [height, width, 3] image with mean-subtracted 0-255 values.
  """
  shape = tf.shape(image)
  h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
  scale = VGG_RESIZE_SIDE / tf.minimum(h, w)
  new_size = tf.cast(tf.round(tf.stack([h * scale, w * scale])), tf.int32)
  image = tf.image.resize_bilinear(tf.cast(image, tf.float32)[tf.newaxis],
                                   new_size, align_corners=False)[0]
  top = (new_size[0] - height) // 2
  left = (new_size[1] - width) // 2
  image = tf.slice(image, [top, left, 0], [height, width, 3])
  return image - tf.constant(VGG_MEANS, tf.float32)


def check_method(method):
  """Returns ``method`` if it is a known preprocessing, else a ValueError."""
  if method not in METHODS:
    raise ValueError('preprocessing must be one of %s, got %r.'
                     % (', '.join(METHODS), method))
  return method


def preprocess(image, method=DEFAULT_METHOD, image_size=DEFAULT_IMAGE_SIZE):
  """Evaluation preprocessing by name.

  Args:
    image: a [H, W, 3] image tensor.
    method: 'inception' (slim ResNet V2 checkpoints) or 'vgg'.
    image_size: square output size.

  Returns:
    A float32 [image_size, image_size, 3] tensor.

  Raises:
    ValueError: for an unknown method or a size VGG cannot crop.
  """
  image_size = resnet_utils.check_positive_int(image_size, 'image_size')
  if method == 'inception':
    return inception_eval(image, image_size, image_size)
  if method == 'vgg':
    if image_size > VGG_RESIZE_SIDE:
      raise ValueError('vgg preprocessing crops from a %d-pixel side; '
                       'image_size must be <= %d, got %d.'
                       % (VGG_RESIZE_SIDE, VGG_RESIZE_SIDE, image_size))
    return vgg_eval(image, image_size, image_size)
  raise ValueError('preprocessing must be one of %s, got %r.'
                   % (', '.join(METHODS), method))
