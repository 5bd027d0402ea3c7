#!/usr/bin/env python
"""Top-k classes of image files with a checkpoint.

A wrapper of ``resnet-v2-slim classify`` (resnet_v2_slim/cli/classify.py); run it
with ``--help`` for the options.
"""

import os
import sys

from resnet_v2_slim.cli import classify

if __name__ == '__main__':
  sys.exit(classify.main(prog=os.path.basename(__file__)))
