"""Streaming evaluation of a checkpoint: top-1, top-5 and loss over a dataset.

The images come from TF-Slim TFRecord shards or a folder of class
sub-folders, are decoded and preprocessed by ``data.preprocessing`` (the
evaluation variant) and classified batch by batch; only running sums are
kept, so memory does not grow with the dataset, and the last partial batch
counts exactly once. Labels are 1-based as in TF-Slim's ImageNet records
(0 is background; folder classes get 1..K); the label offset follows the
head: a 1001-way head (with background) takes the labels as they are,
any other head subtracts one.

Typical use::

    from resnet_v2_slim.inference import evaluate

    result = evaluate.evaluate(evaluate.EvalConfig(
        checkpoint='resnet_v2_50.ckpt', tfrecord='/data/validation-*'))
    result['top1'], result['published']['top1']
"""

import contextlib
import dataclasses
import math
import os
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Union

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v2_slim import errors
from resnet_v2_slim import checkpoints
from resnet_v2_slim.config import inference as inference_config
from resnet_v2_slim.data import datasets
from resnet_v2_slim.data import imagenet
from resnet_v2_slim.data import images as images_lib
from resnet_v2_slim.data import preprocessing
from resnet_v2_slim.data import tfrecords
from resnet_v2_slim.inference import engines
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.nets import precision as precision_lib
from resnet_v2_slim.utils import fileio


# Declared without TensorFlow in config.inference (the command line parses
# its flags before TensorFlow loads): the same objects here.
EvalError = inference_config.EvalError
EvalConfig = inference_config.EvalConfig


def label_offset(num_classes: int, labels_offset: Union[int, str] = 'auto'
                 ) -> int:
  """TF-Slim's labels_offset: what to subtract from the 1-based labels.

  ``'auto'``: 0 for a 1001-way head (background at output 0, as the
  published checkpoints: ``nets.pretrained``), else 1.
  """
  if labels_offset != 'auto':
    return int(labels_offset)
  return 0 if num_classes == 1001 else 1


class _Source(NamedTuple):
  """Where the images come from, before decoding."""
  dataset: Any           # of (encoded, label, shard, record)
  names: List[str]       # the shards, or the folder's files
  text: str              # the source as the user named it
  skipped: List[Dict[str, Any]]   # files left out before the run


def _source(config: EvalConfig) -> _Source:
  """The records of ``config``'s tfrecord, data_dir or dataset_name.

  A built-in dataset gives its pixels instead of encoded bytes (see
  ``_prepare``). ``skipped`` lists the files of a folder left out before
  the run (``skip_corrupt``: they do not decode), as the run's skips.
  """
  if config.dataset_name is not None:
    data = datasets.builtin(config.dataset_name, config.dataset_split_name)
    return _Source(tf.data.Dataset.from_tensor_slices((
        data.images, data.labels + 1, np.zeros(len(data), np.int64),
        np.arange(len(data), dtype=np.int64))), [data.name], data.name, [])
  if config.tfrecord is not None:
    shards = tfrecords.find_shards(config.tfrecord)
    # Empty files, other formats and other records: one line naming the
    # shard, before the pipeline would fail without naming it.
    tfrecords.check_shards(shards)
    return _Source(tfrecords.examples(shards), shards, config.tfrecord, [])
  sources = config.label_sources()
  try:
    folder = datasets.image_folder(
        config.data_dir, skip_undecodable=config.skip_corrupt,
        folder=imagenet.validation_folder(config.data_dir, **sources)
        if sources else None)
  except images_lib.BadImagesError as exc:
    raise images_lib.bad_images_error(
        exc.files, config.data_dir, 'Remove or convert them, or pass '
        '`skip_corrupt` to count and skip them.') from None
  # Folder classes in sorted order get TF-Slim's 1-based labels, so a folder
  # and its converted shards evaluate identically.
  files = tf.data.Dataset.from_tensor_slices((
      folder.paths, folder.labels + 1, np.zeros(len(folder), np.int64),
      np.arange(len(folder), dtype=np.int64)))
  return _Source(
      files.map(lambda p, l, s, r: (tf.io.read_file(p), l, s, r)),
      folder.paths, config.data_dir,
      [{'where': 'file %s' % path, 'error': why, 'position': None}
       for path, why in sorted(folder.skipped.items())])


