"""Restoring slim checkpoints into a graph: check everything, then restore.

``compare`` matches the graph's model variables with a ``CheckpointInfo``
and writes a ``RestoreReport``; ``restorer``/``restore``/``warm_start`` act
on it. The variables are ``slim.get_model_variables()`` and loading is
``slim.assign_from_checkpoint_fn`` on a {checkpoint name: variable} map.
What is hand-written here is
what those lack: the report (missing, unexpected, mis-shaped), a scope
mapping, a check that each excluded scope exists, and hints that name the
real fix (the model, scope or shortcut setting the checkpoint holds),
computed before the session is touched.

Typical use::

    from resnet_v2_slim import checkpoints

    report = checkpoints.restore(sess, 'resnet_v2_50.ckpt', scope='resnet_v2_50')
    print(report.summary())
"""

import dataclasses
import logging
import os
from typing import (Callable, Dict, Iterable, List, Optional, Sequence,
                    Tuple, Union)

import tensorflow.compat.v1 as tf
import tf_slim as slim

from resnet_v2_slim import errors
from resnet_v2_slim.checkpoints import reader
from resnet_v2_slim.nets import precision
from resnet_v2_slim.checkpoints.reader import CheckpointError
from resnet_v2_slim.checkpoints.reader import CheckpointMismatchError

logger = logging.getLogger(__name__)
# What ``reader.read`` accepts: a path, or a checkpoint already read.
_Path = Union[str, os.PathLike, reader.CheckpointInfo]


@dataclasses.dataclass
class RestoreReport:
  """What a restore did or would do, computed before touching the session."""
  path: str
  format: str
  # graph names
  restored: List[str] = dataclasses.field(default_factory=list)
  # not in the checkpoint
  missing: List[str] = dataclasses.field(default_factory=list)
  # only in the checkpoint
  unexpected: List[str] = dataclasses.field(default_factory=list)
  # (name, graph shape, checkpoint shape)
  mismatched: List[Tuple[str, List[int], List[int]]] = dataclasses.field(
      default_factory=list)
  excluded: List[str] = dataclasses.field(default_factory=list)
  hints: List[str] = dataclasses.field(default_factory=list)

  @property
  def ok(self) -> bool:
    return not (self.missing or self.mismatched)

  def summary(self, limit: int = 8) -> str:
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


def _describe(network):
  if network is None:
    return 'no ResNet V2'
  name = network.model or 'a ResNet V2 with %s units %s' % (
      network.unit, '-'.join(map(str, network.units_per_block)))
  return name + ('' if network.use_shortcut else ' without shortcuts')


def _hints(report, info, graph_network, graph_scope, to_ckpt):
  """Likely causes of a mismatch, each checked against the names.

  The checkpoint's network (``info.network``) and the graph's
  (``graph_network``, detected the same way from its variable names) are
  compared first: another depth, unit or shortcut setting is the cause
  whatever the scopes say.
  """
  hints = []
  ckpt_network = info.network
  logits = [m for m in report.mismatched if '/logits/' in m[0]]
  # Only a class count that differs: equal counts with other shapes are
  # another depth, which the network comparison below names.
  if logits and logits[0][1][-1] != logits[0][2][-1]:
    graph_classes, ckpt_classes = logits[0][1][-1], logits[0][2][-1]
    hints.append(
        'the checkpoint has %d classes, the graph %d. %sTo fine-tune on your '
        'classes, exclude the logits: exclude_scopes=[%r] (or warm_start).'
        % (ckpt_classes, graph_classes,
           'Build with num_classes=%d (`num_classes` %d) to use its '
           'classifier%s. ' % (ckpt_classes, ckpt_classes,
                               ' (index 0 is "background")'
                               if ckpt_classes == 1001 else ''),
           graph_scope + '/logits'))
  if not report.missing:
    return hints
  if graph_network is not None and (
      (graph_network.unit, graph_network.units_per_block) !=
      (ckpt_network.unit, ckpt_network.units_per_block)):
    hints.append(
        'the checkpoint holds %s but the graph is %s: build %s (`model` %s, '
        'or `model` auto).'
        % (_describe(ckpt_network), _describe(graph_network),
           ckpt_network.model or 'that network',
           ckpt_network.model or '<name>'))
    return hints
  if graph_network is not None and (
      graph_network.use_shortcut != ckpt_network.use_shortcut):
    hints.append(
        'the checkpoint holds %s but the graph is %s: build with '
        'use_shortcut=%s%s.'
        % (_describe(ckpt_network), _describe(graph_network),
           ckpt_network.use_shortcut,
           '' if ckpt_network.use_shortcut else ' (`no_shortcut`)'))
    return hints
  if (not report.restored and graph_network is not None and
      graph_network.scope != graph_scope):
    hints.append('the graph\'s network lives under %r but the checkpoint\'s '
                 'under %r: pass scope=%r so names are mapped.'
                 % (graph_network.scope, ckpt_network.scope,
                    graph_network.scope))
    return hints
  ckpt_names = info.variables
  if any(n.endswith('/biases') and '/logits/' not in n and
         to_ckpt(n)[:-len('biases')] + 'BatchNorm/beta' in ckpt_names
         for n in report.missing):
    hints.append('the graph has convolution biases where the checkpoint has '
                 'BatchNorm: build the network inside '
                 'slim.arg_scope(resnet_v2.resnet_arg_scope()).')
  return hints


