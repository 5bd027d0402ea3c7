"""Imports a Keras ResNetV2 file as a slim checkpoint (export's reverse).

A ``.keras`` or ``.weights.h5`` file, the twin ``export --keras_file``
writes or the stock ``keras.applications.ResNet{50,101,152}V2``, is read
without running code from it, its weights mapped onto the slim variable
names and saved as a V2 checkpoint, checked against the Keras model first.

Typical use::

    from resnet_v2_slim.inference import import_keras

    prefix, report = import_keras.import_keras('rn50.keras', 'rn50/model.ckpt',
                                               log=print)
"""

import os
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v2_slim import errors
from resnet_v2_slim.inference import export
from resnet_v2_slim.utils import fileio

# What a V2 checkpoint prefix stands for, in the order they are moved.
CHECKPOINT_SUFFIXES = ('.index', '.data-00000-of-00001')
# Generated check images: how many, and their size where the model has none.
NUM_CHECK_IMAGES = 4
CHECK_IMAGE_SIZE = 64


class _KerasSource(NamedTuple):
  """What ``keras_twin.read_keras`` found in the file."""
  model: str
  num_classes: int
  use_shortcut: bool
  layout: str            # 'twin' or 'applications'
  keras_model: Any


class _Probe(NamedTuple):
  """Generated images and the Keras model's logits on them."""
  images: np.ndarray
  size: int
  keras_logits: np.ndarray


class _SlimCheckpoint(NamedTuple):
  """The checkpoint saved in the scratch folder and the slim logits."""
  prefix: str
  logits: np.ndarray


def import_keras(keras_path: str, output_prefix: str, *,
                 tolerance: Optional[float] = None,
                 log: Optional[Callable[[str], None]] = None
                 ) -> Tuple[str, Dict[str, Any]]:
  """A Keras ResNetV2 (``.keras`` or ``.weights.h5``) -> a slim checkpoint.

  The file is read without running code from it
  (``keras_twin.read_keras``); its weights are mapped onto the slim
  network's variable names, saved as a V2 checkpoint at ``output_prefix``
  and checked: the slim graph restored from it runs next to the Keras
  model on generated images. A twin must agree within ``tolerance`` (else
  nothing is written, ``bridges.VerificationError``); the stock
  ``keras.applications`` layout differs by design (pool1's padding), and
  the difference is reported.

  Args:
    keras_path: the Keras file.
    output_prefix: the checkpoint prefix to write (``.index`` and
      ``.data-00000-of-00001`` beside it).
    tolerance: as ``export.export_inference_graph``.
    log: where report lines go.

  Returns:
    ``(prefix, report)``.

  Raises:
    fileio.OutputPathError: an output that would overwrite the input or an
      existing checkpoint, is not a prefix, or cannot be written.
    export.ExportError: a tolerance outside (0, 1); the Keras model is a
      folder or lacks a variable of the network.
    bridges.VerificationError: a twin that disagrees (nothing written).
  """
  from resnet_v2_slim.inference import bridges  # pylint: disable=g-import-not-at-top
  log = log or (lambda line: None)
  tolerance = bridges.TOLERANCE if tolerance is None else tolerance
  export.check_tolerance(tolerance)
  files = [output_prefix + suffix for suffix in CHECKPOINT_SUFFIXES]
  _check_paths(keras_path, output_prefix)
  fileio.check_outputs([('`output`', f) for f in files],
                       [('`model`', keras_path)])
  # The checkpoint's folder is created, as train does with its train_dir.
  with fileio.made_folder(os.path.dirname(os.path.abspath(output_prefix))):
    return _import(keras_path, output_prefix, files, tolerance, log)


