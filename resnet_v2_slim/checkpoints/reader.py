"""Reading legacy TF-Slim checkpoints: find them, read them once, describe them.

The published slim ResNet V2 checkpoints are single V1 files
(``resnet_v2_50.ckpt``) with 1001 classes; newer ones are V2 prefixes
(``model.ckpt-1000`` with ``.index`` and ``.data-*`` files). ``resolve``
accepts either, any of their files, or a directory; ``read`` opens the
checkpoint once and returns a ``CheckpointInfo`` (variables, which network,
the matching published checkpoint) that restoring and the commands share.

Typical use::

    from resnet_v2_slim import checkpoints

    info = checkpoints.read('resnet_v2_50.ckpt')
    info.model, info.num_classes, info.format      # 'resnet_v2_50', 1001, 'V1'
    info.pretrained.top1                           # 75.6 (published)
    info.defaults().source    # where 'auto' comes from: train_facts.json of
                              # a train_dir, a published row, or defaults
"""

import dataclasses
import functools
import os
import re
import tarfile
from typing import (TYPE_CHECKING, Any, Collection, Dict, List, NamedTuple,
                    Optional, Tuple, Union)

import tensorflow.compat.v1 as tf

from resnet_v2_slim import errors
from resnet_v2_slim.checkpoints import facts as facts_lib
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.nets import pretrained as pretrained_lib

if TYPE_CHECKING:   # restore imports this module: a cycle at run time
  from resnet_v2_slim.checkpoints import restore as restore_lib

_SHARD_SUFFIX = re.compile(r'\.data-\d{5}-of-\d{5}$')
_UNIT = re.compile(r'^(?P<scope>.+)/block(?P<block>\d+)/unit_(?P<unit>\d+)/'
                   r'(?P<kind>bottleneck|basic)_v2/')
# Training-only variables that are never model weights.
_NOT_MODEL = re.compile(r'(^|/)(global_step|beta1_power|beta2_power)$|'
                        r'/(Momentum|Adam|Adam_1|RMSProp|RMSProp_1|'
                        r'ExponentialMovingAverage|Adagrad)$')


def is_training_only(name: str) -> bool:
  """True for optimizer slots and counters, never model weights."""
  return bool(_NOT_MODEL.search(name))


class CheckpointError(errors.Error):
  """A checkpoint path that cannot be used, with what to do instead."""


class CheckpointMismatchError(CheckpointError):
  """Checkpoint and graph disagree; ``report`` says how."""

  def __init__(self, message: str, report: 'restore_lib.RestoreReport'
               ) -> None:
    super().__init__(message)
    self.report = report


def _tar_members(path):
  """Member names if ``path`` is a tar archive, else None."""
  try:
    if not tarfile.is_tarfile(path):
      return None
    with tarfile.open(path) as archive:
      return archive.getnames()
  except (tarfile.TarError, OSError):
    return None


def _strip_suffix(path):
  for suffix in ('.index', '.meta'):
    if path.endswith(suffix):
      return path[:-len(suffix)]
  return _SHARD_SUFFIX.sub('', path)


def _candidates_in(folder):
  names = sorted(os.listdir(folder))
  prefixes = [n[:-len('.index')] for n in names if n.endswith('.index')]
  v1 = [n for n in names if n.endswith('.ckpt') and
        os.path.isfile(os.path.join(folder, n))]
  return [os.path.join(folder, n) for n in prefixes + v1]


