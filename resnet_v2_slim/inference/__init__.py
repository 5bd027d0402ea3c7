"""Inference: classify image files and export graphs for serving.

``classifier`` restores a checkpoint once and classifies files; ``export``
writes a frozen GraphDef and/or a SavedModel (``import_keras`` the reverse:
a Keras file -> a checkpoint). Both take their defaults
(model, classes, preprocessing, size) from the checkpoint and its row in
``nets.pretrained``. May import: ``nets``, ``checkpoints``, ``data``, ``utils``.

Typical use::

    from resnet_v2_slim.inference.classifier import Classifier

    with Classifier('resnet_v2_50.ckpt') as clf:
      print(clf.classify('cat.jpg', top_k=5))
"""
