"""ImageNet's validation set as it ships: a flat folder of 50,000
``ILSVRC2012_val_00000001.JPEG`` ... files, labelled from the devkit, the
Kaggle solution CSV or a synset file, into slim's label order.

slim's label of an image is 1 + the index of its WNID among the 1,000
WNIDs in sorted order (0 is background), which ``imagenet_wnids.txt``
(shipped here, the same list as tensorflow-datasets' ``labels.txt``) and
``imagenet_labels.txt`` (the class names) follow line by line. The trap:
the devkit's ILSVRC2012_IDs are another order; a label taken from an ID
directly scores at chance. Here every source is read to a WNID per image
first, and the label comes from the WNID.

Label sources, one per run:

- ``devkit``: the devkit folder or ``ILSVRC2012_devkit_t12.tar.gz``
  (``data/meta.mat``: ID -> WNID; ``data/ILSVRC2012_validation_ground_truth.txt``:
  one ID per image, in file order);
- ``solution_csv``: Kaggle's ``LOC_val_solution.csv`` (image id, then
  boxes whose first word is the WNID);
- ``synset_labels``: one WNID per image, in file order (research/slim's
  ``imagenet_2012_validation_synset_labels.txt``, or tensorflow-datasets'
  ``validation_labels.txt``).

Typical use::

    from resnet_v2_slim.data import imagenet

    folder = imagenet.validation_folder('ILSVRC2012_img_val/',
                                        devkit='ILSVRC2012_devkit_t12.tar.gz')
    folder.paths[0], folder.labels[0]    # a file, its 0-based slim label
"""

import csv
import importlib.resources
import io
import os
import re
import tarfile
from typing import Dict, List, NamedTuple, Optional

from resnet_v2_slim.data import images
from resnet_v2_slim.data import labels as labels_lib

FILE_NAME = re.compile(r'ILSVRC2012_val_(\d{8})\.(JPEG|jpeg|jpg|JPG)$')
META, GROUND_TRUTH = 'meta.mat', 'ILSVRC2012_validation_ground_truth.txt'
SOURCES = ('devkit', 'solution_csv', 'synset_labels')


class ImageNetError(images.DataError):
  """A validation folder or label source that cannot be used."""


def wnids() -> List[str]:
  """The 1,000 ILSVRC2012 WNIDs, sorted: slim's label order (label 1 first)."""
  text = importlib.resources.files(__package__).joinpath(
      'imagenet_wnids.txt').read_text(encoding='utf-8')
  return text.split()


class ValFile(NamedTuple):
  """One validation image: its path and its number (1 to 50,000)."""
  path: str
  number: int


def scan(folder: str) -> List[ValFile]:
  """The validation images of a flat folder, by number.

  Raises:
    ImageNetError: not a folder, class sub-folders (that is ``data_dir``'s
      layout), a file not named as ImageNet names them, two files of one
      number, or no images.
  """
  if not os.path.isdir(folder):
    raise ImageNetError('`imagenet_val` %s is not a folder.' % folder)
  names = sorted(n for n in os.listdir(folder) if not n.startswith('.'))
  subfolders = [n for n in names if os.path.isdir(os.path.join(folder, n))]
  if subfolders:
    raise ImageNetError(
        '`imagenet_val` %s holds sub-folders (%s): a folder of class '
        'sub-folders is `data_dir`\'s layout; give it as `data_dir`.'
        % (folder, subfolders[0]))
  found: Dict[int, ValFile] = {}
  for name in names:
    match = FILE_NAME.match(name)
    if not match:
      raise ImageNetError(
          '%s in `imagenet_val` is not named as ImageNet names its '
          'validation images (ILSVRC2012_val_00000001.JPEG); move it out.'
          % os.path.join(folder, name))
    number = int(match.group(1))
    if number in found:
      raise ImageNetError('%s and %s are both validation image %d; keep '
                          'one.' % (found[number].path, name, number))
    found[number] = ValFile(os.path.join(folder, name), number)
  if not found:
    raise ImageNetError('`imagenet_val` %s holds no images.' % folder)
  return [found[n] for n in sorted(found)]


def _devkit_files(devkit: str) -> Dict[str, bytes]:
  """``meta.mat`` and the ground-truth file of a devkit folder or tarball."""
  wanted, found = (META, GROUND_TRUTH), {}
  if os.path.isdir(devkit):
    for root, _, files in os.walk(devkit):
      for name in wanted:
        if name in files and name not in found:
          with open(os.path.join(root, name), 'rb') as f:
            found[name] = f.read()
  elif tarfile.is_tarfile(devkit):
    with tarfile.open(devkit) as tar:
      for member in tar.getmembers():
        name = os.path.basename(member.name)
        if name in wanted and member.isfile() and name not in found:
          found[name] = tar.extractfile(member).read()
  else:
    raise ImageNetError('`devkit` %s is neither a folder nor a tarball; '
                        'give ILSVRC2012_devkit_t12.tar.gz or its folder.'
                        % devkit)
  missing = [name for name in wanted if name not in found]
  if missing:
    raise ImageNetError('`devkit` %s has no data/%s; give the ILSVRC2012 '
                        'devkit (ILSVRC2012_devkit_t12).' % (devkit,
                                                             missing[0]))
  return found


