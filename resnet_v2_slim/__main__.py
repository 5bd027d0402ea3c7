"""``python -m resnet_v2_slim <command>``: the same as ``resnet-v2-slim``."""

import sys

from resnet_v2_slim.cli import main

sys.exit(main.main())
