#!/usr/bin/env python
"""Exports a frozen GraphDef and/or a SavedModel.

A wrapper of ``resnet-v2-slim export`` (resnet_v2_slim/cli/export.py); run it
with ``--help`` for the options.
"""

import os
import sys

from resnet_v2_slim.cli import export

if __name__ == '__main__':
  sys.exit(export.main(prog=os.path.basename(__file__)))
