"""Legacy TF-Slim checkpoints: find, inspect and restore them safely.

The published slim ResNet V2 checkpoints are single V1 files
(``resnet_v2_50.ckpt``) with 1001 classes; newer ones are V2 prefixes
(``model.ckpt-1000`` with ``.index`` and ``.data-*`` files). ``resolve``
accepts either, any of their files, or a directory; ``describe`` tells which
network a checkpoint holds; ``restore`` compares names and shapes *before*
touching the session and explains a mismatch instead of failing mid-way.

Typical use::

    from resnet_v2_slim import checkpoint

    info = checkpoint.describe('resnet_v2_50.ckpt')
    # {'model': 'resnet_v2_50', 'num_classes': 1001, 'format': 'V1', ...}
    with slim.arg_scope(resnet_v2.resnet_arg_scope()):
      logits, _ = resnet_v2.resnet_v2_50(images, info['num_classes'],
                                         is_training=False)
    report = checkpoint.restore(sess, 'resnet_v2_50.ckpt')
    # fine-tuning on 10 classes: everything but the logits
    checkpoint.warm_start(sess, 'resnet_v2_50.ckpt')
"""

import dataclasses
import logging
import os
import re
import tarfile

from resnet_v2_slim import resnet_utils
from resnet_v2_slim import resnet_v2

tf = resnet_utils.tf
slim = resnet_utils.slim

logger = logging.getLogger(__name__)

_SHARD_SUFFIX = re.compile(r'\.data-\d{5}-of-\d{5}$')
_UNIT = re.compile(r'^(?P<scope>.+)/block(?P<block>\d+)/unit_(?P<unit>\d+)/'
                   r'(?P<kind>bottleneck|basic)_v2/')
# Training-only variables that are never model weights.
_NOT_MODEL = re.compile(r'(^|/)(global_step|beta1_power|beta2_power)$|'
                        r'/(Momentum|Adam|Adam_1|RMSProp|RMSProp_1|'
                        r'ExponentialMovingAverage|Adagrad)$')


class CheckpointError(ValueError):
  """A checkpoint path that cannot be used, with what to do instead."""


class CheckpointMismatchError(CheckpointError):
  """Checkpoint and graph disagree; ``report`` says how."""

  def __init__(self, message, report):
    super().__init__(message)
    self.report = report


def _tar_members(path):
  try:
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


def resolve(path):
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
    latest = tf.train.latest_checkpoint(path)
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
  try:
    tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
  except Exception as exc:  # pylint: disable=broad-except
    # TF raises DataLossError, OutOfRangeError or others depending on how the
    # file is broken; all mean the same to the user.
    raise CheckpointError(
        'Cannot read checkpoint %s: it is corrupt, truncated or not a '
        'TensorFlow checkpoint (%s: %s).'
        % (prefix, type(exc).__name__,
           str(exc).strip().splitlines()[0][:200])) from None
  return prefix


def checkpoint_format(prefix):
  """'V2' for an index+data checkpoint, 'V1' for a single legacy file."""
  return 'V2' if os.path.isfile(prefix + '.index') else 'V1'


def list_variables(path):
  """Returns {name: (shape list, dtype name)} of a checkpoint, sorted."""
  reader = tf.train.load_checkpoint(resolve(path))
  shapes = reader.get_variable_to_shape_map()
  dtypes = reader.get_variable_to_dtype_map()
  return {name: (list(shapes[name]), dtypes[name].name)
          for name in sorted(shapes)}


def _top_scopes(names, limit=5):
  return sorted({n.split('/')[0] for n in names})[:limit]


def describe(path):
  """Detects which ResNet V2 a checkpoint holds.

  Returns:
    dict with path, format, model (e.g. 'resnet_v2_50', or None for a
    non-standard depth), scope (the variable prefix, e.g. 'resnet_v2_50'),
    units_per_block, unit ('bottleneck' or 'basic'), use_shortcut (False
    for a plain twin), num_classes (None without logits), num_variables,
    num_parameters (model variables only).

  Raises:
    CheckpointError: if the path is unusable or holds no ResNet V2.
  """
  prefix = resolve(path)
  variables = list_variables(prefix)
  units, scopes, families = {}, set(), set()
  for name in variables:
    match = _UNIT.match(name)
    if match:
      scopes.add(match.group('scope'))
      families.add(match.group('kind'))
      block = int(match.group('block'))
      units[block] = max(units.get(block, 0), int(match.group('unit')))
  if not scopes:
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
  if len(scopes) > 1:
    raise CheckpointError('%s holds several ResNet V2 networks (%s); restore '
                          'one with restore(..., scope=...).'
                          % (prefix, ', '.join(sorted(scopes))))
  scope = scopes.pop()
  units_per_block = tuple(units[b] for b in sorted(units))
  family = 'bottleneck' if 'bottleneck' in families else 'basic'
  model = next((name for name, units in
                resnet_v2.FAMILIES[family][0].items()
                if units == units_per_block), None)
  logits = variables.get(scope + '/logits/weights')
  model_names = [n for n in variables if not _NOT_MODEL.search(n)]
  num_parameters = 0
  for name in model_names:
    count = 1
    for dim in variables[name][0]:
      count *= dim
    num_parameters += count
  return {
      'path': prefix,
      'format': checkpoint_format(prefix),
      'model': model,
      'scope': scope,
      'units_per_block': list(units_per_block),
      'unit': family,
      'use_shortcut': any('/shortcut/' in n for n in variables),
      'num_classes': logits[0][-1] if logits else None,
      'num_variables': len(variables),
      'num_parameters': num_parameters,
  }