def _import(keras_path, output_prefix, files, tolerance, log):
  """``import_keras`` once its arguments are checked."""
  from resnet_v2_slim.inference import keras_twin  # pylint: disable=g-import-not-at-top
  source = _read(keras_path, files, log)
  values = keras_twin.keras_to_slim(source.keras_model, source.model,
                                    use_shortcut=source.use_shortcut,
                                    layout=source.layout)
  probe = _probe(source)
  try:
    # In the output's folder, so the final renames stay on one file system.
    with fileio.scratch_dir('.import-', os.path.dirname(
        os.path.abspath(output_prefix))) as scratch:
      saved = _save_checkpoint(source, values, probe, scratch)
      report = _check(keras_path, output_prefix, source, probe,
                      saved.logits, tolerance, log)
      for suffix, target in zip(CHECKPOINT_SUFFIXES, files):
        fileio.replace_file(saved.prefix + suffix, target)
  except (tf.errors.OpError, OSError) as exc:   # e.g. a full disk
    raise fileio.OutputPathError(
        'could not write the checkpoint `output` %s (%s); nothing was '
        'replaced.' % (output_prefix, errors.quoted(exc))) from None
  return output_prefix, report


def _check_paths(keras_path: str, output_prefix: str) -> None:
  """Refuses a model that is a folder and an output that is not a new
  checkpoint prefix, before any work.

  Raises:
    fileio.OutputPathError: an empty prefix, a folder, or a prefix that is
      already a checkpoint (a training run's would lose its optimizer state
      and step).
    export.ExportError: a model path that is a folder.
  """
  if os.path.isdir(keras_path):
    raise export.ExportError(
        'the Keras model %s is a folder; give its .keras or .weights.h5 '
        'file.' % keras_path)
  if not output_prefix or not os.path.basename(output_prefix):
    raise fileio.OutputPathError(
        '`output` must be a checkpoint prefix, a folder and a name such as '
        'rn50/model.ckpt; got %r.' % output_prefix)
  if os.path.isdir(output_prefix):
    raise fileio.OutputPathError(
        '`output` %s is a folder; give a prefix inside it, such as %s.'
        % (output_prefix, os.path.join(output_prefix, 'model.ckpt')))
  taken = [output_prefix + suffix for suffix in CHECKPOINT_SUFFIXES
           if os.path.exists(output_prefix + suffix)]
  if taken:
    raise fileio.OutputPathError(
        '`output` %s is already a checkpoint (%s exists); choose a new '
        'prefix: nothing was written.' % (output_prefix, taken[0]))


def _read(keras_path: str, files: List[str],
          log: Callable[[str], None]) -> _KerasSource:
  """Reads the Keras file and makes sure the checkpoint files can be written.

  Args:
    keras_path: the Keras file.
    files: the checkpoint's files (their folder exists).
    log: where the line naming the network goes.

  Returns:
    A ``_KerasSource``.

  Raises:
    fileio.OutputPathError: a checkpoint file that cannot be written.
  """
  from resnet_v2_slim.inference import keras_twin  # pylint: disable=g-import-not-at-top
  source = _KerasSource(*keras_twin.read_keras(keras_path))
  for f in files:
    fileio.check_writable(f, '`output`')
  log('%s holds %s (%s, %d classes%s)' % (
      keras_path, source.model, source.layout, source.num_classes,
      '' if source.use_shortcut else ', no shortcuts'))
  return source


def _check_images(size: int) -> np.ndarray:
  return np.random.RandomState(0).uniform(
      -1, 1, (NUM_CHECK_IMAGES, size, size, 3)).astype(np.float32)


def _probe(source: _KerasSource) -> _Probe:
  """Runs the Keras model on generated images.

  Args:
    source: the Keras model read.

  Returns:
    A ``_Probe``: the stock model (which may fix its size and ends in a
    softmax) gives its logits through the same architecture with a linear
    head.
  """
  from resnet_v2_slim.inference import keras_twin  # pylint: disable=g-import-not-at-top
  keras_model, size = source.keras_model, CHECK_IMAGE_SIZE
  if source.layout == 'applications':
    size = keras_model.input_shape[1] or size
    linear = keras_twin.build(source.model, source.num_classes, size,
                              layout='applications')
    for layer in keras_model.layers:
      if layer.get_weights():
        linear.get_layer(layer.name).set_weights(layer.get_weights())
    keras_model = linear
  images = _check_images(size)
  return _Probe(images=images, size=size, keras_logits=np.asarray(
      keras_model(images, training=False)[0]))


