"""The package's one error base: every error raised for bad input is one.

Each room raises its own subclass (``checkpoints.CheckpointError``,
``data.DataError``, ``training.TrainError`` ...). The command line catches
only ``Error`` and prints it as one line with exit code 2; anything else is
a bug and stays a traceback.

``Error`` is a ``ValueError``, so code written against round-1/2 releases
(``except ValueError``) and the official TF-Slim tests (which expect
``ValueError`` from the networks) keep working.

Messages name the library's arguments in backticks (``` `data_dir` /x is
not a folder```); the command line shows them as its flags
(``--data_dir /x is not a folder``) through ``as_flags``.

Typical use::

    from resnet_v2_slim import errors

    try:
      run()
    except errors.Error as exc:
      print('error:', errors.as_flags(str(exc)))
"""

import re


class Error(ValueError):
  """Base of every error resnet_v2_slim raises for input it cannot use."""


# A backticked lower-case identifier: an argument that is also a flag.
_ARGUMENT = re.compile(r'`([a-z][a-z0-9_]*)`')


def as_flags(message: str) -> str:
  """Rewrites backticked argument names as command-line flags.

  Args:
    message: an error message in the library's words.

  Returns:
    The message with every `` `name` `` written as ``--name``.
  """
  return _ARGUMENT.sub(r'--\1', message)


# Lines of TensorFlow's graph-execution messages that say where, not what.
_WHERE = re.compile(r'^(Graph execution error:|Detected at node|Node:|File "|'
                    r'From /job|'
                    r'\[\[|\(\d+\) |\d+ root error|0 successful|Errors may '
                    r'have originated)')


def quoted(exc: BaseException, limit: int = 300) -> str:
  """Another library's error as a message part, in one line.

  The package's one "first line of an error": the line that says what went
  wrong (TensorFlow's "Graph execution error:", "Detected at node" and a
  worker's "From /job:..." lines are skipped), its backticks made quotes
  (so ``as_flags`` leaves its names alone).

  Args:
    exc: the exception (or a message string).
    limit: the most characters kept.

  Returns:
    One line, at most ``limit`` characters.
  """
  lines = [l.strip() for l in str(getattr(exc, 'message', exc)).splitlines()]
  nodes = [i for i, l in enumerate(lines) if l.startswith('Node:')]
  if nodes:   # after a "Detected at node" traceback: the message follows
    lines = lines[nodes[-1] + 1:] or lines
  lines = [l for l in lines if l and not _WHERE.match(l)] or [
      l for l in lines if l] or [type(exc).__name__]
  return lines[0][:limit].replace('`', "'")
