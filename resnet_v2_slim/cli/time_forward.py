"""Times a ResNet V2 forward (or forward-backward) pass, the book's way.

With no arguments: ResNet-V2-152, batch 32, 224x224 random images made in
the graph, 10 burn-in and 100 timed steps, printing
``<time>: Forward across 100 steps, X +/- Y sec / batch`` as in the book,
then throughput, FLOP/s, memory and what ran it.

    python scripts/time_forward.py
    python scripts/time_forward.py --model resnet_v2_50 --precision bf16 \
        --json results.json
"""

import argparse
import contextlib
import dataclasses
import os
import sys
from typing import Any, Optional, Sequence

from resnet_v2_slim import names
from resnet_v2_slim.cli import common
from resnet_v2_slim.config import benchmark as benchmark_config
from resnet_v2_slim.config import distribute as distribute_config
from resnet_v2_slim.utils import settings


def parse_args(argv: Optional[Sequence[str]],
               prog: str = 'resnet-v2-slim time-forward'
               ) -> argparse.Namespace:
  parser = common.parser(prog, 'Time ResNet V2 with the book\'s session '
                         'protocol.')
  settings.add_flags(parser, benchmark_config.Config)
  common.add_json_flag(parser, 'all results')
  parser.add_argument('--measure_peak', action='store_true',
                      help='also time a 4096^3 matmul in the same precision '
                      'and report the network\'s share of that peak')
  parser.add_argument('--model_file', default=None, metavar='PATH',
                      help='time an exported model (export\'s .pb, .keras, '
                      '.onnx, OpenVINO folder or .tflite) on its engine '
                      'instead of building --model')
  parser.add_argument('--engine', default=None, choices=names.ENGINES,
                      help='with --model_file: the engine (default: the '
                      'file\'s own; .onnx also runs on openvino)')
  distribute_config.add_flags(parser)
  return parser.parse_args(argv)


@common.command
def main(argv: Optional[Sequence[str]] = None,
         prog: str = 'resnet-v2-slim time-forward') -> int:
  """Runs the command; returns its exit code (0, 1 or 2)."""
  args = parse_args(argv, prog)
  common.quiet()
  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim import checkpoints
  from resnet_v2_slim.distribute import strategy as dist
  from resnet_v2_slim.inference import engines
  from resnet_v2_slim.perf import benchmark
  # pylint: enable=g-import-not-at-top
  config = settings.from_args(
      benchmark_config.Config, args,
      distribute=distribute_config.options_from_args(args))
  if args.checkpoint and not args.model_file:
    config = _checkpoint_defaults(prog, config, _given(argv))
  if args.engine and not args.model_file:
    return common.fail(prog, '--engine times an exported model: give '
                       '--model_file too.')
  if args.model_file and (args.checkpoint or config.distribute.strategy !=
                          'none' or config.mode != 'forward'):
    return common.fail(prog, '--model_file is timed forward, in one process: '
                       'leave out --checkpoint, --strategy and --mode.')
  try:
    common.check_json(args.json, lambda: (
        checkpoints.input_paths(args.checkpoint) if args.checkpoint
        else []) + [('--model_file', args.model_file)])
    if config.scenario:
      return _scenario(prog, args, config)
    if args.model_file:
      with engines.load(args.model_file, args.engine,
                        precision=config.precision, threads=config.threads,
                        streams=config.streams) as engine:
        result = benchmark.run_artifact(config, engine)
    else:
      config.validate()
      # Building a big network and its first steps take a while: say so.
      print('timing %s %s, batch %d at %dx%d: building the graph, then %d '
            'burn-in and %d timed steps' % (
                config.model, config.mode, config.batch_size,
                config.image_size, config.image_size, config.num_burn_in,
                config.num_batches), file=common.human_out(args), flush=True)
      result = benchmark.run(config)
  except dist.PeerError as exc:   # another worker died: exit 1, not 2
    return common.fail(prog, exc, code=1)
  if args.measure_peak:
    benchmark.add_peak(result, config.precision)
  print('\n'.join(benchmark.report_lines(result)),
        file=common.human_out(args))
  if args.json and not result['is_chief']:
    print('--json is the chief\'s to write; this worker only prints')
  elif args.json:
    return common.emit_json(prog, args.json, result,
                            printed='the results are printed above')
  return 0


