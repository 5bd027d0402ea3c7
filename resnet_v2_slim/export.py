"""Exports a checkpoint as a frozen inference graph and/or a SavedModel.

The exported graph is in inference mode (batch norm uses the moving
averages). Its input placeholder ``input`` takes already-preprocessed
float32 images ``[batch or None, H, W, 3]`` (see ``preprocessing``); its
outputs are ``logits`` ``[N, num_classes]`` and ``predictions`` (softmax).
Both files are written atomically: a failed export leaves earlier ones
intact.

Typical use::

    from resnet_v2_slim import export

    names = export.export_inference_graph(
        'resnet_v2_50.ckpt', output_file='model.pb',
        saved_model_dir='saved_model', image_size=299)
    # names == {'input': 'input:0', 'logits': 'logits:0',
    #           'predictions': 'predictions:0'}
"""

import os
import shutil
import tempfile

from resnet_v2_slim import checkpoint
from resnet_v2_slim import io_utils
from resnet_v2_slim import nets_factory
from resnet_v2_slim import resnet_utils

tf = resnet_utils.tf

TENSOR_NAMES = {'input': 'input:0', 'logits': 'logits:0',
                'predictions': 'predictions:0'}
SIGNATURE_KEY = 'serving_default'


def resolve_model(path, model='auto', num_classes='auto'):
  """Model name and class count: from the checkpoint unless given.

  Returns:
    ``(model, num_classes, info)`` with ``info = checkpoint.describe(path)``.

  Raises:
    CheckpointError: if 'auto' cannot be answered from the checkpoint.
    ValueError: for an unknown model name.
  """
  info = checkpoint.describe(path)
  if model == 'auto':
    if info['model'] is None:
      raise checkpoint.CheckpointError(
          '%s has units per block %s, which is no registered network; pass '
          'the model name.' % (info['path'], info['units_per_block']))
    model = info['model']
  nets_factory.check_network_name(model)
  if num_classes == 'auto':
    if info['num_classes'] is None:
      raise checkpoint.CheckpointError(
          '%s has no logits layer; pass num_classes.' % info['path'])
    num_classes = info['num_classes']
  return model, int(num_classes), info


def build_inference_graph(model, num_classes, image_size, batch_size=None):
  """Builds input -> logits/predictions in the default graph.

  Returns:
    ``(input, logits, predictions)`` tensors named as in ``TENSOR_NAMES``.
  """
  network_fn = nets_factory.get_network_fn(model, num_classes,
                                           is_training=False)
  images = tf.placeholder(tf.float32, [batch_size, image_size, image_size, 3],
                          name='input')
  net, _ = network_fn(images, spatial_squeeze=True)
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
    checkpoint_path: anything ``checkpoint.resolve`` accepts.
    output_file: where to write the frozen GraphDef (``.pb``), or None.
    saved_model_dir: where to write a SavedModel, or None.
    model: network name or 'auto' (from the checkpoint).
    num_classes: class count or 'auto' (from the checkpoint).
    image_size: input height and width (default: the network's
      ``default_image_size``).
    batch_size: fixed batch size, or None for any.

  Returns:
    ``TENSOR_NAMES``: the input and output tensor names.

  Raises:
    ValueError: if neither output is given, or an output path is unusable.
    CheckpointError: if the checkpoint does not fit (nothing is written).
  """
  if not output_file and not saved_model_dir:
    raise ValueError('Give output_file and/or saved_model_dir.')
  if output_file:
    io_utils.check_writable(output_file, '--output_file')
  if saved_model_dir:
    saved_model_dir = io_utils.check_writable_dir(saved_model_dir,
                                                  '--saved_model_dir')
  model, num_classes, _ = resolve_model(checkpoint_path, model, num_classes)
  image_size = image_size or nets_factory.networks_map[
      model].default_image_size
  graph = tf.Graph()
  with graph.as_default():
    images, logits, predictions = build_inference_graph(
        model, num_classes, image_size, batch_size)
    _, restore_fn = checkpoint.restorer(checkpoint_path)
    with tf.Session(graph=graph) as sess:
      restore_fn(sess)
      if output_file:
        frozen = tf.graph_util.convert_variables_to_constants(
            sess, graph.as_graph_def(), ['logits', 'predictions'])
        io_utils.atomic_write_bytes(output_file, frozen.SerializeToString())
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
