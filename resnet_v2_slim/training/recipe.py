"""research/slim's training recipe: optimizers, learning-rate schedules with
a linear warm-up (Goyal et al., 2017), label smoothing, trainable scopes.

Flag names and meanings are ``train_image_classifier.py``'s (an ImageNet
user types them already); the optimizers and decays are TensorFlow's own
(``tf.train.*Optimizer``, ``tf.train.exponential_decay`` ...). What is added
here: ``cosine`` and ``piecewise`` decays, the warm-up, the checks that
turn a bad value into one line before anything is written, and the record
of the schedule a run was started with, so a resume cannot silently change
it (the schedule is a function of ``global_step``).

Typical use (inside ``trainer.build_model``)::

    from resnet_v2_slim.training import recipe

    lr = recipe.learning_rate(config, steps_per_epoch, global_step)
    optimizer = recipe.optimizer(config, lr)
"""

import json
import math
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

import tensorflow.compat.v1 as tf

from resnet_v2_slim import errors
from resnet_v2_slim import names
from resnet_v2_slim.utils import fileio

if TYPE_CHECKING:   # training.settings imports this module: a cycle
  from resnet_v2_slim.training.settings import TrainConfig

OPTIMIZERS = names.OPTIMIZERS
DECAY_TYPES = names.DECAY_TYPES
# The settings the learning rate at a given step depends on: a resume with
# any of them changed would jump the schedule, so it is refused.
SCHEDULE = ('learning_rate', 'learning_rate_decay_type',
            'learning_rate_decay_factor', 'num_epochs_per_decay',
            'end_learning_rate', 'boundaries', 'values', 'warmup_epochs',
            'optimizer', 'global_batch_size', 'steps')
# Recorded too: another decay on resume would mix two averages in the
# shadow variables (records written before it was added lack it).
AVERAGES = ('moving_average_decay',)
RECORD = 'train_settings.json'   # in train_dir: what the run started with
# The documented recipe (docs/training.md: 97.5% or more held-out on
# mnist5k), declared once: the pointing game's benchmark and the slow tests
# read it here, and a test holds every command in the docs that spells it
# out to these values. Goyal et al.'s rate for batch 64 (0.1 x 64 / 64)
# with a one-epoch warm-up, cosine decay, label smoothing and the
# moving averages research/slim evaluates.
DOCUMENTED: Dict[str, Any] = {
    'batch_size': 64, 'learning_rate': 0.1,
    'learning_rate_decay_type': 'cosine', 'warmup_epochs': 1,
    'label_smoothing': 0.1, 'moving_average_decay': 0.999}


def documented_flags() -> List[str]:
  """``DOCUMENTED`` as ``train``'s flags: ``['--batch_size', '64', ...]``."""
  return [part for key, value in DOCUMENTED.items()
          for part in ('--' + key, str(value))]


class RecipeError(errors.Error):
  """A training recipe setting that cannot be used."""


def _epochs_needed(config):
  return (config.learning_rate_decay_type in ('exponential', 'polynomial')
          or config.warmup_epochs > 0 or
          (config.learning_rate_decay_type == 'piecewise'))


# Optimizer settings -> the optimizers that read them (``optimizer`` below).
USED_BY = {
    'momentum': ('momentum',),
    'rmsprop_decay': ('rmsprop',), 'rmsprop_momentum': ('rmsprop',),
    'opt_epsilon': ('rmsprop', 'adam', 'adadelta'),
    'adam_beta1': ('adam',), 'adam_beta2': ('adam',),
    'adagrad_initial_accumulator_value': ('adagrad',),
    'adadelta_rho': ('adadelta',),
    'ftrl_learning_rate_power': ('ftrl',),
    'ftrl_initial_accumulator_value': ('ftrl',), 'ftrl_l1': ('ftrl',),
    'ftrl_l2': ('ftrl',),
}


# Schedule settings -> the decays that read them (``learning_rate``).
DECAY_USED_BY = {
    'learning_rate_decay_factor': ('exponential',),
    'num_epochs_per_decay': ('exponential', 'polynomial'),
    'end_learning_rate': ('polynomial', 'cosine'),
}