@dataclasses.dataclass
class RestoreReport:
  """What a restore did or would do, computed before touching the session."""
  path: str
  format: str
  restored: list = dataclasses.field(default_factory=list)    # graph names
  missing: list = dataclasses.field(default_factory=list)     # not in ckpt
  unexpected: list = dataclasses.field(default_factory=list)  # only in ckpt
  mismatched: list = dataclasses.field(default_factory=list)  # (name, g, c)
  excluded: list = dataclasses.field(default_factory=list)
  hints: list = dataclasses.field(default_factory=list)

  @property
  def ok(self):
    return not (self.missing or self.mismatched)

  def summary(self, limit=8):
    """A human-readable multi-line account of the comparison."""
    lines = ['checkpoint %s (%s): %d restored, %d missing, %d unexpected, '
             '%d shape-mismatched, %d excluded'
             % (self.path, self.format, len(self.restored), len(self.missing),
                len(self.unexpected), len(self.mismatched),
                len(self.excluded))]
    for title, items in (('missing from the checkpoint', self.missing),
                         ('shape mismatch (graph vs checkpoint)',
                          ['%s: %s vs %s' % m for m in self.mismatched]),
                         ('in the checkpoint only', self.unexpected)):
      if items:
        lines.append('  %s:' % title)
        lines.extend('    ' + item for item in items[:limit])
        if len(items) > limit:
          lines.append('    ... and %d more' % (len(items) - limit))
    lines.extend('  likely cause: ' + hint for hint in self.hints)
    return '\n'.join(lines)


def _in_scope(name, scope):
  return name == scope or name.startswith(scope.rstrip('/') + '/')


def _network_scope(names):
  """The scope of the first ResNet V2 unit among variable ``names``."""
  for name in names:
    match = _UNIT.match(name)
    if match:
      return match.group('scope')
  return None


def _hints(report, graph_scope, ckpt_scope, to_ckpt, ckpt_names):
  """Likely causes of a mismatch, each checked against the names."""
  hints = []
  logits = [m for m in report.mismatched if '/logits/' in m[0]]
  if logits:
    graph_classes, ckpt_classes = logits[0][1][-1], logits[0][2][-1]
    hints.append(
        'the checkpoint has %d classes, the graph %d. %sTo fine-tune on your '
        'classes, exclude the logits: exclude_scopes=[%r] (or warm_start).'
        % (ckpt_classes, graph_classes,
           'Build with num_classes=%d to use its classifier%s. '
           % (ckpt_classes, ' (index 0 is "background")'
              if ckpt_classes == 1001 else ''),
           graph_scope + '/logits'))
  if not report.missing:
    return hints
  actual_scope = _network_scope(report.missing)
  if not report.restored and actual_scope and actual_scope != ckpt_scope:
    hints.append('the graph\'s network lives under %r but the checkpoint\'s '
                 'under %r: pass scope=%r so names are mapped.'
                 % (actual_scope, ckpt_scope, actual_scope))
    return hints
  if any(n.endswith('/biases') and '/logits/' not in n and
         to_ckpt(n)[:-len('biases')] + 'BatchNorm/beta' in ckpt_names
         for n in report.missing):
    hints.append('the graph has convolution biases where the checkpoint has '
                 'BatchNorm: build the network inside '
                 'slim.arg_scope(resnet_v2.resnet_arg_scope()).')
  units = {m.group(0) for m in map(_UNIT.match, map(to_ckpt, report.missing))
           if m}
  if any(not any(c.startswith(u) for c in ckpt_names) for u in units):
    hints.append('the graph has units the checkpoint lacks: build the model '
                 'the checkpoint holds (see describe(path)["model"]).')
  return hints