def _read_meta(data: bytes, devkit: str) -> Dict[int, str]:
  """ILSVRC2012_ID -> WNID of the 1,000 leaf classes of ``meta.mat``."""
  try:
    from scipy import io as scipy_io  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ImageNetError('reading the devkit\'s meta.mat needs scipy, which '
                        'is not installed: pip install scipy; or give '
                        '`solution_csv` or `synset_labels`.') from None
  try:
    synsets = scipy_io.loadmat(io.BytesIO(data), squeeze_me=True)['synsets']
    return {int(s['ILSVRC2012_ID']): str(s['WNID']) for s in synsets
            if int(s['num_children']) == 0}
  except (KeyError, ValueError, TypeError) as exc:
    raise ImageNetError('`devkit` %s: data/meta.mat is not the devkit\'s '
                        '(no synsets with ILSVRC2012_ID, WNID, num_children: '
                        '%s).' % (devkit, exc)) from None


def devkit_wnids(devkit: str) -> List[str]:
  """Each validation image's WNID, in file order, from the devkit."""
  files = _devkit_files(devkit)
  by_id = _read_meta(files[META], devkit)
  result = []
  for line_number, line in enumerate(files[GROUND_TRUTH].decode().split(),
                                     1):
    if not line.isdigit() or int(line) not in by_id:
      raise ImageNetError('`devkit` %s: line %d of %s is %r, not one of '
                          'meta.mat\'s class IDs.' % (devkit, line_number,
                                                      GROUND_TRUTH, line))
    result.append(by_id[int(line)])
  return result


def csv_wnids(path: str) -> Dict[int, str]:
  """Image number -> WNID from Kaggle's ``LOC_val_solution.csv``."""
  result = {}
  with open(path, newline='', encoding='utf-8') as f:
    for row in csv.DictReader(f):
      match = re.fullmatch(r'ILSVRC2012_val_(\d{8})', row.get('ImageId')
                           or '')
      words = (row.get('PredictionString') or '').split()
      if not match or not words:
        raise ImageNetError(
            '`solution_csv` %s: line %d is not ImageId,PredictionString '
            '(ILSVRC2012_val_00000001,n01751748 ...); give Kaggle\'s '
            'LOC_val_solution.csv.' % (path, len(result) + 2))
      result[int(match.group(1))] = words[0]
  return result


def synset_wnids(path: str) -> List[str]:
  """Each image's WNID, in file order: one per line."""
  with open(path, encoding='utf-8') as f:
    return f.read().split()


class Labelled(NamedTuple):
  """A label source read: each image number's WNID, and what it was."""
  wnids: Dict[int, str]
  source: str


def read_source(*, devkit: Optional[str] = None,
                solution_csv: Optional[str] = None,
                synset_labels: Optional[str] = None) -> Labelled:
  """The one label source given, as image number -> WNID.

  Raises:
    ImageNetError: none or more than one source, or one that cannot be read.
  """
  given = {name: value for name, value in (
      ('devkit', devkit), ('solution_csv', solution_csv),
      ('synset_labels', synset_labels)) if value}
  if len(given) != 1:
    raise ImageNetError('give one label source for the validation images: '
                        '`devkit`, `solution_csv` or `synset_labels`%s.'
                        % (' (got %s)' % ', '.join('`%s`' % g for g in given)
                           if given else ''))
  (name, path), = given.items()
  if not os.path.exists(path):
    raise ImageNetError('`%s` %s does not exist.' % (name, path))
  if name == 'solution_csv':
    return Labelled(csv_wnids(path), '%s %s' % (name, path))
  ordered = devkit_wnids(path) if name == 'devkit' else synset_wnids(path)
  return Labelled(dict(enumerate(ordered, 1)), '%s %s' % (name, path))


def validation_folder(folder: str, **source: Optional[str]) -> images.Folder:
  """The flat validation folder, labelled in slim's order.

  Args:
    folder: the folder of ``ILSVRC2012_val_*.JPEG`` files.
    **source: one of ``devkit``, ``solution_csv``, ``synset_labels``.

  Returns:
    An ``images.Folder``: the 1,000 class names, the files by number, each
    file's 0-based label (slim's label - 1) and each class's WNID.

  Raises:
    ImageNetError: a file without a label, a label without a file (a
      per-image source covers exactly the folder's images), or a WNID that
      is not one of the 1,000.
  """
  files = scan(folder)
  labelled = read_source(**source)
  order = {wnid: i for i, wnid in enumerate(wnids())}
  numbers = {f.number for f in files}
  unlabelled = sorted(numbers - set(labelled.wnids))
  if unlabelled or set(labelled.wnids) - numbers:
    extra = sorted(set(labelled.wnids) - numbers)
    raise ImageNetError(
        '%s labels %d images, `imagenet_val` %s holds %d: %s; give the '
        'folder and the labels of the same images.' % (
            labelled.source, len(labelled.wnids), folder, len(files),
            'image %d has no label' % unlabelled[0] if unlabelled else
            'no file ILSVRC2012_val_%08d.JPEG for a label' % extra[0]))
  unknown = sorted({w for w in labelled.wnids.values() if w not in order})
  if unknown:
    raise ImageNetError('%s names %s, not one of ILSVRC2012\'s 1,000 '
                        'classes.' % (labelled.source, unknown[0]))
  return images.Folder(labels_lib.imagenet_labels(1000),
                       [f.path for f in files],
                       [order[labelled.wnids[f.number]] for f in files],
                       wnids())