def _check_unused(config: 'TrainConfig') -> None:
  """A setting changed from its default for another optimizer or decay
  would be ignored in silence: refused, naming the ones that read it."""
  fields = type(config).__dataclass_fields__
  for chooser, kind, table in (
      ('optimizer', 'optimizer', USED_BY),
      ('learning_rate_decay_type', 'decay', DECAY_USED_BY)):
    chosen = getattr(config, chooser)
    for name, users in table.items():
      if chosen not in users and getattr(config, name) != fields[name].default:
        raise RecipeError('`%s` %s is read by the %s %s%s only; this run '
                          'uses `%s` %s. Leave it out, or choose %s.'
                          % (name, getattr(config, name), ' and '.join(users),
                             kind, 's' if len(users) > 1 else '', chooser,
                             chosen, ' or '.join(users)))


def _check_trainable(config: 'TrainConfig') -> None:
  """Values inside the plain ranges that still cannot train.

  Raises:
    RecipeError: naming the argument, the value and why.
  """
  for name in ('adam_beta1', 'adam_beta2'):
    if config.optimizer == 'adam' and getattr(config, name) >= 1:
      raise RecipeError('`%s` must be below 1 (Adam divides by 1 - beta ** '
                        'step), got %r.' % (name, getattr(config, name)))
  if config.optimizer in ('adam', 'rmsprop', 'adadelta') and (
      config.opt_epsilon == 0):
    raise RecipeError('`opt_epsilon` must be > 0 for %s: it divides by the '
                      'root of the squared-gradient average plus epsilon, '
                      '0/0 for a weight whose gradient is 0.'
                      % config.optimizer)
  if config.optimizer == 'momentum' and config.momentum >= 1:
    raise RecipeError('`momentum` must be below 1 (at 1 or more the steps '
                      'grow without bound), got %r.' % config.momentum)
  if config.optimizer == 'ftrl' and config.ftrl_learning_rate_power > 0:
    raise RecipeError('`ftrl_learning_rate_power` must be <= 0 (FTRL '
                      'decays its rate as step ** power), got %r.'
                      % config.ftrl_learning_rate_power)
  decay = config.learning_rate_decay_type
  if decay == 'exponential' and config.learning_rate_decay_factor == 0:
    raise RecipeError('`learning_rate_decay_factor` must be > 0 for the '
                      'exponential decay: 0 stops training at the first '
                      'decay.')
  if decay in ('polynomial', 'cosine') and (
      config.end_learning_rate > config.learning_rate):
    raise RecipeError('`end_learning_rate` %g is above `learning_rate` %g: '
                      'the %s decay would raise the rate; give an end rate '
                      'below the start.' % (config.end_learning_rate,
                                            config.learning_rate, decay))


def check(config: 'TrainConfig', steps_per_epoch: Optional[float]) -> None:
  """One line per bad recipe value, before anything is built or written.

  Args:
    config: a ``trainer.TrainConfig``.
    steps_per_epoch: steps of the global batch per epoch, or None when the
      dataset's size is unknown.

  Raises:
    RecipeError: naming the argument and what to give.
  """
  if config.optimizer not in OPTIMIZERS:
    raise RecipeError('`optimizer` must be one of %s, got %r.'
                      % (', '.join(OPTIMIZERS), config.optimizer))
  if config.learning_rate_decay_type not in DECAY_TYPES:
    raise RecipeError('`learning_rate_decay_type` must be one of %s, got %r.'
                      % (', '.join(DECAY_TYPES),
                         config.learning_rate_decay_type))
  for name in ('learning_rate_decay_factor', 'num_epochs_per_decay',
               'end_learning_rate', 'warmup_epochs', 'label_smoothing',
               'opt_epsilon', 'adam_beta1', 'adam_beta2', 'rmsprop_momentum',
               'rmsprop_decay', 'adadelta_rho',
               'adagrad_initial_accumulator_value',
               'ftrl_initial_accumulator_value', 'ftrl_l1', 'ftrl_l2'):
    value = getattr(config, name)
    if not math.isfinite(value) or value < 0:
      raise RecipeError('`%s` must be a finite number >= 0, got %r.'
                        % (name, value))
  if config.label_smoothing >= 1:
    raise RecipeError('`label_smoothing` must be below 1, got %r.'
                      % config.label_smoothing)
  for name in ('adam_beta1', 'adam_beta2', 'rmsprop_decay', 'adadelta_rho',
               'learning_rate_decay_factor'):
    if getattr(config, name) > 1:
      raise RecipeError('`%s` must be at most 1, got %r.'
                        % (name, getattr(config, name)))
  _check_unused(config)
  _check_trainable(config)
  if config.learning_rate_decay_type in ('exponential', 'polynomial') and (
      config.num_epochs_per_decay <= 0):
    raise RecipeError('`num_epochs_per_decay` must be > 0 for the %s decay.'
                      % config.learning_rate_decay_type)
  if config.learning_rate_decay_type == 'piecewise':
    bounds, values = config.boundaries or (), config.values or ()
    if not bounds or len(values) != len(bounds) + 1:
      raise RecipeError('the piecewise decay needs `boundaries` (epochs) and '
                        'one more `values` (rates): got %d and %d.'
                        % (len(bounds), len(values)))
    if list(bounds) != sorted(set(bounds)) or bounds[0] <= 0:
      raise RecipeError('`boundaries` must be positive epochs in increasing '
                        'order, got %s.' % ' '.join(map(str, bounds)))
    if any(v <= 0 or not math.isfinite(v) for v in values):
      raise RecipeError('`values` must be positive rates, got %s.'
                        % ' '.join(map(str, values)))
  elif config.boundaries or config.values:
    raise RecipeError('`boundaries` and `values` go with '
                      '`learning_rate_decay_type` piecewise.')
  if steps_per_epoch is None and _epochs_needed(config):
    raise RecipeError(
        'this schedule counts epochs, but the size of the data is unknown: '
        'shards made by convert record it (convert.json beside them); for '
        'other shards use `learning_rate_decay_type` fixed or cosine and no '
        '`warmup_epochs`.')
  if steps_per_epoch is not None:
    warmup = config.warmup_epochs * steps_per_epoch
    if warmup >= config.steps:
      raise RecipeError('`warmup_epochs` %g is %d steps, as long as the whole '
                        'run (`steps` %d): warm up for less.'
                        % (config.warmup_epochs, math.ceil(warmup),
                           config.steps))


