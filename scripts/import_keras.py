#!/usr/bin/env python
"""Imports a Keras ResNetV2 (.keras or .weights.h5) as a slim checkpoint.

A wrapper of ``resnet-v2-slim import-keras`` (resnet_v2_slim/cli/import_keras.py); run it
with ``--help`` for the options.
"""

import os
import sys

from resnet_v2_slim.cli import import_keras

if __name__ == '__main__':
  sys.exit(import_keras.main(prog=os.path.basename(__file__)))
