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


def as_flags(message):
  """Rewrites backticked argument names as command-line flags.

  Args:
    message: an error message in the library's words.

  Returns:
    The message with every `` `name` `` written as ``--name``.
  """
  return _ARGUMENT.sub(r'--\1', message)


def quoted(exc, limit=300):
  """Another library's error as a message part: its first line, with its
  backticks made quotes (so ``as_flags`` leaves its names alone)."""
  text = str(exc).strip().splitlines()
  return (text[0] if text else type(exc).__name__)[:limit].replace('`', "'")
