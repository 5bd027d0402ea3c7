"""The training graph: input pipeline, network, loss, optimizer, summaries.

``build_model`` is research/slim's ``model_deploy`` in one place: every
replica (one without a strategy) builds the network on its own batch, its
loss is divided by the number of replicas and the optimizer sums the
gradients, so one update follows the gradient of the mean loss over the
global batch. The batch norm moving averages update with the step
(``tf.GraphKeys.UPDATE_OPS``). What it builds comes back as one
``TrainModel``, whose tensors the session and its hooks run.

Typical use::

    from resnet_v2_slim.training import model as model_lib

    with tf.Graph().as_default():
      model = model_lib.build_model(config, dataset, 'inception')
"""

import dataclasses
import hashlib
from typing import Any, Callable, Optional

import tensorflow.compat.v1 as tf
import tf_slim as slim

from resnet_v2_slim.distribute import strategy as dist
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.nets import precision as precision_lib
from resnet_v2_slim.training import recipe
from resnet_v2_slim.training.settings import TrainConfig


@dataclasses.dataclass(frozen=True)
class TrainModel:
  """What ``build_model`` builds: the tensors a training session runs.

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
  settings_spread: Optional[tf.Tensor] = None   # per must-agree setting:
                            # > 0 where workers differ (None: one process)
  stop_flag: Optional[tf.Tensor] = None    # multi_worker: fed 1.0 by a
                            # worker that got a preemption signal, else 0
  stop_votes: Optional[tf.Tensor] = None   # its mean over the workers:
                            # > 0 when any worker was signalled


def build_model(config: TrainConfig, dataset: Any,
                preprocessing: str = 'inception',
                setup: Optional[dist.Setup] = None, *,
                network_fn: Optional[Callable] = None,
                steps_per_epoch: Optional[float] = None,
                agree: Optional[dict] = None) -> TrainModel:
  """Builds input pipeline, network, loss, metrics and train op.

  Under a strategy (``setup``), every replica builds the network on its own
  ``config.batch_size`` images (TF-Slim's clones did the same) and its
  batch norm normalizes with the statistics of those images; the moving
  averages become the mean of the replicas' (sync-on-read variables,
  averaged when read or saved).

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
      ``settings.must_agree``); checked at the start of a distributed run.

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
  # the network.
  spread = _settings_spread(setup, agree)
  stop_flag, stop_votes = (_stop_votes(setup) if config.save_on_preemption
                            else (None, None))
  rate = recipe.learning_rate(config, steps_per_epoch, global_step)
  replica_step = _replica_step_fn(config, setup, network_fn,
                                  _optimizer(config, rate), global_step)
  input_init, feed, per_replica = _run_replicas(
      config, dataset, preprocessing, setup, replica_step)
  loss, total_loss, accuracy = [dist.replica_mean(setup, t)
                                for t in per_replica]
  for name, value in (('loss', loss), ('total_loss', total_loss),
                      ('accuracy', accuracy), ('learning_rate', rate)):
    tf.summary.scalar(name, value)
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
      input_init=input_init, input_feed=feed,
      # This process's copy of the weights, to show replicas agree.
      trainables=([tf.identity(v) for v in tf.trainable_variables()]
                  if setup.strategy else []),
      mean_step=dist.replica_mean(setup, dist.run_per_replica(
          setup, lambda: tf.cast(global_step.read_value(), tf.float64))),
      settings_spread=spread, stop_flag=stop_flag, stop_votes=stop_votes)


def _stop_votes(setup: dist.Setup) -> tuple:
  """(flag, votes): a worker feeds 1.0 to ``flag`` once it got a preemption
  signal; ``votes`` all-reduces it, so every worker learns of the signal
  after the same step (as TensorFlow 2's PreemptionCheckpointHandler
  agrees on a step through its coordination service, which graph-mode
  sessions do not have). (None, None) outside multi_worker."""
  if setup.task is None or setup.strategy is None:
    return None, None
  flag = tf.placeholder_with_default(tf.constant(0.0, tf.float64), [],
                                     name='stop_flag')
  return flag, dist.replica_mean(setup, dist.run_per_replica(
      setup, lambda: tf.identity(flag)))


