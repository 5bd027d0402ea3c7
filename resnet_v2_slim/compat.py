"""Compatibility fix that lets ``tf_slim`` layers run on TensorFlow >= 2.16.

``tf_slim.batch_norm`` builds its layer through
``tensorflow.python.layers.normalization``, which lazily imports
``tf_keras.legacy_tf_layers.normalization``. tf-keras 2.16+ moved that package
to ``tf_keras.src.legacy_tf_layers``, so the first ``slim.batch_norm`` call
fails with ``ModuleNotFoundError: No module named 'tf_keras.legacy_tf_layers'``
and no ResNet can be built.

The fix registers the moved modules in ``sys.modules`` under their old names.
It changes no code and no behaviour: TensorFlow gets the very module it asked
for, from its new address. It runs once, when TensorFlow is first imported
after ``resnet_v2_slim`` (``_quiet.bootstrap``; at once if it already
was), and does nothing where the old name still resolves (tf-keras 2.15, Keras
2.13, or a future release that restores it). TensorFlow 2.14's bundled
Keras 2.14 made the same move under ``keras``; the same fix covers it.

Typical use (automatic; calling it again is harmless)::

    import resnet_v2_slim            # the fix, when TensorFlow is imported
    from resnet_v2_slim import compat
    compat.apply()                   # -> False: already applied
"""

import importlib
import importlib.util
import sys

# The only submodule TensorFlow's lazy loader asks for by its old name.
SUBMODULES = ('normalization',)


def _tensorflow_layers_package():
  """The Keras package TensorFlow's own ``layers.normalization`` loads.

  TensorFlow 2.15+ delegates ``tf.layers`` (which tf_slim uses) to
  ``tf_keras``; 2.13-2.14 to their bundled ``keras`` 2, which moved the
  same module to ``keras.src`` in 2.14. Reading the lazy loader's target
  imports nothing.
  """
  from tensorflow.python.layers import normalization  # pylint: disable=g-import-not-at-top
  target = getattr(getattr(normalization, 'normalization', None),
                   '__name__', '')
  return target.split('.')[0] or 'tf_keras'


def _old_name_resolves(old):
  try:
    return importlib.util.find_spec(old) is not None
  except ModuleNotFoundError as exc:  # the Keras package itself is missing
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    minor = '.'.join(tf.__version__.split('.')[:2])
    raise ImportError(
        'TensorFlow %s builds tf_slim\'s layers with %s, which is not '
        'installed: `pip install "%s==%s.*"`.'
        % (tf.__version__, old.split('.')[0], old.split('.')[0].replace(
            '_', '-'), minor)) from exc


def apply() -> bool:
  """Makes ``<keras>.legacy_tf_layers`` importable under its old name.

  ``<keras>`` is the package TensorFlow asks (``tf_keras`` from 2.15,
  ``keras`` before).

  Returns:
    True if the alias was installed now, False if nothing had to be done.

  Raises:
    ImportError: if that package is not installed, or has neither the old
      nor the new module (an unsupported release).
  """
  keras = _tensorflow_layers_package()
  old, new = keras + '.legacy_tf_layers', keras + '.src.legacy_tf_layers'
  if _old_name_resolves(old):
    return False
  try:
    package = importlib.import_module(new)
    modules = {name: importlib.import_module('%s.%s' % (new, name))
               for name in SUBMODULES}
  except ImportError as exc:
    raise ImportError(
        'This %s has neither %s nor %s, so tf_slim.batch_norm cannot run. '
        'Install the tested versions: `pip install tensorflow==2.21.0 '
        'tf-keras==2.21.0 tf-slim==1.1.0`.' % (keras, old, new)) from exc
  sys.modules[old] = package
  for name, module in modules.items():
    sys.modules['%s.%s' % (old, name)] = module
  return True
