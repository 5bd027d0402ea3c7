"""The one place that quiets TensorFlow, and the one way the package gets it.

TensorFlow's C++ runtime prints several ``I0000 ...`` lines (oneDNN notice,
missing CUDA drivers) on import, before its own log level is read. They go to
file descriptor 2 directly, so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them; we
park fd 2 in a temporary file during the import and replay it only if the
import fails, so a broken installation still shows why.

``bootstrap`` is how every room that uses TensorFlow gets it (each calls it
in its ``__init__``): imported quietly, its chatter silenced, and the
``compat`` fix applied, once. The package itself imports no TensorFlow
(so ``resnet-v2-slim --help`` answers at once); ``watch``, called when the
package is imported, makes TensorFlow's first import by anyone later quiet
and bootstrapped too, so code that imports the package and then uses
TensorFlow or tf_slim directly gets what importing the package used to
give it.
"""

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import sys
import tempfile
import types
import warnings
from typing import Iterator, Optional, Sequence

# bootstrap has quieted TensorFlow and applied the compat fix.
_bootstrapped = False


@contextlib.contextmanager
def stderr_parked() -> Iterator[None]:
  """Parks fd 2 in a temporary file; replays it if the block raises.

  For native code that prints to fd 2 on success (TensorFlow's import,
  LiteRT's "Created TensorFlow Lite XNNPACK delegate" line).
  """
  try:
    saved = os.dup(2)
  except OSError:  # no usable fd 2 (embedded interpreters): stay loud
    yield
    return
  with tempfile.TemporaryFile() as parked:
    sys.stderr.flush()
    os.dup2(parked.fileno(), 2)
    failed = True
    try:
      yield
      failed = False
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      if failed:
        parked.seek(0)
        sys.stderr.write(parked.read().decode('utf-8', 'replace'))


def import_tensorflow() -> types.ModuleType:
  """Imports tensorflow, tf_keras and tf_slim quietly.

  Returns:
    The ``tensorflow.compat.v1`` module.
  """
  # 3: also TensorFlow's C++ ERROR lines (e.g. 'failed call to cuInit' on
  # machines without a GPU); real failures still raise Python exceptions.
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
  if 'tensorflow' in sys.modules:
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
    return tf
  with stderr_parked():
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
    if importlib.util.find_spec('tf_keras') is not None:  # TF >= 2.16
      import tf_keras  # pylint: disable=g-import-not-at-top,unused-import
    import tf_slim  # pylint: disable=g-import-not-at-top,unused-import
  return tf


def quiet_tensorflow() -> None:
  """Silences TensorFlow's deprecation chatter; keeps real warnings.

  tf_slim triggers dozens of TF1 deprecation notices per graph (TensorFlow's
  logger and Python warnings); they say nothing a user of this package can
  act on. Called by ``bootstrap``; other warnings stay.
  """
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  tf.get_logger().setLevel(logging.ERROR)
  logging.getLogger('absl').setLevel(logging.ERROR)
  warnings.filterwarnings('ignore', message='`layer.apply` is deprecated')
  # tf.distribute reads tf.data options in graph mode; nothing to act on.
  warnings.filterwarnings('ignore', message='To make it possible to preserve')


def bootstrap() -> types.ModuleType:
  """TensorFlow for the package: imported quietly, quieted, compat-fixed.

  The one way a room that uses TensorFlow gets it; cheap after the first
  call.

  Returns:
    The ``tensorflow.compat.v1`` module.

  Raises:
    ImportError: TensorFlow, or the Keras its layers need, is missing.
  """
  global _bootstrapped
  tf = import_tensorflow()
  if not _bootstrapped:
    quiet_tensorflow()
    from resnet_v2_slim import compat  # pylint: disable=g-import-not-at-top
    compat.apply()
    _bootstrapped = True
  return tf


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder,
                             importlib.abc.Loader):
  """Whoever imports TensorFlow first: quietly, then ``bootstrap``.

  A finder for the one name ``tensorflow``: it finds TensorFlow where the
  other finders do and wraps that loader, so the import itself is
  TensorFlow's own, run with fd 2 parked. It removes itself once TensorFlow
  is imported.
  """

  def __init__(self) -> None:
    self._loader = None

  def find_spec(self, fullname: str, path: Optional[Sequence[str]],
                target: Optional[types.ModuleType] = None
                ) -> Optional[importlib.machinery.ModuleSpec]:
    if fullname != 'tensorflow':
      return None
    for finder in sys.meta_path:
      find = getattr(finder, 'find_spec', None)
      spec = find(fullname, path, target) if (
          finder is not self and find) else None
      if spec is not None:
        if not hasattr(spec.loader, 'exec_module'):
          return None   # an unusual loader: let the import run as it is
        self._loader, spec.loader = spec.loader, self
        return spec
    return None

  def __getattr__(self, name: str) -> object:
    # get_source, is_package ... for whoever asked for the spec only:
    # TensorFlow's own loader answers.
    if name.startswith('__') or self.__dict__.get('_loader') is None:
      raise AttributeError(name)
    return getattr(self._loader, name)

  def create_module(self, spec: importlib.machinery.ModuleSpec
                    ) -> Optional[types.ModuleType]:
    return self._loader.create_module(spec)

  def exec_module(self, module: types.ModuleType) -> None:
    # TensorFlow sees its own loader, as if this finder were not there.
    module.__loader__ = module.__spec__.loader = self._loader
    if self in sys.meta_path:
      sys.meta_path.remove(self)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
    with stderr_parked():
      self._loader.exec_module(module)
      try:
        bootstrap()
      except ImportError:   # compat's; the package's rooms raise it again
        pass


def watch() -> None:
  """Until TensorFlow is imported, its first import is quiet and bootstrapped.

  Called when the package is imported; if TensorFlow was imported before,
  it is bootstrapped now.
  """
  if 'tensorflow' in sys.modules:
    bootstrap()
  elif not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _QuietTensorFlowImport())


def quiet_logs() -> None:
  """For the command line: ``bootstrap``, and warnings on one line.

  Our own warnings still show, once each (Python's default filter), on one
  line.
  """
  bootstrap()
  warnings.filterwarnings('ignore', category=DeprecationWarning)
  logging.basicConfig(level=logging.INFO, format='%(message)s',
                      stream=sys.stderr)
  warnings.formatwarning = _one_line_warning


def _one_line_warning(message, category, filename, lineno, line=None):
  del filename, lineno, line
  return 'warning: %s (%s)\n' % (message, category.__name__)
