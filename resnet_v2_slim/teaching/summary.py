"""Per-layer summary of a network: output shape, parameters and FLOPs.

One row per end point that teaching cares about: the root (``conv1`` and
``pool1``), every residual unit, a subtotal per block, ``postnorm`` with the
global pool, the logits, and the total. Parameters are trainable weights
(batch norm moving statistics are not trained); FLOPs count convolutions
and matmuls, two per multiply-add, for the given batch.

Typical use::

    from resnet_v2_slim.teaching import summary

    rows = summary.summarize('resnet_v2_50', image_size=224)
    print(summary.format_table(rows))
"""

import collections
import os
from typing import Any, Dict, List, Optional, Sequence

import tensorflow.compat.v1 as tf

from resnet_v2_slim import names
from resnet_v2_slim.perf import flops as flops_lib
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.utils import fileio
from resnet_v2_slim.nets import resnet_utils

Row = collections.namedtuple('Row', ['name', 'kind', 'shape', 'parameters',
                                     'flops'])
FORMATS = names.SUMMARY_FORMATS


def _params_under(scope, variables):
  prefix = scope + '/'
  return sum(int(v.shape.num_elements()) for v in variables
             if v.op.name.startswith(prefix))


def _flops_under(scope, graph):
  prefix = scope + '/'
  return sum(flops_lib.op_flops(op) or 0 for op in graph.get_operations()
             if op.name.startswith(prefix))


def build_rows(graph: tf.Graph, end_points: Dict[str, tf.Tensor], scope: str
               ) -> List[Row]:
  """Rows for a network already built in ``graph`` under ``scope``.

  Args:
    graph: the graph holding the network.
    end_points: the network's end_points.
    scope: its variable scope, e.g. 'resnet_v2_50'.

  Returns:
    A list of ``Row``; the last one is the total.
  """
  variables = graph.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES)

  def row(name, kind, key, scopes):
    shape = end_points[key].shape.as_list() if key in end_points else None
    return Row(name, kind, shape,
               sum(_params_under(s, variables) for s in scopes),
               sum(_flops_under(s, graph) for s in scopes))

  rows = []
  if scope + '/conv1' in end_points:
    rows.append(row('conv1+pool1', 'root', scope + '/conv1',
                    [scope + '/conv1']))
    pool = graph.get_tensor_by_name(scope + '/pool1/MaxPool:0')
    rows[-1] = rows[-1]._replace(shape=pool.shape.as_list())
  blocks = sorted({k.split('/')[1] for k in end_points
                   if k.startswith(scope + '/block') and k.count('/') == 1},
                  key=lambda b: int(b[len('block'):]))
  for block in blocks:
    units = sorted({k.split('/')[2] for k in end_points if k.startswith(
        '%s/%s/unit_' % (scope, block))}, key=lambda u: int(u[5:]))
    for unit in units:
      unit_scope = '%s/%s/%s' % (scope, block, unit)
      key = next(k for k in end_points if k.startswith(unit_scope + '/') and
                 k.count('/') == 3)
      rows.append(row('%s/%s' % (block, unit), 'unit', key, [unit_scope]))
    rows.append(row(block, 'block', '%s/%s' % (scope, block),
                    ['%s/%s' % (scope, block)]))
  head = [scope + '/postnorm']
  rows.append(row('postnorm+pool5', 'head', 'global_pool', head))
  if scope + '/logits' in end_points:
    rows.append(row('logits', 'logits', scope + '/logits',
                    [scope + '/logits']))
  total = sum(int(v.shape.num_elements()) for v in variables)
  rows.append(Row('total', 'total', end_points.get('predictions', next(
      iter(end_points.values()))).shape.as_list(), total,
                  flops_lib.count_flops(graph)[0]))
  return rows