def _where(names, shard, record, is_folder):
  if is_folder:
    return 'file %s' % names[record]
  return 'shard %s, record %d' % (names[shard], record)


class _Failure(NamedTuple):
  """The first record that fails to read or decode."""
  shard: int             # index into the source's names
  record: int            # the record in its shard (a folder: the file)
  message: str           # the informative line of the error
  position: int          # the raw position in the source, for skipping
  kind: str              # 'read' (bytes unreadable) or 'decode' (no image)


def _locate_failure(config: EvalConfig, after: int) -> Optional[_Failure]:
  """Finds the first record from raw position ``after`` that fails.

  The batched pipeline only says that a batch failed; this reads the
  following records one by one (parse and decode only) to name the one.

  Args:
    config: the evaluation's settings (the source).
    after: the raw position to start at (records evaluated or skipped).

  Returns:
    A ``_Failure``, or None if nothing fails.
  """
  with tf.Graph().as_default():
    dataset = _source(config).dataset
    dataset = dataset.skip(after)
    item = tf.data.make_one_shot_iterator(dataset.map(
        lambda e, l, s, r: (tf.shape(preprocessing.decode_image(e)), s, r))
                                          ).get_next()
    raw = tf.data.make_one_shot_iterator(dataset.map(
        lambda e, l, s, r: (s, r))).get_next()
    with tf.Session() as sess:
      shard, record, position = 0, after - 1, after - 1
      while True:
        try:
          shard, record = sess.run(raw)
          position += 1
        except tf.errors.OutOfRangeError:
          return None
        except tf.errors.OpError as exc:  # the record itself cannot be read
          return _Failure(shard, record + 1, errors.quoted(exc, 200), position + 1,
                          'read')
        try:
          sess.run(item)
        except tf.errors.OpError as exc:
          return _Failure(shard, record, errors.quoted(exc, 200), position,
                          'decode')


def evaluate(config: EvalConfig, log: Callable[[str], None] = print
             ) -> Dict[str, Any]:
  """Evaluates ``config.checkpoint``; returns the result dict.

  Raises:
    EvalError, checkpoints.CheckpointError, tfrecords.RecordError,
      datasets.DataError: before any work, or naming the record at fault.
  """
  config.validate()
  if not config.model_file:
    config.check_runtime(None)   # the checkpoint's TensorFlow graph
  engine = (engines.load(config.model_file, config.engine,
                         precision=config.precision, threads=config.threads,
                         streams=config.streams)
            if config.model_file else None)
  try:
    return _evaluate(config, engine, log)
  finally:
    if engine:
      engine.close()


def watch(config: EvalConfig, log: Callable[[str], None] = print,
          sleep: Callable[[float], None] = time.sleep, *,
          last_step: Optional[int] = None) -> List[Dict[str, Any]]:
  """Evaluates every new checkpoint of a training folder once (slim's loop).

  For each checkpoint that appears in ``config.checkpoint`` (a train dir),
  oldest first: the ``evaluate`` result, as a JSON line through ``log`` and
  appended to ``TRAIN_DIR/eval/results.jsonl``, and TensorBoard scalars
  ``eval/top1``, ``eval/top5``, ``eval/loss`` at the checkpoint's step in
  ``TRAIN_DIR/eval``, so they share the training curves' step axis. Stops
  after ``config.timeout`` seconds without a new checkpoint, or once a
  checkpoint at ``last_step`` or later is evaluated (the end of the run).

  Args:
    config: an ``EvalConfig`` whose ``checkpoint`` is the training folder.
    log: where the JSON lines go.
    sleep: how to wait between looks (tests pass a fake).
    last_step: the run's final step, or None to stop on the timeout only.

  Returns:
    The list of results, one per checkpoint evaluated.

  Raises:
    EvalError: ``checkpoint`` is not a folder, or a bad setting.
    fileio.OutputPathError: another watcher holds the folder's eval folder.
  """
  folder = config.checkpoint
  if not folder or not os.path.isdir(folder):
    raise EvalError('`watch` needs `checkpoint` to be a training folder, got '
                    '%r.' % (folder,))
  for name in ('timeout', 'poll_secs'):
    value = getattr(config, name)
    if not (math.isfinite(value) and value > 0):
      raise EvalError('`%s` must be a positive number of seconds, got %r.'
                      % (name, value))
  eval_dir = os.path.join(folder, 'eval')
  fileio.check_writable_dir(eval_dir, '`checkpoint` eval folder')
  # One watcher per folder: a second would append every result again.
  with fileio.DirLock(eval_dir, '`checkpoint` eval folder'):
    return _watch_loop(config, eval_dir, log, sleep, last_step)


