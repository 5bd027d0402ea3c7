"""Serving artifacts: image bytes or decoded pixels in, class names out.

The preprocessed-tensor exports (``export``) leave slim's preprocessing,
the 1001-class background offset and the class names to whoever serves
them. A serving artifact carries all three: the checkpoint's evaluation
preprocessing runs inside it (the very ops ``classify`` runs:
``preprocessing.preprocess_batch``), and its ``Facts`` (network, class
names, labels offset, preprocessing, image size, the source checkpoint's
sha256, the package version) travel in the format's own metadata place
(``serving_files``).

Two inputs:

- ``image_bytes``: string ``[N]``, JPEG, PNG, GIF or BMP files (the
  SavedModel; TF Serving's REST API maps ``{"b64": ...}`` onto it);
- ``pixels``: decoded RGB uint8 ``[N, H, W, 3]`` of any H and W, one size
  per batch (ONNX, OpenVINO, TFLite: their runtimes do not decode).

Outputs, in this order: ``probabilities`` ``[N, classes]``, ``classes`` and
``scores`` (the top k, int32 and float32 ``[N, k]``), ``logits``; with
``features`` the global-pooled pre-logits vector ``[N, depth]``; the
SavedModel also gives ``labels`` (string ``[N, k]``).

Typical use::

    from resnet_v2_slim.inference import serving

    facts = serving.facts_for('model.ckpt-1000', input='pixels', top_k=5)
    frozen = serving.freeze(facts, 'model.ckpt-1000')   # a tf.GraphDef
"""

import dataclasses
import hashlib
import json
from typing import Any, Dict, List, NamedTuple, Optional, Tuple, Union

import numpy as np
import tensorflow.compat.v1 as tf

from resnet_v2_slim import checkpoints
from resnet_v2_slim import errors
from resnet_v2_slim.data import labels as labels_lib
from resnet_v2_slim.data import preprocessing
from resnet_v2_slim.nets import nets_factory

BYTES, PIXELS = 'image_bytes', 'pixels'
INPUTS = (BYTES, PIXELS)
OUTPUTS = ('probabilities', 'classes', 'scores', 'logits')
FEATURES, LABELS = 'features', 'labels'
DEFAULT_TOP_K = 5
FORMAT = 1            # of the facts; a reader refuses a newer one
METADATA_KEY = 'resnet_v2_slim'
# Magic bytes of what tf.io.decode_image decodes: checked per image first,
# so a bad image in a batch is named by its index.
_MAGIC = (b'\xff\xd8\xff', b'\x89PNG', b'GIF8', b'BM')
_FORMATS = 'JPEG, PNG, GIF or BMP'


class ServingError(errors.Error):
  """A serving artifact that cannot be made, read or run as asked."""


@dataclasses.dataclass(frozen=True)
class Facts:
  """What a serving artifact computes, written into it as metadata."""
  network: str
  num_classes: int
  labels: Tuple[str, ...]
  labels_offset: int          # 1: output 0 is 'background' (slim's 1001)
  preprocessing: str
  image_size: int
  input: str                  # BYTES or PIXELS
  top_k: int
  features: bool
  checkpoint_sha256: str
  package_version: str
  format: int = FORMAT

  @property
  def outputs(self) -> Tuple[str, ...]:
    """The artifact's output names, in order."""
    return OUTPUTS + ((FEATURES,) if self.features else ()) + (
        (LABELS,) if self.input == BYTES else ())

  @property
  def contract(self) -> str:
    """The input contract in words."""
    if self.input == BYTES:
      return ('image_bytes: string [N], %s files; %s preprocessing to %d '
              'inside' % (_FORMATS, self.preprocessing, self.image_size))
    return ('pixels: uint8 [N, H, W, 3] RGB, any H and W (one size per '
            'batch); %s preprocessing to %d inside'
            % (self.preprocessing, self.image_size))

  def to_json(self) -> str:
    """The facts as one JSON object (with ``outputs`` and ``contract``)."""
    data = dataclasses.asdict(self)
    data.update(outputs=list(self.outputs), contract=self.contract)
    return json.dumps(data, sort_keys=True)

  @classmethod
  def from_json(cls, text: str, source: str) -> 'Facts':
    """Reads ``to_json``'s text back.

    Raises:
      ServingError: naming ``source``, for text that is not such facts.
    """
    try:
      data = json.loads(text)
      if data.get('format', 0) > FORMAT:
        raise ServingError('%s was written by a newer resnet_v2_slim '
                           '(facts format %s); upgrade the package.'
                           % (source, data['format']))
      names = {f.name for f in dataclasses.fields(cls)}
      data = {k: v for k, v in data.items() if k in names}
      data['labels'] = tuple(data['labels'])
      return cls(**data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
      raise ServingError('%s holds damaged resnet_v2_slim metadata (%s); '
                         'export it again.' % (source, exc)) from None


def checkpoint_sha256(info: checkpoints.CheckpointInfo) -> str:
  """One sha256 over the checkpoint's weight files (index and data)."""
  digest = hashlib.sha256()
  for _, path in checkpoints.input_paths(info.path)[1:]:
    if not path.endswith('.meta'):
      with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):   # pylint: disable=cell-var-from-loop
          digest.update(chunk)
  return digest.hexdigest()


