"""A graph-mode training loop in the book's style: sessions and UPDATE_OPS.

What it does, in order:
1. checks the data and ``train_dir`` before writing anything: a checkpoint
   of a different network in ``train_dir`` is an error, not a silent
   restore;
2. builds the network in training mode, the loss (cross entropy plus the
   arg scope's L2 weight decay) and a momentum train op that also runs the
   batch norm moving-average updates (``tf.GraphKeys.UPDATE_OPS``);
3. resumes from the latest checkpoint in ``train_dir`` (weights, optimizer
   state and step), or else warm-starts from ``checkpoint`` without its
   logits, or else starts fresh;
4. trains, printing ``step, loss, accuracy, images/sec`` and writing
   TensorBoard summaries, and saves a checkpoint every ``save_every`` steps
   and at the end. TensorFlow's Saver writes the data to temporary files and
   renames them, then rewrites the ``checkpoint`` index file atomically, so
   an interrupted run leaves the previous checkpoint usable.

Typical use::

    from resnet_v2_slim.training import trainer

    config = trainer.TrainConfig(model='resnet_v2_18', train_dir='/tmp/run',
                                  steps=200)
    history = trainer.train(config)     # [{'step', 'loss', 'accuracy'}...]
"""

import dataclasses
import math
import os
import time

import tensorflow.compat.v1 as tf

from resnet_v2_slim import checkpoints
from resnet_v2_slim.data import datasets as data_lib
from resnet_v2_slim.data import preprocessing as preprocessing_lib
from resnet_v2_slim.data import tfrecords
from resnet_v2_slim.utils import fileio
from resnet_v2_slim.nets import nets_factory


class TrainError(ValueError):
  """A training setting or train_dir that cannot be used as asked."""


class TrainInterrupted(TrainError):
  """Ctrl-C during training: nothing half-done was saved."""


@dataclasses.dataclass
class TrainConfig:
  """Settings of one training run."""
  model: str
  train_dir: str
  data_dir: str = None
  use_shortcut: bool = True
  steps: int = 300
  batch_size: int = 32
  learning_rate: float = 0.02
  momentum: float = 0.9
  weight_decay: float = 1e-4
  image_size: int = 32
  checkpoint: str = None
  exclude_scopes: tuple = None
  preprocessing: str = 'auto'   # folders: 'inception', 'vgg' or 'auto'
  tfrecord: str = None          # TF-Slim shards instead of a folder
  num_classes: int = None       # records: default from labels.txt
  labels_offset: int = 1        # records: 1 -> classes 0..K-1
  shuffle_buffer: int = 10000   # records
  deterministic: bool = False   # records: same order every run
  save_every: int = 100
  log_every: int = 10
  seed: int = 0

  def validate(self):
    try:
      nets_factory.check_model_and_size(self.model, self.image_size)
    except ValueError as exc:
      raise TrainError(str(exc)) from None
    for flag in ('steps', 'batch_size', 'save_every', 'log_every'):
      if getattr(self, flag) <= 0:
        raise TrainError('--%s must be > 0, got %r.'
                         % (flag, getattr(self, flag)))
    for flag in ('learning_rate', 'momentum', 'weight_decay'):
      value = getattr(self, flag)
      if not math.isfinite(value) or value < 0 or (
          flag == 'learning_rate' and value == 0):
        raise TrainError('--%s must be a finite number %s 0, got %r.'
                         % (flag, '>' if flag == 'learning_rate' else '>=',
                            value))
    if self.preprocessing not in preprocessing_lib.FLAG_CHOICES:
      raise TrainError('--preprocessing must be auto, %s; got %r.'
                       % (' or '.join(preprocessing_lib.METHODS),
                          self.preprocessing))
    if self.data_dir and self.tfrecord:
      raise TrainError('give --data_dir or --tfrecord, not both.')
    if self.shuffle_buffer <= 0 or (self.num_classes is not None and
                                    self.num_classes <= 0):
      raise TrainError('--shuffle_buffer and --num_classes must be > 0.')
    if self.labels_offset not in (0, 1):
      raise TrainError('--labels_offset must be 0 (keep background 0) or 1, '
                       'got %r.' % self.labels_offset)
    if os.path.exists(self.train_dir) and not os.path.isdir(self.train_dir):
      raise TrainError('--train_dir %s exists and is not a folder.'
                       % self.train_dir)