def _watch_loop(config: EvalConfig, eval_dir: str,
                log: Callable[[str], None], sleep: Callable[[float], None],
                last_step: Optional[int]) -> List[Dict[str, Any]]:
  """``watch``'s loop, with the eval folder locked: see ``watch``."""
  import json  # pylint: disable=g-import-not-at-top
  folder = config.checkpoint
  with tf.Graph().as_default():   # the TF1 writer wants a graph
    writer = tf.summary.FileWriter(eval_dir)
  seen, results, last_new = set(), [], time.monotonic()
  try:
    while True:
      for prefix in checkpoints.existing_checkpoints(folder)[0]:
        if prefix in seen:
          continue
        seen.add(prefix)
        result = evaluate(dataclasses.replace(config, checkpoint=prefix,
                                              watch=False),
                          log=lambda line: None)
        step = int(prefix.rsplit('-', 1)[1]) if prefix.rsplit(
            '-', 1)[-1].isdigit() else 0
        result['step'] = step
        writer.add_summary(tf.Summary(value=[
            tf.Summary.Value(tag='eval/' + key, simple_value=result[key])
            for key in ('top1', 'top5', 'loss')]), step)
        writer.flush()
        line = json.dumps({k: v for k, v in result.items()
                           if k not in ('published', 'skipped')},
                          sort_keys=True)
        with open(os.path.join(eval_dir, 'results.jsonl'), 'a',
                  encoding='utf-8') as f:
          f.write(line + '\n')
        log(line)
        results.append(result)
        last_new = time.monotonic()
        if last_step is not None and step >= last_step:
          return results
      if time.monotonic() - last_new >= config.timeout:
        return results
      sleep(config.poll_secs)
  finally:
    writer.close()


def _artifact_defaults(config, engine):
  """model, classes, preprocessing, size of an exported model alone."""
  if config.model not in ('auto', None) or config.num_classes != 'auto':
    raise EvalError('`model_file` holds its network and classes; leave '
                    '`model` and `num_classes` at auto.')
  method = (preprocessing.DEFAULT_METHOD if config.preprocessing == 'auto'
            else config.preprocessing)
  size = config.image_size
  if size == 'auto':   # the size the file declares; else the usual 224
    declared = engine.input_size
    size = declared[0] if declared and declared[0] == declared[1] else 224
  try:
    classes = engine.run(np.zeros((1, size, size, 3), np.float32)).shape[-1]
  except engines.EngineError as exc:   # it knows the size it takes
    raise EvalError(str(exc)) from None
  except Exception as exc:  # pylint: disable=broad-except
    # Each engine raises its own kinds for a wrong input shape.
    raise EvalError('%s does not take %dx%d images (%s); give the '
                    '`image_size` it was exported at, or `checkpoint`.'
                    % (config.model_file, size, size,
                       errors.quoted(exc, 200))) from None
  return os.path.basename(config.model_file.rstrip('/')), classes, method, (
      size)


@dataclasses.dataclass(frozen=True)
class _EvalModel:
  """What is evaluated, with 'auto' resolved."""
  model: str             # the network's name (or the exported file's)
  num_classes: int
  info: Any              # checkpoints.CheckpointInfo, None for a model file
  row: Any               # the published checkpoint's table row, or None
  method: str            # preprocessing
  size: int              # image size
  offset: int            # subtracted from the 1-based labels
  averages: bool         # restore the moving averages of the weights


class _Pipeline(NamedTuple):
  """The finalized input (and network) graph of one evaluation."""
  graph: Any
  iterator: Any          # initializable: restarted past skipped records
  fetch: Dict[str, Any]  # one batch's sums (or its images, for an engine)
  restore_fn: Optional[Callable[[Any], None]]
  skip_positions: Any    # placeholder: raw positions filtered out
  start: Any             # placeholder: records to skip on a restart
  names: List[str]       # the shards or files, to name a record
  source: str
  left_out: List[Dict[str, Any]]   # files left out before the run