def facts_for(checkpoint: Any, *, input: str = PIXELS,  # pylint: disable=redefined-builtin
              model: str = 'auto', num_classes: Union[int, str] = 'auto',
              preprocessing_method: str = 'auto',
              image_size: Union[int, str] = 'auto',
              labels_file: Optional[str] = None, top_k: int = DEFAULT_TOP_K,
              features: bool = False) -> Facts:
  """The facts of a checkpoint's serving artifact, 'auto' resolved as
  ``classify`` resolves it.

  Args:
    checkpoint: anything ``checkpoints.resolve`` accepts, or its info.
    input: ``BYTES`` or ``PIXELS``.
    model, num_classes, preprocessing_method, image_size: a value or 'auto'.
    labels_file: class names, one per line (default: ImageNet's for
      1000/1001 classes, else ``class_<i>``).
    top_k: the classes and scores given per image.
    features: also give the pre-logits vector.

  Returns:
    A ``Facts``.

  Raises:
    ServingError: a bad ``input`` or ``top_k``.
    CheckpointError, LabelsError, DataError: as ``classify``.
  """
  import resnet_v2_slim  # pylint: disable=g-import-not-at-top
  if input not in INPUTS:
    raise ServingError('`input` must be %s, got %r.'
                       % (' or '.join(INPUTS), input))
  model, num_classes, info = checkpoints.choose_model(checkpoint, model,
                                                     num_classes)
  if not (isinstance(top_k, int) and 0 < top_k <= num_classes):
    raise ServingError('`top_k` must be between 1 and the %d classes, got '
                       '%r.' % (num_classes, top_k))
  chosen = info.defaults(model, preprocessing=preprocessing_method,
                         image_size=image_size)   # train_facts.json first
  method, size = chosen.preprocessing, chosen.image_size
  names = labels_lib.labels_for(num_classes, labels_file,
                                recorded=chosen.class_names)
  return Facts(
      network=model, num_classes=num_classes, labels=tuple(names),
      labels_offset=int(names[0] == labels_lib.BACKGROUND),
      preprocessing=preprocessing.check_method(method),
      image_size=nets_factory.check_image_size(size, model=model),
      input=input, top_k=top_k, features=features,
      checkpoint_sha256=checkpoint_sha256(info),
      package_version=resnet_v2_slim.__version__)


class ServingGraph(NamedTuple):
  """A serving graph in the default graph: its input and outputs by name,
  and the same network on preprocessed images (``input``, ``logits``,
  ``predictions``) when asked for."""
  input: tf.Tensor
  outputs: Dict[str, tf.Tensor]
  preprocessed: Optional[Dict[str, tf.Tensor]] = None


def _decode_batch(image_bytes: tf.Tensor, method: str, size: int
                  ) -> tf.Tensor:
  """Decodes and preprocesses each image of a string batch, as classify."""
  def one(args):
    index, contents = args
    known = tf.reduce_any([
        tf.equal(tf.strings.substr(contents, 0, len(magic)), magic)
        for magic in _MAGIC])
    check = tf.debugging.Assert(known, [tf.strings.format(
        'image_bytes[{}] is not a %s image' % _FORMATS, [index])])
    with tf.control_dependencies([check]):
      image = preprocessing.decode_image(contents)
    return preprocessing.preprocess(image, method, size)
  count = tf.shape(image_bytes)[0]
  return tf.map_fn(one, (tf.range(count), image_bytes), dtype=tf.float32,
                   back_prop=False)


