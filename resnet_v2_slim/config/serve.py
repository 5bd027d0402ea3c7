"""The settings of ``serve``, declared once.

Typical use::

    from resnet_v2_slim.config import serve

    settings.add_flags(parser, serve.ServeSettings)
    config = settings.from_args(serve.ServeSettings, parser.parse_args())
    config.validate()
"""

import dataclasses
import re
from typing import Optional

from resnet_v2_slim import errors
from resnet_v2_slim import names
from resnet_v2_slim.utils.settings import setting


# Batching defaults, shared with the Triton repository export writes.
DEFAULT_MAX_BATCH_SIZE = 16
DEFAULT_BATCH_TIMEOUT_MS = 5.0


class ServeSettingsError(errors.Error):
  """A ``serve`` setting out of its range."""


@dataclasses.dataclass(kw_only=True)
class ServeSettings:
  """``serve``'s settings; its flags are made from these fields."""
  model: str = setting(help='what to serve', flag=False)
  engine: Optional[str] = setting(
      None, choices=names.ENGINES, help='a serving artifact\'s runtime '
      '(default: the file kind\'s first; openvino also runs .onnx)')
  # Every interface (0.0.0.0), as in a container: KServe's server fixes it.
  http_port: int = setting(8080, help='HTTP port: v1 and v2 REST, health, '
                           'metrics (default %(default)s)')
  grpc_port: int = setting(8081, help='v2 gRPC port; 0 turns gRPC off '
                           '(default %(default)s)')
  model_name: Optional[str] = setting(
      None, help='the name in the URLs (default: the network\'s, e.g. '
      'resnet_v2_50)')
  top_k: Optional[int] = setting(
      None, type=int, help='classes answered per image (default: an '
      'artifact\'s own, 5 for a checkpoint)')
  labels: Optional[str] = setting(
      None, help='with a checkpoint: class names file, one per line '
      '(default: its own, else ImageNet for 1000/1001 classes)')
  max_batch_size: int = setting(
      DEFAULT_MAX_BATCH_SIZE, help='the most images in one model run: concurrent requests are '
      'batched up to it; 0 runs each request alone (default %(default)s)')
  batch_timeout_ms: float = setting(
      DEFAULT_BATCH_TIMEOUT_MS, help='how long a request waits for others to join its batch '
      '(default %(default)s)')
  max_image_pixels: int = setting(
      25_000_000, help='the largest image taken, in pixels (default '
      '%(default)s)')
  max_body_mb: float = setting(
      20.0, help='the largest request body, in MB; larger ones get 413 '
      '(default %(default)s)')
  grace_s: float = setting(
      30.0, help='on SIGTERM: how long requests in flight may take to '
      'finish (default %(default)s)')
  log_level: str = setting('info', choices=('debug', 'info', 'warning'),
                           help='debug: a line per request, and KServe\'s '
                           'own lines (default %(default)s)')

  def validate(self) -> None:
    """Raises ServeSettingsError naming the first setting out of range."""
    ports = [('http_port', self.http_port, 1), ('grpc_port', self.grpc_port,
                                                0)]
    for name, value, low in ports:
      if not low <= value <= 65535:
        raise ServeSettingsError('`%s` must be %d to 65535, got %d.'
                                 % (name, low, value))
    if self.grpc_port and self.grpc_port == self.http_port:
      raise ServeSettingsError('`grpc_port` %d is `http_port` too: give two '
                               'ports.' % self.grpc_port)
    if self.top_k is not None and self.top_k <= 0:
      raise ServeSettingsError('`top_k` must be > 0, got %d.' % self.top_k)
    for name in ('max_image_pixels', 'max_body_mb', 'grace_s'):
      if getattr(self, name) <= 0:
        raise ServeSettingsError('`%s` must be > 0, got %s.'
                                 % (name, getattr(self, name)))
    for name in ('max_batch_size', 'batch_timeout_ms'):
      if getattr(self, name) < 0:
        raise ServeSettingsError('`%s` must be >= 0, got %s.'
                                 % (name, getattr(self, name)))
    if self.model_name is not None and not re.fullmatch(
        r'[A-Za-z0-9][A-Za-z0-9_.-]*', self.model_name):
      raise ServeSettingsError(
          '`model_name` %r must be letters, digits, _ . - (it is part of '
          'the URLs).' % self.model_name)