class _LoopResult(NamedTuple):
  """What the batch loop summed up."""
  totals: Dict[str, Any]   # top1, top5, loss, count
  skipped: List[Dict[str, Any]]   # records skipped while running
  seconds: float


def _evaluate(config: EvalConfig, engine, log: Callable[[str], None]
              ) -> Dict[str, Any]:
  """``evaluate`` with the engine (or None: the checkpoint's graph)."""
  resolved = _resolve_model(config, engine, log)
  pipeline = _build_pipeline(config, engine, resolved, log)
  loop = _run_loop(config, engine, resolved, pipeline, log)
  return _result(config, engine, resolved, pipeline, loop)


def _resolve_model(config: EvalConfig, engine,
                   log: Callable[[str], None]) -> _EvalModel:
  """Resolves the model, classes, preprocessing and size to evaluate with.

  Args:
    config: the evaluation's settings.
    engine: the exported model's engine, or None (the checkpoint's graph).
    log: where notes go.

  Returns:
    An ``_EvalModel``.

  Raises:
    EvalError, checkpoints.CheckpointError: settings that do not fit.
  """
  if config.checkpoint:
    model, num_classes, info = checkpoints.choose_model(
        config.checkpoint, config.model, config.num_classes)
    row = info.pretrained
    defaults = info.defaults(model, preprocessing=config.preprocessing,
                             image_size=config.image_size)
    method, size = defaults.preprocessing, defaults.image_size
    if (config.dataset_name and config.image_size == 'auto' and
        not defaults.recorded):
      size = 32   # train's default for the built-in sets
  else:
    info, row, defaults = None, None, None
    model, num_classes, method, size = _artifact_defaults(config, engine)
  preprocessing.check_method(method)
  if config.dataset_name:
    method = 'upsampled'   # built-in sets: nearest-neighbour, as in train
  if engine is None:
    size = nets_factory.check_image_size(size, model=model)
  if engine is not None and config.checkpoint:
    model = '%s (from %s)' % (os.path.basename(
        config.model_file.rstrip('/')), model)
  offset_flag = config.labels_offset
  if offset_flag == 'auto' and defaults and defaults.labels_offset is not None:
    offset_flag = defaults.labels_offset   # recorded by train, or the row's
  offset = label_offset(num_classes, offset_flag)
  _check_head_against_labels(config, num_classes, offset, log)
  averages = bool(info and engine is None and not config.raw_weights and
                  checkpoints.has_moving_averages(info))
  if averages:
    log('using the moving averages of the weights (`raw_weights` for the '
        'raw ones)')
  return _EvalModel(model=model, num_classes=num_classes, info=info, row=row,
                    method=method, size=size, offset=offset,
                    averages=averages)


