"""Files the commands write: never half-written, never onto user data.

Three guarantees, shared by every command that writes:
- atomic writes (temporary file + rename), with the user's normal file mode;
  a folder is replaced by one atomic swap (``replace_dir``), so the old or
  the new one is at its path at every moment;
- ``check_outputs``: before any work, an output may not be, contain or lie
  inside any input (checkpoint files, data folders) or another output;
- ``check_replaceable_dir``: a folder is replaced only if it is empty or
  holds nothing but what the command itself writes there.

Typical use::

    from resnet_v2_slim.utils import fileio

    fileio.check_outputs(outputs=[('--json', 'results.json')],
                           inputs=[('--checkpoint', 'model.ckpt-10.index')])
    fileio.atomic_write_text('results.json', text)
"""

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import tempfile
from typing import (Callable, Iterable, Iterator, List, NamedTuple, Optional,
                    Tuple, Union)

from resnet_v2_slim import errors


class OutputPathError(errors.Error):
  """An output path that cannot be written."""


def _check_parent(path, what):
  """Raises OutputPathError unless a file can really be created beside
  ``path``: ``os.access`` says yes for /proc or a read-only mount as root,
  so a temporary file is created and removed."""
  parent = os.path.dirname(path)
  if not os.path.isdir(parent):
    raise OutputPathError('%s %s: folder %s does not exist; create it first.'
                          % (what, path, parent))
  try:
    fd, probe = tempfile.mkstemp(dir=parent, prefix='.write-test-')
    os.close(fd)
    os.unlink(probe)
  except OSError as exc:
    raise OutputPathError('%s %s: cannot write in folder %s (%s).'
                          % (what, path, parent, exc.strerror)) from None


def check_writable(path: str, what: str = 'output file') -> str:
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
  # The mode bits, not os.access: as root os.access says yes to a file
  # made read-only (chmod 444), and the atomic rename would replace it.
  if os.path.exists(path) and not (os.access(path, os.W_OK) and
                                   os.stat(path).st_mode & 0o222):
    raise OutputPathError('%s %s exists and is read-only; it is kept. '
                          'Give another path, or make it writable to '
                          'replace it.' % (what, path))
  return path


def check_written(path: str, what: str, min_bytes: int = 1) -> int:
  """Raises OutputPathError unless ``path`` holds at least ``min_bytes``.

  Writers that swallow their flush and close errors (TensorFlow's event
  and record writers) leave short or empty files on a full disk; a command
  reports success only after this check of what it wrote.

  Args:
    path: a file just written.
    what: how to name it in the message.
    min_bytes: the least size the content can have.

  Returns:
    The file's size in bytes.
  """
  try:
    size = os.path.getsize(path)
  except OSError as exc:
    raise OutputPathError('%s %s was not written (%s); is the disk full?'
                          % (what, path, exc.strerror)) from None
  if size < min_bytes:
    raise OutputPathError('%s %s holds %d bytes, expected at least %d: the '
                          'write was cut short (is the disk full?).'
                          % (what, path, size, min_bytes))
  return size


def check_writable_dir(path: str, what: str = 'output folder') -> str:
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
  if os.path.isdir(path):   # files will also be created inside it
    _check_parent(os.path.join(path, 'x'), what)
  return path


def check_new_folder(path: str, what: str) -> str:
  """Raises OutputPathError unless ``path`` can be a new (or empty) folder.

  For outputs promised to go into "a new folder": an empty name, a file, a
  folder with something in it, or a path under a file are refused before
  anything is created.

  Returns:
    The absolute path.
  """
  if not isinstance(path, str) or not path.strip():
    raise OutputPathError('%s must name a folder, got %r.' % (what, path))
  path = os.path.abspath(path)
  if os.path.exists(path):
    if not os.path.isdir(path):
      raise OutputPathError('%s %s is a file; give a new folder.'
                            % (what, path))
    if os.listdir(path):
      raise OutputPathError('%s %s already holds files (%s); give a new or '
                            'empty folder so they stay intact.'
                            % (what, path, ', '.join(sorted(
                                os.listdir(path))[:3])))
    return check_writable_dir(path, what)
  parent = path
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise OutputPathError('%s %s lies under the file %s; give a folder '
                          'path.' % (what, path, parent))
  _check_parent(os.path.join(parent, 'x'), what)
  return path