def build(facts: Facts, *, use_shortcut: bool = True,
          preprocessed: bool = False) -> ServingGraph:
  """Builds the serving graph of ``facts`` in the default graph.

  Args:
    facts: what to build.
    use_shortcut: False for a checkpoint trained without shortcuts.
    preprocessed: also the network on preprocessed float32 images (the
      export's tensor interface), sharing the weights.

  Returns:
    A ``ServingGraph``; the network's variables are in the graph.
  """
  if facts.input == BYTES:
    source = tf.placeholder(tf.string, [None], name=BYTES)
    images = _decode_batch(source, facts.preprocessing, facts.image_size)
  else:
    source = tf.placeholder(tf.uint8, [None, None, None, 3], name=PIXELS)
    images = preprocessing.preprocess_batch(source, facts.preprocessing,
                                            facts.image_size)
  network_fn = nets_factory.get_network_fn(facts.network, facts.num_classes,
                                           is_training=False)
  net, end_points = network_fn(images, use_shortcut=use_shortcut,
                               spatial_squeeze=True)
  outputs = {'probabilities': tf.nn.softmax(net, name='probabilities')}
  # The top k of the logits, not of the probabilities: the same order, but
  # no ties where the softmax rounds small probabilities to 0.
  _, classes = tf.math.top_k(net, facts.top_k)
  outputs['classes'] = tf.identity(classes, name='classes')
  outputs['scores'] = tf.gather(outputs['probabilities'], classes,
                                batch_dims=1, name='scores')
  outputs['logits'] = tf.identity(net, name='logits')
  if facts.features:
    outputs[FEATURES] = tf.squeeze(end_points['global_pool'], [1, 2],
                                   name=FEATURES)
  if facts.input == BYTES:
    outputs[LABELS] = tf.gather(tf.constant(list(facts.labels)), classes,
                                name=LABELS)
  if not preprocessed:
    return ServingGraph(source, outputs)
  tensors = {'input': tf.placeholder(
      tf.float32, [None, facts.image_size, facts.image_size, 3],
      name='input')}
  logits, _ = network_fn(tensors['input'], use_shortcut=use_shortcut,
                         spatial_squeeze=True, reuse=True)
  tensors['logits'] = tf.identity(logits, name='preprocessed_logits')
  tensors['predictions'] = tf.nn.softmax(logits, name='predictions')
  return ServingGraph(source, outputs, tensors)


def restored_session(facts: Facts, checkpoint: Any, *, raw_weights: bool = False,
                     preprocessed: bool = False
                     ) -> Tuple[tf.Session, ServingGraph]:
  """Builds the serving graph in a new graph and restores the checkpoint.

  Args:
    facts: what to build (``facts_for`` the same checkpoint).
    checkpoint: anything ``checkpoints.resolve`` accepts.
    raw_weights: the raw weights even where moving averages exist.
    preprocessed: as for ``build``.

  Returns:
    ``(session, serving graph)``; the caller closes the session.

  Raises:
    CheckpointError: if the checkpoint does not fit.
  """
  _, _, info = checkpoints.choose_model(checkpoint, facts.network,
                                        facts.num_classes)
  averages = checkpoints.has_moving_averages(info) and not raw_weights
  graph = tf.Graph()
  with graph.as_default():
    serving_graph = build(facts, use_shortcut=info.use_shortcut,
                          preprocessed=preprocessed)
    _, restore_fn = checkpoints.restorer(info, scope=facts.network,
                                         moving_averages=averages)
  sess = tf.Session(graph=graph)
  try:
    restore_fn(sess)
  except BaseException:
    sess.close()
    raise
  return sess, serving_graph


def freeze(sess: tf.Session, serving_graph: ServingGraph) -> tf.GraphDef:
  """The restored serving graph with its weights as constants."""
  names = [t.op.name for t in serving_graph.outputs.values()]
  with sess.graph.as_default():
    return tf.graph_util.convert_variables_to_constants(
        sess, sess.graph.as_graph_def(), names)


def decode(files: List[bytes]) -> List[np.ndarray]:
  """Decodes image files to uint8 [H, W, 3] arrays with the decoder the
  checkpoint's pipeline uses (``preprocessing.decode_image``): what a
  caller of a ``pixels`` artifact should feed."""
  with tf.Graph().as_default():
    contents = tf.placeholder(tf.string, [])
    image = preprocessing.decode_image(contents)
    with tf.Session() as sess:
      return [sess.run(image, {contents: data}) for data in files]