def _build_pipeline(config: EvalConfig, engine, resolved: _EvalModel,
                    log: Callable[[str], None]) -> _Pipeline:
  """Builds the input pipeline (and the network, without an engine).

  Args:
    config: the evaluation's settings.
    engine: the exported model's engine, or None.
    resolved: what is evaluated.
    log: where the files left out before the run are named.

  Returns:
    A ``_Pipeline`` whose graph is finalized.
  """
  graph = tf.Graph()
  with graph.as_default():
    source = _source(config)
    for entry in source.skipped:
      log('skipped %s: %s' % (entry['where'], entry['error']))
    dataset = source.dataset
    if config.max_examples:
      dataset = dataset.take(config.max_examples)
    # Records found undecodable (--skip_corrupt) are filtered out by their
    # position; after one is found the iterator restarts past what has
    # been evaluated.
    skip_positions = tf.placeholder(tf.int64, [None], name='skip_positions')
    start = tf.placeholder(tf.int64, [], name='start')
    dataset = dataset.enumerate().filter(
        lambda i, _: tf.reduce_all(tf.not_equal(i, skip_positions))).map(
            lambda i, x: x).skip(start)
    dataset = dataset.map(_preparer(config, resolved),
                          num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(config.batch_size).prefetch(2)
    iterator = tf.data.make_initializable_iterator(dataset)
    images, labels, shard, record = iterator.get_next()
    if engine is not None:   # the graph only reads; the engine computes
      fetch = {'images': images, 'labels': labels, 'shard': shard,
               'record': record}
      restore_fn = None
    else:
      fetch, restore_fn = _network_fetches(
          resolved.model, resolved.num_classes, resolved.info, images,
          labels, shard, record, resolved.averages, config.precision)
  graph.finalize()
  return _Pipeline(graph=graph, iterator=iterator, fetch=fetch,
                   restore_fn=restore_fn, skip_positions=skip_positions,
                   start=start, names=source.names, source=source.text,
                   left_out=source.skipped)


def _preparer(config: EvalConfig, resolved: _EvalModel):
  """The dataset map from a record to (image, label, shard, record)."""
  def prepare(encoded, label, shard, record):
    if config.dataset_name is not None:   # pixels, as train sees them
      image = datasets.Dataset.upsample(encoded, resolved.size)
    else:
      image = preprocessing.preprocess(preprocessing.decode_image(encoded),
                                       resolved.method, resolved.size)
    return image, label - resolved.offset, shard, record
  return prepare


def _run_loop(config: EvalConfig, engine, resolved: _EvalModel,
              pipeline: _Pipeline, log: Callable[[str], None]
              ) -> _LoopResult:
  """Runs the batches, summing the metrics; skips or names bad records.

  Args:
    config: the evaluation's settings.
    engine: the exported model's engine, or None.
    resolved: what is evaluated.
    pipeline: the graph to run.
    log: where progress and skips are reported.

  Returns:
    A ``_LoopResult``.

  Raises:
    EvalError: a record that cannot be read or decoded (and is not
      skipped), or a label outside the head.
  """
  totals = {'top1': 0, 'top5': 0, 'loss': 0.0, 'count': 0}
  skipped = []
  start_time = last_log = time.time()
  # closing(), not the session's own ``with``: that makes the input graph
  # the default, and an engine running eagerly (Keras) cannot run in it.
  with contextlib.closing(tf.Session(
      graph=pipeline.graph,
      config=engines.session_config(config.threads))) as sess:
    if pipeline.restore_fn:
      pipeline.restore_fn(sess)
    sess.run(pipeline.iterator.initializer,
             {pipeline.skip_positions: [], pipeline.start: 0})
    while True:
      try:
        out = sess.run(pipeline.fetch)
      except tf.errors.OutOfRangeError:
        break
      except tf.errors.OpError as exc:
        skipped.append(_skip_or_raise(config, pipeline.names, exc,
                                      totals['count'] + len(skipped),
                                      totals['count']))
        log('skipped %s: %s' % (skipped[-1]['where'], skipped[-1]['error']))
        # Restart past what has been evaluated, without the skipped ones.
        sess.run(pipeline.iterator.initializer, {
            pipeline.skip_positions: [s['position'] for s in skipped],
            pipeline.start: totals['count']})
        continue
      if engine is not None:
        out.update(_metrics(engine.run(out.pop('images')), out['labels'],
                            resolved.num_classes))
      _check_labels(config, resolved, pipeline.names, out)
      for key in totals:
        totals[key] += out[key]
      if time.time() - last_log > 10:
        _log_progress(config, totals['count'], start_time, log)
        last_log = time.time()
  return _LoopResult(totals=totals, skipped=skipped,
                     seconds=time.time() - start_time)


def _skip_or_raise(config: EvalConfig, names: List[str], exc, after: int,
                   good: int) -> Dict[str, Any]:
  """Locates the record a batch failed on: a skip entry, or an EvalError.

  Args:
    config: the evaluation's settings (``skip_corrupt``).
    names: the shards or files, to name the record.
    exc: the batch's ``tf.errors.OpError``.
    after: the raw position to search from (evaluated plus skipped).
    good: the records evaluated so far.

  Returns:
    ``{'where', 'error', 'position'}`` of an undecodable record to skip.

  Raises:
    EvalError: naming the record, unless it is skipped.
  """
  found = _locate_failure(config, after)
  is_folder = config.data_dir is not None
  if found and found.kind == 'decode' and config.skip_corrupt:
    return {'where': _where(names, found.shard, found.record, is_folder),
            'error': found.message, 'position': int(found.position)}
  where = ('the record after %d good ones' % good if found is None
           else _where(names, found.shard, found.record, is_folder))
  raise EvalError(
      'cannot read or decode %s: %s. %s'
      % (where, found.message if found else errors.quoted(exc, 200),
         'Pass `skip_corrupt` to count and skip images that do not '
         'decode.' if found and found.kind == 'decode' and not
         config.skip_corrupt else 'Remove or fix it (or reconvert the '
         'shard).')) from None


def _check_labels(config: EvalConfig, resolved: _EvalModel,
                  names: List[str], out: Dict[str, Any]) -> None:
  """Raises EvalError naming the first label of a batch outside the head."""
  if out['valid']:
    return
  labels, num_classes = out['labels'], resolved.num_classes
  bad = int(np.flatnonzero((labels < 0) | (labels >= num_classes))[0])
  raise EvalError(
      'label %d (after subtracting offset %d) in %s is outside the '
      "head's %d classes. Check `labels_offset` (auto: 0 for 1001 "
      'classes, else 1) and `num_classes`.'
      % (labels[bad] + resolved.offset, resolved.offset,
         _where(names, out['shard'][bad], out['record'][bad],
                config.data_dir is not None), num_classes))


def _log_progress(config: EvalConfig, count: int, start_time: float,
                  log: Callable[[str], None]) -> None:
  rate = count / (time.time() - start_time)
  left = ('' if not config.max_examples else ', %.0f s left' % (
      (config.max_examples - count) / rate))
  log('%d images, %.1f images/sec%s' % (count, rate, left))


def _result(config: EvalConfig, engine, resolved: _EvalModel,
            pipeline: _Pipeline, loop: _LoopResult) -> Dict[str, Any]:
  """``evaluate``'s result dict.

  Raises:
    EvalError: no image was evaluated.
  """
  count, seconds = loop.totals['count'], loop.seconds
  if count == 0:
    raise EvalError('%s holds no images to evaluate.' % pipeline.source)
  r = resolved
  return {
      'num_examples': int(count),
      'top1': loop.totals['top1'] / count,
      'top5': loop.totals['top5'] / count,
      'loss': loop.totals['loss'] / count,
      'images_per_sec': count / seconds if seconds > 0 else math.inf,
      'seconds': seconds, 'checkpoint': r.info.path if r.info else None,
      'model_file': config.model_file,
      'engine': engine.engine if engine else 'tensorflow',
      'precision': engine.precision if engine else config.precision,
      'model': r.model,
      'moving_averages': r.averages,
      'num_classes': r.num_classes, 'labels_offset': r.offset,
      'preprocessing': r.method, 'image_size': r.size,
      'source': pipeline.source, 'tfrecord': config.tfrecord,
      'published': dataclasses.asdict(r.row) if r.row else None,
      'num_skipped': len(pipeline.left_out) + len(loop.skipped),
      'skipped': [{k: v for k, v in s.items() if k != 'position'}
                  for s in pipeline.left_out + loop.skipped],
      **config.runtime_record(),
      # What the engine says it ran with (threads, streams), read back.
      'engine_runtime': engine.runtime if engine else {},
  }


def _check_head_against_labels(config, num_classes, offset, log):
  """A warning when the labels.txt beside the shards does not fit the head.

  ``convert`` writes 1-based labels for K classes, so a head for them has
  K + 1 - offset outputs (K with offset 1; K + 1 with the background kept).
  """
  if not config.tfrecord:
    return
  shards = tfrecords.find_shards(config.tfrecord)
  names = os.path.join(os.path.dirname(shards[0]), 'labels.txt')
  if not os.path.isfile(names):
    return
  from resnet_v2_slim.data import labels as labels_lib  # pylint: disable=g-import-not-at-top
  count = len(labels_lib.read_names(names))
  if count + 1 - offset != num_classes:
    log('warning: %s lists %d classes, but the model has %d outputs (with '
        '`labels_offset` %d it would have %d): is this the model for these '
        'shards?' % (names, count, num_classes, offset, count + 1 - offset))


def _network_fetches(model, num_classes, info, images, labels, shard,
                     record, moving_averages=False, precision='fp32'):
  """The checkpoint's network and the metric sums of one batch."""
  network_fn = nets_factory.get_network_fn(model, num_classes)
  logits, _ = precision_lib.build(network_fn, images, precision,
                                  cast_once=True, spatial_squeeze=True,
                                  use_shortcut=info.use_shortcut)
  valid = tf.reduce_all((labels >= 0) & (labels < num_classes))
  safe = tf.clip_by_value(labels, 0, num_classes - 1)
  fetch = {
      'top1': tf.reduce_sum(tf.cast(tf.nn.in_top_k(logits, safe, 1),
                                    tf.int64)),
      'top5': tf.reduce_sum(tf.cast(tf.nn.in_top_k(
          logits, safe, min(5, num_classes)), tf.int64)),
      'loss': tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(
          labels=safe, logits=logits)),
      'count': tf.size(labels), 'valid': valid, 'labels': labels,
      'shard': shard, 'record': record}
  _, restore_fn = checkpoints.restorer(info, scope=model,
                                       moving_averages=moving_averages)
  return fetch, restore_fn