class DirLock:
  """An exclusive lock on a folder that one run writes (e.g. a train dir).

  Creates the folder if needed, then holds ``flock`` on ``<folder>/.lock``;
  a second run on the same folder is refused at once instead of both
  writing checkpoints. The lock goes with the process, even on kill -9.

  Args:
    folder: the folder to own.
    what: the flag, for messages.

  Raises:
    OutputPathError: if the folder cannot be created or written, or another
      process holds the lock.
  """

  def __init__(self, folder: str, what: str) -> None:
    self.folder, self.what, self._fd = folder, what, None

  def __enter__(self):
    lock = os.path.join(self.folder, '.lock')
    made = [p for p in (self.folder, lock) if not os.path.exists(p)]
    try:
      os.makedirs(self.folder, exist_ok=True)
      self._fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
      raise OutputPathError('%s %s cannot be written (%s).'
                            % (self.what, self.folder, exc.strerror)) from None
    try:
      fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
      holder = os.pread(self._fd, 32, 0).decode('ascii', 'replace').strip()
      os.close(self._fd)
      if exc.errno not in (errno.EAGAIN, errno.EACCES):
        raise
      raise OutputPathError(
          '%s %s is in use by another run (process %s); wait for it to '
          'finish or use another folder.'
          % (self.what, self.folder, holder or '?')) from None
    try:
      os.ftruncate(self._fd, 0)
      os.pwrite(self._fd, str(os.getpid()).encode('ascii'), 0)
    except OSError as exc:   # a full disk: leave nothing this run made
      os.close(self._fd)
      for path in reversed(made):
        (os.rmdir if path == self.folder else os.unlink)(path)
      raise OutputPathError('%s %s cannot be written (%s); free some space '
                            'or use another folder.'
                            % (self.what, self.folder, exc.strerror)) from None
    return self

  def __exit__(self, *exc):
    os.close(self._fd)   # releases the flock
    self._fd = None


def real_path(path: Union[str, os.PathLike]) -> str:
  """The absolute path with ``~`` expanded and symbolic links resolved."""
  return os.path.realpath(os.path.expanduser(os.fspath(path)))


def _inside(inner, outer):
  """True if real path ``inner`` lies strictly inside real path ``outer``."""
  return inner != outer and os.path.commonpath([inner, outer]) == outer


def _relation(output, other):
  if output == other:
    return 'is'
  if _inside(other, output):
    return 'contains'
  if _inside(output, other):
    return 'lies inside'
  return None


def check_outputs(outputs: Iterable[Tuple[str, Optional[str]]],
                  inputs: Iterable[Tuple[str, Optional[str]]] = ()
                  ) -> None:
  """Refuses outputs that would overwrite an input or another output.

  Run it before any work: a command that passes it can only write where no
  input and no other output lives.

  Args:
    outputs: ``(flag, path)`` pairs the command will write (files or
      folders; None paths are skipped).
    inputs: ``(flag, path)`` pairs it reads: every checkpoint file and the
      path the user gave, data folders.

  Raises:
    OutputPathError: naming both flags, both paths and the relation.
  """
  outputs = [(flag, path, real_path(path)) for flag, path in outputs if path]
  inputs = [(flag, path, real_path(path)) for flag, path in inputs if path]
  for i, (flag, path, real) in enumerate(outputs):
    others = [('input', o) for o in inputs] + [
        ('other output', o) for o in outputs[i + 1:]]
    for kind, (other_flag, other_path, other_real) in others:
      relation = _relation(real, other_real)
      if relation:
        raise OutputPathError(
            '%s %s %s the %s %s %s: writing it would overwrite or delete '
            '%s. Choose another %s path; nothing was written.'
            % (flag, path, relation, kind, other_flag, other_path,
               'the ' + kind, flag))


def check_replaceable_dir(path: str,
                          allowed: Union[Iterable[str], Callable[[str], bool]],
                          what: str, holds: str) -> str:
  """Raises OutputPathError unless folder ``path`` may be replaced.

  Args:
    path: a folder that the command will replace as a whole.
    allowed: entry names that the command itself writes there; or a
      function telling whether a file is one, given its path relative to
      ``path`` (then every file under it is checked, sub-folders too).
    what: the flag, for the message.
    holds: what such a folder holds, e.g. 'a SavedModel'.

  Returns:
    The absolute path.
  """
  path = check_writable_dir(path, what)
  if os.path.isdir(path):
    if callable(allowed):
      foreign = sorted(
          name for name in (os.path.relpath(os.path.join(root, f), path)
                            for root, _, files in os.walk(path)
                            for f in files) if not allowed(name))
    else:
      foreign = sorted(set(os.listdir(path)) - set(allowed))
    if foreign:
      raise OutputPathError(
          '%s %s is a folder that does not hold %s (it has %s%s); it would '
          'be replaced as a whole, so nothing was written. Give a new or '
          'empty folder, or one holding only %s.'
          % (what, path, holds, ', '.join(foreign[:5]),
             ' ...' if len(foreign) > 5 else '', holds))
  return path


