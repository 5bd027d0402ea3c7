#!/usr/bin/env python
"""Times ResNet V2 the book's way (default: ResNet-V2-152, batch 32, 224x224).

A wrapper of ``resnet-v2-slim time-forward`` (resnet_v2_slim/cli/time_forward.py); run it
with ``--help`` for the options.
"""

import os
import sys

from resnet_v2_slim.cli import time_forward

if __name__ == '__main__':
  sys.exit(time_forward.main(prog=os.path.basename(__file__)))
