#!/usr/bin/env python
"""Converts a folder of class sub-folders into TF-Slim TFRecord shards.

A wrapper of ``resnet-v2-slim convert`` (resnet_v2_slim/cli/convert.py); run it
with ``--help`` for the options.
"""

import os
import sys

from resnet_v2_slim.cli import convert

if __name__ == '__main__':
  sys.exit(convert.main(prog=os.path.basename(__file__)))