def _check_exclude_scopes(exclude_scopes, variables, graph_scope):
  """Raises CheckpointError for an exclude scope that matches no variable.

  A typo (``resnet_v2_18/logit``) would otherwise exclude nothing while the
  log says the logits were left out.
  """
  names = [v.op.name for v in variables]
  for scope in exclude_scopes:
    if not any(_in_scope(n, scope) for n in names):
      under = graph_scope + '/'
      existing = sorted({under + n[len(under):].split('/')[0]
                         for n in names if n.startswith(under)})
      raise CheckpointError(
          'exclude scope %r matches no variable of the graph. Scopes that '
          'exist: %s.' % (scope, ', '.join(existing) or ', '.join(
              sorted({n.split('/')[0] for n in names}))))


def compare(path: _Path, *, variables: Optional[Sequence[tf.Variable]] = None,
            scope: Optional[str] = None,
            exclude_scopes: Optional[Iterable[str]] = ()
            ) -> Tuple[RestoreReport, Dict[str, tf.Variable]]:
  """Matches graph variables with checkpoint variables, without restoring.

  Args:
    path: anything ``reader.resolve`` accepts, or a ``CheckpointInfo``.
    variables: graph variables to restore (default: the model variables of
      the default graph, from ``slim.get_variables_to_restore``).
    scope: the graph scope of the network, if it differs from the
      checkpoint's (e.g. 'outer/resnet_v2_50' for a net built inside an
      extra variable scope); its names are mapped onto the checkpoint's.
    exclude_scopes: graph scopes to leave alone (e.g. the logits when
      fine-tuning on other classes); each must match a variable.

  Returns:
    ``(report, var_list)``: a ``RestoreReport`` and the {checkpoint name:
    variable} dict that a Saver would restore.

  Raises:
    CheckpointError: unusable checkpoint, or an exclude scope that matches
      nothing.
  """
  info = reader.read(path)
  ckpt_scope = info.scope
  if variables is None:
    variables = slim.get_model_variables() or tf.global_variables()
  graph_scope = scope.rstrip('/') if scope else ckpt_scope
  exclude_scopes = list(exclude_scopes or ())
  _check_exclude_scopes(exclude_scopes, variables, graph_scope)
  report = RestoreReport(path=info.path, format=info.format)
  ckpt = info.variables

  def to_ckpt(name):
    return (ckpt_scope + name[len(graph_scope):]
            if _in_scope(name, graph_scope) else name)

  var_list, used = {}, set()
  for var in variables:
    name = var.op.name
    # Whole path components, not slim.get_variables_to_restore's regex
    # prefix, under which 'resnet_v2_18/logit' would also drop 'logits'.
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
                       not reader.is_training_only(n)]
  try:
    graph_network = reader.detect_network([v.op.name for v in variables])
  except CheckpointError:
    graph_network = None
  report.hints = _hints(report, info, graph_network, graph_scope, to_ckpt)
  return report, var_list