def default_mode(path: str) -> int:
  """The mode a plain ``open(path, 'w')`` would give: the old one or umask."""
  try:
    return os.stat(path).st_mode & 0o7777
  except OSError:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str, data: bytes) -> None:
  """Writes ``data`` to ``path`` via a temporary file and an atomic rename.

  The file gets the mode a plain write would give (mkstemp's is 0600).
  """
  path = os.path.abspath(path)
  mode = default_mode(path)
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path),
                             prefix='.' + os.path.basename(path) + '.',
                             suffix='.tmp')
  try:
    os.fchmod(fd, mode)
    with os.fdopen(fd, 'wb') as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


def atomic_write_text(path: str, text: str) -> None:
  """Writes ``text`` (UTF-8) to ``path`` atomically."""
  atomic_write_bytes(path, text.encode('utf-8'))


def temporary_path(path: str, folder: bool = False) -> str:
  """Creates a new temporary file or folder beside ``path``.

  Beside, not in /tmp: the final ``os.replace`` (or folder swap) is atomic
  only within one file system.

  Args:
    path: the output the temporary will replace.
    folder: create a folder instead of a file.

  Returns:
    The temporary's path: hidden (a leading dot); a file keeps ``path``'s
    extension, which some writers require (Keras wants ``.keras``).
  """
  where = dict(prefix='.' + os.path.basename(path) + '.',
               dir=os.path.dirname(os.path.abspath(path)))
  if folder:
    return tempfile.mkdtemp(**where)
  fd, tmp = tempfile.mkstemp(suffix='.tmp' + os.path.splitext(path)[1],
                             **where)
  os.close(fd)
  return tmp


def remove_path(path: str) -> None:
  """Removes a file or a folder tree if it exists; quiet if it does not.

  Args:
    path: a temporary that may or may not still be there.
  """
  if os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path, ignore_errors=True)
  elif os.path.lexists(path):
    os.unlink(path)


@contextlib.contextmanager
def made_folder(path: str) -> Iterator[str]:
  """Creates the output folder ``path`` (and missing parents) for a run;
  if the run fails, removes the folders it created that are still empty
  (nothing written in them), so a failed run leaves no empty result folder.

  Hand-written: ``tempfile`` has no "keep it if it got content" folder.

  Yields:
    The absolute path.
  """
  path = os.path.abspath(path)
  missing, parent = [], path
  while not os.path.exists(parent):
    missing.append(parent)   # the deepest first
    parent = os.path.dirname(parent)
  os.makedirs(path, exist_ok=True)
  try:
    yield path
  except BaseException:
    if missing:
      for folder, _, _ in os.walk(missing[0], topdown=False):
        _remove_if_empty(folder)
      for folder in missing[1:]:
        _remove_if_empty(folder)
    raise


def _remove_if_empty(folder: str) -> None:
  try:
    os.rmdir(folder)
  except OSError:
    pass   # it holds something: a result or a user's file stays


@contextlib.contextmanager
def scratch_dir(prefix: str, folder: Optional[str] = None) -> Iterator[str]:
  """A temporary folder for intermediate files, removed on leaving.

  Args:
    prefix: the folder name's start.
    folder: where to create it (default: the system's temporary folder);
      give the output's folder when files will be renamed from it into
      place, as renames do not cross file systems.

  Yields:
    The folder's path.
  """
  path = tempfile.mkdtemp(prefix=prefix, dir=folder)
  try:
    yield path
  finally:
    shutil.rmtree(path, ignore_errors=True)


class Staged(NamedTuple):
  """A verified output at a temporary path, and where it goes."""
  tmp: str
  target: str
  folder: bool


class Staging:
  """Outputs written to temporaries beside their targets, checked, then
  all moved into place (``staging``): a failed run replaces nothing.

  Attributes:
    scratch: a folder for intermediate files that are not outputs.
    temporary: the temporaries made so far (removed on leaving).
  """

  def __init__(self) -> None:
    self.scratch: Optional[str] = None
    self.temporary: List[str] = []

  def new_temp(self, path: str, folder: bool = False) -> str:
    """A temporary beside ``path``, removed when the run ends."""
    self.temporary.append(temporary_path(path, folder))
    return self.temporary[-1]

  def commit(self, staged: Iterable[Optional[Staged]]) -> None:
    """Moves every verified output into place, in order (None: skipped);
    a folder's parents are made, its files get the user's plain modes."""
    for item in staged:
      if item and item.folder:
        os.makedirs(os.path.dirname(item.target) or '.', exist_ok=True)
        replace_dir(item.tmp, item.target, plain_modes=True)
      elif item:
        replace_file(item.tmp, item.target)