def learning_rate(config: 'TrainConfig', steps_per_epoch: Optional[float],
                  global_step: Union[tf.Tensor, tf.Variable]) -> tf.Tensor:
  """The learning-rate tensor of ``config`` at ``global_step``.

  slim's decays in slim's units (``decay_steps = steps_per_epoch *
  num_epochs_per_decay``, the exponential one staircased), plus
  ``cosine`` (to ``end_learning_rate`` at ``steps``) and ``piecewise``
  (``values[i]`` from epoch ``boundaries[i-1]``). A warm-up rises linearly
  from 0 to the schedule's value over ``warmup_epochs`` (Goyal et al.),
  then the schedule continues as if it had run from step 0.
  """
  lr = config.learning_rate
  decay_type = config.learning_rate_decay_type
  step = tf.cast(global_step, tf.int64)
  if decay_type == 'fixed':
    rate = tf.constant(lr, tf.float32)
  elif decay_type == 'exponential':
    rate = tf.train.exponential_decay(
        lr, step, int(steps_per_epoch * config.num_epochs_per_decay),
        config.learning_rate_decay_factor, staircase=True)
  elif decay_type == 'polynomial':
    rate = tf.train.polynomial_decay(
        lr, step, int(steps_per_epoch * config.num_epochs_per_decay),
        config.end_learning_rate, power=1.0, cycle=False)
  elif decay_type == 'cosine':
    rate = tf.train.cosine_decay(lr, step, config.steps,
                                 alpha=config.end_learning_rate / lr)
  else:
    rate = tf.train.piecewise_constant(
        step, [int(b * steps_per_epoch) for b in config.boundaries],
        [float(v) for v in config.values])
  rate = tf.cast(rate, tf.float32)
  if config.warmup_epochs > 0:
    warmup = max(1, int(config.warmup_epochs * steps_per_epoch))
    fraction = tf.cast(step + 1, tf.float32) / float(warmup)
    rate = tf.where(step < warmup, rate * fraction, rate)
  return tf.identity(rate, name='learning_rate')


def optimizer(config: 'TrainConfig', rate: Union[float, tf.Tensor]
              ) -> tf.train.Optimizer:
  """slim's ``_configure_optimizer``: TensorFlow's optimizer of that name."""
  name = config.optimizer
  if name == 'momentum':
    return tf.train.MomentumOptimizer(rate, config.momentum, name='Momentum')
  if name == 'sgd':
    return tf.train.GradientDescentOptimizer(rate)
  if name == 'rmsprop':
    return tf.train.RMSPropOptimizer(rate, decay=config.rmsprop_decay,
                                     momentum=config.rmsprop_momentum,
                                     epsilon=config.opt_epsilon)
  if name == 'adam':
    return tf.train.AdamOptimizer(rate, beta1=config.adam_beta1,
                                  beta2=config.adam_beta2,
                                  epsilon=config.opt_epsilon)
  if name == 'adagrad':
    return tf.train.AdagradOptimizer(
        rate, initial_accumulator_value=(
            config.adagrad_initial_accumulator_value))
  if name == 'adadelta':
    return tf.train.AdadeltaOptimizer(rate, rho=config.adadelta_rho,
                                      epsilon=config.opt_epsilon)
  return tf.train.FtrlOptimizer(
      rate, learning_rate_power=config.ftrl_learning_rate_power,
      initial_accumulator_value=config.ftrl_initial_accumulator_value,
      l1_regularization_strength=config.ftrl_l1,
      l2_regularization_strength=config.ftrl_l2)


