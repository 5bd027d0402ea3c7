"""Image files: the formats TensorFlow decodes, class folders, one read each.

The bottom of the ``data`` room: ``datasets`` (training from folders) and
``tfrecords`` (``convert``) both list class folders and check images here,
so the formats are declared once and ``convert`` decodes each image once.
``DataError`` is the room's error base.

Typical use::

    from resnet_v2_slim.data import images

    folder = images.scan_folder('my_images/')       # names, paths, labels
    image = images.read_image('my_images/cat/1.jpg')
    image.data, image.format, image.height, image.width
"""

import collections
import io
import os
from typing import List

from resnet_v2_slim import errors

# What tf.io.decode_image reads: PIL's format name -> (the name TF-Slim's
# records store in image/format, file extensions).
FORMATS = {
    'JPEG': ('jpeg', ('.jpg', '.jpeg')),
    'PNG': ('png', ('.png',)),
    'BMP': ('bmp', ('.bmp',)),
    'GIF': ('gif', ('.gif',)),
}
EXTENSIONS = tuple(ext for _, exts in FORMATS.values() for ext in exts)
FORMAT_NAMES = ', '.join(FORMATS)      # for messages: 'JPEG, PNG, BMP, GIF'

Folder = collections.namedtuple(
    'Folder', ['class_names', 'paths', 'labels', 'synsets'], defaults=[None])
Folder.__doc__ = """Class sub-folders: sorted names; files with 0-based
labels; each class's WordNet ID where known (ImageNet), else None."""

Image = collections.namedtuple('Image', ['data', 'format', 'height', 'width'])
Image.__doc__ = """An image file's bytes as stored, its format and size."""


class DataError(errors.Error):
  """Data (a folder, images, shards, labels) that cannot be used."""


def scan_folder(data_dir: str, *, min_classes: int = 2) -> Folder:
  """Lists the class sub-folders of ``data_dir`` and their files.

  Args:
    data_dir: a folder of class sub-folders (``data_dir/cat/1.jpg``).
    min_classes: 2 where the labels are used (training, evaluation: a
      label numbers a class sub-folder in sorted order, so one class would
      label everything 0); 1 where only the images are (export's check and
      calibration images).

  Returns:
    A ``Folder``; paths are every non-hidden file, in sorted order.

  Raises:
    DataError: not a folder, no class sub-folders, fewer than
      ``min_classes``, an empty class folder.
  """
  if not os.path.isdir(data_dir):
    raise DataError('`data_dir` %s is not a folder.' % data_dir)
  classes = sorted(d for d in os.listdir(data_dir)
                   if os.path.isdir(os.path.join(data_dir, d))
                   and not d.startswith('.'))
  if not classes:
    raise DataError('`data_dir` %s holds no class sub-folders; expected '
                    'data_dir/<class>/<image> files.' % data_dir)
  if len(classes) < min_classes:
    raise DataError('`data_dir` %s holds one class (%s); labels number the '
                    'class sub-folders in sorted order, so labelled images '
                    'need at least two: add the other classes\' folders.'
                    % (data_dir, classes[0]))
  paths, labels = [], []
  for label, name in enumerate(classes):
    folder = os.path.join(data_dir, name)
    files = sorted(f for f in os.listdir(folder) if not f.startswith('.'))
    if not files:
      raise DataError('class folder %s is empty.' % folder)
    paths += [os.path.join(folder, f) for f in files]
    labels += [label] * len(files)
  return Folder(classes, paths, labels)


def read_image(path: str) -> Image:
  """Reads and fully decodes one image file, as TensorFlow will have to.

  ``load()``, not ``verify()``: a truncated JPEG passes ``verify()`` and
  then kills training mid-run; and PIL opens more formats than TensorFlow
  decodes (a TIFF named .jpg opens here but not there). A CMYK JPEG is
  re-encoded as RGB PNG, since ``tf.io.decode_image`` rejects it.

  Args:
    path: an image file.

  Returns:
    An ``Image``.

  Raises:
    DataError: naming the file and why it cannot be used.
  """
  from PIL import Image as pil  # pylint: disable=g-import-not-at-top
  if not path.lower().endswith(EXTENSIONS):
    raise DataError('%s is not named as an image TensorFlow decodes (%s).'
                    % (path, ', '.join(EXTENSIONS)))
  try:
    with open(path, 'rb') as f:
      data = f.read()
    with pil.open(io.BytesIO(data)) as image:
      image.load()
      if image.format not in FORMATS:
        raise DataError('a %s image; TensorFlow decodes %s'
                        % (image.format, FORMAT_NAMES))
      fmt = FORMATS[image.format][0]
      width, height = image.size
      if image.mode == 'CMYK':
        out = io.BytesIO()
        image.convert('RGB').save(out, format='PNG')
        data, fmt = out.getvalue(), 'png'
  except Exception as exc:  # pylint: disable=broad-except
    # PIL raises many kinds (OSError, SyntaxError, ...) for broken files.
    raise DataError('%s is not a readable image (%s).' % (path, exc)) from None
  return Image(data, fmt, height, width)


class BadImagesError(DataError):
  """Files of a folder that are not usable images (``files`` lists them)."""

  def __init__(self, message: str, files: List[str]) -> None:
    super().__init__(message)
    self.files = files


def bad_images_error(bad: List[str], data_dir: str,
                     remedy: str = 'Remove or convert them.'
                     ) -> BadImagesError:
  """The one message for files of ``data_dir`` that are not usable images."""
  return BadImagesError(
      '%d file(s) in %s are not images TensorFlow can decode (%s), or are '
      'truncated: %s%s. %s'
      % (len(bad), data_dir, FORMAT_NAMES, ', '.join(bad[:5]),
         ' ...' if len(bad) > 5 else '', remedy), bad)


# Real photographs that ship inside scikit-image (no download): what
# exports are checked on when the user gives no images.
PHOTOS = ('chelsea', 'coffee', 'astronaut')


def bundled_photos() -> List[Image]:
  """scikit-image's bundled photos, each as JPEG bytes (quality 95).

  Returns:
    One ``Image`` per name in ``PHOTOS`` (a cat 300x451, a coffee cup
    400x600, an astronaut 512x512: three sizes, as a server sees them).

  Raises:
    DataError: scikit-image is not installed (the pip command to run).
  """
  try:
    from skimage import data as photos  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise DataError('the check photos come from scikit-image, which is not '
                    'installed: pip install "resnet_v2_slim[export]"; or '
                    'give your own images.') from None
  from PIL import Image as PILImage  # pylint: disable=g-import-not-at-top
  result = []
  for name in PHOTOS:
    pixels = getattr(photos, name)()
    out = io.BytesIO()
    PILImage.fromarray(pixels).save(out, format='JPEG', quality=95)
    result.append(Image(out.getvalue(), 'jpeg', pixels.shape[0],
                        pixels.shape[1]))
  return result
