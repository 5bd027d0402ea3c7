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
future release that restores it) or where TensorFlow's layers do not use
tf-keras at all (releases that bundle Keras 2).

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


def _tensorflow_layers_package():
  """The package TensorFlow's own ``layers.normalization`` loads lazily.

  TensorFlow 2.15+ delegates ``tf.layers`` (which tf_slim uses) to
  tf-keras; older releases to their bundled Keras 2. Reading the lazy
  loader's target imports nothing.
  """
  from tensorflow.python.layers import normalization  # pylint: disable=g-import-not-at-top
  target = getattr(getattr(normalization, 'normalization', None),
                   '__name__', '')
  return target.split('.')[0] or None


def _old_name_resolves():
  try:
    return importlib.util.find_spec(OLD_PACKAGE) is not None
  except ModuleNotFoundError as exc:  # tf_keras itself is missing
    if _tensorflow_layers_package() != 'tf_keras':
      return True   # nothing to fix: TensorFlow's layers never ask tf_keras
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    minor = '.'.join(tf.__version__.split('.')[:2])
    raise ImportError(
        'TensorFlow %s builds tf_slim\'s layers with tf-keras, which is not '
        'installed: `pip install "tf-keras==%s.*"`.' % (tf.__version__, minor)
    ) from exc


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