def _prefix(path):
  """The checkpoint prefix ``path`` names, without opening it."""
  if path is None or not isinstance(path, (str, os.PathLike)):
    raise CheckpointError(
        'Expected a checkpoint path (a V2 prefix, one of its files, a V1 '
        'file or a directory), got %r.' % (path,))
  path = os.path.expanduser(os.fspath(path))
  if os.path.isfile(path) and not path.endswith(('.index', '.meta')) and (
      _SHARD_SUFFIX.search(path) is None):
    members = _tar_members(path)
    if members is not None:
      ckpts = sorted({_strip_suffix(m) for m in members
                      if '.ckpt' in os.path.basename(m)})
      raise CheckpointError(
          '%s is a tar archive, not a checkpoint. Extract it first (tar -xzf '
          '%s) and pass the extracted checkpoint%s.'
          % (path, path, ': ' + ', '.join(ckpts) if ckpts else ''))
  if os.path.isdir(path):
    latest, _ = latest_checkpoint(path)
    candidates = [latest] if latest else _candidates_in(path)
    if not candidates:
      raise CheckpointError('No checkpoint in directory %s (no "checkpoint" '
                            'state file, *.index or *.ckpt file).' % path)
    if len(candidates) > 1:
      raise CheckpointError(
          'Directory %s holds several checkpoints and no "checkpoint" state '
          'file says which is latest; pass one of: %s.'
          % (path, ', '.join(candidates)))
    path = candidates[0]
  prefix = _strip_suffix(path)
  if not (os.path.isfile(prefix + '.index') or os.path.isfile(prefix)):
    raise CheckpointError(
        'No checkpoint at %s: expected a V2 prefix (with %s.index and .data-* '
        'files beside it), a V1 checkpoint file, or a directory.'
        % (path, os.path.basename(prefix)))
  return prefix


def _open(prefix):
  """One ``CheckpointReader`` of ``prefix``, or a CheckpointError saying why."""
  try:
    return tf.train.load_checkpoint(prefix)
  except Exception as exc:  # pylint: disable=broad-except
    # TF raises DataLossError, OutOfRangeError or others depending on how the
    # file is broken; all mean the same to the user.
    raise CheckpointError(
        'Cannot read checkpoint %s: it is corrupt, truncated or not a '
        'TensorFlow checkpoint (%s: %s).'
        % (prefix, type(exc).__name__,
           errors.quoted(exc, 200))) from None


def resolve(path: Union[str, os.PathLike]) -> str:
  """Turns what a user passes into a readable checkpoint prefix.

  Args:
    path: a V2 prefix, one of its ``.index``/``.data-*``/``.meta`` files, a
      V1 checkpoint file, or a directory (its latest checkpoint).

  Returns:
    The checkpoint prefix (for V1, the file itself).

  Raises:
    CheckpointError: with the reason and what to pass instead, for a
      missing path, a tar archive, an empty or ambiguous directory, or a
      file that is not a readable checkpoint (corrupt or truncated).
  """
  prefix = _prefix(path)
  _open(prefix)
  return prefix


_STEP = re.compile(r'-(\d+)$')


def _exists(prefix):
  return os.path.isfile(prefix + '.index') or os.path.isfile(prefix)


def latest_checkpoint(folder: str) -> Tuple[Optional[str], Optional[str]]:
  """The newest checkpoint in ``folder`` whose files actually exist.

  ``tf.train.latest_checkpoint`` trusts the ``checkpoint`` state file: if
  that names a deleted checkpoint it returns None, and a training run would
  start again from step 0 and overwrite the older, intact checkpoints. Here
  the state file's list and the ``*.index`` files on disk are both
  candidates, and the one with the highest step that exists wins.

  Args:
    folder: a training directory.

  Returns:
    ``(prefix, note)``: the newest existing checkpoint prefix (None if the
    folder holds none) and a message if the state file pointed elsewhere.

  Raises:
    CheckpointError: if the state file names checkpoints but none of them,
      nor any other, exists: resuming is impossible and starting again
      would overwrite the state.
  """
  existing, named, note = existing_checkpoints(folder)
  if not existing:
    if named:
      raise CheckpointError(
          'The "checkpoint" state file in %s names %s, but no checkpoint '
          'files exist there, so there is nothing to resume. Restore the '
          'files, or delete the state file to start again from step 0.'
          % (folder, named[-1]))
    return None, note
  latest = existing[-1]
  if named and os.path.normpath(named[-1]) != os.path.normpath(latest):
    note = ('the "checkpoint" state file names %s, which is missing; '
            'using the newest checkpoint that exists, %s'
            % (named[-1], latest))
  return latest, note