def compare(path, *, variables=None, scope=None, exclude_scopes=()):
  """Matches graph variables with checkpoint variables, without restoring.

  Args:
    path: anything ``resolve`` accepts.
    variables: graph variables to restore (default: the model variables of
      the default graph, i.e. weights and batch norm statistics).
    scope: the graph scope of the network, if it differs from the
      checkpoint's (e.g. 'outer/resnet_v2_50' for a net built inside an
      extra variable scope); its names are mapped onto the checkpoint's.
    exclude_scopes: graph scopes to leave alone (e.g. the logits when
      fine-tuning on other classes).

  Returns:
    ``(report, var_list)``: a ``RestoreReport`` and the {checkpoint name:
    variable} dict that a Saver would restore.
  """
  info = describe(path)
  prefix, ckpt_scope = info['path'], info['scope']
  ckpt = list_variables(prefix)
  if variables is None:
    variables = tf.model_variables() or tf.global_variables()
  report = RestoreReport(path=prefix, format=info['format'])
  graph_scope = scope.rstrip('/') if scope else ckpt_scope

  def to_ckpt(name):
    return (ckpt_scope + name[len(graph_scope):]
            if _in_scope(name, graph_scope) else name)

  var_list, used = {}, set()
  for var in variables:
    name = var.op.name
    if any(_in_scope(name, s) for s in exclude_scopes):
      report.excluded.append(name)
      continue
    if scope and not _in_scope(name, graph_scope):
      continue
    ckpt_name = to_ckpt(name)
    if ckpt_name not in ckpt:
      report.missing.append(name)
      continue
    used.add(ckpt_name)
    graph_shape, ckpt_shape = var.shape.as_list(), ckpt[ckpt_name][0]
    if graph_shape != ckpt_shape:
      report.mismatched.append((name, graph_shape, ckpt_shape))
      continue
    report.restored.append(name)
    var_list[ckpt_name] = var
  excluded_ckpt = {to_ckpt(n) for n in report.excluded}
  report.unexpected = [n for n in ckpt if _in_scope(n, ckpt_scope) and
                       n not in used and n not in excluded_ckpt and
                       not _NOT_MODEL.search(n)]
  report.hints = _hints(report, graph_scope, ckpt_scope, to_ckpt, set(ckpt))
  return report, var_list


def restorer(path, *, scope=None, exclude_scopes=(), strict=True,
             variables=None):
  """Checks a checkpoint against the graph and builds its Saver.

  Use this when the graph must be finalized before the session exists;
  ``restore`` does both steps at once.

  Args:
    path, scope, exclude_scopes, strict, variables: as for ``restore``.

  Returns:
    ``(report, restore_fn)``; ``restore_fn(sess)`` restores, raising
    ``CheckpointError`` if the data turns out truncated or corrupt.

  Raises:
    CheckpointError, CheckpointMismatchError: as for ``restore``.
  """
  report, var_list = compare(path, variables=variables, scope=scope,
                             exclude_scopes=exclude_scopes)
  if strict and not report.ok:
    raise CheckpointMismatchError(
        'Checkpoint does not match the graph.\n' + report.summary(), report)
  if not var_list:
    raise CheckpointMismatchError(
        'Nothing to restore.\n' + report.summary(), report)
  saver = tf.train.Saver(var_list=var_list)

  def restore_fn(sess):
    try:
      # Outside its graph (eager on, as in TF2 by default) the Saver would
      # take its eager path and fail on graph tensors.
      with sess.graph.as_default():
        saver.restore(sess, report.path)
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError,
            tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as exc:
      raise CheckpointError(
          'Cannot restore from %s: its data is truncated or corrupt (%s: '
          '%s). Download or copy the checkpoint again.'
          % (report.path, type(exc).__name__,
             exc.message.strip().splitlines()[0][:200])) from None
    logger.info('Restored %d variables from %s', len(report.restored),
                report.path)
  return report, restore_fn


def restore(sess, path, *, scope=None, exclude_scopes=(), strict=True,
            variables=None):
  """Restores model variables from a checkpoint, after checking them all.

  Args:
    sess: the session to restore into.
    path: anything ``resolve`` accepts.
    scope: see ``compare``.
    exclude_scopes: see ``compare``.
    strict: raise if any graph variable is missing from the checkpoint or
      has another shape (checkpoint-only variables are reported, not fatal).
    variables: see ``compare``.

  Returns:
    The ``RestoreReport``.

  Raises:
    CheckpointError: unusable path, or truncated/corrupt data.
    CheckpointMismatchError: with ``strict``, on missing or mismatched
      variables; the message lists them and the likely cause. The session is
      untouched then.
  """
  report, restore_fn = restorer(path, scope=scope,
                                exclude_scopes=exclude_scopes, strict=strict,
                                variables=variables)
  restore_fn(sess)
  return report


def warm_start(sess, path, *, scope=None, exclude_scopes=None):
  """Restores everything but the classifier, for fine-tuning.

  Args:
    sess: the session.
    path: anything ``resolve`` accepts.
    scope: the graph scope of the network (default: the checkpoint's).
    exclude_scopes: graph scopes to skip (default: ``<scope>/logits``).

  Returns:
    The ``RestoreReport``.
  """
  graph_scope = scope or describe(path)['scope']
  if exclude_scopes is None:
    exclude_scopes = [graph_scope + '/logits']
  return restore(sess, path, scope=scope, exclude_scopes=exclude_scopes)
