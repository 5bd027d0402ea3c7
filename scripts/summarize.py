#!/usr/bin/env python
"""Shapes, parameters and FLOPs per unit.

A wrapper of ``resnet-v2-slim summarize`` (resnet_v2_slim/cli/summarize.py); run it
with ``--help`` for the options.
"""

import os
import sys

from resnet_v2_slim.cli import summarize

if __name__ == '__main__':
  sys.exit(summarize.main(prog=os.path.basename(__file__)))
