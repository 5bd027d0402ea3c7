"""Helpers shared by the scripts: quiet TensorFlow, one-line errors.

Typical use (first lines of a script)::

    import os
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    from resnet_v2_slim import cli
    cli.quiet()
"""

import argparse
import json
import logging
import sys
import warnings

from resnet_v2_slim import io_utils
from resnet_v2_slim import resnet_utils

tf = resnet_utils.tf

EXIT_BAD_INPUT = 2


def quiet():
  """Silences TensorFlow's Python deprecation chatter; keeps real warnings.

  tf_slim triggers dozens of TF1 deprecation notices per graph; they say
  nothing a user of this package can act on. Our own warnings still show,
  once each (Python's default filter).
  """
  tf.get_logger().setLevel(logging.ERROR)
  warnings.filterwarnings('ignore', category=DeprecationWarning)
  warnings.filterwarnings('ignore', message='`layer.apply` is deprecated')
  logging.basicConfig(level=logging.INFO, format='%(message)s',
                      stream=sys.stderr)
  logging.getLogger('absl').setLevel(logging.ERROR)
  warnings.formatwarning = _one_line_warning


def _one_line_warning(message, category, filename, lineno, line=None):
  del filename, lineno, line
  return 'warning: %s (%s)\n' % (message, category.__name__)


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
  io_utils.atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True)
                             + '\n')
