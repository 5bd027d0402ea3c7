#!/usr/bin/env python
"""Tells which ResNet V2 a checkpoint holds.

A wrapper of ``resnet-v2-slim inspect`` (resnet_v2_slim/cli/inspect.py); run it
with ``--help`` for the options.
"""

import os
import sys

from resnet_v2_slim.cli import inspect

if __name__ == '__main__':
  sys.exit(inspect.main(prog=os.path.basename(__file__)))
