"""Serve: a slim ResNet V2 behind an HTTP and gRPC endpoint, on KServe's
model server.

``backend`` loads what is served (a serving artifact on its engine, or a
checkpoint built in-process) and answers a list of images, encoded or
decoded; ``batcher`` gathers concurrent requests into one run;
``protocol`` reads and writes TF Serving's v1 JSON and the Open Inference
Protocol v2; ``server`` is the ``kserve.Model`` and its start and stop.
Only ``server`` imports kserve (the ``serve`` extra). May import: ``config``,
``data``, ``inference``.

Typical use::

    from resnet_v2_slim.config import serve as serve_config
    from resnet_v2_slim.serve import server

    settings = serve_config.ServeSettings(model='served', http_port=8080)
    server.serve(settings)          # until SIGTERM or Ctrl-C
"""

from resnet_v2_slim import _quiet

# This room uses TensorFlow: it gets it quietly, with the compat fix.
_quiet.bootstrap()
