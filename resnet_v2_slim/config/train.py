"""``train``'s settings: one training run's flags, checked once.

``TrainConfig`` declares every setting once, as a dataclass field made with
``utils.settings.setting`` (the ``train`` command's flags are made from
it); ``validate`` checks them and changes nothing; ``resolved`` gives the
copy a run uses (research/slim's ``max_number_of_steps`` folded into
``steps``). ``training.settings`` and ``training.trainer`` re-export it.

Typical use::

    from resnet_v2_slim.config import train

    config = train.TrainConfig(model='resnet_v2_18', train_dir='/tmp/run')
    config.validate()
    run = config.resolved()
"""

import dataclasses
import math
import os
from typing import Optional, Sequence

from resnet_v2_slim import errors
from resnet_v2_slim import names
from resnet_v2_slim.config import distribute as distribute_config
from resnet_v2_slim.utils.settings import setting


class TrainError(errors.Error):
  """A training setting or train_dir that cannot be used as asked."""


@dataclasses.dataclass
class TrainConfig:
  """Settings of one training run; ``train``'s flags are made from these."""
  model: str = setting(help='network name: %s' % ', '.join(names.NETWORKS))
  train_dir: str = setting(help='checkpoints and TensorBoard summaries; a '
                           'rerun resumes from its newest checkpoint')
  data_dir: Optional[str] = setting(None, help='folder of class sub-folders '
                                    'of images (default: the digits)')
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
  checkpoint: Optional[str] = setting(None, help='warm-start from this '
                                      'checkpoint (not its logits)')
  exclude_scopes: Optional[Sequence[str]] = setting(
      None, nargs='*', help='scopes not to warm-start (default: the '
      'logits); each must exist in the network')
  preprocessing: str = setting(
      'auto', choices=names.PREPROCESSING_CHOICES,
      help='training preprocessing of --data_dir images (auto: the '
      'published checkpoint\'s when fine-tuning one, else inception)')
  tfrecord: Optional[str] = setting(
      None, metavar='PATTERN', help='TF-Slim TFRecord shards (e.g. from '
      'convert) instead of --data_dir')
  num_classes: Optional[int] = setting(
      None, type=int, help='with --tfrecord: default from labels.txt')
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
  dataset_name: Optional[str] = setting(
      None, choices=names.DATASETS,
      help='a built-in dataset by research/slim\'s flag (default without '
      '--data_dir/--tfrecord: digits)')
  dataset_split_name: str = setting(
      'train', choices=('train', 'validation'),
      help='with --dataset_name: a fixed class-balanced split (mnist5k: '
      '4,500 train, 500 validation, never trained on)')
  random_shift: int = setting(
      0, help='built-in sets (--dataset_name, the digits): shift each '
      'training image by up to this many pixels, at random (pad and crop, '
      'as CIFAR training does; no flips). Folders and shards have '
      '--preprocessing\'s random crops instead (default %(default)s)')
  eval_tfrecord: Optional[str] = setting(
      None, metavar='PATTERN', help='the shards an evaluator task (TF_CONFIG '
      'task type "evaluator") evaluates; with --dataset_name it takes the '
      'validation split')
  max_number_of_steps: Optional[int] = setting(
      None, type=int, help='research/slim\'s name for --steps (wins over it '
      'when given)')
  optimizer: str = setting('momentum', choices=names.OPTIMIZERS,
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
      'fixed', choices=names.DECAY_TYPES,
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
  boundaries: Optional[Sequence[float]] = setting(
      None, nargs='*', type=float,
      help='piecewise: epochs where the rate changes')
  values: Optional[Sequence[float]] = setting(
      None, nargs='*', type=float,
      help='piecewise: the rates, one more than --boundaries')
  warmup_epochs: float = setting(0.0, help='linear warm-up from 0 over this '
                                 'many epochs (Goyal et al. 2017; default '
                                 '%(default)s)')
  label_smoothing: float = setting(0.0, help='(default %(default)s)')
  precision: str = setting(
      'fp32', choices=tuple(names.PRECISIONS),
      help='compute dtype: float32 master weights and optimizer state, half '
      'compute, batch norm as in fp32; fp16 with a dynamic loss scale '
      '(default %(default)s)')
  moving_average_decay: Optional[float] = setting(
      None, type=float, help='keep tf.train.ExponentialMovingAverage shadows '
      'of the model variables (the decay ramps up early in a run, as in '
      'slim); evaluate, classify and export use them')
  trainable_scopes: Optional[Sequence[str]] = setting(
      None, nargs='*', help='train only these scopes (default: all), e.g. '
      'resnet_v2_50/logits')
  save_interval_secs: Optional[float] = setting(
      None, type=float, help='also save when this many seconds passed since '
      'the last save')
  save_summaries_secs: Optional[float] = setting(
      None, type=float, help='also write summaries when this many seconds '
      'passed')
  save_on_preemption: bool = setting(
      True, negative='--no_save_on_preemption', help='on SIGTERM, SIGHUP or '
      'SIGUSR1: finish the step in flight, save it, exit 75 (default); '
      '--no_save_on_preemption stops at once and saves nothing')
  preemption_grace_s: float = setting(
      25.0, type=float, help='after a preemption signal, exit without a '
      'save (75) if the step in flight has not ended within this many '
      'seconds, rather than be killed during a save (default %(default)s; '
      'Kubernetes kills after 30)')
  # --strategy etc. (config.distribute.add_flags); batch_size is per
  # replica (as TF-Slim's clones).
  distribute: distribute_config.Options = dataclasses.field(
      default_factory=distribute_config.Options)


  def validate(self) -> None:
    """Checks every setting; changes nothing.

    Raises:
      TrainError: a setting out of range or two that contradict each other
        (the message names them); also nets_factory's and the strategy's
        errors for a network, size or strategy option they refuse.
    """
    # The network checks live with the networks (TensorFlow): imported
    # here, after the flags are parsed, so that this room loads without it.
    # pylint: disable-next=g-import-not-at-top
    from resnet_v2_slim.nets import nets_factory
    self._check_sources()
    self._check_numbers()
    self._check_scopes()
    nets_factory.check_model_and_size(self.model, self.image_size)
    if self.batch_size > 0:
      nets_factory.check_batch_memory(self.model, self.image_size,
                                      self.batch_size, training=True)
    self.distribute.validate()
    if os.path.exists(self.train_dir) and not os.path.isdir(self.train_dir):
      raise TrainError('`train_dir` %s exists and is not a folder.'
                       % self.train_dir)

  def resolved(self) -> 'TrainConfig':
    """The copy a run uses: slim's ``max_number_of_steps`` as ``steps``."""
    if self.max_number_of_steps is None:
      return self
    return dataclasses.replace(self, steps=self.max_number_of_steps,
                               max_number_of_steps=None)

  def _check_sources(self) -> None:
    """Where the images come from: one source, and settings that fit it."""
    if self.dataset_name and (self.data_dir or self.tfrecord):
      raise TrainError('give `dataset_name`, `data_dir` or `tfrecord`, one '
                       'of them.')
    if self.data_dir and self.tfrecord:
      raise TrainError('give `data_dir` or `tfrecord`, not both.')
    if self.num_classes is not None and not self.tfrecord:
      raise TrainError('`num_classes` goes with `tfrecord`; folders and the '
                       'built-in datasets have their own classes.')
    if self.random_shift * 2 >= self.image_size > 0:
      raise TrainError('`random_shift` %d moves a %d-pixel image by half its '
                       'size or more (it would train on blank borders); '
                       'give at most %d.' % (self.random_shift,
                                             self.image_size,
                                             (self.image_size - 1) // 2))
    if self.random_shift < 0 or self.random_shift and (self.data_dir or
                                                       self.tfrecord):
      raise TrainError(
          '`random_shift` must be >= 0 pixels and applies to the built-in '
          'sets (`dataset_name`, the digits); got %d%s.'
          % (self.random_shift, ' with `data_dir`/`tfrecord`, whose images '
             'get `preprocessing`\'s random crops' if self.random_shift > 0
             else ''))
    if self.preprocessing not in names.PREPROCESSING_CHOICES:
      raise TrainError('`preprocessing` must be auto, %s; got %r.'
                       % (' or '.join(names.PREPROCESSING),
                          self.preprocessing))
    if self.labels_offset not in (0, 1):
      raise TrainError('`labels_offset` must be 0 (keep background 0) or 1, '
                       'got %r.' % self.labels_offset)

  def _check_scopes(self) -> None:
    """A scope flag given without a scope: argparse's ``nargs='*'`` takes
    it as an empty list, which would silently mean the default."""
    for name, default in (('trainable_scopes', 'train every variable'),
                          ('exclude_scopes', 'leave out only the logits')):
      if getattr(self, name) is not None and not getattr(self, name):
        raise TrainError('`%s` needs at least one scope, e.g. %s/logits; '
                         'leave it out to %s.' % (name, self.model, default))

  def _check_numbers(self) -> None:
    """Counts, rates and intervals in range."""
    if self.moving_average_decay is not None and not (
        0 < self.moving_average_decay < 1):
      raise TrainError('`moving_average_decay` must be between 0 and 1, got '
                       '%r.' % self.moving_average_decay)
    for name in ('save_interval_secs', 'save_summaries_secs',
                 'preemption_grace_s'):
      value = getattr(self, name)
      if value is not None and not (math.isfinite(value) and value > 0):
        raise TrainError('`%s` must be a positive number of seconds, got '
                         '%r.' % (name, value))
    for flag in ('steps', 'batch_size', 'save_every', 'log_every'):
      if getattr(self, flag) <= 0:
        raise TrainError('--%s must be > 0, got %r.'
                         % (flag, getattr(self, flag)))
    if self.max_number_of_steps is not None and self.max_number_of_steps <= 0:
      raise TrainError('--max_number_of_steps must be > 0, got %r.'
                       % self.max_number_of_steps)
    default_steps = TrainConfig.__dataclass_fields__['steps'].default
    if self.max_number_of_steps not in (None, self.steps) and (
        self.steps != default_steps):
      raise TrainError('`steps` %d and `max_number_of_steps` %d disagree: '
                       'give one (`max_number_of_steps` is research/slim\'s '
                       'name for `steps`).'
                       % (self.steps, self.max_number_of_steps))
    for flag in ('learning_rate', 'momentum', 'weight_decay'):
      value = getattr(self, flag)
      if not math.isfinite(value) or value < 0 or (
          flag == 'learning_rate' and value == 0):
        raise TrainError('--%s must be a finite number %s 0, got %r.'
                         % (flag, '>' if flag == 'learning_rate' else '>=',
                            value))
    if self.shuffle_buffer <= 0 or (self.num_classes is not None and
                                    self.num_classes <= 0):
      raise TrainError('`shuffle_buffer` and `num_classes` must be > 0.')