@contextlib.contextmanager
def staging(prefix: str, *, what: str = 'the exports'
            ) -> Iterator[Staging]:
  """A ``Staging`` whose temporaries and scratch folder are removed on
  leaving, and whose OS errors become one ``OutputPathError`` line.

  Hand-written: export and export --serving both verify every output
  before any is moved, and need the same clean-up on every path.

  Args:
    prefix: the scratch folder's name start.
    what: the outputs, for the message.

  Raises:
    OutputPathError: a file could not be written (nothing was replaced).
  """
  stage = Staging()
  with scratch_dir(prefix) as stage.scratch:
    try:
      yield stage
    except OSError as exc:
      raise OutputPathError('could not write %s (%s); nothing was '
                            'replaced.' % (what, exc.strerror or exc)) from None
    finally:
      for path in stage.temporary:
        remove_path(path)


def replace_file(tmp: str, target: str) -> None:
  """Renames the finished file ``tmp`` over ``target`` atomically.

  Args:
    tmp: a file beside ``target`` (``temporary_path``).
    target: the output path.

  Raises:
    OSError: the rename failed (``target`` is then untouched).
  """
  # mkstemp makes 0600 files: give the mode a plain write would give.
  os.chmod(tmp, default_mode(target))
  os.replace(tmp, target)


# renameat2(2) and its flag, from <fcntl.h> and <linux/fs.h>.
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _libc_renameat2():
  try:
    return ctypes.CDLL(None, use_errno=True).renameat2
  except (AttributeError, OSError):   # not glibc >= 2.28, or not Linux
    return None


def exchange_paths(a: str, b: str) -> bool:
  """Swaps the paths ``a`` and ``b`` in one atomic step (Linux renameat2).

  Args:
    a, b: two existing paths on the same file system.

  Returns:
    True when swapped; False when the C library, kernel or file system has
    no RENAME_EXCHANGE (nothing was changed).

  Raises:
    OSError: the swap failed (nothing was changed).
  """
  renameat2 = _libc_renameat2()
  if renameat2 is None:
    return False
  if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
               _RENAME_EXCHANGE) == 0:
    return True
  code = ctypes.get_errno()
  # ENOSYS: an older kernel; EINVAL/ENOTSUP: a file system without the flag.
  if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
    return False
  raise OSError(code, os.strerror(code), a, None, b)


def _set_plain_modes(folder, target):
  """Gives ``folder`` and its files the modes a plain write of ``target``
  would give (mkdtemp makes 0700, mkstemp 0600)."""
  mode = default_mode(target)
  for name in os.listdir(folder):
    os.chmod(os.path.join(folder, name), mode)
  os.chmod(folder, mode | ((mode & 0o444) >> 2))   # r -> x for folders


def replace_dir(new_dir: str, target: str, *, plain_modes: bool = False
                ) -> None:
  """Moves the finished folder ``new_dir`` to ``target``, replacing it.

  Where ``target`` exists, the two are swapped in one atomic step
  (``exchange_paths``) and the old folder, now at ``new_dir``, is deleted:
  at every moment ``target`` holds the complete old or new folder, even if
  the process dies. Where the system cannot swap, ``target`` is renamed
  aside and ``new_dir`` renamed into place: between the two renames nothing
  is at ``target``, but the old folder is renamed back if the second one
  fails.

  Args:
    new_dir: a folder beside ``target`` (``temporary_path(folder=True)``).
    target: the output folder.
    plain_modes: give the folder and its files the user's normal modes
      first (for a folder made by ``temporary_path``).

  Raises:
    OSError: the move failed; the old folder is then intact at ``target``.
  """
  if plain_modes:
    _set_plain_modes(new_dir, target)
  if not os.path.lexists(target):
    os.rename(new_dir, target)   # nothing to keep: one rename is atomic
    return
  if not exchange_paths(new_dir, target):
    _replace_dir_by_renames(new_dir, target)
    return
  shutil.rmtree(new_dir, ignore_errors=True)   # the old folder, swapped out


def _replace_dir_by_renames(new_dir, target):
  """``replace_dir`` without an atomic swap: old aside, new in, old gone."""
  backup = tempfile.mkdtemp(prefix='.old-', dir=os.path.dirname(
      os.path.abspath(target)))
  os.rmdir(backup)   # a free name: rename will not replace a folder
  os.rename(target, backup)
  try:
    os.rename(new_dir, target)
  except OSError:
    os.rename(backup, target)
    raise
  shutil.rmtree(backup, ignore_errors=True)
