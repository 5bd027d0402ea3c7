"""Test helpers: build our net or the tf-slim reference, and shared weights.

The reference is the ResNet V2 that ships in the tf-slim wheel
(``tf_slim.nets.resnet_v2``); it is the oracle for names and numerics.
"""

import numpy as np
import tensorflow.compat.v1 as tf
import tf_slim as slim
from tf_slim.nets import resnet_utils as ref_utils
from tf_slim.nets import resnet_v2 as ref

import resnet_v2_slim.resnet_utils as our_utils
import resnet_v2_slim.resnet_v2 as ours

IMPLS = {'ours': ours, 'ref': ref}
UTILS = {'ours': our_utils, 'ref': ref_utils}


def build(impl, name, inputs, num_classes, *, usage='official',
          is_training=False, **kwargs):
  """Builds network ``name`` of ``impl`` ('ours' or 'ref').

  usage='official': resnet_arg_scope() plus is_training=... on the network.
  usage='book': resnet_arg_scope(is_training=...) only (ours only; the
  reference arg scope has no is_training).
  """
  module = IMPLS[impl]
  fn = getattr(module, name)
  if usage == 'book':
    assert impl == 'ours'
    with slim.arg_scope(module.resnet_arg_scope(is_training=is_training)):
      return fn(inputs, num_classes, **kwargs)
  with slim.arg_scope(module.resnet_arg_scope()):
    return fn(inputs, num_classes=num_classes, is_training=is_training,
              **kwargs)


def tiny_blocks(impl, unit_fn=None):
  """Two small bottleneck blocks (nominal stride 2 after the root block)."""
  module = IMPLS[impl]
  unit_fn = unit_fn or module.bottleneck
  return [
      UTILS[impl].Block('block1', unit_fn, [
          {'depth': 8, 'depth_bottleneck': 2, 'stride': 1},
          {'depth': 8, 'depth_bottleneck': 2, 'stride': 2}]),
      UTILS[impl].Block('block2', unit_fn, [
          {'depth': 16, 'depth_bottleneck': 4, 'stride': 1}]),
  ]


def randomize(sess, seed=0):
  """Gives every global variable, moving statistics included, random values.

  Batch norm gammas and variances stay in [0.5, 1.5] so activations stay
  finite through deep nets; the rest is drawn around the initial value.
  All values are set in one run by feeding the initializers' inputs.
  """
  rng = np.random.RandomState(seed)
  variables = tf.global_variables()
  sess.run(tf.variables_initializer(variables))
  initial = sess.run(variables)
  feed = {}
  for var, value in zip(variables, initial):
    name, shape = var.op.name, value.shape
    if not var.dtype.base_dtype.is_floating:
      continue
    if name.endswith(('gamma', 'moving_variance')):
      value = rng.uniform(0.5, 1.5, shape)
    elif name.endswith(('beta', 'moving_mean', 'biases')):
      value = rng.normal(0.0, 0.1, shape)
    else:
      value = value * rng.uniform(0.8, 1.2, shape)
    feed[var.initial_value] = value.astype(
        var.dtype.base_dtype.as_numpy_dtype)
  sess.run([v.initializer for v in variables
            if v.initial_value in feed], feed)


def save_reference_checkpoint(path, name, num_classes, *, image_size=32,
                              scope=None, seed=0, write_version=None):
  """Builds reference net ``name``, randomizes it and saves it to ``path``.

  Returns:
    (checkpoint prefix, a dict name -> value of every saved variable).
  """
  with tf.Graph().as_default():
    tf.set_random_seed(seed)  # the same checkpoint on every run
    images = tf.placeholder(tf.float32, [None, image_size, image_size, 3])
    kwargs = {'scope': scope} if scope else {}
    build('ref', name, images, num_classes, is_training=False, **kwargs)
    with tf.Session() as sess:
      randomize(sess, seed)
      saver = tf.train.Saver(write_version=write_version or
                             tf.train.SaverDef.V2)
      prefix = saver.save(sess, str(path), write_meta_graph=False)
      # One run for all: a run per variable prunes the graph each time
      # (about a minute for resnet_v2_101).
      variables = tf.global_variables()
      values = dict(zip((v.op.name for v in variables), sess.run(variables)))
  return prefix, values


def save_our_checkpoint(path, model, num_classes, *, image_size=32,
                        use_shortcut=True):
  """Our network ``model`` (any of the registry's, 18 and 34 too: the
  reference has 50 and up only), randomized and saved; returns the prefix."""
  from resnet_v2_slim.nets import nets_factory  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    fn = nets_factory.get_network_fn(model, num_classes)
    fn(tf.placeholder(tf.float32, [1, image_size, image_size, 3]),
       use_shortcut=use_shortcut)
    with tf.Session() as sess:
      sess.run(tf.global_variables_initializer())
      randomize(sess)
      return tf.train.Saver().save(sess, str(path))


def image_folder(root, classes=('a', 'b'), per_class=2, shape=(40, 40),
                 seed=0, ext='png'):
  """Class sub-folders of random RGB images: ``root/<class>/<i>.<ext>``.

  Returns:
    ``root`` (a pathlib.Path).
  """
  from PIL import Image  # pylint: disable=g-import-not-at-top
  rng = np.random.RandomState(seed)
  for name in classes:
    (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(per_class):
      Image.fromarray(rng.randint(0, 256, tuple(shape) + (3,), np.uint8)
                      ).save(root / name / ('%d.%s' % (i, ext)))
  return root


def own_runtime_logits(path, images):
  """An exported model's logits from its engine's own runtime, called
  directly (not the package's engines.py): ONNX Runtime, LiteRT (input
  resized to the batch), Keras 3, OpenVINO at f32."""
  import os  # pylint: disable=g-import-not-at-top
  if path.endswith('.onnx'):
    import onnxruntime  # pylint: disable=g-import-not-at-top
    session = onnxruntime.InferenceSession(path)
    return session.run(['logits:0'], {'input:0': images})[0]
  if path.endswith('.tflite'):
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
    interpreter = Interpreter(model_path=path)
    inp = interpreter.get_input_details()[0]
    interpreter.resize_tensor_input(inp['index'], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(inp['index'], images)
    interpreter.invoke()
    out = [d for d in interpreter.get_output_details()
           if 'logits' in d['name']][0]
    return interpreter.get_tensor(out['index'])
  if path.endswith('.keras'):
    import keras  # pylint: disable=g-import-not-at-top
    return np.asarray(keras.saving.load_model(path)(images)[0])
  import openvino  # pylint: disable=g-import-not-at-top
  compiled = openvino.Core().compile_model(
      os.path.join(path, 'model.xml'), 'CPU',
      {'INFERENCE_PRECISION_HINT': 'f32'})
  return compiled(images)[compiled.outputs[0]]
