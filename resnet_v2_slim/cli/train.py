"""Trains a ResNet V2 (or its plain twin) in graph mode, resuming if stopped.

    python scripts/train.py --model resnet_v2_18 --train_dir /tmp/rn18
    python scripts/train.py --model resnet_v2_18 --no_shortcut --train_dir /tmp/plain18
    python scripts/train.py --model resnet_v2_50 --data_dir my_images/ \
        --train_dir /tmp/ft --checkpoint resnet_v2_50.ckpt --image_size 224

Without --data_dir it trains on scikit-learn's handwritten digits (shipped
in the scikit-learn wheel, so it runs offline). Rerunning with the same
--train_dir resumes from its latest checkpoints.

Under --strategy multi_worker, a process whose TF_CONFIG task is the
"evaluator" trains nothing: with the workers' flags it evaluates every
checkpoint the chief writes (``evaluate --watch``: TRAIN_DIR/eval) on the
validation split of --dataset_name or on --eval_tfrecord, and stops after
the final step's checkpoint.
"""

import os
import sys
import time
from typing import Optional, Sequence

from resnet_v2_slim import errors
from resnet_v2_slim.cli import common
from resnet_v2_slim.config import distribute as distribute_config
from resnet_v2_slim.config import train as train_config
from resnet_v2_slim.utils import settings


@common.command
def main(argv: Optional[Sequence[str]] = None,
         prog: str = 'resnet-v2-slim train') -> int:
  """Runs the command; returns 0, 2 (bad input), 75 (preempted: SIGTERM,
  SIGHUP or SIGUSR1; the step in flight saved) or 130 (Ctrl-C)."""
  parser = common.parser(prog, __doc__)
  settings.add_flags(parser, train_config.TrainConfig)
  distribute_config.add_flags(parser)
  args = parser.parse_args(argv)
  common.quiet()
  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.distribute import strategy as dist
  from resnet_v2_slim.training import trainer
  # pylint: enable=g-import-not-at-top
  config = settings.from_args(
      train_config.TrainConfig, args,
      distribute=distribute_config.options_from_args(args))
  if config.distribute.strategy == 'multi_worker':
    task = dist.read_tf_config()
    if task.is_evaluator:
      return _evaluator(config, prog)
  try:
    history = trainer.train(config, log=common.printer())
  except trainer.TrainInterrupted as exc:
    print('%s: %s' % (prog, errors.as_flags(str(exc))), file=sys.stderr)
    return 128 + exc.signal_number   # the shell's: 130 for Ctrl-C
  except trainer.TrainPreempted as exc:
    print('%s: %s' % (prog, errors.as_flags(str(exc))), file=sys.stderr)
    return trainer.EXIT_PREEMPTED
  except dist.PeerError as exc:   # another worker died: exit 1, not 2
    return common.fail(prog, exc, code=1)
  if history:
    last = history[-1]
    skipped = ('; %d steps skipped by the fp16 loss scale'
               % last['skipped_steps'] if last['skipped_steps'] else '')
    print('done: step %d, loss %.4f, accuracy %.3f%s; checkpoints in %s'
          % (last['step'], last['loss'], last['accuracy'], skipped,
             args.train_dir))
  else:
    print('nothing to do: %s is already at step %d or beyond'
          % (args.train_dir, args.steps))
  return 0


def _evaluator(config, prog):
  """The evaluator task: ``evaluate --watch`` on the chief's checkpoints."""
  from resnet_v2_slim.inference import evaluate  # pylint: disable=g-import-not-at-top
  if bool(config.dataset_name) == bool(config.eval_tfrecord):
    raise train_config.TrainError(
        'the evaluator task evaluates the validation split of '
        '`dataset_name` or the shards of `eval_tfrecord`: give one of them.')
  if config.eval_tfrecord:   # up front: a watcher would wait forever
    from resnet_v2_slim.data import tfrecords  # pylint: disable=g-import-not-at-top
    try:
      tfrecords.check_shards(tfrecords.find_shards(config.eval_tfrecord))
    except tfrecords.RecordError as exc:
      raise train_config.TrainError(
          str(exc).replace('`tfrecord`', '`eval_tfrecord`')) from None
  eval_config = evaluate.EvalConfig(
      checkpoint=config.train_dir, watch=True,
      dataset_name=config.dataset_name,
      dataset_split_name='validation', tfrecord=config.eval_tfrecord,
      image_size=config.image_size,
      labels_offset=config.labels_offset if config.eval_tfrecord else 'auto',
      batch_size=50,
      timeout=max(config.distribute.peer_timeout, 60.0))
  # The chief makes the folder; wait for it as long as for a peer.
  deadline = time.monotonic() + eval_config.timeout
  while not os.path.isdir(config.train_dir):
    if time.monotonic() > deadline:
      raise train_config.TrainError(
          'the evaluator waited %.0f s for `train_dir` %s to appear: is the '
          'chief running with the same --train_dir?'
          % (eval_config.timeout, config.train_dir))
    time.sleep(1.0)
  print('evaluator: evaluating each checkpoint of %s on %s until step %d'
        % (config.train_dir, 'the %s validation split' % config.dataset_name
           if config.dataset_name else config.eval_tfrecord, config.steps),
        flush=True)
  results = evaluate.watch(eval_config, log=common.printer(),
                           last_step=config.steps)
  print('evaluator: %d checkpoint(s) evaluated; results in %s'
        % (len(results), os.path.join(config.train_dir, 'eval')))
  steps = [r['step'] for r in results]
  last = max(steps) if steps else None
  if last is None or last < config.steps:
    # The workers stopped early (died, preempted): not a finished run.
    return common.fail(prog, 'the evaluator saw no checkpoint at step %d '
                       'within %.0f s (`peer_timeout`, at least 60): '
                       'training ended early, at %s. Rerun the workers to '
                       'resume, and this task with them.'
                       % (config.steps, eval_config.timeout,
                          'step %d' % last if last is not None
                          else 'no checkpoint'), code=1)
  return 0
