"""Helpers shared by the subcommands: one-line errors, flag types, JSON.

Every subcommand's ``main`` is wrapped by ``@common.command``: the
package's errors (``resnet_v2_slim.errors.Error`` and its subclasses)
become one line ``prog: error: ...`` with exit code 2, their argument
names written as flags; any other exception is a bug and stays a
traceback. ``common.parser`` makes parsers that take no abbreviations
(``--labels`` is never read as ``--labels_offset``).

Typical use (a subcommand)::

    from resnet_v2_slim.cli import common

    @common.command
    def main(argv=None, prog='resnet-v2-slim inspect'):
      args = common.parser(prog, __doc__).parse_args(argv)
      common.quiet()
      ...
"""

import argparse
import functools
import inspect
import json
import sys

from resnet_v2_slim import errors
from resnet_v2_slim._quiet import quiet_logs as quiet  # noqa: F401  re-exported
from resnet_v2_slim.utils import fileio

EXIT_BAD_INPUT = 2


def fail(prog, message, code=EXIT_BAD_INPUT):
  """Prints ``prog: error: message`` (flags named as flags) to stderr.

  Args:
    prog: the command, e.g. ``'resnet-v2-slim train'``.
    message: the error, in the library's words or the command's.
    code: the exit code to return.

  Returns:
    ``code`` (2: bad input).
  """
  print('%s: error: %s' % (prog, errors.as_flags(str(message))),
        file=sys.stderr)
  return code


def command(main):
  """Wraps a subcommand's ``main(argv=None, prog=...)``: the package's
  errors become one line and exit code 2, other exceptions stay tracebacks.
  """
  default_prog = inspect.signature(main).parameters['prog'].default

  @functools.wraps(main)
  def run(argv=None, prog=default_prog):
    try:
      return main(argv, prog=prog)
    except errors.Error as exc:
      return fail(prog, exc)
  return run


def parser(prog, doc):
  """An ``ArgumentParser`` for a subcommand: its doc's first line as the
  description, and no abbreviated flags (a prefix is an error, not a guess).
  """
  return argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0],
                                 allow_abbrev=False)


def write_json(path, obj):
  """Writes ``obj`` as indented JSON to ``path`` atomically."""
  fileio.atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True)
                             + '\n')