def _settings_spread(setup: dist.Setup,
                     agree: Optional[dict]) -> Optional[tf.Tensor]:
  """Per setting, the variance of its hash over the replicas (0: agreed).

  A 20-bit hash per setting, its mean and mean square over the replicas;
  their difference is 0 exactly where all workers agree.
  """
  if setup.strategy is None or not agree:
    return None
  hashes = tf.constant([float(int(hashlib.sha256(repr(v).encode())
                                  .hexdigest()[:5], 16))
                        for v in agree.values()], tf.float64)
  mean = dist.replica_mean(setup, dist.run_per_replica(
      setup, lambda: tf.identity(hashes)))
  square = dist.replica_mean(setup, dist.run_per_replica(
      setup, lambda: hashes * hashes))
  return square - mean * mean


def _optimizer(config: TrainConfig, rate: tf.Tensor) -> Any:
  """The recipe's optimizer; fp16 wraps it in a dynamic loss scale."""
  optimizer = recipe.optimizer(config, rate)
  if config.precision == 'fp16':
    # fp16 gradients underflow without a loss scale: TensorFlow's dynamic
    # one (it also skips steps whose gradients overflow).
    optimizer = tf.train.experimental.MixedPrecisionLossScaleOptimizer(
        optimizer, 'dynamic')
  return optimizer


def _losses(config: TrainConfig, logits: tf.Tensor,
            labels: tf.Tensor) -> tuple:
  """(cross entropy, total loss with weight decay), both float32."""
  if config.label_smoothing:   # as slim: on one-hot labels
    cross_entropy = tf.losses.softmax_cross_entropy(
        tf.one_hot(labels, logits.shape[-1]), logits,
        label_smoothing=config.label_smoothing)
  else:
    cross_entropy = tf.losses.sparse_softmax_cross_entropy(labels, logits)
  # Under bf16/fp16 the regularizers see the half-precision copies: their
  # sums are cast back so the total loss is float32.
  total = tf.add_n([cross_entropy] +
                   [tf.cast(l, tf.float32) for l in
                    tf.losses.get_regularization_losses()],
                   name='total_loss')
  return cross_entropy, total


def _replica_step_fn(config: TrainConfig, setup: dist.Setup,
                     network_fn: Callable, optimizer: Any,
                     global_step: tf.Variable) -> Callable:
  """The function each replica runs on its ``(images, labels)`` batch."""

  def replica_step(inputs):
    images, labels = inputs
    with dist.new_update_ops() as update_ops:
      # float32 logits whatever the precision (nets.precision).
      logits, _ = precision_lib.build(network_fn, images, config.precision,
                                      use_shortcut=config.use_shortcut,
                                      spatial_squeeze=True)
    cross_entropy, loss = _losses(config, logits, labels)
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
      # decay ramps up early in a run. Under a strategy, apply() in a
      # replica merges the replicas (TF's merge_call): each shadow moves
      # once a step, towards the replica mean of its variable, the same
      # value on every device (tested against one device and against the
      # saved statistics).
      averages = tf.train.ExponentialMovingAverage(
          config.moving_average_decay, global_step)
      with tf.control_dependencies([train_op]):
        train_op = averages.apply(slim.get_model_variables())
    # Fetching any of these runs the step: one forward pass, one update.
    with tf.control_dependencies([train_op]):
      return [tf.identity(t) for t in (cross_entropy, loss, accuracy)]

  return replica_step


def _run_replicas(config: TrainConfig, dataset: Any, preprocessing: str,
                  setup: dist.Setup, replica_step: Callable) -> tuple:
  """Feeds the input pipeline to every replica's step.

  Returns:
    ``(input initializer, its feed dict, per-replica step outputs)``.
  """
  if setup.strategy is None:
    batches = dataset.train_batches(config.batch_size, config.seed,
                                    preprocessing_method=preprocessing,
                                    random_shift=config.random_shift)
    return (batches.initializer, batches.feed_dict,
            replica_step((batches.images, batches.labels)))
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
  per_replica = setup.strategy.experimental_run(replica_step, iterator)
  return iterator.initializer, feed, per_replica
