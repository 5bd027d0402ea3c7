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
    tfrecords.convert_imagenet_val('ILSVRC2012_img_val/', 'records/',
                                   devkit='ILSVRC2012_devkit_t12.tar.gz')
"""

import concurrent.futures
import dataclasses
import glob
import hashlib
import json
import os
import re
import struct
import time
from typing import Callable, List, Optional, Sequence, Tuple

import tensorflow.compat.v1 as tf

from resnet_v2_slim import errors
from resnet_v2_slim.config import convert as convert_config
from resnet_v2_slim.data import imagenet
from resnet_v2_slim.data import images
from resnet_v2_slim.utils import fileio

FEATURES = {
    'image/encoded': tf.io.FixedLenFeature([], tf.string),
    'image/format': tf.io.FixedLenFeature([], tf.string, default_value='jpeg'),
    'image/class/label': tf.io.FixedLenFeature([], tf.int64),
    'image/height': tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    'image/width': tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    'image/class/text': tf.io.FixedLenFeature([], tf.string,
                                              default_value=''),
    'image/class/synset': tf.io.FixedLenFeature([], tf.string,
                                                default_value=''),
}


class RecordError(images.DataError):
  """Shards that cannot be read, or a folder that cannot be converted."""


# What convert writes beside the shards: never a shard, even under 'dir/*'.
NOT_SHARDS = ('labels.txt', 'convert.json')


def find_shards(pattern: str, flag: str = 'tfrecord') -> List[str]:
  """Sorted files matching ``pattern``; a RecordError (naming ``flag``) if
  there are none.

  ``labels.txt`` and ``convert.json`` (written beside the shards) are left
  out, so ``records/*`` means the shards.
  """
  shards = sorted(glob.glob(os.path.expanduser(pattern)))
  shards = [s for s in shards if os.path.isfile(s) and
            os.path.basename(s) not in NOT_SHARDS]
  if not shards:
    raise RecordError('`%s` %s matches no file; give a glob pattern of '
                      'TF-Slim shards, e.g. /data/imagenet/validation-*.'
                      % (flag, pattern))
  return shards


REQUIRED = ('image/encoded', 'image/class/label')


def check_shards(shards: Sequence[str]) -> List[int]:
  """Checks every shard before any work, so that no run hangs or dies later.

  Each shard must be non-empty, framed as TFRecords, and its first record
  a ``tf.train.Example`` with the features TF-Slim's shards have.

  Returns:
    The label of each shard's first record (for a range check).

  Raises:
    RecordError: naming the shard and what is wrong with it.
  """
  first_labels = []
  for shard in shards:
    if os.path.getsize(shard) == 0:
      raise RecordError('shard %s is empty (0 bytes): reconvert it, or '
                        'leave it out of `tfrecord`.' % shard)
    try:
      first = next(iter(tf.io.tf_record_iterator(shard)))
    except StopIteration:
      raise RecordError('shard %s holds no records: reconvert it, or leave '
                        'it out of `tfrecord`.' % shard) from None
    except tf.errors.OpError as exc:
      raise RecordError('shard %s is not a TFRecord file (%s); give '
                        '`tfrecord` a pattern of TF-Slim shards only.'
                        % (shard, errors.quoted(exc, 120))
                        ) from None
    try:
      example = tf.train.Example.FromString(first)
    except Exception:  # pylint: disable=broad-except
      # protobuf's DecodeError, without importing protobuf for it.
      raise RecordError('record 0 of shard %s is not a tf.train.Example.'
                        % shard) from None
    missing = [k for k in REQUIRED if k not in example.features.feature]
    if missing:
      raise RecordError(
          'record 0 of shard %s has no %s (it has %s): not a TF-Slim image '
          'shard, whose records hold %s.'
          % (shard, ', '.join(missing), ', '.join(sorted(
              example.features.feature)) or 'no features', ', '.join(
                  REQUIRED)))
    first_labels.append(
        example.features.feature['image/class/label'].int64_list.value[0])
  return first_labels


def _feature(value):
  if isinstance(value, int):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
  if isinstance(value, str):
    value = value.encode('utf-8')
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def encode_example(encoded: bytes, image_format: str, label: int,
                   height: int, width: int, text: Optional[str] = None,
                   synset: Optional[str] = None) -> bytes:
  """One serialized ``tf.train.Example`` in TF-Slim's ImageNet layout
  (``synset``: the class's WordNet ID, as research/slim's ImageNet
  shards carry it)."""
  features = {'image/encoded': _feature(encoded),
              'image/format': _feature(image_format),
              'image/class/label': _feature(int(label)),
              'image/height': _feature(int(height)),
              'image/width': _feature(int(width))}
  if text is not None:
    features['image/class/text'] = _feature(text)
  if synset is not None:
    features['image/class/synset'] = _feature(synset)
  return tf.train.Example(features=tf.train.Features(
      feature=features)).SerializeToString()


def parse(serialized: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
  """Parses one example: ``(encoded bytes, 1-based label)`` tensors."""
  parsed = tf.io.parse_single_example(serialized, FEATURES)
  return parsed['image/encoded'], parsed['image/class/label']


def examples(shards: Sequence[str]) -> tf.data.Dataset:
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


def _image_record(path, label, text, synset=None):
  """One image file -> ``(serialized example, None)`` or ``(None, path)``.

  The file is decoded once (``images.read_image``): that both checks it and
  gives its size. Bytes are kept as they are, except CMYK JPEGs (RGB PNG).
  """
  try:
    image = images.read_image(path)
  except images.DataError:
    return None, path
  return encode_example(image.data, image.format, label, image.height,
                        image.width, text, synset), None


MANIFEST = 'convert.json'   # beside the shards: what made them


def _fingerprint(data_dir, folder, num_shards, name):
  """What a conversion depends on: the inputs (path, size, mtime), the
  flags, and for labels not given by the folders (ImageNet's validation
  set) the labels."""
  digest = hashlib.sha256()
  for path in folder.paths:
    stat = os.stat(path)
    digest.update(('%s\0%d\0%d\n' % (os.path.relpath(path, data_dir),
                                       stat.st_size, stat.st_mtime_ns))
                  .encode('utf-8', 'surrogateescape'))
  job = {'data_dir': os.path.realpath(data_dir), 'name': name,
         'num_shards': num_shards, 'classes': folder.class_names,
         'images': len(folder.paths), 'inputs_sha256': digest.hexdigest()}
  if folder.synsets:
    job['labels_sha256'] = hashlib.sha256(
        ','.join(map(str, folder.labels)).encode()).hexdigest()
  return job


def _check_rerun(output_dir, job, name):
  """Refuses an output folder that holds another conversion's shards.

  A rerun resumes only the same job (same files, sizes and times, same
  flags); shards of any other job under ``output_dir`` would end up under
  one glob with these, or with a ``labels.txt`` that does not fit them.
  """
  manifest = os.path.join(output_dir, MANIFEST)
  old = None
  if os.path.isfile(manifest):
    try:
      with open(manifest, encoding='utf-8') as f:
        old = json.load(f)
    except (OSError, ValueError):
      old = {}
  shards = sorted(f for f in os.listdir(output_dir)
                  if re.fullmatch(r'.+-\d{5}-of-\d{5}', f)) if (
                      os.path.isdir(output_dir)) else []
  if old is None and not shards:
    return
  if old != job:
    changed = sorted(k for k in job if (old or {}).get(k) != job[k])
    raise RecordError(
        '`output_dir` %s already holds shards of another conversion '
        '(%s differ%s); nothing was written. Give a new `output_dir`, or '
        'delete that folder to convert again.'
        % (output_dir, ', '.join(changed) if old else 'no %s record'
           % MANIFEST, '' if old is None or len(changed) != 1 else 's'))


def check_shard_name(name: str) -> str:
  """A shard prefix is a plain file name: no folders, not empty."""
  if not isinstance(name, str) or not re.fullmatch(r'[A-Za-z0-9][\w.-]*',
                                                   name):
    raise RecordError('`name` %r cannot prefix shard files: use letters, '
                      'digits, ".", "_" or "-" (e.g. train or validation), '
                      'no folders.' % (name,))
  return name


# Declared without TensorFlow in config.convert (the command line parses
# its flags before TensorFlow loads): the same class here.
ConvertSettings = convert_config.ConvertSettings


def convert_folder(data_dir: str, output_dir: str, *,
                   num_shards: int = ConvertSettings.num_shards,
                   name: str = 'train',
                   workers: int = ConvertSettings.workers,
                   log: Callable[[str], None] = print
                   ) -> Tuple[List[str], int, Sequence[str]]:
  """A folder of class sub-folders -> TF-Slim shards and ``labels.txt``.

  Labels are 1-based in sorted class order (0 is left for background, as
  in TF-Slim's ImageNet); ``labels.txt`` lists ``label:class`` lines and
  ``convert.json`` records what made the shards (the folder, the flags,
  the classes, the image count and one sha256 over the inputs' names,
  sizes and times). Every image is decoded once, in
  ``workers`` threads; if any file is not a usable image, all of them are
  named and nothing is kept. Each shard is written to a temporary file and
  renamed; a rerun of the same job skips shards that exist already, and
  any other job into the same folder is refused.

  Args:
    data_dir: the folder of class sub-folders.
    output_dir: where shards go (created; must not overlap ``data_dir``).
    num_shards: how many shards.
    name: shard name prefix, e.g. 'train' or 'validation'.
    workers: threads reading and decoding images (each image once: the
      decode checks it and gives its size for the record).
    log: where progress lines go.

  Returns:
    ``(shard paths, number of images, class names)``.

  Raises:
    RecordError, images.DataError, fileio.OutputPathError: before anything
      is written, except a bad image found while converting (then nothing
      of this run is kept).
  """
  _check_convert_args(data_dir, output_dir, num_shards, name, workers)
  folder = images.scan_folder(data_dir)
  return _convert(folder, data_dir, output_dir, num_shards, name, workers,
                  log)


def convert_imagenet_val(val_dir: str, output_dir: str, *,
                         devkit: Optional[str] = None,
                         solution_csv: Optional[str] = None,
                         synset_labels: Optional[str] = None,
                         num_shards: int = ConvertSettings.num_shards,
                         name: str = 'validation',
                         workers: int = ConvertSettings.workers,
                         log: Callable[[str], None] = print
                         ) -> Tuple[List[str], int, Sequence[str]]:
  """ImageNet's flat validation folder -> TF-Slim shards in slim's labels.

  As ``convert_folder``, the labels read from one source
  (``data.imagenet``: the devkit, Kaggle's solution CSV or a synset file)
  and put in slim's order (1 + the sorted-WNID index); each record also
  carries ``image/class/synset`` and the class name as
  ``image/class/text``. Every image of the folder must have a label and
  every label a file.

  Raises:
    imagenet.ImageNetError, RecordError, fileio.OutputPathError: before
      anything is written.
  """
  _check_convert_args(val_dir, output_dir, num_shards, name, workers,
                      inputs=[('`devkit`', devkit),
                              ('`solution_csv`', solution_csv),
                              ('`synset_labels`', synset_labels)])
  folder = imagenet.validation_folder(
      val_dir, devkit=devkit, solution_csv=solution_csv,
      synset_labels=synset_labels)
  return _convert(folder, val_dir, output_dir, num_shards, name, workers,
                  log)


def _convert(folder: images.Folder, data_dir: str, output_dir: str,
             num_shards: int, name: str, workers: int,
             log: Callable[[str], None]
             ) -> Tuple[List[str], int, Sequence[str]]:
  """Writes a labelled ``folder``'s shards (see ``convert_folder``)."""
  job = _fingerprint(data_dir, folder, num_shards, name)
  _check_rerun(output_dir, job, name)
  os.makedirs(output_dir, exist_ok=True)
  shards = ['%s/%s-%05d-of-%05d' % (output_dir, name, i, num_shards)
            for i in range(num_shards)]
  written = []   # _PendingShard: removed below unless moved into place
  try:
    bad = _write_shards(folder, shards, workers, written, log)
    if bad:
      raise images.bad_images_error(bad, data_dir)
    fileio.atomic_write_text(os.path.join(output_dir, MANIFEST),
                             json.dumps(job, indent=2, sort_keys=True) + '\n')
    for pending in written:
      fileio.check_written(pending.tmp, 'shard', min_bytes=pending.size)
      os.replace(pending.tmp, pending.shard)
  except tf.errors.OpError as exc:   # e.g. the disk filled up
    raise RecordError('writing shards into `output_dir` %s failed: %s'
                      % (output_dir, errors.quoted(exc))) from None
  except OSError as exc:
    raise RecordError('writing shards into `output_dir` %s failed: %s'
                      % (output_dir, exc.strerror or exc)) from None
  finally:
    for pending in written:
      if os.path.exists(pending.tmp):
        os.unlink(pending.tmp)
  fileio.atomic_write_text(
      os.path.join(output_dir, 'labels.txt'),
      ''.join('%d:%s\n' % (i + 1, c) for i, c in enumerate(
          folder.class_names)))
  return shards, len(folder.paths), folder.class_names


def _check_convert_args(data_dir: str, output_dir: str, num_shards: int,
                        name: str, workers: int, *,
                        inputs: Sequence[Tuple[str, Optional[str]]] = ()
                        ) -> None:
  """Refuses ``convert_folder``'s arguments before anything is read.

  Args:
    data_dir: the folder of class sub-folders.
    output_dir: where the shards go.
    num_shards: how many shards.
    name: the shard name prefix.
    workers: how many reading threads.
    inputs: other files read, ``(argument, path)``: not to be overwritten.

  Raises:
    RecordError: a bad count, name or ``output_dir`` that is a file.
    fileio.OutputPathError: ``output_dir`` overlaps ``data_dir`` or cannot
      be written.
  """
  check_shard_name(name)
  if isinstance(workers, bool) or not isinstance(workers, int) or (
      workers < 1):
    raise RecordError('`workers` must be a positive integer, got %r.'
                      % (workers,))
  if isinstance(num_shards, bool) or not isinstance(num_shards, int) or (
      num_shards < 1):
    raise RecordError('`num_shards` must be a positive integer, got %r.'
                      % (num_shards,))
  fileio.check_outputs([('`output_dir`', output_dir)],
                       [('`data_dir`', data_dir)] + [
                           (what, path) for what, path in inputs if path])
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise RecordError('`output_dir` %s is a file; give a folder for the '
                      'shards.' % output_dir)
  fileio.check_writable_dir(output_dir, '`output_dir`')


@dataclasses.dataclass
class _PendingShard:
  """A shard written to a temporary file, not yet renamed into place."""
  tmp: str
  shard: str
  size: int = 0   # the least size the file must have: the records' bytes


def _whole_shard(path: str, records: int) -> bool:
  """True if ``path`` holds exactly ``records`` TFRecord frames, end to end.

  Hand-written because it reads only each frame's 12-byte header (the
  length and its CRC) and seeks past the data: a rerun checks thousands of
  ImageNet-sized shards in seconds, where reading them would take minutes.
  """
  size = os.path.getsize(path)
  offset = count = 0
  with open(path, 'rb') as f:
    while offset < size:
      f.seek(offset)
      header = f.read(12)
      if len(header) < 12:
        return False
      offset += 12 + struct.unpack('<Q', header[:8])[0] + 4
      count += 1
  return offset == size and count == records


def _write_shards(folder, shards: List[str], workers: int,
                  written: List[_PendingShard],
                  log: Callable[[str], None]) -> List[str]:
  """Writes each missing shard to a temporary file beside it.

  Every image is decoded once, in ``workers`` threads; after the first bad
  image nothing more is written (all of them are still named).

  Args:
    folder: the ``images.scan_folder`` result.
    shards: the final shard paths; those that exist already (an earlier run
      of this job) are skipped if whole, else written again.
    workers: threads reading and decoding images.
    written: filled with a ``_PendingShard`` per temporary file as it is
      created, so the caller removes them whatever happens.
    log: where progress lines go.

  Returns:
    The paths of the files that are not usable images (empty if none).
  """
  items = list(zip(folder.paths, folder.labels))
  start, done, bad = time.time(), 0, []
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    for index, shard in enumerate(shards):
      part = items[index::len(shards)]
      if os.path.exists(shard):
        if _whole_shard(shard, len(part)):
          done += len(part)
          continue   # finished in an earlier run of this job
        log('%s is damaged or cut short: writing it again'
            % os.path.basename(shard))
      written.append(_PendingShard(shard + '.tmp-%d' % os.getpid(), shard))
      with tf.io.TFRecordWriter(written[-1].tmp) as writer:
        for record, bad_path in pool.map(lambda item: _image_record(
            item[0], int(item[1]) + 1, folder.class_names[item[1]],
            folder.synsets[item[1]] if folder.synsets else None), part):
          if bad_path is not None:
            bad.append(bad_path)
          elif not bad:
            writer.write(record)
            written[-1].size += len(record) + 16   # TFRecord framing
      done += len(part)
      rate = done / max(time.time() - start, 1e-9)
      log('%s: %d/%d images, %.0f images/sec' % (os.path.basename(shard),
                                                 done, len(items), rate))
  return bad
