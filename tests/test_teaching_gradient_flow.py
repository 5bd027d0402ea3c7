"""Gradient flow per unit: the hook's norms against tf.gradients by hand."""

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v2_slim.data import datasets as data
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.teaching import gradient_flow
from resnet_v2_slim.training import trainer as training

# resnet_v2_18's depths, written out: the root, then [2, 2, 2, 2] units.
UNITS_18 = ['conv1'] + ['block%d/unit_%d' % (b, u) for b in (1, 2, 3, 4)
                        for u in (1, 2)]


def _by_hand(checkpoint, dataset, pixels, labels, use_shortcut):
  """The norms at the checkpoint, computed here from the names alone."""
  with tf.Graph().as_default():
    images = tf.constant(np.stack(
        [np.tile(np.kron(p, np.ones((4, 4)))[..., None], 3) for p in pixels]
    ) * 2.0 - 1.0, tf.float32)   # 8x8 digits, nearest x4 to 32, in [-1, 1]
    fn = nets_factory.get_network_fn('resnet_v2_18', 10, is_training=True)
    logits, end_points = fn(images, spatial_squeeze=True,
                            use_shortcut=use_shortcut)
    loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=labels, logits=logits))
    outputs = [end_points['resnet_v2_18/conv1']] + [
        end_points['resnet_v2_18/%s/basic_v2' % u] for u in UNITS_18[1:]]
    weights = [tf.trainable_variables('resnet_v2_18/%s/' % u)
               for u in UNITS_18]
    norms = ([tf.norm(g) for g in tf.gradients(loss, outputs)] +
             [tf.sqrt(tf.add_n([tf.reduce_sum(g * g) for g in
                                tf.gradients(loss, group)]))
              for group in weights])
    with tf.Session() as sess:
      tf.train.Saver().restore(sess, checkpoint)
      found = sess.run(norms)
  return np.array(found[:len(UNITS_18)]), np.array(found[len(UNITS_18):])


def test_hook_measures_what_tf_gradients_gives_by_hand(tmp_path):
  dataset = data.digits(32)
  hook = gradient_flow.GradientFlowHook(
      'resnet_v2_18', dataset, every=2, use_shortcut=False, probe_size=6,
      seed=3)
  config = training.TrainConfig(
      model='resnet_v2_18', batch_size=4, steps=3, save_every=3,
      use_shortcut=False, train_dir=str(tmp_path / 'run'))
  training.train(config, log=lambda _: None, dataset=dataset, hooks=[hook])
  # At the start, every 2 steps and at the end; root first, in order.
  assert sorted({r.step for r in hook.rows}) == [0, 2, 3]
  last = [r for r in hook.rows if r.step == 3]
  assert [r.unit for r in last] == UNITS_18
  assert [r.index for r in last] == list(range(len(UNITS_18)))
  pixels, labels = gradient_flow.probe_images(dataset, 6, seed=3)
  assert len(set(labels.tolist())) > 1          # a real mix of classes
  outputs, weights = _by_hand(tf.train.latest_checkpoint(config.train_dir),
                              dataset, pixels, labels, use_shortcut=False)
  np.testing.assert_allclose([r.activation for r in last], outputs,
                             rtol=2e-4)
  np.testing.assert_allclose([r.weights for r in last], weights, rtol=2e-4)
  # Training moved the weights: the start's norms differ from the end's.
  first = [r.activation for r in hook.rows if r.step == 0]
  assert np.abs(np.array(first) / outputs - 1).max() > 1e-3
  ratios = gradient_flow.first_to_last(hook.rows)
  assert ratios[3] == (outputs[0] / outputs[-1], weights[0] / weights[-1])


def test_the_probe_changes_nothing_the_run_saves(tmp_path):
  """With and without the hook, the same seed trains the same weights."""
  dataset = data.digits(32)
  saved = []
  for name, hooks in (('plain', []), ('probed', [
      gradient_flow.GradientFlowHook('resnet_v2_18', dataset, every=1,
                                     probe_size=4)])):
    config = training.TrainConfig(model='resnet_v2_18', batch_size=4,
                                  steps=2, save_every=2,
                                  train_dir=str(tmp_path / name))
    training.train(config, log=lambda _: None, dataset=dataset, hooks=hooks)
    reader = tf.train.load_checkpoint(config.train_dir)
    saved.append({k: reader.get_tensor(k) for k in
                  reader.get_variable_to_shape_map()})
  assert saved[0].keys() == saved[1].keys()
  for key in saved[0]:
    np.testing.assert_allclose(saved[0][key], saved[1][key], rtol=1e-5,
                               atol=1e-6, err_msg=key)