def trainable(config: 'TrainConfig', variables: List[tf.Variable]
              ) -> List[tf.Variable]:
  """slim's ``--trainable_scopes``: the variables to train (all if None).

  Raises:
    RecipeError: a scope that matches no variable (naming the ones there).
  """
  if not config.trainable_scopes:
    return variables
  chosen = []
  for scope in config.trainable_scopes:
    scope = scope.strip().rstrip('/')
    matched = [v for v in variables
               if v.op.name == scope or v.op.name.startswith(scope + '/')]
    if not matched:
      tops = sorted({'/'.join(v.op.name.split('/')[:2]) for v in variables})
      raise RecipeError('`trainable_scopes` %s matches no variable; scopes '
                        'there: %s ...' % (scope, ', '.join(tops[:8])))
    chosen += [v for v in matched if v not in chosen]
  return chosen


def check_resume(train_dir: str, config: 'TrainConfig', resuming: bool,
                 num_replicas: int = 1) -> Tuple[str, Dict[str, Any]]:
  """Records the schedule a run starts with; refuses a resume that changes it.

  Args:
    train_dir: the run's folder.
    config: this run's ``TrainConfig``.
    resuming: whether a checkpoint in ``train_dir`` is being resumed.
    num_replicas: replicas of this run: epochs count the global batch, so
      two replicas of batch 4 resume one device's batch 8 unchanged.

  Raises:
    RecipeError: naming the settings that differ from the recorded run.
  """
  path = os.path.join(train_dir, RECORD)
  values = dict(vars(config), global_batch_size=config.batch_size *
                num_replicas)
  now = {name: _jsonable(values[name]) for name in SCHEDULE + AVERAGES}
  if os.path.isdir(path):
    raise RecipeError('%s is a folder where the run records its schedule: '
                      'move it away, then rerun.' % path)
  if resuming and os.path.isfile(path):
    then = _read_record(path)
    if then is not None:
      # More steps extend a run; only the cosine decay is defined by them.
      changed = [n for n in SCHEDULE if n in then and then[n] != now[n]
                 and (n != 'steps' or now['learning_rate_decay_type'] ==
                      'cosine')]
      if changed:
        raise RecipeError(
            '`train_dir` %s was started with %s; resuming with %s would '
            'jump the learning-rate schedule (a function of the step). Give '
            'the same values, or a new `train_dir`.'
            % (train_dir, ', '.join('`%s` %s' % (n, then[n]) for n in
                                    changed),
               ', '.join('%s' % now[n] for n in changed)))
      _check_same_averages(train_dir, then, now)
  return path, now


def _check_same_averages(train_dir: str, then: Dict[str, Any],
                         now: Dict[str, Any]) -> None:
  for name in AVERAGES:
    if name in then and then[name] != now[name]:
      raise RecipeError(
          '`train_dir` %s was started with `%s` %s; resuming with %s would '
          'mix two averages in its shadow variables. Give the same value, '
          'or a new `train_dir`.' % (train_dir, name, then[name], now[name]))


def _read_record(path: str) -> Optional[Dict[str, Any]]:
  """The recorded schedule; refuses a damaged record instead of resuming
  unchecked (it was skipped silently)."""
  try:
    with open(path, encoding='utf-8') as f:
      then = json.load(f)
  except (OSError, ValueError):
    then = None
  if not isinstance(then, dict):
    raise RecipeError(
        '%s is damaged (not the JSON a run writes), so the schedule this '
        'run started with cannot be checked: delete it to resume with the '
        'settings as given (it is written again), or use a new '
        '`train_dir`.' % path)
  return then


def write_record(path: str, now: Dict[str, Any]) -> None:
  fileio.atomic_write_text(path, json.dumps(now, indent=2, sort_keys=True)
                           + '\n')


def _jsonable(value):
  return list(value) if isinstance(value, tuple) else value
