"""Gradient flow per unit: how large the loss gradient is at each depth.

Why do plain (shortcut-free) deep networks train worse? The book's readers
are usually told "vanishing gradients"; He et al. 2016 (arXiv:1512.03385,
Sec. 4.1) argue that with batch norm the backward signals "exhibit healthy
norms". ``GradientFlowHook`` measures it during training: at the start and
every ``every`` steps it runs, on one fixed probe batch, the gradient of
the cross entropy with respect to

- each unit's output (``end_points['<model>/blockB/unit_U/<unit>']``,
  what the next unit gets; index 0 is the root's ``conv1``, what the first
  unit gets after ``pool1``), and
- each unit's weights (their global norm; index 0: ``conv1``'s).

In graph mode that is one ``tf.gradients`` call: the hook's ``begin``
builds a second tower of the network on the probe images with the training
variables (``reuse=True``, batch norm in training mode as in a step,
nothing updated) and the norms, and ``after_run`` fetches them. The probe
batch is the same for every network and every measurement, so the numbers
compare across steps, depths and the two kinds of net.

Typical use::

    from resnet_v2_slim.teaching import gradient_flow

    hook = gradient_flow.GradientFlowHook(
        'resnet_v2_34', dataset, every=100, use_shortcut=False)
    trainer.train(config, dataset=dataset, hooks=[hook])
    for row in hook.rows:              # step, index, unit, activation, weights
        print(row)
"""

import re
from typing import Any, Dict, List, NamedTuple, Optional

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v2_slim.nets import nets_factory

# A unit's end point: '<model>/block2/unit_1/basic_v2'.
_UNIT = re.compile(r'[^/]+/(block\d+/unit_\d+)/[a-z_]+_v2')


class FlowRow(NamedTuple):
  """One measurement of one depth of one network."""
  step: int
  index: int            # 0: the root conv1; k: the k-th unit
  unit: str             # 'conv1' or 'block1/unit_2'
  activation: float     # L2 norm of d loss / d output
  weights: float        # global L2 norm of d loss / d the unit's weights


def probe_images(dataset: Any, size: int, seed: int = 0) -> tuple:
  """``(pixels, labels)``: a fixed, seeded choice of ``size`` images of a
  built-in ``dataset`` (numpy, its own pixels before upsampling)."""
  order = np.random.RandomState(seed).permutation(len(dataset))[:size]
  return dataset.images[order], dataset.labels[order]


def depths(model: str, end_points: Dict[str, tf.Tensor]) -> List[tuple]:
  """``[(unit name, its output tensor, its scope)]``, root first."""
  found = [('conv1', end_points['%s/conv1' % model], '%s/conv1/' % model)]
  for key, tensor in end_points.items():
    match = _UNIT.fullmatch(key)
    if match:
      found.append((match.group(1), tensor, key + '/'))
  return found


class GradientFlowHook(tf.train.SessionRunHook):
  """Measures the gradient norm per unit at the start and every N steps.

  Written by hand because TensorFlow has no hook for it; it adds a probe
  tower in ``begin`` (the documented place to add ops) and only reads.

  Args:
    model: the network being trained (a ``nets_factory`` name).
    dataset: the built-in training ``datasets.Dataset``.
    every: measure after every ``every``-th step (and at the start and the
      end of the run).
    use_shortcut: as the training network.
    probe_size: images in the probe batch.
    seed: chooses the probe images.
  """

  def __init__(self, model: str, dataset: Any, *, every: int,
               use_shortcut: bool = True, probe_size: int = 128,
               seed: int = 0) -> None:
    self._model, self._dataset, self._every = model, dataset, every
    self._use_shortcut = use_shortcut
    self._probe = probe_images(dataset, probe_size, seed)
    self.rows: List[FlowRow] = []
    self._fetch: Optional[dict] = None

  def begin(self) -> None:
    pixels, labels = self._probe
    size = self._dataset.image_size
    with tf.name_scope('gradient_flow'):
      images = tf.map_fn(lambda im: self._dataset.upsample(im, size),
                         tf.constant(pixels))
    network_fn = nets_factory.get_network_fn(
        self._model, self._dataset.num_classes, is_training=True)
    # The training variables, read (reuse=True); the probe's batch norm
    # update ops are never run.
    logits, end_points = network_fn(images, reuse=True, spatial_squeeze=True,
                                    use_shortcut=self._use_shortcut)
    loss = tf.losses.sparse_softmax_cross_entropy(
        tf.constant(labels), logits, loss_collection=None)
    units = depths(self._model, end_points)
    weights = [[v for v in tf.trainable_variables() if v.name.startswith(
        scope)] for _, _, scope in units]
    grads = tf.gradients(loss, [t for _, t, _ in units] + sum(weights, []))
    outputs, grads = grads[:len(units)], grads[len(units):]
    weight_norms = []
    for group in weights:
      weight_norms.append(tf.linalg.global_norm(grads[:len(group)]))
      grads = grads[len(group):]
    self._names = [name for name, _, _ in units]
    self._fetch = {'step': tf.train.get_global_step(),
                   'activation': tf.stack([tf.norm(g) for g in outputs]),
                   'weights': tf.stack(weight_norms)}

  def _measure(self, session: tf.Session) -> None:
    found = session.run(self._fetch)
    step = int(found['step'])
    if self.rows and self.rows[-1].step == step:
      return
    self.rows.extend(
        FlowRow(step, i, name, float(a), float(w)) for i, (name, a, w) in
        enumerate(zip(self._names, found['activation'], found['weights'])))

  def after_create_session(self, session: tf.Session, coord: Any) -> None:
    self._measure(session)

  def after_run(self, run_context: tf.train.SessionRunContext,
                run_values: tf.train.SessionRunValues) -> None:
    step = run_context.session.run(self._fetch['step'])
    if step % self._every == 0:
      self._measure(run_context.session)

  def end(self, session: tf.Session) -> None:
    self._measure(session)


def first_to_last(rows: List[FlowRow]) -> Dict[int, tuple]:
  """Per measured step, ``(activation, weights)``: the root's gradient norm
  over the last unit's, how much of the gradient reaches the bottom."""
  ratios = {}
  for step in sorted({r.step for r in rows}):
    at = [r for r in rows if r.step == step]
    first, last = at[0], at[-1]
    ratios[step] = (first.activation / last.activation,
                    first.weights / last.weights)
  return ratios
