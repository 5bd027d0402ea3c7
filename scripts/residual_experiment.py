#!/usr/bin/env python
"""Seed 003: residual vs plain, shallow vs deep.

A wrapper of ``resnet-v2-slim residual-experiment`` (resnet_v2_slim/cli/residual_experiment.py); run it
with ``--help`` for the options.
"""

import os
import sys

from resnet_v2_slim.cli import residual_experiment

if __name__ == '__main__':
  sys.exit(residual_experiment.main(prog=os.path.basename(__file__)))
