"""Accuracy of a checkpoint over a validation set: top-1, top-5, loss.

    python scripts/evaluate.py --checkpoint resnet_v2_50.ckpt \
        --tfrecord '/data/imagenet/validation-*' --json result.json
    python scripts/evaluate.py --checkpoint runs/ft --data_dir my_val/
    resnet-v2-slim evaluate --model_file rn50.onnx --checkpoint rn50.ckpt \
        --tfrecord '/data/imagenet/validation-*'

Model, classes, preprocessing, size and label offset default to the
checkpoint and its row in the published-checkpoint table; the result is
printed next to the published accuracy.
"""


import os
import sys
from typing import Optional, Sequence

from resnet_v2_slim.cli import common
from resnet_v2_slim.config import inference as inference_config
from resnet_v2_slim.utils import settings


@common.command
def main(argv: Optional[Sequence[str]] = None,
         prog: str = 'resnet-v2-slim evaluate') -> int:
  """Runs the command; returns its exit code (0 or 2)."""
  parser = common.parser(prog, __doc__)
  settings.add_flags(parser, inference_config.EvalConfig)
  common.add_json_flag(parser, 'the result')
  args = parser.parse_args(argv)
  common.quiet()
  config = settings.from_args(inference_config.EvalConfig, args)
  config.validate()
  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim import checkpoints
  from resnet_v2_slim.inference import evaluate
  # pylint: enable=g-import-not-at-top
  if config.watch:
    if args.json or config.model_file:
      return common.fail(prog, '--watch writes TRAIN_DIR/eval/results.jsonl '
                         'and evaluates checkpoints: leave out --json and '
                         '--model_file.')
    results = evaluate.watch(config, log=common.printer())
    print('no new checkpoint in %s for %g s: evaluated %d checkpoint(s); '
          'TensorBoard summaries in %s' % (
              args.checkpoint, config.timeout, len(results),
              os.path.join(args.checkpoint, 'eval')))
    return 0
  common.check_json(args.json, lambda: (
      checkpoints.input_paths(args.checkpoint) if args.checkpoint else []) +
                    [('--model_file', args.model_file),
                     ('--data_dir', args.data_dir)])
  out = common.human_out(args)
  if config.checkpoint:
    common.say_recorded_defaults(
        prog, config, ('preprocessing', 'image_size', 'labels_offset'))
  result = evaluate.evaluate(config, log=common.printer(out))
  print(evaluate.report_line(result), file=out)
  hint = evaluate.label_order_hint(result)
  if hint:
    print('%s: warning: %s' % (prog, hint), file=sys.stderr)
  if args.json:
    return common.emit_json(prog, args.json, result)
  return 0