def existing_checkpoints(folder: str
                         ) -> Tuple[List[str], List[str], Optional[str]]:
  """Every checkpoint of ``folder`` whose files exist, oldest first.

  Returns:
    ``(prefixes, the prefixes the state file names, note)``: the note says
    when the ``checkpoint`` state file could not be read (garbage, not
    UTF-8); the files on disk are used then.
  """
  note = None
  try:
    state = tf.train.get_checkpoint_state(folder)
  except Exception as exc:  # pylint: disable=broad-except
    # A garbage state file: protobuf's text parser and the UTF-8 decoder
    # raise their own kinds. The files on disk still tell the truth.
    state = None
    note = ('the "checkpoint" state file in %s cannot be read (%s); using '
            'the checkpoints on disk' % (folder, errors.quoted(exc, 120)))
  named = []
  if state is not None:
    # get_checkpoint_state has already joined relative names to folder.
    named = [p for p in list(state.all_model_checkpoint_paths) +
             [state.model_checkpoint_path] if p]
  on_disk = [os.path.join(folder, n[:-len('.index')])
             for n in os.listdir(folder) if n.endswith('.index')]
  existing = sorted({p for p in named + on_disk if _exists(p)},
                    key=lambda p: (int(_STEP.search(p).group(1))
                                   if _STEP.search(p) else -1,
                                   os.path.getmtime(p + '.index')
                                   if os.path.isfile(p + '.index') else 0))
  return existing, named, note


def input_paths(path: Union[str, os.PathLike], flag: str = '`checkpoint`'
                ) -> List[Tuple[str, str]]:
  """``(flag, path)`` pairs of everything a checkpoint argument reads.

  For ``fileio.check_outputs``: the path as given (a file, prefix or
  folder) and every file of the resolved checkpoint (the V1 file, or the
  prefix's ``.index``, ``.data-*`` and ``.meta`` files).

  Raises:
    CheckpointError: as ``resolve``.
  """
  prefix = _prefix(path)   # names the files; opening them is read()'s job
  folder, base = os.path.split(prefix)
  files = [os.path.join(folder, name) for name in os.listdir(folder or '.')
           if name == base or (name.startswith(base + '.') and (
               name[len(base):] in ('.index', '.meta') or
               _SHARD_SUFFIX.search(name)))]
  return [(flag, os.fspath(path))] + [(flag, f) for f in sorted(files)]


def checkpoint_format(prefix: str) -> str:
  """'V2' for an index+data checkpoint, 'V1' for a single legacy file."""
  return 'V2' if os.path.isfile(prefix + '.index') else 'V1'


def _top_scopes(names, limit=5):
  return sorted({n.split('/')[0] for n in names})[:limit]


@dataclasses.dataclass(frozen=True)
class Network:
  """Which ResNet V2 a set of variable names describes."""
  scope: str
  units_per_block: Tuple[int, ...]
  unit: str             # 'bottleneck' or 'basic'
  use_shortcut: bool
  model: Optional[str] = None   # the registered name, None for another
                                # depth


def detect_network(names: Collection[str]) -> Optional[Network]:
  """Detects the ResNet V2 among variable ``names`` (checkpoint or graph).

  Returns:
    A ``Network``, or None if no ``<scope>/blockN/unit_M/..._v2/`` name is
    there.

  Raises:
    CheckpointError: if the names hold several ResNet V2 scopes.
  """
  units, scopes, families = {}, set(), set()
  for name in names:
    match = _UNIT.match(name)
    if match:
      scopes.add(match.group('scope'))
      families.add(match.group('kind'))
      block = int(match.group('block'))
      units[block] = max(units.get(block, 0), int(match.group('unit')))
  if not scopes:
    return None
  if len(scopes) > 1:
    raise CheckpointError('the variables hold several ResNet V2 networks '
                          '(%s); restore one with restore(..., scope=...).'
                          % ', '.join(sorted(scopes)))
  units_per_block = tuple(units[b] for b in sorted(units))
  family = 'bottleneck' if 'bottleneck' in families else 'basic'
  return Network(scopes.pop(), units_per_block, family,
                 any('/shortcut/' in n for n in names),
                 nets_factory.model_for(family, units_per_block))


