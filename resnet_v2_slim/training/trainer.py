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
import glob
import hashlib
import math
import os
import shutil
import sys
import tempfile
import time

import tensorflow.compat.v1 as tf
import tf_slim as slim

from resnet_v2_slim import errors
from resnet_v2_slim import checkpoints
from resnet_v2_slim.data import datasets as data_lib
from resnet_v2_slim.data import preprocessing as preprocessing_lib
from resnet_v2_slim.data import tfrecords
from resnet_v2_slim.distribute import strategy as dist
from resnet_v2_slim.training import recipe
from resnet_v2_slim.utils import fileio
from resnet_v2_slim.utils.settings import setting
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.nets import precision as precision_lib


class TrainError(errors.Error):
  """A training setting or train_dir that cannot be used as asked."""


class TrainInterrupted(TrainError):
  """Ctrl-C during training: nothing half-done was saved."""


@dataclasses.dataclass
class TrainConfig:
  """Settings of one training run; ``train``'s flags are made from these."""
  model: str = setting(help='network name: %s' % ', '.join(
      nets_factory.network_names()))
  train_dir: str = setting(help='checkpoints and TensorBoard summaries; a '
                           'rerun resumes from its newest checkpoint')
  data_dir: str = setting(None, help='folder of class sub-folders of images '
                          '(default: the digits)')
  use_shortcut: bool = setting(True, negative='--no_shortcut',
                               help='train the ResNet (default); '
                               '--no_shortcut trains the plain twin')
  steps: int = setting(300, help='total steps, counting resumed ones '
                       '(default %(default)s)')
  batch_size: int = setting(32, help='images per replica and step; the '
                            'global batch is this times the replicas '
                            '(default %(default)s)')
  learning_rate: float = setting(
      0.02, help='used as given under every strategy; with N replicas the '
      'linear scaling rule (Goyal et al. 2017) suggests N times the '
      'one-replica rate (default %(default)s)')
  momentum: float = setting(0.9, help='momentum of the optimizer (default '
                            '%(default)s)')
  weight_decay: float = setting(1e-4, help='L2 weight decay of every '
                                'convolution (default %(default)s)')
  image_size: int = setting(32, help='training input height and width '
                            '(default %(default)s)')
  checkpoint: str = setting(None, help='warm-start from this checkpoint '
                            '(not its logits)')
  exclude_scopes: tuple = setting(None, nargs='*',
                                  help='scopes not to warm-start (default: '
                                  'the logits); each must exist in the '
                                  'network')
  preprocessing: str = setting(
      'auto', choices=preprocessing_lib.FLAG_CHOICES,
      help='training preprocessing of --data_dir images (auto: the '
      'published checkpoint\'s when fine-tuning one, else inception)')
  tfrecord: str = setting(None, metavar='PATTERN',
                          help='TF-Slim TFRecord shards (e.g. from convert) '
                          'instead of --data_dir')
  num_classes: int = setting(None, type=int,
                             help='with --tfrecord: default from labels.txt')
  labels_offset: int = setting(
      1, choices=(0, 1), type=int,
      help='with --tfrecord: subtracted from the 1-based labels (0 keeps a '
      'background class at 0, as TF-Slim\'s 1001-way heads)')
  shuffle_buffer: int = setting(10000, help='with --tfrecord: examples '
                                'shuffled together (default %(default)s)')
  deterministic: bool = setting(False, help='with --tfrecord: the same '
                                'order every run')
  save_every: int = setting(100, help='steps between checkpoints (default '
                            '%(default)s)')
  log_every: int = setting(10, help='steps between log lines and summaries '
                           '(default %(default)s)')
  seed: int = setting(0, help='graph and shuffle seed (default %(default)s)')
  # research/slim's recipe flags (train_image_classifier.py), same meaning.
  dataset_name: str = setting(None, choices=('digits', 'mnist5k'),
                              help='a built-in dataset by research/slim\'s '
                              'flag (default without --data_dir/--tfrecord: '
                              'digits)')
  dataset_split_name: str = setting(
      'train', choices=('train', 'validation'),
      help='with --dataset_name: a fixed class-balanced split (mnist5k: '
      '4,500 train, 500 validation, never trained on)')
  random_shift: int = setting(
      0, help='built-in sets (--dataset_name, the digits): shift each '
      'training image by up to this many pixels, at random (pad and crop, '
      'as CIFAR training does; no flips). Folders and shards have '
      '--preprocessing\'s random crops instead (default %(default)s)')
  eval_tfrecord: str = setting(
      None, metavar='PATTERN', help='the shards an evaluator task (TF_CONFIG '
      'task type "evaluator") evaluates; with --dataset_name it takes the '
      'validation split')
  max_number_of_steps: int = setting(None, type=int,
                                     help='research/slim\'s name for --steps '
                                     '(wins over it when given)')
  optimizer: str = setting('momentum', choices=recipe.OPTIMIZERS,
                           help='(default %(default)s; slim\'s default is '
                           'rmsprop)')
  opt_epsilon: float = setting(1.0, help='epsilon of adam, rmsprop, '
                               'adadelta (default %(default)s)')
  adam_beta1: float = setting(0.9, help='(default %(default)s)')
  adam_beta2: float = setting(0.999, help='(default %(default)s)')
  rmsprop_momentum: float = setting(0.9, help='(default %(default)s)')
  rmsprop_decay: float = setting(0.9, help='(default %(default)s)')
  adadelta_rho: float = setting(0.95, help='(default %(default)s)')
  adagrad_initial_accumulator_value: float = setting(
      0.1, help='(default %(default)s)')
  ftrl_learning_rate_power: float = setting(-0.5, help='(default '
                                            '%(default)s)')
  ftrl_initial_accumulator_value: float = setting(0.1, help='(default '
                                                  '%(default)s)')
  ftrl_l1: float = setting(0.0, help='(default %(default)s)')
  ftrl_l2: float = setting(0.0, help='(default %(default)s)')
  learning_rate_decay_type: str = setting(
      'fixed', choices=recipe.DECAY_TYPES,
      help='fixed (default, as before), exponential and polynomial (slim\'s, '
      'every --num_epochs_per_decay), cosine (to --end_learning_rate at the '
      'last step), piecewise (--boundaries epochs, --values rates)')
  learning_rate_decay_factor: float = setting(0.94, help='exponential decay '
                                              '(default %(default)s)')
  num_epochs_per_decay: float = setting(2.0, help='exponential and '
                                        'polynomial decay (default '
                                        '%(default)s)')
  end_learning_rate: float = setting(0.0001, help='polynomial and cosine '
                                     'decay (default %(default)s)')
  boundaries: tuple = setting(None, nargs='*', type=float,
                              help='piecewise: epochs where the rate changes')
  values: tuple = setting(None, nargs='*', type=float,
                          help='piecewise: the rates, one more than '
                          '--boundaries')
  warmup_epochs: float = setting(0.0, help='linear warm-up from 0 over this '
                                 'many epochs (Goyal et al. 2017; default '
                                 '%(default)s)')
  label_smoothing: float = setting(0.0, help='(default %(default)s)')
  precision: str = setting(
      'fp32', choices=('fp32', 'bf16', 'fp16'),
      help='compute dtype: float32 master weights and optimizer state, half '
      'compute, batch norm as in fp32; fp16 with a dynamic loss scale '
      '(default %(default)s)')
  moving_average_decay: float = setting(
      None, type=float, help='keep tf.train.ExponentialMovingAverage shadows '
      'of the model variables (the decay ramps up early in a run, as in '
      'slim); evaluate, classify and export use them')
  trainable_scopes: tuple = setting(None, nargs='*',
                                    help='train only these scopes (default: '
                                    'all), e.g. resnet_v2_50/logits')
  save_interval_secs: float = setting(None, type=float,
                                      help='also save when this many '
                                      'seconds passed since the last save')
  save_summaries_secs: float = setting(None, type=float,
                                       help='also write summaries when this '
                                       'many seconds passed')
  # --strategy etc. (distribute.strategy.add_flags); batch_size is per
  # replica (as TF-Slim's clones).
  distribute: dist.Options = dataclasses.field(default_factory=dist.Options)

  def validate(self):
    if self.moving_average_decay is not None and not (
        0 < self.moving_average_decay < 1):
      raise TrainError('`moving_average_decay` must be between 0 and 1, got '
                       '%r.' % self.moving_average_decay)
    if self.moving_average_decay is not None and (
        self.distribute.strategy != 'none'):
      raise TrainError('`moving_average_decay` runs with `strategy` none for '
                       'now (the averages are not mirrored across replicas).')
    if self.max_number_of_steps is not None:
      self.steps = self.max_number_of_steps
    if self.random_shift < 0 or self.random_shift and (self.data_dir or
                                                       self.tfrecord):
      raise TrainError(
          '`random_shift` must be >= 0 pixels and applies to the built-in '
          'sets (`dataset_name`, the digits); got %d%s.'
          % (self.random_shift, ' with `data_dir`/`tfrecord`, whose images '
             'get `preprocessing`\'s random crops' if self.random_shift > 0
             else ''))
    if self.dataset_name and (self.data_dir or self.tfrecord):
      raise TrainError('give `dataset_name`, `data_dir` or `tfrecord`, one '
                       'of them.')
    if self.num_classes is not None and not self.tfrecord:
      raise TrainError('`num_classes` goes with `tfrecord`; folders and the '
                       'built-in datasets have their own classes.')
    for name in ('save_interval_secs', 'save_summaries_secs'):
      value = getattr(self, name)
      if value is not None and not (math.isfinite(value) and value > 0):
        raise TrainError('`%s` must be a positive number of seconds, got '
                         '%r.' % (name, value))
    nets_factory.check_model_and_size(self.model, self.image_size)
    if self.batch_size > 0:
      nets_factory.check_batch_memory(self.model, self.image_size,
                                      self.batch_size, training=True)
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
      raise TrainError('`preprocessing` must be auto, %s; got %r.'
                       % (' or '.join(preprocessing_lib.METHODS),
                          self.preprocessing))
    if self.data_dir and self.tfrecord:
      raise TrainError('give `data_dir` or `tfrecord`, not both.')
    if self.shuffle_buffer <= 0 or (self.num_classes is not None and
                                    self.num_classes <= 0):
      raise TrainError('`shuffle_buffer` and `num_classes` must be > 0.')
    if self.labels_offset not in (0, 1):
      raise TrainError('`labels_offset` must be 0 (keep background 0) or 1, '
                       'got %r.' % self.labels_offset)
    self.distribute.validate()
    if os.path.exists(self.train_dir) and not os.path.isdir(self.train_dir):
      raise TrainError('`train_dir` %s exists and is not a folder.'
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
    raise TrainError('`train_dir`: %s' % exc) from None
  if latest is None:
    return None, note
  # A damaged newest checkpoint (a .data file cut short, say) with good
  # older ones: resume from the newest good one, saying so.
  candidates = checkpoints.existing_checkpoints(config.train_dir)[0]
  damaged = []
  for prefix in [latest] + [p for p in reversed(candidates) if p != latest]:
    try:
      info = checkpoints.describe(prefix)
      break
    except checkpoints.CheckpointError as exc:
      damaged.append((prefix, exc))
  else:
    raise TrainError('`train_dir` %s holds no checkpoint this run can '
                     'resume (%s: %s). Use another `train_dir`.'
                     % (config.train_dir, damaged[0][0], damaged[0][1])
                     ) from None
  if damaged:
    note = ('%s is damaged (%s); resuming from the newest good checkpoint, '
            '%s' % (damaged[0][0], str(damaged[0][1]).splitlines()[0][:160],
                    prefix))
    latest = prefix
  want = (config.model, num_classes, config.use_shortcut)
  have = (info['model'], info['num_classes'], info['use_shortcut'])
  if have != want:
    raise TrainError(
        '`train_dir` %s holds a checkpoint of %s with %s classes '
        '(use_shortcut=%s), but this run trains %s with %d classes '
        '(use_shortcut=%s). Nothing was changed; use another `train_dir` to '
        'start a new run.' % ((config.train_dir,) + have + want))
  return latest, note


@dataclasses.dataclass(frozen=True)
class TrainModel:
  """What ``build_model`` builds: the tensors ``train`` runs and reads.

  As research/slim's ``model_deploy.DeployedModel``: one typed result
  instead of a dict. ``loss`` means the same in the log, the history and
  TensorBoard (the cross-entropy, mean over the global batch);
  ``total_loss`` adds the L2 weight decay and is what the optimizer
  minimizes.
  """
  step: tuple               # (loss, total_loss, accuracy): fetching runs
                            # one training step and returns them after it
  loss: tf.Tensor           # cross-entropy (also runs the step)
  total_loss: tf.Tensor     # cross-entropy + weight decay
  accuracy: tf.Tensor       # top-1 on the step's batch
  learning_rate: tf.Tensor  # the schedule at global_step (recipe)
  global_step: tf.Variable
  summary: tf.Tensor        # merged scalars: loss, total_loss, accuracy
  weights_finite: tf.Tensor  # checked before every save
  input_init: tf.Operation  # run once with input_feed before the first step
  input_feed: dict
  trainables: list          # this worker's weights (under a strategy)
  mean_step: tf.Tensor      # global_step averaged over the replicas
  settings_spread: tf.Tensor = None   # per must-agree setting: > 0 where
                                      # workers differ (None: one process)


def build_model(config, dataset, preprocessing='inception', setup=None, *,
                network_fn=None, steps_per_epoch=None, agree=None):
  """Builds input pipeline, network, loss, metrics and train op.

  Under a strategy (``setup``), every replica builds the network on its own
  ``config.batch_size`` images (TF-Slim's clones did the same), its batch
  norm normalizes with the statistics of those images, each replica's loss
  is divided by the number of replicas and the optimizer sums the
  gradients: one update with the gradient of the mean loss over the global
  batch, and ``global_step`` + 1. The moving averages become the mean of
  the replicas' (sync-on-read variables, averaged when read or saved).

  Args:
    config: a ``TrainConfig``.
    dataset: a ``datasets.Dataset``.
    preprocessing: the training preprocessing of image files.
    setup: a ``distribute.strategy.Setup`` (default: one device).
    network_fn: the network to train instead of
      ``nets_factory.get_network_fn(config.model, ..., is_training=True)``
      (the tests train with batch norm in inference mode this way).
    steps_per_epoch: global-batch steps per epoch, for schedules in epochs.
    agree: ``{flag: value}`` that every worker must share (see
      ``must_agree``); checked at the start of a distributed run.

  Returns:
    A ``TrainModel``.
  """
  setup = setup or dist.Setup(dist.Options())
  tf.set_random_seed(config.seed)
  network_fn = network_fn or nets_factory.get_network_fn(
      config.model, dataset.num_classes, is_training=True,
      weight_decay=config.weight_decay)
  global_step = tf.train.get_or_create_global_step()
  # Built first, so its collective is the same on every worker whatever
  # the network: a 20-bit hash per setting, its mean and mean square over
  # the replicas; their variance is 0 exactly where all workers agree.
  spread = None
  if setup.strategy is not None and agree:
    hashes = tf.constant([float(int(hashlib.sha256(repr(v).encode())
                                    .hexdigest()[:5], 16))
                          for v in agree.values()], tf.float64)
    mean = dist.replica_mean(setup, dist.run_per_replica(
        setup, lambda: tf.identity(hashes)))
    square = dist.replica_mean(setup, dist.run_per_replica(
        setup, lambda: hashes * hashes))
    spread = square - mean * mean
  rate = recipe.learning_rate(config, steps_per_epoch, global_step)
  optimizer = recipe.optimizer(config, rate)
  if config.precision == 'fp16':
    # fp16 gradients underflow without a loss scale: TensorFlow's dynamic
    # one (it also skips steps whose gradients overflow).
    optimizer = tf.train.experimental.MixedPrecisionLossScaleOptimizer(
        optimizer, 'dynamic')

  def replica_step(inputs):
    images, labels = inputs
    with dist.new_update_ops() as update_ops:
      # float32 logits whatever the precision (nets.precision).
      logits, _ = precision_lib.build(network_fn, images, config.precision,
                                      use_shortcut=config.use_shortcut,
                                      spatial_squeeze=True)
    if config.label_smoothing:   # as slim: on one-hot labels
      cross_entropy = tf.losses.softmax_cross_entropy(
          tf.one_hot(labels, logits.shape[-1]), logits,
          label_smoothing=config.label_smoothing)
    else:
      cross_entropy = tf.losses.sparse_softmax_cross_entropy(labels, logits)
    # Under bf16/fp16 the regularizers see the half-precision copies: their
    # sums are cast back so the total loss is float32.
    loss = tf.add_n([cross_entropy] +
                    [tf.cast(l, tf.float32) for l in
                     tf.losses.get_regularization_losses()],
                    name='total_loss')
    # Outside Estimator the tf.compat.v1 optimizers *sum* the replicas'
    # gradients (measured: two replicas moved the weights twice as far as
    # one device on the same global batch), so each replica minimizes its
    # share of the mean over the global batch.
    share = loss / setup.num_replicas if setup.num_replicas > 1 else loss
    # Batch norm's moving averages only update if their ops run with
    # training.
    with tf.control_dependencies(update_ops):
      train_op = optimizer.minimize(
          share, global_step=global_step,
          var_list=recipe.trainable(config, tf.trainable_variables()))
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1),
                                               labels), tf.float32))
    if config.moving_average_decay:
      # As research/slim: shadows of the model variables (batch norm's
      # moving statistics included), with num_updates = global_step so the
      # decay ramps up early in a run.
      averages = tf.train.ExponentialMovingAverage(
          config.moving_average_decay, global_step)
      with tf.control_dependencies([train_op]):
        train_op = averages.apply(slim.get_model_variables())
    # Fetching any of these runs the step: one forward pass, one update.
    with tf.control_dependencies([train_op]):
      return [tf.identity(t) for t in (cross_entropy, loss, accuracy)]

  if setup.strategy is None:
    batches = dataset.train_batches(config.batch_size, config.seed,
                                    preprocessing_method=preprocessing,
                                    random_shift=config.random_shift)
    iterator_init, feed = batches.initializer, batches.feed_dict
    per_replica = replica_step((batches.images, batches.labels))
  else:
    feed = {}

    def input_fn(context):
      ds, more = dataset.train_dataset(
          config.batch_size, config.seed, preprocessing,
          random_shift=config.random_shift,
          num_shards=context.num_input_pipelines,
          shard_index=context.input_pipeline_id)
      feed.update(more)
      return ds

    iterator = setup.strategy.make_input_fn_iterator(input_fn)
    iterator_init = iterator.initializer
    per_replica = setup.strategy.experimental_run(replica_step, iterator)
  loss, total_loss, accuracy = [dist.replica_mean(setup, t)
                                for t in per_replica]
  tf.summary.scalar('loss', loss)
  tf.summary.scalar('total_loss', total_loss)
  tf.summary.scalar('accuracy', accuracy)
  tf.summary.scalar('learning_rate', rate)
  # Checked before every save: a finite loss can still come with an update
  # that overflowed the weights (a huge learning rate), and such a
  # checkpoint must not replace the last good one.
  finite = tf.reduce_all([tf.reduce_all(tf.is_finite(v))
                          for v in tf.global_variables()
                          if v.dtype.base_dtype.is_floating])
  return TrainModel(
      step=(loss, total_loss, accuracy), loss=loss, total_loss=total_loss,
      accuracy=accuracy, learning_rate=rate, global_step=global_step,
      summary=tf.summary.merge_all(), weights_finite=finite,
      input_init=iterator_init, input_feed=feed,
      # This process's copy of the weights, to show replicas agree.
      trainables=([tf.identity(v) for v in tf.trainable_variables()]
                  if setup.strategy else []),
      mean_step=dist.replica_mean(setup, dist.run_per_replica(
          setup, lambda: tf.cast(global_step.read_value(), tf.float64))),
      settings_spread=spread)