def summarize(model: str, *, image_size: Optional[int] = None,
              batch_size: int = 1, num_classes: Optional[int] = 1000,
              tensorboard_dir: Optional[str] = None,
              **network_kwargs: Any) -> List[Row]:
  """Builds ``model`` in a fresh graph and returns its rows.

  Args:
    model: a registered network name.
    image_size: input size (default: the network's default, 224).
    batch_size: batch size the FLOPs are counted for.
    num_classes: classes of the logits layer (None: no logits).
    tensorboard_dir: if set, the graph is written there for TensorBoard.
    **network_kwargs: e.g. ``use_shortcut=False``.

  Returns:
    A list of ``Row``.

  Raises:
    ValueError: unknown model or bad sizes.
  """
  network_fn = nets_factory.get_network_fn(model, num_classes)
  image_size = nets_factory.check_image_size(
      network_fn.default_image_size if image_size is None else image_size,
      model=model)
  batch_size = resnet_utils.check_positive_int(batch_size, 'batch_size')
  if tensorboard_dir:   # appends an events file; replaces nothing there
    fileio.check_writable_dir(tensorboard_dir, '`tensorboard`')
  graph = tf.Graph()
  with graph.as_default():
    images = tf.placeholder(tf.float32, [batch_size, image_size, image_size,
                                         3], name='images')
    _, end_points = network_fn(images, **network_kwargs)
    if tensorboard_dir:
      _write_graph(graph, tensorboard_dir)
  return build_rows(graph, end_points, model)


def _write_graph(graph, folder):
  """Writes ``graph`` as a new events file in ``folder``; on a failed
  write, removes that file (and ``folder`` if it made it), so nothing is
  left that TensorBoard would show as a result."""
  made = not os.path.isdir(folder)
  before = set(os.listdir(folder)) if not made else set()
  writer = tf.summary.FileWriter(folder, graph=graph)
  writer.close()
  try:
    # The event writer swallows flush and close errors (a full disk leaves
    # an empty file): success only once the graph is on disk.
    fileio.check_written(
        _newest_events(folder), '`tensorboard` events file',
        min_bytes=len(graph.as_graph_def().SerializeToString()))
  except fileio.OutputPathError:
    for name in set(os.listdir(folder)) - before:
      fileio.remove_path(os.path.join(folder, name))
    if made:
      fileio.remove_path(folder)
    raise


def _newest_events(folder):
  import glob  # pylint: disable=g-import-not-at-top
  found = glob.glob(os.path.join(folder, 'events.out.tfevents.*'))
  return max(found, key=os.path.getmtime) if found else os.path.join(
      folder, 'events.out.tfevents.*')


def _human(n):
  for unit, size in (('G', 1e9), ('M', 1e6), ('K', 1e3)):
    if abs(n) >= size:
      return '%.2f%s' % (n / size, unit)
  return str(n)


def format_table(rows: Sequence[Row], fmt: str = 'text') -> str:
  """Renders rows as 'text', 'markdown' or 'json'."""
  if fmt == 'json':
    import json  # pylint: disable=g-import-not-at-top
    return json.dumps([r._asdict() for r in rows], indent=2)
  header = ['layer', 'output shape', 'parameters', 'FLOPs']
  body = [[r.name.upper() if r.kind == 'total' else r.name,
           'x'.join(map(str, r.shape[1:])) if r.shape else '-',
           '{:,}'.format(r.parameters), _human(r.flops)] for r in rows]
  if fmt == 'markdown':
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(('**%s**' % c if r.kind in ('block', 'total')
                                  else c) for c in cells) + ' |'
              for r, cells in zip(rows, body)]
    return '\n'.join(lines)
  if fmt != 'text':
    raise ValueError('format must be one of %s, got %r.'
                     % (', '.join(FORMATS), fmt))
  widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
  lines = ['  '.join(h.ljust(w) for h, w in zip(header, widths))]
  for r, cells in zip(rows, body):
    if r.kind in ('block', 'total'):
      lines.append('-' * (sum(widths) + 6))
    lines.append('  '.join(c.ljust(w) for c, w in zip(cells, widths)))
  return '\n'.join(lines)
