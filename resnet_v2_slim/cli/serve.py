"""Serves a model over HTTP and gRPC on KServe's model server.

    resnet-v2-slim serve served/            # export --serving's SavedModel
    resnet-v2-slim serve model.onnx --http_port 9000 --grpc_port 0
    resnet-v2-slim serve resnet_v2_50.ckpt --top_k 3

MODEL is a serving artifact (export --serving: a SavedModel or TF Serving
base folder, .onnx, OpenVINO folder or .xml, .tflite, .keras) or a slim
ResNet V2 checkpoint. Requests: TF Serving's v1 REST
(POST /v1/models/NAME:predict, {"instances": [{"b64": ...}]}) and the Open
Inference Protocol v2 (REST and gRPC). Runs until SIGTERM or Ctrl-C, then
lets requests in flight finish (--grace_s) and exits 0. Needs the serve
extra: pip install "resnet_v2_slim[serve]". See docs/serve.md.
"""

import argparse
from typing import Optional, Sequence

from resnet_v2_slim.cli import common
from resnet_v2_slim.config import serve as serve_config
from resnet_v2_slim.utils import settings


def parser(prog: str) -> argparse.ArgumentParser:
  """``serve``'s flags (the manifests in docs/serve.md are checked
  against it)."""
  made = common.parser(prog, __doc__)
  made.add_argument('model', metavar='MODEL',
                    help='a serving artifact (export --serving) or a '
                    'checkpoint')
  settings.add_flags(made, serve_config.ServeSettings)
  return made


@common.command
def main(argv: Optional[Sequence[str]] = None,
         prog: str = 'resnet-v2-slim serve') -> int:
  """Runs the command; returns its exit code (0 when stopped, or 2)."""
  args = parser(prog).parse_args(argv)
  common.quiet()
  config = settings.from_args(serve_config.ServeSettings, args,
                              model=args.model)
  config.validate()
  from resnet_v2_slim.serve import server  # pylint: disable=g-import-not-at-top
  server.serve(config)
  return 0