EMA_SUFFIX = '/ExponentialMovingAverage'   # tf.train.ExponentialMovingAverage


def has_moving_averages(info: reader.CheckpointInfo) -> bool:
  """Whether a checkpoint holds ExponentialMovingAverage shadow variables."""
  return any(name.endswith(EMA_SUFFIX) for name in info.variables)


def restorer(path: _Path, *, scope: Optional[str] = None,
             exclude_scopes: Optional[Iterable[str]] = (),
             strict: bool = True,
             variables: Optional[Sequence[tf.Variable]] = None,
             moving_averages: bool = False
             ) -> Tuple[RestoreReport, Callable[[tf.Session], None]]:
  """Checks a checkpoint against the graph and builds its Saver.

  Use this when the graph must be finalized before the session exists;
  ``restore`` does both steps at once.

  Args:
    path, scope, exclude_scopes, strict, variables: as for ``restore``.
    moving_averages: restore each variable from its
      ``.../ExponentialMovingAverage`` shadow where the checkpoint has one
      (what ``train --moving_average_decay`` saves; research/slim's eval
      does the same through ``variables_to_restore``).

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
  if moving_averages:
    names = reader.read(report.path).variables
    var_list = {(name + EMA_SUFFIX if name + EMA_SUFFIX in names else name):
                var for name, var in var_list.items()}
  # slim builds the Saver now, so the graph can be finalized before use.
  assign = slim.assign_from_checkpoint_fn(report.path, var_list)

  def restore_fn(sess):
    try:
      # Outside its graph (eager on, as in TF2 by default) the Saver would
      # take its eager path and fail on graph tensors.
      with sess.graph.as_default():
        assign(sess)
        # The half-precision copies of a cast_once graph follow the
        # restored values (nothing to do in other graphs).
        precision.cast_weights(sess)
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError,
            tf.errors.NotFoundError, tf.errors.InvalidArgumentError) as exc:
      raise CheckpointError(
          'Cannot restore from %s: its data is truncated or corrupt (%s: '
          '%s). Download or copy the checkpoint again.'
          % (report.path, type(exc).__name__,
             errors.quoted(exc, 200))) from None
    logger.info('Restored %d variables from %s', len(report.restored),
                report.path)
  return report, restore_fn


def restore(sess: tf.Session, path: _Path, *, scope: Optional[str] = None,
            exclude_scopes: Optional[Iterable[str]] = (), strict: bool = True,
            variables: Optional[Sequence[tf.Variable]] = None
            ) -> RestoreReport:
  """Restores model variables from a checkpoint, after checking them all.

  Args:
    sess: the session to restore into.
    path: anything ``reader.resolve`` accepts, or a ``CheckpointInfo``.
    scope: see ``compare``.
    exclude_scopes: see ``compare``.
    strict: raise if any graph variable is missing from the checkpoint or
      has another shape (checkpoint-only variables are reported, not fatal).
    variables: see ``compare``.

  Returns:
    The ``RestoreReport``.

  Raises:
    CheckpointError: unusable path, truncated/corrupt data, or an exclude
      scope that matches nothing.
    CheckpointMismatchError: with ``strict``, on missing or mismatched
      variables; the message lists them and the likely cause. The session is
      untouched then.
  """
  report, restore_fn = restorer(path, scope=scope,
                                exclude_scopes=exclude_scopes, strict=strict,
                                variables=variables)
  restore_fn(sess)
  return report


def warm_start(sess: tf.Session, path: _Path, *, scope: Optional[str] = None,
               exclude_scopes: Optional[Iterable[str]] = None
               ) -> RestoreReport:
  """Restores everything but the classifier, for fine-tuning.

  Args:
    sess: the session.
    path: anything ``reader.resolve`` accepts, or a ``CheckpointInfo``.
    scope: the graph scope of the network (default: the checkpoint's).
    exclude_scopes: graph scopes to skip (default: ``<scope>/logits``).

  Returns:
    The ``RestoreReport``.
  """
  info = reader.read(path)
  graph_scope = scope or info.scope
  if exclude_scopes is None:
    exclude_scopes = [graph_scope + '/logits']
  return restore(sess, info, scope=scope, exclude_scopes=exclude_scopes)