def _metrics(logits, labels, num_classes):
  """The same sums as ``_network_fetches``, in NumPy, for an engine's logits.

  ``tf.nn.in_top_k`` counts a label as in the top k when fewer than k
  classes score strictly higher; so does this.
  """
  logits = np.asarray(logits, np.float64)
  valid = bool(np.all((labels >= 0) & (labels < num_classes)))
  safe = np.clip(labels, 0, num_classes - 1)
  target = logits[np.arange(len(safe)), safe]
  higher = np.sum(logits > target[:, None], axis=1)
  peak = logits.max(1, keepdims=True)
  log_sum = peak[:, 0] + np.log(np.exp(logits - peak).sum(1))
  return {'top1': int(np.sum(higher < 1)),
          'top5': int(np.sum(higher < min(5, num_classes))),
          'loss': float(np.sum(log_sum - target)), 'count': len(labels),
          'valid': valid}


# A published checkpoint at under ten times chance, on enough images to
# tell: its labels, not its weights, are most likely wrong.
HINT_MIN_EXAMPLES, HINT_TIMES_CHANCE = 500, 10


def label_order_hint(result: dict) -> Optional[str]:
  """The warning for a published checkpoint that scores near chance.

  The classic cause is ImageNet validation labels in the devkit's order
  (its ILSVRC2012_IDs) instead of slim's (1 + the sorted-WNID index).
  None for a checkpoint without a published row (its weights may be
  anything), for too few images, and above ten times chance.
  """
  if not result.get('published') or (
      result['num_examples'] < HINT_MIN_EXAMPLES):
    return None
  chance = 1.0 / (result['num_classes'] - (result['num_classes'] == 1001))
  if result['top1'] >= HINT_TIMES_CHANCE * chance:
    return None
  return ('top-1 %.2f%% is near chance (%.2f%%) for %s, published at '
          '%.1f%%: if these are ImageNet\'s validation images, their labels '
          'are most likely in another order than slim\'s (1 + the index of '
          'the WNID in sorted order; the devkit\'s IDs are not that). Label '
          'them with convert --imagenet_val DIR --devkit, --solution_csv or '
          '--synset_labels (docs/evaluation.md).' % (
              100 * result['top1'], 100 * chance,
              result['published']['name'], result['published']['top1']))


