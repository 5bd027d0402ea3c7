"""resnet_v2_slim: the book's TF-Slim ResNet V2, running on today's TensorFlow.

Importing the package imports TensorFlow quietly and applies the small
``compat`` fix that makes ``tf_slim.batch_norm`` work with tf-keras >= 2.16.
The submodules mirror TF-Slim's: ``resnet_utils``, ``resnet_v2`` and
``nets_factory``; ``from resnet_v2_slim import resnet_v2`` gives the module,
exactly like ``from tf_slim.nets import resnet_v2``.

Typical use::

    import tensorflow.compat.v1 as tf
    import tf_slim as slim
    from resnet_v2_slim import resnet_v2

    tf.disable_eager_execution()
    images = tf.placeholder(tf.float32, [None, 224, 224, 3])
    with slim.arg_scope(resnet_v2.resnet_arg_scope(is_training=False)):
      logits, end_points = resnet_v2.resnet_v2_50(images, 1000)
"""

from resnet_v2_slim._quiet import import_tensorflow as _import_tensorflow

_import_tensorflow()

from resnet_v2_slim import compat  # pylint: disable=g-import-not-at-top

compat.apply()

# pylint: disable=g-import-not-at-top,wrong-import-position
from resnet_v2_slim import nets_factory
from resnet_v2_slim import resnet_utils
from resnet_v2_slim import resnet_v2
from resnet_v2_slim.nets_factory import get_network_fn
from resnet_v2_slim.nets_factory import network_names
from resnet_v2_slim.resnet_utils import Block
from resnet_v2_slim.resnet_utils import resnet_arg_scope
from resnet_v2_slim.resnet_v2 import resnet_v2_18
from resnet_v2_slim.resnet_v2 import resnet_v2_34
from resnet_v2_slim.resnet_v2 import resnet_v2_50
from resnet_v2_slim.resnet_v2 import resnet_v2_101
from resnet_v2_slim.resnet_v2 import resnet_v2_152
from resnet_v2_slim.resnet_v2 import resnet_v2_200

__version__ = '0.1.0'