@dataclasses.dataclass(frozen=True)
class CheckpointInfo:
  """A checkpoint read once: its variables and the network they form.

  Everything that restores, inspects or picks defaults takes this object,
  so a command reads the checkpoint's index a single time.
  """
  path: str                  # the resolved prefix (for V1, the file)
  format: str                # 'V1' or 'V2'
  # {name: (shape list, dtype name)}, sorted
  variables: Dict[str, Tuple[List[int], str]]
  network: Network
  num_classes: Optional[int]   # None without a logits layer
  num_parameters: int        # model variables only (no optimizer slots)

  @property
  def model(self) -> Optional[str]:
    return self.network.model

  @property
  def scope(self) -> str:
    return self.network.scope

  @property
  def use_shortcut(self) -> bool:
    return self.network.use_shortcut

  @property
  def pretrained(self) -> Optional[pretrained_lib.Pretrained]:
    """The published checkpoint this one matches (``nets.pretrained``)."""
    return pretrained_lib.match(self.model, self.num_classes)

  @property
  def step(self) -> Optional[int]:
    """The training step in the name (``model.ckpt-1200``), else None."""
    match = _STEP.search(self.path)
    return int(match.group(1)) if match else None

  @functools.cached_property
  def trained(self) -> Optional[facts_lib.TrainFacts]:
    """The facts ``train`` recorded in this checkpoint's folder, or None.

    Read on first use (``train_facts.json`` beside the checkpoint: the
    train_dir it was saved in), so that a damaged file stops only what
    needs it.

    Raises:
      checkpoints.TrainFactsError: the file is there but damaged.
    """
    return facts_lib.read(os.path.dirname(self.path) or '.')

  def _facts_for(self, model: Optional[str]
                 ) -> Optional[facts_lib.TrainFacts]:
    """``trained`` if it describes this checkpoint built as ``model``.

    A checkpoint copied into another run's folder, or read as another
    network, is not what the facts describe: they are left out then.
    """
    facts = self.trained
    if facts is None or facts.network != (model or self.model) or (
        facts.num_classes != self.num_classes or
        facts.use_shortcut != self.use_shortcut):
      return None
    return facts

  def defaults(self, model: Optional[str] = None, *,
               preprocessing: str = 'auto',
               image_size: Union[int, str] = 'auto') -> 'InputDefaults':
    """Resolves 'auto' for this checkpoint: input, class names, offset.

    The one place classify, export, evaluate and fine-tuning take their
    defaults from, first found first: the facts ``train`` recorded beside
    the checkpoint (``trained``), the published row's when the checkpoint
    matches one (Inception at 299), else Inception at the network's
    default size. Given values win.

    Args:
      model: the network the graph is built as (default: the checkpoint's).
      preprocessing: a method name, or 'auto'.
      image_size: an int, or 'auto'.

    Returns:
      An ``InputDefaults``; its ``class_names`` and ``labels_offset`` are
      the recorded ones (None without recorded facts: the caller's own
      defaults apply).

    Raises:
      checkpoints.TrainFactsError: a damaged ``train_facts.json``.
    """
    model = model or self.model
    facts = self._facts_for(model)
    row = self.pretrained
    if row is not None and row.model != model:
      row = None
    if facts is not None:
      auto = (facts.preprocessing, facts.image_size)
    elif row is not None:
      auto = (row.preprocessing, row.image_size)
    else:
      auto = (pretrained_lib.DEFAULT_PREPROCESSING,
              nets_factory.networks_map[model].default_image_size)
    return InputDefaults(
        preprocessing=auto[0] if preprocessing == 'auto' else preprocessing,
        image_size=auto[1] if image_size == 'auto' else image_size,
        class_names=facts.class_names if facts else None,
        labels_offset=(facts.labels_offset if facts else
                       row.labels_offset if row else None),
        source=self._source(facts, row), recorded=facts is not None)

  def _source(self, facts, row) -> str:
    if facts is not None:
      return '%s of %s' % (facts_lib.FILE,
                           os.path.dirname(facts.path) or '.')
    if row is not None:
      return 'the published %s row' % row.name
    return 'the package defaults'

  def defaults_source(self, model: Optional[str] = None) -> str:
    """Where 'auto' settings come from, for a command to say once.

    Returns:
      'train_facts.json of <train_dir>', 'the published <name> row' or
      'the package defaults'.

    Raises:
      checkpoints.TrainFactsError: a damaged ``train_facts.json``.
    """
    return self.defaults(model).source

  def input_defaults(self, model: Optional[str] = None,
                     preprocessing: str = 'auto',
                     image_size: Union[int, str] = 'auto'
                     ) -> Tuple[str, int]:
    """``defaults``' ``(preprocessing, image_size)``, as before.

    Args:
      model: the network the graph is built as (default: the checkpoint's).
      preprocessing: a method name, or 'auto'.
      image_size: an int, or 'auto'.

    Returns:
      ``(preprocessing, image_size)``: recorded by train, else the
      published row's, else Inception at the network's default size.

    Raises:
      checkpoints.TrainFactsError: a damaged ``train_facts.json``.
    """
    chosen = self.defaults(model, preprocessing=preprocessing,
                           image_size=image_size)
    return chosen.preprocessing, chosen.image_size

  def as_dict(self) -> Dict[str, Any]:
    """The ``describe`` dict (JSON-friendly).

    Raises:
      checkpoints.TrainFactsError: a damaged ``train_facts.json`` beside it.
    """
    pretrained = self.pretrained
    trained = self.trained
    return {
        'path': self.path,
        'format': self.format,
        'model': self.model,
        'scope': self.scope,
        'units_per_block': list(self.network.units_per_block),
        'unit': self.network.unit,
        'use_shortcut': self.use_shortcut,
        'num_classes': self.num_classes,
        'num_variables': len(self.variables),
        'num_parameters': self.num_parameters,
        'pretrained': pretrained.name if pretrained else None,
        'step': self.step,
        # How it was trained (train_facts.json), None for other checkpoints.
        'trained': dict(trained.as_dict(), path=trained.path,
                        summary=trained.summary()) if trained else None,
    }


