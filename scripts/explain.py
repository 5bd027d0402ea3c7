#!/usr/bin/env python
"""Grad-CAM maps of image files with a checkpoint.

A wrapper of ``resnet-v2-slim explain`` (resnet_v2_slim/cli/explain.py); run it
with ``--help`` for the options.
"""

import os
import sys

from resnet_v2_slim.cli import explain

if __name__ == '__main__':
  sys.exit(explain.main(prog=os.path.basename(__file__)))