def report_line(result: dict) -> str:
  """``top-1 75.61% top-5 92.80% (published 75.6 / 92.8)`` and friends.

  The labels offset is shown for shards only (folders and the built-in
  sets have 0-based labels); top-5 only for heads of more than 5 classes
  (with 5 or fewer it is 100% by definition).
  """
  offset = (', labels offset %d' % result['labels_offset']
            if result.get('tfrecord') else '')
  top5 = (', top-5 %.2f%%' % (100 * result['top5'])
          if result['num_classes'] > 5 else '')
  line = ('%s on %d images%s (%s at %d%s): top-1 %.2f%%%s, loss %.4f, '
          '%.1f images/sec'
          % (result['model'] + (' on %s %s' % (result['engine'],
                                               result['precision'])
                                if result.get('model_file') else
                                ' in %s' % result['precision']
                                if result['precision'] != 'fp32' else ''),
             result['num_examples'],
             ', %d skipped' % result['num_skipped']
             if result['num_skipped'] else '',
             result['preprocessing'], result['image_size'], offset,
             100 * result['top1'], top5, result['loss'],
             result['images_per_sec']))
  if result['published']:
    line += '; published %s: top-1 %.1f%%, top-5 %.1f%%' % (
        result['published']['name'], result['published']['top1'],
        result['published']['top5'])
  return line