class InputDefaults(NamedTuple):
  """What a command uses where its flags are 'auto' (``defaults``)."""
  preprocessing: str
  image_size: Union[int, str]
  class_names: Optional[Tuple[str, ...]]   # recorded by train, else None
  labels_offset: Optional[int]   # recorded or published, else None
  source: str                    # where the 'auto' values came from
  recorded: bool                 # they are train's (``trained``)


def _check_data_files(prefix, variables):
  """Raises CheckpointError if a V2 checkpoint's data shards are missing or
  shorter than its index says (the index alone opens fine without them)."""
  folder, base = os.path.split(prefix)
  shards = [n for n in os.listdir(folder or '.')
            if n.startswith(base + '.data-') and _SHARD_SUFFIX.search(n)]
  expected = {int(n.rsplit('-of-', 1)[1]) for n in shards} or {1}
  count = max(expected)
  missing = ['%s.data-%05d-of-%05d' % (prefix, i, count) for i in range(count)
             if not os.path.isfile('%s.data-%05d-of-%05d' % (prefix, i,
                                                              count))]
  if missing:
    raise CheckpointError(
        'Checkpoint %s is incomplete: %s %s missing. Copy all of its '
        '.index and .data-* files together.'
        % (prefix, ', '.join(missing), 'is' if len(missing) == 1 else 'are'))
  size = sum(os.path.getsize('%s.data-%05d-of-%05d' % (prefix, i, count))
             for i in range(count))
  need = 0
  for shape, dtype in variables.values():
    if dtype != 'string':
      need += int(tf.as_dtype(dtype).size) * int(
          _num_elements(shape))
  if size < need:
    raise CheckpointError(
        'Checkpoint %s is truncated: its data files hold %d bytes, its '
        'variables need %d. Copy or download it again.'
        % (prefix, size, need))