def must_agree(config, dataset, preprocessing):
  """The settings every worker of one run must share, as ``{flag: value}``.

  Workers that differ in any of them would either crash in a collective
  (another shape) or silently train different things.
  """
  names = ('model', 'image_size', 'batch_size', 'use_shortcut',
           'learning_rate', 'momentum', 'weight_decay', 'optimizer',
           'learning_rate_decay_type', 'learning_rate_decay_factor',
           'num_epochs_per_decay', 'end_learning_rate', 'boundaries',
           'values', 'warmup_epochs', 'label_smoothing', 'steps', 'seed',
           'data_dir', 'tfrecord', 'dataset_name', 'dataset_split_name',
           'labels_offset', 'checkpoint', 'trainable_scopes', 'precision',
           'random_shift')
  agree = {name: getattr(config, name) for name in names}
  agree.update(num_classes=dataset.num_classes, preprocessing=preprocessing)
  return agree


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


def _close_writer(writer, train_dir, raising):
  """Closes the summary writer; a write it failed (a full disk) is one line.

  The writer's thread reports a failed flush only when closed. With
  ``raising`` (another error is on its way out) the writer's is dropped.
  """
  try:
    writer.close()
  except (RuntimeError, OSError, tf.errors.OpError) as exc:
    if not raising:
      raise TrainError('could not write the TensorBoard summaries in %s (%s);'
                       ' the checkpoints are as the log says.'
                       % (train_dir, errors.quoted(exc))) from None