def _scenario(prog: str, args: argparse.Namespace, config: Any) -> int:
  """``--scenario``: MLPerf LoadGen on the graph or ``--model_file``; its
  summary and detail logs beside ``--json``."""
  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import engines
  from resnet_v2_slim.perf import benchmark
  from resnet_v2_slim.perf import loadgen
  from resnet_v2_slim.utils import fileio
  # pylint: enable=g-import-not-at-top
  if args.model_file:
    config.check_scenario()   # the engine checks its threads and streams
  else:
    config.validate()
  loadgen.require()
  logs = _loadgen_logs(args.json)
  runner = (engines.load(args.model_file, args.engine,
                         precision=config.precision, threads=config.threads,
                         streams=config.streams)
            if args.model_file else loadgen.GraphRunner(config))
  with contextlib.closing(runner), fileio.scratch_dir(
      'resnet-v2-slim-loadgen-') as scratch:
    result = loadgen.run(config, runner.run, out_dir=scratch,
                         log=lambda line: print(line, file=common.human_out(
                             args)))
    for name, target in logs.items():
      with open(os.path.join(scratch, name), 'rb') as f:
        fileio.atomic_write_bytes(target, f.read())
  result.update(benchmark.device_info())
  result.update({'model': args.model_file or config.model,
                 'engine': getattr(runner, 'engine', 'tensorflow'),
                 'precision': getattr(runner, 'precision', config.precision),
                 'batch_size': config.batch_size,
                 'image_size': config.image_size,
                 'loadgen_logs': sorted(logs.values()),
                 **config.runtime_record()})
  print('ran on %s, %d CPUs; LoadGen logs: %s' % (
      result['device'], result['cpu_count'], ', '.join(
          result['loadgen_logs']) or 'give --json to keep them'),
        file=common.human_out(args))
  if args.json:
    return common.emit_json(prog, args.json, result,
                            printed='the results are printed above')
  return 0


def _loadgen_logs(json_path: Optional[str]) -> dict:
  """LoadGen's file -> where it is kept (beside ``--json``, named after
  it); {} without ``--json``."""
  from resnet_v2_slim.utils import fileio  # pylint: disable=g-import-not-at-top
  if not json_path:
    return {}
  stem = os.path.splitext(json_path)[0]
  logs = {name: '%s.%s' % (stem, name) for name in (
      'mlperf_log_summary.txt', 'mlperf_log_detail.txt')}
  for target in logs.values():
    fileio.check_writable(target, '--json\'s LoadGen log')
  return logs


def _given(argv: Optional[Sequence[str]]) -> set:
  """The flags the command line names (``--image_size 64``, ``--x=1``)."""
  argv = sys.argv[1:] if argv is None else argv
  return {arg.split('=')[0][2:] for arg in argv if arg.startswith('--')}


def _checkpoint_defaults(prog: str, config: Any, given: set) -> Any:
  """The network, classes and size of ``--checkpoint`` where the flags
  left the book's defaults: a trained checkpoint is timed as it was
  trained (its ``train_facts.json``), and says so.

  Raises:
    BenchmarkError: an unusable checkpoint.
    TrainFactsError: a damaged facts file.
  """
  from resnet_v2_slim import checkpoints  # pylint: disable=g-import-not-at-top
  try:
    info = checkpoints.read(config.checkpoint)
  except checkpoints.CheckpointError as exc:
    raise benchmark_config.BenchmarkError('`checkpoint`: %s' % exc) from None
  taken = {}
  if 'model' not in given and info.model:
    taken['model'] = info.model
  if 'num_classes' not in given and info.num_classes:
    taken['num_classes'] = info.num_classes
  chosen = info.defaults(taken.get('model', config.model))
  if 'image_size' not in given and chosen.recorded:
    taken['image_size'] = chosen.image_size
  if chosen.recorded:
    print('%s: defaults from %s: %s' % (prog, chosen.source,
                                        info.trained.summary()),
          file=sys.stderr, flush=True)
  return dataclasses.replace(config, **taken)