def _save_checkpoint(source: _KerasSource, values: Dict[str, np.ndarray],
                     probe: _Probe, scratch: str) -> _SlimCheckpoint:
  """Loads the mapped weights into the slim graph and saves a checkpoint.

  Args:
    source: the Keras model read (its network and classes).
    values: ``{slim variable name: array}`` from ``keras_to_slim``.
    probe: the images to run the slim graph on.
    scratch: the folder to save into.

  Returns:
    A ``_SlimCheckpoint``.

  Raises:
    export.ExportError: a slim variable the Keras model has nothing for.
  """
  with tf.Graph().as_default() as graph:
    images, logits, _ = export.build_inference_graph(
        source.model, source.num_classes, probe.size,
        use_shortcut=source.use_shortcut)
    variables = {v.op.name: v for v in tf.global_variables()}
    missing = sorted(set(variables) - set(values))
    if missing:
      raise export.ExportError('the Keras model has nothing for %s.'
                               % ', '.join(missing[:3]))
    saver = tf.train.Saver(variables, write_version=tf.train.SaverDef.V2)
    with tf.Session(graph=graph) as sess:
      for name, variable in variables.items():
        variable.load(values[name], sess)
      slim_logits = sess.run(logits, {images: probe.images})
      prefix = saver.save(sess, os.path.join(scratch, 'model.ckpt'),
                          write_meta_graph=False, write_state=False)
  return _SlimCheckpoint(prefix=prefix, logits=slim_logits)


def _check(keras_path: str, output_prefix: str, source: _KerasSource,
           probe: _Probe, slim_logits: np.ndarray, tolerance: float,
           log: Callable[[str], None]) -> Dict[str, Any]:
  """Compares the slim logits with the Keras model's and reports.

  Args:
    keras_path: the Keras file (named in the lines).
    output_prefix: the checkpoint prefix (named in the lines).
    source: the Keras model read.
    probe: the images and the Keras logits.
    slim_logits: the slim graph's logits on the same images.
    tolerance: the largest relative difference a twin may have.
    log: where report lines go.

  Returns:
    The ``bridges.compare`` report.

  Raises:
    bridges.VerificationError: a twin beyond ``tolerance``.
  """
  from resnet_v2_slim.inference import bridges  # pylint: disable=g-import-not-at-top
  report = bridges.compare(slim_logits, probe.keras_logits)
  line = ('checked %s against %s: %s (generated images)'
          % (output_prefix, keras_path, bridges.numbers_line(report)))
  if source.layout == 'twin' and not report['max_rel'] <= tolerance:
    raise bridges.VerificationError('%s; a twin must stay within '
                                    '`tolerance` %g, so nothing was '
                                    'written.' % (line, tolerance))
  log(line)
  _log_stock_notes(keras_path, source, probe, slim_logits, log)
  return report


def _log_stock_notes(keras_path: str, source: _KerasSource, probe: _Probe,
                     slim_logits: np.ndarray,
                     log: Callable[[str], None]) -> None:
  """Says how the slim network differs from the stock Keras model, where
  the file is (or may be) one."""
  from resnet_v2_slim.inference import keras_twin  # pylint: disable=g-import-not-at-top
  if (keras_path.endswith('.weights.h5') and source.model in
      keras_twin.APPLICATIONS and source.use_shortcut and
      source.num_classes == 1000):
    # A weights file does not say its architecture: the twin's weights and
    # keras.applications' are the same arrays. If it came from the stock
    # model, say what the slim network computes differently.
    stock = keras_twin.build(source.model, 1000, probe.size,
                             layout='applications')
    stock.load_weights(keras_path)
    stock_logits = np.asarray(stock(probe.images, training=False)[0])
    log('note: if %s came from keras.applications.%s, that model computes '
        'differently (pool1 padded on both sides): max |logit difference| '
        '%.2g of the logit scale against this checkpoint.'
        % (keras_path, keras_twin.APPLICATIONS[source.model],
           float(np.max(np.abs(slim_logits - stock_logits))) /
           float(np.max(np.abs(stock_logits)))))
  if source.layout == 'applications':
    log('note: keras.applications pads pool1 on both sides where slim '
        'max-pools SAME, so the slim network computes slightly '
        'differently from the stock Keras model: the numbers above.')