def _check_finite(what, ok, step, last_saved):
  """Stops a run whose loss or weights turned NaN or infinite."""
  if ok:
    return
  raise TrainError(
      'the %s became NaN or infinite at step %d, so training stopped and '
      'saved nothing more. %s Lower `learning_rate` (or check the data) and '
      'rerun; it resumes from that checkpoint.'
      % (what, step, 'The last good checkpoint, %s, is kept.' % last_saved
         if last_saved else 'No checkpoint had been saved yet.'))


def train(config, log=print, dataset=None, *, network_fn=None):
  """Trains (or resumes) ``config``; returns the logged history.

  Under ``--strategy multi_worker`` every worker runs this with the same
  config: the chief (``distribute.strategy.Task.is_chief``) writes
  checkpoints and summaries into ``train_dir``; the others run the same
  session calls (saving reads batch norm statistics through a cross-worker
  all-reduce) but save into a scratch folder they delete. Every worker
  resumes from the newest checkpoint in ``train_dir``, so on several
  machines it must be a folder they all read (NFS, GCS, ...).

  Args:
    config: a ``TrainConfig``.
    log: where progress lines go.
    dataset: a ``datasets.Dataset`` (default: loaded from
      ``config.data_dir``).
    network_fn: as ``build_model``.

  Returns:
    A list of ``{'step', 'loss', 'total_loss', 'accuracy', 'images_per_sec'}``
    dicts (loss: the cross-entropy, as ``TrainModel.loss``), one
    per logged step of this run.

  Raises:
    TrainError, datasets.DataError, checkpoints.CheckpointError,
      fileio.OutputPathError, distribute.strategy.DistributeError: before
      anything is written; TrainError also when the loss turns NaN (the
      last good checkpoint is kept); TrainInterrupted on Ctrl-C (nothing
      half-written); distribute.strategy.PeerError when another worker
      dies or stays silent for ``peer_timeout`` seconds.
  """
  config.validate()
  # First: splitting the CPU into devices or starting a worker's server
  # must happen before TensorFlow runs anything in this process.
  setup = dist.make(config.distribute)
  shards = (tfrecords.find_shards(config.tfrecord) if config.tfrecord
            else [])
  fileio.check_outputs(
      [('`train_dir`', config.train_dir)],
      (checkpoints.input_paths(config.checkpoint) if config.checkpoint
       else []) + [('`data_dir`', config.data_dir)] +
      [('`tfrecord`', shard) for shard in shards])
  if dataset is None and config.tfrecord:
    dataset = data_lib.records(
        config.tfrecord, config.image_size, num_classes=config.num_classes,
        labels_offset=config.labels_offset,
        shuffle_buffer=config.shuffle_buffer,
        deterministic=config.deterministic)
  elif dataset is None and config.data_dir is None:
    dataset = data_lib.builtin(config.dataset_name or 'digits',
                               config.dataset_split_name, config.image_size)
  elif dataset is None:
    dataset = data_lib.load(config.data_dir, config.image_size)
  size, size_source = dataset.size()
  steps_per_epoch = (size / (config.batch_size * setup.num_replicas)
                     if size else None)
  recipe.check(config, steps_per_epoch)
  method = choose_preprocessing(config)
  latest, note = _check_resumable(config, dataset.num_classes)
  if note:
    log('warning: ' + note)
  record_path, record = recipe.check_resume(config.train_dir, config,
                                            latest is not None,
                                            setup.num_replicas)
  if steps_per_epoch:
    log('an epoch is %d images (%s): %.1f steps of the global batch %d'
        % (size, size_source, steps_per_epoch,
           config.batch_size * setup.num_replicas))
  graph = tf.Graph()
  with graph.as_default(), setup.scope():
    model = build_model(config, dataset, method, setup,
                        network_fn=network_fn,
                        steps_per_epoch=steps_per_epoch,
                        agree=must_agree(config, dataset, method))
    saver = tf.train.Saver(max_to_keep=3)
    init = tf.global_variables_initializer()
    warm, exclude = None, None
    if latest is None and config.checkpoint:
      exclude = (list(config.exclude_scopes) if config.exclude_scopes
                 else [config.model + '/logits'])
      _, warm = checkpoints.restorer(config.checkpoint, scope=config.model,
                                     exclude_scopes=exclude)
  graph.finalize()
  if setup.strategy is not None:
    log('%s; batch %d per replica, global batch %d%s'
        % (setup.describe(), config.batch_size,
           config.batch_size * setup.num_replicas,
           '' if setup.is_chief else '; the chief writes `train_dir`, this '
           'worker saves into a scratch folder it deletes'))
  session = _Session(config, setup, graph, model, saver, log)
  session.dataset, session.preprocessing = dataset, method
  if setup.is_chief:
    with fileio.DirLock(config.train_dir, '`train_dir`'):
      if latest is None or not os.path.isfile(record_path):
        recipe.write_record(record_path, record)
      return session.run(init, latest, warm, exclude)
  # Other workers save into scratch space: the save itself must run on
  # every worker, its files are the chief's business.
  with tempfile.TemporaryDirectory(prefix='resnet-v2-slim-worker-') as tmp:
    return session.run(init, latest, warm, exclude, save_dir=tmp)