def _check_resumable(config, num_classes):
  """The newest existing checkpoint of train_dir if it is this network's.

  Returns:
    ``(prefix or None, note or None)``, as ``checkpoints.latest_checkpoint``.
  """
  if not os.path.isdir(config.train_dir):
    return None, None
  try:
    latest, note = checkpoints.latest_checkpoint(config.train_dir)
  except checkpoints.CheckpointError as exc:
    raise TrainError('--train_dir: %s' % exc) from None
  if latest is None:
    return None, None
  try:
    info = checkpoints.describe(latest)
  except checkpoints.CheckpointError as exc:
    raise TrainError('--train_dir %s holds a checkpoint this run cannot '
                     'resume: %s Use another --train_dir.'
                     % (config.train_dir, exc)) from None
  want = (config.model, num_classes, config.use_shortcut)
  have = (info['model'], info['num_classes'], info['use_shortcut'])
  if have != want:
    raise TrainError(
        '--train_dir %s holds a checkpoint of %s with %s classes '
        '(use_shortcut=%s), but this run trains %s with %d classes '
        '(use_shortcut=%s). Nothing was changed; use another --train_dir to '
        'start a new run.' % ((config.train_dir,) + have + want))
  return latest, note


def build_model(config, dataset, preprocessing='inception'):
  """Builds input pipeline, network, loss, metrics and train op."""
  tf.set_random_seed(config.seed)
  batches = dataset.train_batches(config.batch_size, config.seed,
                                  preprocessing_method=preprocessing)
  images, labels = batches.images, batches.labels
  network_fn = nets_factory.get_network_fn(
      config.model, dataset.num_classes, is_training=True,
      weight_decay=config.weight_decay)
  logits, _ = network_fn(images, use_shortcut=config.use_shortcut,
                         spatial_squeeze=True)
  cross_entropy = tf.losses.sparse_softmax_cross_entropy(labels, logits)
  loss = tf.add_n([cross_entropy] + tf.losses.get_regularization_losses(),
                  name='total_loss')
  accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1), labels),
                                    tf.float32))
  global_step = tf.train.get_or_create_global_step()
  optimizer = tf.train.MomentumOptimizer(config.learning_rate,
                                         config.momentum)
  # Batch norm's moving averages only update if their ops run with training.
  with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS)):
    train_op = optimizer.minimize(loss, global_step=global_step)
  tf.summary.scalar('loss', loss)
  tf.summary.scalar('cross_entropy', cross_entropy)
  tf.summary.scalar('accuracy', accuracy)
  # Checked before every save: a finite loss can still come with an update
  # that overflowed the weights (a huge learning rate), and such a
  # checkpoint must not replace the last good one.
  finite = tf.reduce_all([tf.reduce_all(tf.is_finite(v))
                          for v in tf.global_variables()
                          if v.dtype.base_dtype.is_floating])
  return {'train_op': train_op, 'loss': cross_entropy, 'accuracy': accuracy,
          'weights_finite': finite,
          'global_step': global_step, 'summary': tf.summary.merge_all(),
          'input_init': batches.initializer, 'input_feed': batches.feed_dict}


def choose_preprocessing(config):
  """--preprocessing auto: the published checkpoint's when fine-tuning one.

  Fine-tuning a published checkpoint should see images as it was trained
  with (``nets.pretrained``); otherwise Inception's, TF-Slim's default.
  """
  if config.preprocessing != 'auto' or not config.checkpoint:
    return (preprocessing_lib.DEFAULT_METHOD if config.preprocessing == 'auto'
            else config.preprocessing)
  return checkpoints.read(config.checkpoint).input_defaults(
      config.model, config.preprocessing)[0]


def _check_finite(what, ok, step, last_saved):
  """Stops a run whose loss or weights turned NaN or infinite."""
  if ok:
    return
  raise TrainError(
      'the %s became NaN or infinite at step %d, so training stopped and '
      'saved nothing more. %s Lower --learning_rate (or check the data) and '
      'rerun; it resumes from that checkpoint.'
      % (what, step, 'The last good checkpoint, %s, is kept.' % last_saved
         if last_saved else 'No checkpoint had been saved yet.'))


