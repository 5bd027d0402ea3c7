#!/usr/bin/env python
"""Trains or fine-tunes in graph mode, resuming if stopped.

A wrapper of ``resnet-v2-slim train`` (resnet_v2_slim/cli/train.py); run it
with ``--help`` for the options.
"""

import os
import sys

from resnet_v2_slim.cli import train

if __name__ == '__main__':
  sys.exit(train.main(prog=os.path.basename(__file__)))
