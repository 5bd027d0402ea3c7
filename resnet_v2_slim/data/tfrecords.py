"""TF-Slim's ImageNet TFRecord format: write shards, find them, read them.

One ``tf.train.Example`` per image, as research/slim's converters wrote:
``image/encoded`` (the file's bytes), ``image/format`` ('jpeg', 'png', ...),
``image/class/label`` (1-based: 0 is the background class),
``image/height``, ``image/width`` and optionally ``image/class/text``.
Shards are found with a glob pattern (``train-*-of-01024``).

Typical use::

    from resnet_v2_slim.data import tfrecords

    shards = tfrecords.find_shards('/data/imagenet/validation-*')
    ds = tfrecords.examples(shards)   # (encoded, label, shard, record)
    tfrecords.convert_folder('my_images/', 'records/', num_shards=4)
"""

import concurrent.futures
import glob
import io
import os
import time

import tensorflow.compat.v1 as tf

from resnet_v2_slim.utils import fileio

FEATURES = {
    'image/encoded': tf.io.FixedLenFeature([], tf.string),
    'image/format': tf.io.FixedLenFeature([], tf.string, default_value='jpeg'),
    'image/class/label': tf.io.FixedLenFeature([], tf.int64),
    'image/height': tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    'image/width': tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    'image/class/text': tf.io.FixedLenFeature([], tf.string,
                                              default_value=''),
}
# PIL's names for what tf.io.decode_image reads; anything else is
# converted to RGB PNG when writing.
_FORMATS = {'JPEG': 'jpeg', 'PNG': 'png', 'GIF': 'gif', 'BMP': 'bmp'}


class RecordError(ValueError):
  """Shards that cannot be read, or a folder that cannot be converted."""


def find_shards(pattern):
  """Sorted files matching ``pattern``; a RecordError if there are none."""
  shards = sorted(glob.glob(os.path.expanduser(pattern)))
  shards = [s for s in shards if os.path.isfile(s)]
  if not shards:
    raise RecordError('--tfrecord %s matches no file; give a glob pattern of '
                      'TF-Slim shards, e.g. /data/imagenet/validation-*.'
                      % pattern)
  return shards


def _feature(value):
  if isinstance(value, int):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
  if isinstance(value, str):
    value = value.encode('utf-8')
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def encode_example(encoded, image_format, label, height, width, text=None):
  """One serialized ``tf.train.Example`` in TF-Slim's ImageNet layout."""
  features = {'image/encoded': _feature(encoded),
              'image/format': _feature(image_format),
              'image/class/label': _feature(int(label)),
              'image/height': _feature(int(height)),
              'image/width': _feature(int(width))}
  if text is not None:
    features['image/class/text'] = _feature(text)
  return tf.train.Example(features=tf.train.Features(
      feature=features)).SerializeToString()


def parse(serialized):
  """Parses one example: ``(encoded bytes, 1-based label)`` tensors."""
  parsed = tf.io.parse_single_example(serialized, FEATURES)
  return parsed['image/encoded'], parsed['image/class/label']


def examples(shards):
  """A dataset of ``(encoded, label, shard index, record index)``.

  Records are read in order, shard by shard, so an error can name the shard
  and the record number.
  """
  def one_shard(index, path):
    records = tf.data.TFRecordDataset(path).enumerate()
    return records.map(lambda i, r: parse(r) + (index, i))
  files = tf.data.Dataset.from_tensor_slices(
      (tf.range(len(shards), dtype=tf.int64), shards))
  return files.flat_map(one_shard)


def _image_record(path, label, text):
  """Reads one image file; returns the serialized example.

  JPEG, PNG, GIF and BMP bytes are kept as they are (decoding converts
  grayscale, RGBA and GIF to RGB); other formats and CMYK JPEGs are
  re-encoded as RGB PNG so that TensorFlow can decode every record.
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  with open(path, 'rb') as f:
    data = f.read()
  try:
    with Image.open(io.BytesIO(data)) as image:
      image.load()
      fmt = _FORMATS.get(image.format)
      width, height = image.size
      if fmt is None or image.mode == 'CMYK':
        out = io.BytesIO()
        image.convert('RGB').save(out, format='PNG')
        data, fmt = out.getvalue(), 'png'
  except Exception as exc:  # pylint: disable=broad-except
    raise RecordError('%s is not a readable image (%s).' % (path, exc)) from None
  return encode_example(data, fmt, label, height, width, text)


def convert_folder(data_dir, output_dir, *, num_shards=4, name='train',
                   workers=4, log=print):
  """A folder of class sub-folders -> TF-Slim shards and ``labels.txt``.

  Labels are 1-based in sorted class order (0 is left for background, as
  in TF-Slim's ImageNet); ``labels.txt`` lists ``label:class`` lines. Each
  shard is written to a temporary file and renamed; a rerun skips shards
  that exist already.

  Args:
    data_dir: the folder of class sub-folders.
    output_dir: where shards go (created; must not overlap ``data_dir``).
    num_shards: how many shards.
    name: shard name prefix, e.g. 'train' or 'validation'.
    workers: threads reading and checking images.
    log: where progress lines go.

  Returns:
    ``(shard paths, number of images, class names)``.

  Raises:
    RecordError, datasets.DataError, fileio.OutputPathError.
  """
  # Here, not at the top: datasets reads shards through this module.
  from resnet_v2_slim.data import datasets  # pylint: disable=g-import-not-at-top
  fileio.check_outputs([('--output_dir', output_dir)],
                       [('--data_dir', data_dir)])
  folder = datasets.image_folder(data_dir)
  if num_shards < 1:
    raise RecordError('--num_shards must be > 0, got %d.' % num_shards)
  os.makedirs(output_dir, exist_ok=True)
  items = list(zip(folder.paths, folder.labels))
  shards = ['%s/%s-%05d-of-%05d' % (output_dir, name, i, num_shards)
            for i in range(num_shards)]
  start, done = time.time(), 0
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    for index, shard in enumerate(shards):
      part = items[index::num_shards]
      if os.path.exists(shard):
        done += len(part)
        continue   # finished in an earlier run (written atomically)
      records = pool.map(lambda item: _image_record(
          item[0], int(item[1]) + 1, folder.class_names[item[1]]), part)
      tmp = shard + '.tmp-%d' % os.getpid()
      try:
        with tf.io.TFRecordWriter(tmp) as writer:
          for record in records:
            writer.write(record)
        os.replace(tmp, shard)
      finally:
        if os.path.exists(tmp):
          os.unlink(tmp)
      done += len(part)
      rate = done / max(time.time() - start, 1e-9)
      log('%s: %d/%d images, %.0f images/sec' % (os.path.basename(shard),
                                                 done, len(items), rate))
  fileio.atomic_write_text(
      os.path.join(output_dir, 'labels.txt'),
      ''.join('%d:%s\n' % (i + 1, c) for i, c in enumerate(
          folder.class_names)))
  return shards, len(items), folder.class_names
