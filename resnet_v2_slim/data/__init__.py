"""Data: decoding, preprocessing, class labels and training datasets.

``preprocessing`` is the one place images are decoded and preprocessed
(TF-Slim's Inception and VGG variants, training and evaluation);
``labels`` holds class names and the background offset (the ImageNet
names ship here as ``imagenet_labels.txt``); ``datasets`` feeds training
(the digits, image folders). May import: ``nets``, ``utils``.

Typical use::

    from resnet_v2_slim.data import preprocessing

    image = preprocessing.decode_image(contents)            # uint8 HxWx3
    batch = preprocessing.preprocess(image, 'inception', 299)[tf.newaxis]
"""