def _fingerprint(arrays):
  digest = hashlib.sha256()
  for array in arrays:
    digest.update(array.tobytes())
  return digest.hexdigest()[:16]


class _Session:
  """The session part of ``train``: restore, steps, summaries, saves."""

  def __init__(self, config, setup, graph, model, saver, log):
    self.config, self.setup, self.graph = config, setup, graph
    self.model, self.saver, self.log = model, saver, log
    self.last_saved = None

  def run(self, init, latest, warm, exclude, save_dir=None):
    """Trains from ``latest``/``warm``; returns the logged history."""
    try:
      return self._run(init, latest, warm, exclude, save_dir)
    except dist.PeerError as exc:
      raise dist.PeerError('%s %s' % (exc, (
          'Rerun the same command on every worker to resume from %s.'
          % self.last_saved if self.last_saved else
          'No checkpoint was saved yet.'))) from None

  def _run(self, init, latest, warm, exclude, save_dir):
    config, setup, model, log = (self.config, self.setup, self.model,
                                  self.log)
    prefix = os.path.join(save_dir or config.train_dir, 'model.ckpt')
    history = []
    run = setup.run
    # The whole session runs inside the graph: the Saver and FileWriter need
    # it when eager execution is on (TF2's default).
    with self.graph.as_default(), setup.session(self.graph) as sess:
      run(sess, init)
      run(sess, model.input_init, model.input_feed)
      self.last_saved = latest
      if latest:
        with setup.peer_errors():
          self.saver.restore(sess, latest)
        log('resuming from %s (step %d)%s'
            % (latest, run(sess, model.global_step),
               '; `checkpoint` %s is ignored' % config.checkpoint
               if config.checkpoint else ''))
      elif warm:
        with setup.peer_errors():
          warm(sess)
        log('warm-started from %s (excluded: %s)'
            % (config.checkpoint, ', '.join(exclude)))
      if model.settings_spread is not None:
        agree = must_agree(config, self.dataset, self.preprocessing)
        spread = run(sess, model.settings_spread)
        differ = [name for name, s in zip(agree, spread) if s > 0.25]
        if differ:
          raise TrainError(
              'the workers were started with different settings: %s differ '
              '(this worker: %s). Start every worker with the same flags; '
              'only TF_CONFIG\'s task index differs.'
              % (', '.join('`%s`' % n for n in differ),
                 ' '.join('`%s` %s' % (n, agree[n]) for n in differ)))
      step = run(sess, model.global_step)
      mean_step = run(sess, model.mean_step)
      if mean_step != step:
        raise TrainError(
            'the workers start from different steps (this one %d, the mean '
            '%g): every worker must see the chief\'s checkpoints, so on '
            'several machines `train_dir` must be one shared folder.'
            % (step, mean_step))
      writer = (tf.summary.FileWriter(config.train_dir, self.graph)
                if setup.is_chief else None)
      start = last_save = last_summary = time.perf_counter()
      images_since = 0
      try:
        while step < config.steps:
          now = time.perf_counter()
          logging_step = ((step + 1) % config.log_every == 0 or
                          step + 1 == config.steps or (
                              config.save_summaries_secs is not None and
                              now - last_summary >= config.save_summaries_secs))
          fetches = [model.step, model.learning_rate]
          if logging_step:
            fetches.append(model.summary)
          try:
            results = run(sess, fetches)
          except (tf.errors.InvalidArgumentError, tf.errors.DataLossError,
                  tf.errors.NotFoundError) as exc:
            # The input pipeline (a corrupt record, undecodable bytes, a
            # label outside the head) stops the run: one line, not a
            # traceback; the last checkpoint is kept.
            raise TrainError(
                'the input failed at step %d: %s. The evaluate command on '
                'the same data names the shard and record at fault. %s'
                % (step + 1, errors.quoted(exc, 240),
                   'The last checkpoint, %s, is kept.' % self.last_saved
                   if self.last_saved else 'No checkpoint was saved yet.')
            ) from None
          # Reading global_step in the same run races with its increment,
          # so count here: each run is exactly one step.
          (loss, total_loss, accuracy), rate = results[0], results[1]
          step += 1
          _check_finite('loss', math.isfinite(float(loss)), step,
                        self.last_saved)
          images_since += config.batch_size * setup.num_replicas
          if logging_step:
            elapsed = time.perf_counter() - start
            speed = images_since / elapsed if elapsed > 0 else 0.0
            history.append({'step': int(step), 'loss': float(loss),
                            'total_loss': float(total_loss),
                            'accuracy': float(accuracy),
                            'learning_rate': float(rate),
                            'images_per_sec': speed})
            log('step %d/%d: loss %.4f, total_loss %.4f, accuracy %.3f, '
                'lr %.4g, %.1f images/sec' % (step, config.steps, loss,
                                              total_loss, accuracy, rate,
                                              speed))
            if writer:
              writer.add_summary(results[2], step)
            start, images_since = time.perf_counter(), 0
            last_summary = start
          if step % config.save_every == 0 or step == config.steps or (
              config.save_interval_secs is not None and
              time.perf_counter() - last_save >= config.save_interval_secs):
            self._save(sess, prefix, step)
            last_save = time.perf_counter()
      except KeyboardInterrupt:
        raise TrainInterrupted(
            'interrupted at step %d; nothing half-written. %s' % (
                step, 'Rerun the same command to resume from %s.'
                % self.last_saved if self.last_saved else
                'No checkpoint was saved yet.')) from None
      finally:
        if writer:
          # An error on its way out (a failed save) outranks the writer's.
          _close_writer(writer, config.train_dir,
                        raising=sys.exc_info()[1] is not None)
      if setup.strategy is not None and history:
        log('weights fingerprint %s (sha256 of this worker\'s trainable '
            'variables; the same on every worker when they are in sync)'
            % _fingerprint(run(sess, model.trainables)))
    return history

  def _save(self, sess, prefix, step):  # pylint: disable=missing-docstring
    _check_finite('weights', self.setup.run(sess, self.model.weights_finite),
                  step, self.last_saved)
    try:
      with self.setup.peer_errors():   # saving all-reduces across workers
        saved = self.saver.save(sess, prefix, global_step=step)
    except (tf.errors.OpError, OSError) as exc:   # e.g. a full disk
      # The Saver's half-written temporaries would keep the disk full.
      for leftover in glob.glob('%s-%d*' % (prefix, step)):
        if 'tempstate' in leftover or leftover.endswith('_temp') or (
            '_temp' in os.path.basename(leftover)):
          if os.path.isdir(leftover):
            shutil.rmtree(leftover, ignore_errors=True)
          else:
            os.unlink(leftover)
      raise TrainError(
          'could not save the checkpoint of step %d in %s (%s). %s'
          % (step, self.config.train_dir, errors.quoted(exc),
             'The previous checkpoint, %s, is intact.' % self.last_saved
             if self.last_saved else 'No checkpoint was saved.')) from None
    if self.setup.is_chief:
      self.last_saved = saved
