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


def fail(prog, message):
  """Prints ``prog: error: message`` to stderr; returns exit code 2."""
  print('%s: error: %s' % (prog, message), file=sys.stderr)
  return EXIT_BAD_INPUT


def write_json(path, obj):
  """Writes ``obj`` as indented JSON to ``path`` atomically."""
  fileio.atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True)
                             + '\n')
