"""Training data for the teaching scripts, via tf.data.

Two sources:
- the default: scikit-learn's handwritten digits (1,797 8x8 grey images,
  10 classes), which ship inside the scikit-learn wheel, so training runs
  offline; they are upsampled (nearest neighbour) to ``image_size`` and
  given three channels;
- a folder of class sub-folders of images (``data_dir/cat/1.jpg`` ...),
  checked up front: it must hold at least two classes and only images.

Pixels are scaled to [-1, 1], as Inception preprocessing does.

Typical use::

    from resnet_v2_slim.data import datasets

    ds = data.load(None, image_size=32)         # the digits
    images, labels = ds.train_batches(batch_size=32, seed=0)
    ds.num_classes, ds.class_names[:3]          # 10, ['0', '1', '2']
"""

import dataclasses
import os

import numpy as np

import tensorflow.compat.v1 as tf

from resnet_v2_slim.nets import resnet_utils

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif')


class DataError(ValueError):
  """A data folder that cannot be trained on."""


@dataclasses.dataclass
class Dataset:
  """A training set: either in-memory arrays or files with labels."""
  name: str
  class_names: list
  labels: np.ndarray
  image_size: int
  images: np.ndarray = None   # float32 [N, H, W, 3] in [-1, 1], or None
  paths: list = None          # image files, when read from a folder

  @property
  def num_classes(self):
    return len(self.class_names)

  def __len__(self):
    return len(self.labels)

  def _decode(self, path, label):
    image = tf.io.decode_image(tf.io.read_file(path), channels=3,
                               expand_animations=False)
    image = tf.image.convert_image_dtype(image, tf.float32)
    image = tf.image.resize(image, [self.image_size, self.image_size])
    return (image - 0.5) * 2.0, label

  def train_batches(self, batch_size, seed=0):
    """Shuffled, repeated batches: ``(images, labels)`` graph tensors."""
    if self.images is not None:
      ds = tf.data.Dataset.from_tensor_slices((self.images, self.labels))
    else:
      ds = tf.data.Dataset.from_tensor_slices((self.paths, self.labels))
      ds = ds.map(self._decode, num_parallel_calls=2)
    ds = ds.shuffle(len(self), seed=seed, reshuffle_each_iteration=True)
    ds = ds.repeat().batch(batch_size, drop_remainder=True).prefetch(2)
    images, labels = tf.data.make_one_shot_iterator(ds).get_next()
    images.set_shape([batch_size, self.image_size, self.image_size, 3])
    return images, tf.cast(labels, tf.int64)


def digits(image_size=32):
  """scikit-learn's 8x8 digits, upsampled to ``image_size`` RGB."""
  from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  image_size = resnet_utils.check_positive_int(image_size, 'image_size')
  bunch = load_digits()
  pixels = bunch.images.astype(np.float32) / 16.0         # [N, 8, 8] in [0,1]
  rows = (np.arange(image_size) * 8) // image_size        # nearest neighbour
  pixels = pixels[:, rows][:, :, rows]
  images = np.repeat(pixels[..., np.newaxis], 3, axis=-1) * 2.0 - 1.0
  return Dataset('digits', [str(i) for i in range(10)],
                 bunch.target.astype(np.int64), image_size, images=images)


def image_folder(data_dir, image_size=32):
  """Images in class sub-folders of ``data_dir``; checked before training.

  Raises:
    DataError: missing or empty folder, fewer than two classes, a class
      without images, non-image files, or images that cannot be decoded.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(data_dir):
    raise DataError('--data_dir %s is not a folder.' % data_dir)
  classes = sorted(d for d in os.listdir(data_dir)
                   if os.path.isdir(os.path.join(data_dir, d))
                   and not d.startswith('.'))
  if not classes:
    raise DataError('--data_dir %s holds no class sub-folders; expected '
                    'data_dir/<class>/<image> files.' % data_dir)
  if len(classes) < 2:
    raise DataError('--data_dir %s holds one class (%s); a classifier needs '
                    'at least two class sub-folders.' % (data_dir, classes[0]))
  paths, labels, bad = [], [], []
  for label, name in enumerate(classes):
    folder = os.path.join(data_dir, name)
    files = sorted(f for f in os.listdir(folder) if not f.startswith('.'))
    if not files:
      raise DataError('class folder %s is empty.' % folder)
    for f in files:
      path = os.path.join(folder, f)
      if not f.lower().endswith(IMAGE_EXTENSIONS):
        bad.append(path)
        continue
      try:
        with Image.open(path) as im:
          im.verify()
      except Exception:  # pylint: disable=broad-except
        bad.append(path)
        continue
      paths.append(path)
      labels.append(label)
  if bad:
    raise DataError(
        '%d file(s) in %s are not readable images (%s): %s%s. Remove them.'
        % (len(bad), data_dir, '/'.join(IMAGE_EXTENSIONS), ', '.join(bad[:5]),
           ' ...' if len(bad) > 5 else ''))
  return Dataset(os.path.basename(os.path.normpath(data_dir)), classes,
                 np.array(labels, np.int64), image_size, paths=paths)


def load(data_dir=None, image_size=32):
  """The digits if ``data_dir`` is None, else that image folder."""
  return digits(image_size) if data_dir is None else image_folder(
      data_dir, image_size)