def train(config, log=print, dataset=None):
  """Trains (or resumes) ``config``; returns the logged history.

  Args:
    config: a ``TrainConfig``.
    log: where progress lines go.
    dataset: a ``datasets.Dataset`` (default: loaded from
      ``config.data_dir``).

  Returns:
    A list of ``{'step', 'loss', 'accuracy', 'images_per_sec'}`` dicts, one
    per logged step of this run.

  Raises:
    TrainError, datasets.DataError, checkpoints.CheckpointError,
      fileio.OutputPathError: before anything is written; TrainError also
      when the loss turns NaN (the last good checkpoint is kept);
      TrainInterrupted on Ctrl-C (nothing half-written).
  """
  config.validate()
  shards = (tfrecords.find_shards(config.tfrecord) if config.tfrecord
            else [])
  fileio.check_outputs(
      [('--train_dir', config.train_dir)],
      (checkpoints.input_paths(config.checkpoint) if config.checkpoint
       else []) + [('--data_dir', config.data_dir)] +
      [('--tfrecord', shard) for shard in shards])
  if dataset is None and config.tfrecord:
    dataset = data_lib.records(
        config.tfrecord, config.image_size, num_classes=config.num_classes,
        labels_offset=config.labels_offset,
        shuffle_buffer=config.shuffle_buffer,
        deterministic=config.deterministic)
  elif dataset is None:
    dataset = data_lib.load(config.data_dir, config.image_size)
  method = choose_preprocessing(config)
  latest, note = _check_resumable(config, dataset.num_classes)
  if note:
    log('warning: ' + note)
  graph = tf.Graph()
  with graph.as_default():
    ops = build_model(config, dataset, method)
    saver = tf.train.Saver(max_to_keep=3)
    init = tf.global_variables_initializer()
    warm, exclude = None, None
    if latest is None and config.checkpoint:
      exclude = (list(config.exclude_scopes) if config.exclude_scopes
                 else [config.model + '/logits'])
      _, warm = checkpoints.restorer(config.checkpoint, scope=config.model,
                                     exclude_scopes=exclude)
  graph.finalize()
  with fileio.DirLock(config.train_dir, '--train_dir'):
    return _run(config, graph, ops, saver, init, latest, warm, exclude, log)


def _run(config, graph, ops, saver, init, latest, warm, exclude, log):
  """The session part of ``train``, inside the train dir's lock."""
  prefix = os.path.join(config.train_dir, 'model.ckpt')
  history = []
  # The whole session runs inside the graph: the Saver and FileWriter need it
  # when eager execution is on (TF2's default).
  with graph.as_default(), tf.Session(graph=graph) as sess:
    sess.run(init)
    sess.run(ops['input_init'], ops['input_feed'])
    last_saved = latest
    if latest:
      saver.restore(sess, latest)
      log('resuming from %s (step %d)%s'
          % (latest, sess.run(ops['global_step']),
             '; --checkpoint %s is ignored' % config.checkpoint
             if config.checkpoint else ''))
    elif warm:
      warm(sess)
      log('warm-started from %s (excluded: %s)'
          % (config.checkpoint, ', '.join(exclude)))
    writer = tf.summary.FileWriter(config.train_dir, graph)
    step = sess.run(ops['global_step'])
    start = time.perf_counter()
    images_since = 0
    try:
      while step < config.steps:
        logging_step = ((step + 1) % config.log_every == 0 or
                        step + 1 == config.steps)
        fetches = [ops['train_op'], ops['loss'], ops['accuracy']]
        if logging_step:
          fetches.append(ops['summary'])
        results = sess.run(fetches)
        # Reading global_step in the same run races with its increment, so
        # count here: each run is exactly one step.
        loss, accuracy = results[1:3]
        step += 1
        _check_finite('loss', math.isfinite(float(loss)), step, last_saved)
        images_since += config.batch_size
        if logging_step:
          elapsed = time.perf_counter() - start
          rate = images_since / elapsed if elapsed > 0 else 0.0
          history.append({'step': int(step), 'loss': float(loss),
                          'accuracy': float(accuracy),
                          'images_per_sec': rate})
          log('step %d/%d: loss %.4f, accuracy %.3f, %.1f images/sec'
              % (step, config.steps, loss, accuracy, rate))
          writer.add_summary(results[3], step)
          start, images_since = time.perf_counter(), 0
        if step % config.save_every == 0 or step == config.steps:
          _check_finite('weights', sess.run(ops['weights_finite']), step,
                        last_saved)
          try:
            last_saved = saver.save(sess, prefix, global_step=step)
          except (tf.errors.OpError, OSError) as exc:   # e.g. a full disk
            raise TrainError(
                'could not save the checkpoint of step %d in %s (%s). %s'
                % (step, config.train_dir, getattr(exc, 'message', exc),
                   'The previous checkpoint, %s, is intact.' % last_saved
                   if last_saved else 'No checkpoint was saved.')) from None
    except KeyboardInterrupt:
      raise TrainInterrupted(
          'interrupted at step %d; nothing half-written. %s' % (
              step, 'Rerun the same command to resume from %s.' % last_saved
              if last_saved else 'No checkpoint was saved yet.')) from None
    finally:
      writer.close()
  return history
