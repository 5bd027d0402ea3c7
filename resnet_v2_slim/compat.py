"""Compatibility fix that lets ``tf_slim`` layers run on TensorFlow >= 2.16.

``tf_slim.batch_norm`` builds its layer through
``tensorflow.python.layers.normalization``, which lazily imports
``tf_keras.legacy_tf_layers.normalization``. tf-keras 2.16+ moved that package
to ``tf_keras.src.legacy_tf_layers``, so the first ``slim.batch_norm`` call
fails with ``ModuleNotFoundError: No module named 'tf_keras.legacy_tf_layers'``
and no ResNet can be built.

The fix registers the moved modules in ``sys.modules`` under their old names.
It changes no code and no behaviour: TensorFlow gets the very module it asked
for, from its new address. It runs once, when ``resnet_v2_slim`` is imported,
and does nothing where the old name still resolves (older tf-keras, or a
future release that restores it) or where TensorFlow < 2.16 runs its own
bundled Keras 2 (no tf-keras needed there).

Typical use (automatic; calling it again is harmless)::

    import resnet_v2_slim            # applies the fix
    from resnet_v2_slim import compat
    compat.apply()                   # -> False: already applied
"""

import importlib
import importlib.util
import sys

OLD_PACKAGE = 'tf_keras.legacy_tf_layers'
NEW_PACKAGE = 'tf_keras.src.legacy_tf_layers'
# The only submodule TensorFlow's lazy loader asks for by its old name.
SUBMODULES = ('normalization',)


def _bundles_keras_2():
  """True for TensorFlow < 2.16, whose layers use its own bundled Keras 2."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  major, minor = (int(x) for x in tf.__version__.split('.')[:2])
  return (major, minor) < (2, 16)


def _old_name_resolves():
  try:
    return importlib.util.find_spec(OLD_PACKAGE) is not None
  except ModuleNotFoundError as exc:  # tf_keras itself is missing
    if _bundles_keras_2():
      return True   # nothing to fix: tf_slim's layers never ask tf_keras
    raise ImportError(
        'resnet_v2_slim needs the tf-keras package (tf_slim layers run on it '
        'under TensorFlow >= 2.16). Install the tested version with '
        '`pip install tf-keras==2.21.0`.') from exc


def apply():
  """Makes ``tf_keras.legacy_tf_layers`` importable under its old name.

  Returns:
    True if the alias was installed now, False if nothing had to be done.

  Raises:
    ImportError: if tf-keras is not installed, or has neither the old nor the
      new module (an unsupported tf-keras release).
  """
  if _old_name_resolves():
    return False
  try:
    package = importlib.import_module(NEW_PACKAGE)
    modules = {name: importlib.import_module('%s.%s' % (NEW_PACKAGE, name))
               for name in SUBMODULES}
  except ImportError as exc:
    raise ImportError(
        'This tf-keras has neither %s nor %s, so tf_slim.batch_norm cannot '
        'run. Install the tested versions: `pip install tensorflow==2.21.0 '
        'tf-keras==2.21.0 tf-slim==1.1.0`.' % (OLD_PACKAGE, NEW_PACKAGE)
    ) from exc
  sys.modules[OLD_PACKAGE] = package
  for name, module in modules.items():
    sys.modules['%s.%s' % (OLD_PACKAGE, name)] = module
  return True
