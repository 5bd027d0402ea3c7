"""What a training run records beside its checkpoints: how to read them.

A checkpoint holds weights, not how its inputs looked. ``train`` writes
``train_facts.json`` into ``train_dir`` (``write``): the network, image
size, preprocessing, classes and their names, the labels offset and the
data it learned from. ``CheckpointInfo.defaults`` reads it (``read``) for
every checkpoint in that folder, so classify, evaluate and export take
the size, preprocessing and class names the model was trained with where
the user leaves them on 'auto'.

A file of its own, not more keys in ``train_settings.json``: that record
is the schedule a run *started* with (kept as it was on resume, compared
key by key, a damaged one tolerated there), owned by ``training``; these
facts describe the checkpoints now in the folder, are rewritten by each
run, and are read by every command through this room, which may not
import ``training``. One schema, read and written here.

Typical use::

    from resnet_v2_slim.checkpoints import facts

    facts.write('runs/ft', facts.TrainFacts(
        network='resnet_v2_18', use_shortcut=True, image_size=64,
        preprocessing='inception', num_classes=2,
        class_names=('cat', 'other'), labels_offset=1,
        data=facts.DataSource('folder', '/data/pets')))
    facts.read('runs/ft').image_size          # 64
"""

import dataclasses
import json
import os
from typing import Any, Dict, NamedTuple, Optional, Tuple

from resnet_v2_slim import errors
from resnet_v2_slim import names
from resnet_v2_slim.utils import fileio

FILE = 'train_facts.json'   # in train_dir, beside the checkpoints
VERSION = 1                 # of the schema; a newer file is refused
DATA_KINDS = ('folder', 'tfrecord', 'builtin')


class TrainFactsError(errors.Error):
  """A ``train_facts.json`` that cannot be read, with what to do."""


class DataSource(NamedTuple):
  """Where a run's training images came from."""
  kind: str     # 'folder', 'tfrecord' or 'builtin'
  source: str   # the folder, the shards' pattern, or e.g. 'digits/train'


@dataclasses.dataclass(frozen=True)
class TrainFacts:
  """How the checkpoints of one ``train_dir`` were trained.

  ``class_names`` is None when the data had none (shards without a
  ``labels.txt``); ``path`` is the file read (None before writing).
  """
  network: str
  use_shortcut: bool
  image_size: int
  preprocessing: str          # what image files went through
  num_classes: int
  class_names: Optional[Tuple[str, ...]]
  labels_offset: int          # subtracted from 1-based labels (shards)
  data: DataSource
  path: Optional[str] = None

  def as_dict(self) -> Dict[str, Any]:
    """The JSON object the file holds (without ``path``)."""
    return {
        'version': VERSION, 'network': self.network,
        'use_shortcut': self.use_shortcut, 'image_size': self.image_size,
        'preprocessing': self.preprocessing,
        'num_classes': self.num_classes,
        'class_names': (list(self.class_names)
                        if self.class_names is not None else None),
        'labels_offset': self.labels_offset,
        'data': {'kind': self.data.kind, 'source': self.data.source}}

  def summary(self) -> str:
    """One line: ``resnet_v2_18 at 64x64, inception preprocessing, 2
    classes (cat, other), on the folder /data/pets``."""
    shown = ''
    if self.class_names is not None:
      shown = ' (%s%s)' % (', '.join(self.class_names[:5]),
                           ', ...' if self.num_classes > 5 else '')
    return ('%s%s at %dx%d, %s preprocessing, %d classes%s, labels offset '
            '%d, on the %s %s' % (
                self.network, '' if self.use_shortcut else ' (no shortcut)',
                self.image_size, self.image_size, self.preprocessing,
                self.num_classes, shown, self.labels_offset,
                self.data.kind, self.data.source))


def path_in(folder: str) -> str:
  """The facts file of ``folder`` (a train_dir)."""
  return os.path.join(folder, FILE)


def write(folder: str, facts: TrainFacts) -> str:
  """Writes ``facts`` into ``folder`` atomically; returns the file's path.

  Through a temporary file and a rename: a failed write (a full disk)
  leaves the earlier file as it was.

  Raises:
    TrainFactsError: facts that would not read back (a bug, not input).
    OSError: the file could not be written.
  """
  _check(facts.as_dict(), path_in(folder))   # what is written reads back
  path = path_in(folder)
  fileio.atomic_write_text(path, json.dumps(facts.as_dict(), indent=2,
                                            sort_keys=True) + '\n')
  return path


def read(folder: str) -> Optional[TrainFacts]:
  """The facts recorded in ``folder``, or None where there are none.

  Raises:
    TrainFactsError: a file that is there but cannot be used (unreadable,
      not JSON, a field missing or of the wrong kind, a newer schema),
      naming the file and what to do.
  """
  path = path_in(folder)
  if not os.path.isfile(path):
    return None
  try:
    with open(path, encoding='utf-8') as f:
      data = json.load(f)
  except (OSError, ValueError) as exc:   # UnicodeDecodeError is one too
    raise _damaged(path, errors.quoted(exc, 120)) from None
  return dataclasses.replace(_check(data, path), path=path)


def _damaged(path, why):
  return TrainFactsError(
      '%s is damaged (%s). It says how the checkpoints beside it were '
      'trained (image size, preprocessing, class names): restore it, rerun '
      'train in that folder to write it again, or delete it and give '
      '`image_size`, `preprocessing` and `labels` yourself.' % (path, why))


def _check(data: Any, path: str) -> TrainFacts:
  """The ``TrainFacts`` of a parsed file, every field checked."""
  if not isinstance(data, dict):
    raise _damaged(path, 'not a JSON object')
  if isinstance(data.get('version'), int) and data['version'] > VERSION:
    raise TrainFactsError(
        '%s was written by a newer resnet_v2_slim (schema %d; this one reads '
        '%d): upgrade the package, or delete the file and give `image_size`, '
        '`preprocessing` and `labels` yourself.'
        % (path, data['version'], VERSION))
  source = data.get('data')
  checks = (
      ('version', data.get('version') == VERSION),
      ('network', isinstance(data.get('network'), str) and
       bool(data['network'])),
      ('use_shortcut', isinstance(data.get('use_shortcut'), bool)),
      ('image_size', _positive_int(data.get('image_size'))),
      ('preprocessing', data.get('preprocessing') in names.PREPROCESSING),
      ('num_classes', _positive_int(data.get('num_classes'))),
      ('class_names', data.get('class_names') is None or (
          isinstance(data['class_names'], list) and
          len(data['class_names']) == data.get('num_classes') and
          all(isinstance(n, str) for n in data['class_names']))),
      ('labels_offset', data.get('labels_offset') in (0, 1) and
       not isinstance(data.get('labels_offset'), bool)),
      ('data', isinstance(source, dict) and
       source.get('kind') in DATA_KINDS and
       isinstance(source.get('source'), str)))
  bad = [name for name, ok in checks if not ok]
  if bad:
    raise _damaged(path, 'field %s missing or not valid'
                   % ', '.join(repr(name) for name in bad))
  return TrainFacts(
      network=data['network'], use_shortcut=data['use_shortcut'],
      image_size=data['image_size'], preprocessing=data['preprocessing'],
      num_classes=data['num_classes'],
      class_names=(tuple(data['class_names'])
                   if data['class_names'] is not None else None),
      labels_offset=data['labels_offset'],
      data=DataSource(source['kind'], source['source']))


def _positive_int(value):
  return isinstance(value, int) and not isinstance(value, bool) and value > 0
