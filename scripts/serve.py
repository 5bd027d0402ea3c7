#!/usr/bin/env python
"""Serves a model over HTTP and gRPC on KServe's model server.

A wrapper of ``resnet-v2-slim serve`` (resnet_v2_slim/cli/serve.py); run it
with ``--help`` for the options.
"""

import os
import sys

from resnet_v2_slim.cli import serve

if __name__ == '__main__':
  sys.exit(serve.main(prog=os.path.basename(__file__)))
