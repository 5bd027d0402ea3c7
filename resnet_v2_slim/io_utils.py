"""Atomic file writes: a failed run never leaves a half-written file.

Typical use::

    from resnet_v2_slim import io_utils

    io_utils.check_writable('results.json')        # fail early, before work
    io_utils.atomic_write_text('results.json', text)
"""

import os
import tempfile


class OutputPathError(ValueError):
  """An output path that cannot be written."""


def _check_parent(path, what):
  """Raises OutputPathError unless the folder holding ``path`` is writable."""
  parent = os.path.dirname(path)
  if not os.path.isdir(parent):
    raise OutputPathError('%s %s: folder %s does not exist; create it first.'
                          % (what, path, parent))
  if not os.access(parent, os.W_OK | os.X_OK):
    raise OutputPathError('%s %s: folder %s is not writable.'
                          % (what, path, parent))


def check_writable(path, what='output file'):
  """Raises OutputPathError unless a file can be created at ``path``.

  Args:
    path: the file that will be written.
    what: how to name it in the message (e.g. '--json').

  Returns:
    The absolute path.
  """
  path = os.path.abspath(path)
  if os.path.isdir(path):
    raise OutputPathError('%s %s is a directory; give a file name.'
                          % (what, path))
  _check_parent(path, what)
  if os.path.exists(path) and not os.access(path, os.W_OK):
    raise OutputPathError('%s %s exists and is not writable.' % (what, path))
  return path


def check_writable_dir(path, what='output folder'):
  """Raises OutputPathError unless a folder can be (re)placed at ``path``.

  Args:
    path: the folder that will be written (replaced if it exists).
    what: how to name it in the message.

  Returns:
    The absolute path.
  """
  path = os.path.abspath(path)
  if os.path.exists(path) and not os.path.isdir(path):
    raise OutputPathError('%s %s exists and is not a folder.' % (what, path))
  _check_parent(path, what)
  return path


def atomic_write_bytes(path, data):
  """Writes ``data`` to ``path`` via a temporary file and an atomic rename."""
  path = os.path.abspath(path)
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path),
                             prefix='.' + os.path.basename(path) + '.',
                             suffix='.tmp')
  try:
    with os.fdopen(fd, 'wb') as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def atomic_write_text(path, text):
  """Writes ``text`` (UTF-8) to ``path`` atomically."""
  atomic_write_bytes(path, text.encode('utf-8'))
