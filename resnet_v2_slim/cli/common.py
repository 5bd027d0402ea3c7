"""Helpers shared by the subcommands: one-line errors, flag types, JSON.

Typical use (in a subcommand's ``main``)::

    from resnet_v2_slim.cli import common

    common.quiet()
    return common.fail('resnet-v2-slim inspect', 'no checkpoint at x')
"""

import argparse
import json
import sys

from resnet_v2_slim._quiet import quiet_logs as quiet  # noqa: F401  re-exported
from resnet_v2_slim.data import preprocessing as preprocessing_lib
from resnet_v2_slim.utils import fileio

EXIT_BAD_INPUT = 2


def auto_or_positive_int(text):
  """argparse type for flags like ``--num_classes auto|N``."""
  if text == 'auto':
    return text
  try:
    value = int(text)
  except ValueError:
    value = 0
  if value <= 0:
    raise argparse.ArgumentTypeError('expected auto or a positive integer, '
                                     'got %r' % text)
  return value


def add_input_flags(parser, *, preprocessing=True):
  """The flags a checkpoint can answer: ``auto`` or a value each.

  ``--model``, ``--num_classes``, ``--image_size`` and (unless
  ``preprocessing=False``) ``--preprocessing``; ``auto`` is resolved from
  the checkpoint by ``CheckpointInfo.input_defaults`` and friends.
  """
  parser.add_argument('--model', default='auto',
                      help='network name, or auto (from the checkpoint)')
  parser.add_argument('--num_classes', default='auto',
                      type=auto_or_positive_int,
                      help='auto (from the checkpoint) or a number')
  if preprocessing:
    parser.add_argument('--preprocessing', default='auto',
                        choices=preprocessing_lib.FLAG_CHOICES,
                        help='auto: what the published checkpoint was '
                        'trained with (inception), else inception')
  parser.add_argument('--image_size', default='auto',
                      type=auto_or_positive_int,
                      help='input height and width (auto: what the '
                      'published checkpoint was trained at, 299, else the '
                      'network\'s default, 224)')


def fail(prog, message):
  """Prints ``prog: error: message`` to stderr; returns exit code 2."""
  print('%s: error: %s' % (prog, message), file=sys.stderr)
  return EXIT_BAD_INPUT


def write_json(path, obj):
  """Writes ``obj`` as indented JSON to ``path`` atomically."""
  fileio.atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True)
                             + '\n')
