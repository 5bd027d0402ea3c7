"""Exports a checkpoint as a frozen inference graph and/or a SavedModel.

The exported graph is in inference mode (batch norm uses the moving
averages). Its input placeholder ``input`` takes already-preprocessed
float32 images ``[batch or None, H, W, 3]`` (see ``preprocessing``); its
outputs are ``logits`` ``[N, num_classes]`` and ``predictions`` (softmax).
Both files are written atomically: a failed export leaves earlier ones
intact.

Typical use::

    from resnet_v2_slim.inference import export

    names = export.export_inference_graph(
        'resnet_v2_50.ckpt', output_file='model.pb',
        saved_model_dir='saved_model', image_size=299)
    # names == {'input': 'input:0', 'logits': 'logits:0',
    #           'predictions': 'predictions:0'}
"""

import os
import shutil
import tempfile

import tensorflow.compat.v1 as tf

from resnet_v2_slim import checkpoints
from resnet_v2_slim import errors
from resnet_v2_slim.utils import fileio
from resnet_v2_slim.nets import nets_factory

TENSOR_NAMES = {'input': 'input:0', 'logits': 'logits:0',
                'predictions': 'predictions:0'}
SIGNATURE_KEY = 'serving_default'
# What tf.saved_model writes into its folder: an existing --saved_model_dir
# is replaced only if it holds nothing else.
SAVED_MODEL_ENTRIES = ('saved_model.pb', 'saved_model.pbtxt', 'variables',
                       'assets', 'assets.extra', 'fingerprint.pb')


class ExportError(errors.Error):
  """An export that cannot be made as asked."""


def build_inference_graph(model, num_classes, image_size, batch_size=None, *,
                          use_shortcut=True):
  """Builds input -> logits/predictions in the default graph.

  Returns:
    ``(input, logits, predictions)`` tensors named as in ``TENSOR_NAMES``.
  """
  network_fn = nets_factory.get_network_fn(model, num_classes,
                                           is_training=False)
  images = tf.placeholder(tf.float32, [batch_size, image_size, image_size, 3],
                          name='input')
  net, _ = network_fn(images, spatial_squeeze=True, use_shortcut=use_shortcut)
  logits = tf.identity(net, name='logits')
  predictions = tf.nn.softmax(logits, name='predictions')
  return images, logits, predictions


def _replace_dir(tmp_dir, target):
  """Moves ``tmp_dir`` to ``target``, replacing an older export safely."""
  backup = None
  if os.path.exists(target):
    backup = tempfile.mkdtemp(prefix='.old-', dir=os.path.dirname(target))
    os.rmdir(backup)
    os.rename(target, backup)
  try:
    os.rename(tmp_dir, target)
  except OSError:
    if backup:
      os.rename(backup, target)
    raise
  if backup:
    shutil.rmtree(backup, ignore_errors=True)


def export_inference_graph(checkpoint_path, *, output_file=None,
                           saved_model_dir=None, model='auto',
                           num_classes='auto', image_size=None,
                           batch_size=None):
  """Restores a checkpoint and writes a frozen graph and/or a SavedModel.

  Args:
    checkpoint_path: anything ``checkpoints.resolve`` accepts.
    output_file: where to write the frozen GraphDef (``.pb``), or None.
    saved_model_dir: where to write a SavedModel, or None.
    model: network name or 'auto' (from the checkpoint).
    num_classes: class count or 'auto' (from the checkpoint).
    image_size: input height and width (default: the published
      checkpoint's, e.g. 299, else the network's ``default_image_size``).
    batch_size: fixed batch size, or None for any.

  Returns:
    ``TENSOR_NAMES``: the input and output tensor names.

  Raises:
    ExportError: if neither output is given.
    fileio.OutputPathError: if an output path is unusable.
    CheckpointError: if the checkpoint does not fit (nothing is written).
  """
  if not output_file and not saved_model_dir:
    raise ExportError('give `output_file` and/or `saved_model_dir`.')
  fileio.check_outputs(
      outputs=[('`output_file`', output_file),
               ('`saved_model_dir`', saved_model_dir)],
      inputs=checkpoints.input_paths(checkpoint_path))
  if output_file and saved_model_dir is None and os.path.isdir(output_file):
    raise fileio.OutputPathError('`output_file` %s is a folder; give a file '
                                 'name such as model.pb.' % output_file)
  if output_file:
    fileio.check_writable(output_file, '`output_file`')
  if saved_model_dir:
    saved_model_dir = fileio.check_replaceable_dir(
        saved_model_dir, SAVED_MODEL_ENTRIES, '`saved_model_dir`',
        'a SavedModel')
  model, num_classes, info = checkpoints.choose_model(checkpoint_path, model,
                                                     num_classes)
  image_size = nets_factory.check_image_size(
      info.input_defaults(model, image_size=image_size or 'auto')[1],
      model=model)
  graph = tf.Graph()
  with graph.as_default():
    images, logits, predictions = build_inference_graph(
        model, num_classes, image_size, batch_size,
        use_shortcut=info.use_shortcut)
    _, restore_fn = checkpoints.restorer(info, scope=model)
    with tf.Session(graph=graph) as sess:
      restore_fn(sess)
      if output_file:
        frozen = tf.graph_util.convert_variables_to_constants(
            sess, graph.as_graph_def(), ['logits', 'predictions'])
        fileio.atomic_write_bytes(output_file, frozen.SerializeToString())
      if saved_model_dir:
        tmp_dir = tempfile.mkdtemp(prefix='.saved_model-',
                                   dir=os.path.dirname(saved_model_dir))
        os.rmdir(tmp_dir)  # the builder wants to create it
        try:
          builder = tf.saved_model.Builder(tmp_dir)
          signature = tf.saved_model.predict_signature_def(
              inputs={'input': images},
              outputs={'logits': logits, 'predictions': predictions})
          builder.add_meta_graph_and_variables(
              sess, [tf.saved_model.tag_constants.SERVING],
              signature_def_map={SIGNATURE_KEY: signature},
              strip_default_attrs=True)
          builder.save()
          _replace_dir(tmp_dir, saved_model_dir)
        finally:
          shutil.rmtree(tmp_dir, ignore_errors=True)
  return dict(TENSOR_NAMES)
