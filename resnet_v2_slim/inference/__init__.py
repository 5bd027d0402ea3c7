"""Inference: classify image files and export graphs for serving.

``classifier`` restores a checkpoint once and classifies files; ``export``
writes a frozen GraphDef and/or a SavedModel (``import_keras`` the reverse:
a Keras file -> a checkpoint). Both take their defaults
(model, classes, preprocessing, size) from the checkpoint and its row in
``nets.pretrained``. Their settings are declared in ``config.inference``.
May import: ``nets``, ``checkpoints``, ``config``, ``data``, ``utils``.

Typical use::

    from resnet_v2_slim.inference.classifier import Classifier

    with Classifier('resnet_v2_50.ckpt') as clf:
      print(clf.classify('cat.jpg', top_k=5))
"""

from resnet_v2_slim import _quiet

# This room uses TensorFlow: it gets it quietly, with the compat fix, even
# when a module of it is the first thing imported.
_quiet.bootstrap()
