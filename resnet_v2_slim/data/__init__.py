"""Data: decoding, preprocessing, class labels and training datasets.

``preprocessing`` is the one place images are decoded and preprocessed
(TF-Slim's Inception and VGG variants, training and evaluation);
``labels`` holds class names and the background offset (the ImageNet
names ship here as ``imagenet_labels.txt``); ``datasets`` feeds training
(the digits, image folders). May import: ``nets``, ``config``, ``utils``.

Typical use::

    from resnet_v2_slim.data import preprocessing

    image = preprocessing.decode_image(contents)            # uint8 HxWx3
    batch = preprocessing.preprocess(image, 'inception', 299)[tf.newaxis]
"""

from resnet_v2_slim import _quiet

# This room uses TensorFlow: it gets it quietly, with the compat fix, even
# when a module of it is the first thing imported.
_quiet.bootstrap()