def _num_elements(shape):
  count = 1
  for dim in shape:
    count *= dim
  return count


def read(path: Union[str, os.PathLike, CheckpointInfo]) -> CheckpointInfo:
  """Opens a checkpoint once and describes the ResNet V2 it holds.

  Args:
    path: anything ``resolve`` accepts (a ``CheckpointInfo`` is returned
      as it is).

  Returns:
    A ``CheckpointInfo``.

  Raises:
    CheckpointError: if the path is unusable, the files are incomplete, or
      it holds no ResNet V2 (e.g. a ResNet V1 or VGG checkpoint).
  """
  if isinstance(path, CheckpointInfo):
    return path
  prefix = _prefix(path)
  reader = _open(prefix)
  shapes = reader.get_variable_to_shape_map()
  dtypes = reader.get_variable_to_dtype_map()
  variables = {name: (list(shapes[name]), dtypes[name].name)
               for name in sorted(shapes)}
  fmt = checkpoint_format(prefix)
  if fmt == 'V2':
    _check_data_files(prefix, variables)
  network = detect_network(variables)
  if network is None:
    kind = ('a ResNet V1 checkpoint' if any('bottleneck_v1' in n
                                            for n in variables)
            else 'not a ResNet V2 checkpoint')
    example = next(iter(variables), '(no variables)')
    raise CheckpointError(
        '%s is %s: it has no <scope>/blockN/unit_M/bottleneck_v2/ (or '
        'basic_v2/) variables '
        '(top-level scopes: %s; e.g. %s). Use a ResNet V2 checkpoint, or the '
        'code of the network it was saved from.'
        % (prefix, kind, ', '.join(_top_scopes(variables)), example))
  logits = variables.get(network.scope + '/logits/weights')
  return CheckpointInfo(
      path=prefix, format=fmt, variables=variables, network=network,
      num_classes=logits[0][-1] if logits else None,
      num_parameters=sum(_num_elements(shape) for name, (shape, _) in
                         variables.items() if not _NOT_MODEL.search(name)))


def describe(path: Union[str, os.PathLike, CheckpointInfo]
             ) -> Dict[str, Any]:
  """Detects which ResNet V2 a checkpoint holds.

  Returns:
    dict with path, format, model (e.g. 'resnet_v2_50', or None for a
    non-standard depth), scope (the variable prefix, e.g. 'resnet_v2_50'),
    units_per_block, unit ('bottleneck' or 'basic'), use_shortcut (False
    for a plain twin), num_classes (None without logits), num_variables,
    num_parameters (model variables only), pretrained (the name of the
    published checkpoint it matches, or None), step (from the name, or
    None), trained (what ``train`` recorded beside it, with a one-line
    ``summary``, or None).

  Raises:
    CheckpointError: if the path is unusable or holds no ResNet V2.
    TrainFactsError: if the ``train_facts.json`` beside it is damaged.
  """
  return read(path).as_dict()


def choose_model(path: Union[str, os.PathLike, CheckpointInfo],
                 model: str = 'auto', num_classes: Union[int, str] = 'auto'
                 ) -> Tuple[str, int, CheckpointInfo]:
  """Model name and class count: from the checkpoint unless given.

  Args:
    path: anything ``resolve`` accepts, or a ``CheckpointInfo``.
    model: a registered network name, or 'auto'.
    num_classes: a positive int, or 'auto'.

  Returns:
    ``(model, num_classes, info)`` with the ``CheckpointInfo``.

  Raises:
    CheckpointError: if 'auto' cannot be answered from the checkpoint.
    ValueError: for an unknown model name.
  """
  info = read(path)
  if model == 'auto':
    if info.model is None:
      raise CheckpointError(
          '%s has units per block %s, which is no registered network; pass '
          'the model name.' % (info.path, list(info.network.units_per_block)))
    model = info.model
  nets_factory.check_network_name(model)
  if num_classes == 'auto':
    if info.num_classes is None:
      raise CheckpointError(
          '%s has no logits layer; pass num_classes.' % info.path)
    num_classes = info.num_classes
  return model, int(num_classes), info
