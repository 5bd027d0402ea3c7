#!/usr/bin/env python
"""Feature vectors of a folder's images.

A wrapper of ``resnet-v2-slim embed`` (resnet_v2_slim/cli/embed.py); run it
with ``--help`` for the options.
"""

import os
import sys

from resnet_v2_slim.cli import embed

if __name__ == '__main__':
  sys.exit(embed.main(prog=os.path.basename(__file__)))
