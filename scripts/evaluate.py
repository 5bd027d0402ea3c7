#!/usr/bin/env python
"""Accuracy of a checkpoint over a validation set: top-1, top-5, loss.

A wrapper of ``resnet-v2-slim evaluate`` (resnet_v2_slim/cli/evaluate.py); run it
with ``--help`` for the options.
"""

import os
import sys

from resnet_v2_slim.cli import evaluate

if __name__ == '__main__':
  sys.exit(evaluate.main(prog=os.path.basename(__file__)))
