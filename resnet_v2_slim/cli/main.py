"""``resnet-v2-slim``: one command, a subcommand per job.

The table ``COMMANDS`` maps each subcommand to the module whose ``main``
runs it; modules are imported only when their subcommand runs, so
``--help`` and ``--version`` answer at once.

Typical use::

    resnet-v2-slim --help
    resnet-v2-slim time-forward                 # the book's benchmark
    python -m resnet_v2_slim inspect model.ckpt-1000
"""

import importlib
import sys
from typing import Optional, Sequence

import resnet_v2_slim

PROG = 'resnet-v2-slim'
# subcommand: (module in resnet_v2_slim.cli, the script that wraps it, what
# it does).


COMMANDS = {
    'time-forward': ('time_forward', 'time_forward.py',
                     'time a forward (or forward-backward) pass, the '
                     'book\'s way'),
    'inspect': ('inspect', 'inspect_checkpoint.py',
                'tell which ResNet V2 a checkpoint holds'),
    'classify': ('classify', 'classify.py',
                 'top-k classes of image files (checkpoint or exported '
                 'model)'),
    'explain': ('explain', 'explain.py',
                'Grad-CAM: where the network looks, per image and class'),
    'embed': ('embed', 'embed.py',
              'one feature vector per image (pre-logits), to a .npy file'),
    'export': ('export', 'export_inference_graph.py',
               'frozen graph, SavedModel, Keras 3, ONNX, OpenVINO, TFLite; '
               'verified'),
    'import-keras': ('import_keras', 'import_keras.py',
                     'a Keras ResNetV2 (.keras, .weights.h5) -> slim '
                     'checkpoint'),
    'evaluate': ('evaluate', 'evaluate.py',
                 'top-1, top-5 and loss over TFRecords or a folder'),
    'convert': ('convert', 'convert.py',
                'a folder of class sub-folders -> TF-Slim TFRecords'),
    'train': ('train', 'train.py',
              'train or fine-tune in graph mode, resuming if stopped'),
    'serve': ('serve', 'serve.py',
              'an HTTP and gRPC endpoint (v1 and v2 protocols) on KServe'),
    'summarize': ('summarize', 'summarize.py',
                  'shapes, parameters and FLOPs per unit'),
    'residual-experiment': ('residual_experiment', 'residual_experiment.py',
                            'seed 003: residual vs plain, shallow vs deep'),
}


def usage() -> str:
  lines = ['usage: %s [--version] <command> [options]' % PROG, '',
           'commands:']
  lines += ['  %-20s %s' % (name, what)
            for name, (_, _, what) in COMMANDS.items()]
  lines += ['', '%s <command> --help shows the options of one command.'
            % PROG]
  return '\n'.join(lines)


def run(command: str, argv: Sequence[str], prog: str) -> int:
  """Runs subcommand ``command`` with ``argv``; returns its exit code."""
  module = importlib.import_module('resnet_v2_slim.cli.' +
                                   COMMANDS[command][0])
  return module.main(argv, prog=prog)


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Entry point of ``resnet-v2-slim``; returns the exit code."""
  argv = list(sys.argv[1:] if argv is None else argv)
  if not argv:   # a command is missing: the list, as an error (exit 2)
    print(usage(), file=sys.stderr)
    return 2
  if argv[0] in ('-h', '--help', 'help'):
    print(usage())
    return 0
  if argv[0] == '--version':
    print('%s %s' % (PROG, resnet_v2_slim.__version__))
    return 0
  if argv[0] not in COMMANDS:
    print('%s: error: unknown command %r; choose one of: %s'
          % (PROG, argv[0], ', '.join(COMMANDS)), file=sys.stderr)
    return 2
  return run(argv[0], argv[1:], '%s %s' % (PROG, argv[0]))
