"""The one place that quiets TensorFlow: its start-up flood and its chatter.

TensorFlow's C++ runtime prints several ``I0000 ...`` lines (oneDNN notice,
missing CUDA drivers) on import, before its own log level is read. They go to
file descriptor 2 directly, so ``TF_CPP_MIN_LOG_LEVEL`` cannot hide them; we
park fd 2 in a temporary file during the import and replay it only if the
import fails, so a broken installation still shows why.
"""

import importlib.util
import logging
import os
import sys
import tempfile
import types
import warnings


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
  try:
    saved = os.dup(2)
  except OSError:  # no usable fd 2 (embedded interpreters): import loudly
    import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
    return tf
  with tempfile.TemporaryFile() as parked:
    sys.stderr.flush()
    os.dup2(parked.fileno(), 2)
    failed = True
    try:
      import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
      if importlib.util.find_spec('tf_keras') is not None:  # TF >= 2.16
        import tf_keras  # pylint: disable=g-import-not-at-top,unused-import
      import tf_slim  # pylint: disable=g-import-not-at-top,unused-import
      failed = False
    finally:
      os.dup2(saved, 2)
      os.close(saved)
      if failed:
        parked.seek(0)
        sys.stderr.write(parked.read().decode('utf-8', 'replace'))
  return tf


def quiet_tensorflow() -> None:
  """Silences TensorFlow's deprecation chatter; keeps real warnings.

  tf_slim triggers dozens of TF1 deprecation notices per graph (TensorFlow's
  logger and Python warnings); they say nothing a user of this package can
  act on. Called when the package is imported; other warnings stay.
  """
  import tensorflow.compat.v1 as tf  # pylint: disable=g-import-not-at-top
  tf.get_logger().setLevel(logging.ERROR)
  logging.getLogger('absl').setLevel(logging.ERROR)
  warnings.filterwarnings('ignore', message='`layer.apply` is deprecated')
  # tf.distribute reads tf.data options in graph mode; nothing to act on.
  warnings.filterwarnings('ignore', message='To make it possible to preserve')


def quiet_logs() -> None:
  """For the command line: ``quiet_tensorflow``, and warnings on one line.

  Our own warnings still show, once each (Python's default filter), on one
  line.
  """
  quiet_tensorflow()
  warnings.filterwarnings('ignore', category=DeprecationWarning)
  logging.basicConfig(level=logging.INFO, format='%(message)s',
                      stream=sys.stderr)
  warnings.formatwarning = _one_line_warning


def _one_line_warning(message, category, filename, lineno, line=None):
  del filename, lineno, line
  return 'warning: %s (%s)\n' % (message, category.__name__)
