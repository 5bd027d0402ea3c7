#!/usr/bin/env python
"""``serve`` under load, over loopback: requests/s and latency with
batching off and on, with malformed requests mixed in.

Starts ``resnet-v2-slim serve`` as a process of its own (ended by its id),
once per mode (``--max_batch_size 0``, then the default 16), and drives
it with N concurrent clients for T seconds, each sending TF Serving's v1
JSON with one photo (scikit-image's cat, 300x451 JPEG). About
``--malformed`` of the requests are wrong in one of seven ways (not an
image, a truncated JPEG, a wrong dtype over v2, an image over
``--max_image_pixels``, an empty body, another model's name, a 50 MB
body): each must get a 4xx with a one-line error, every valid one the
answer the server gave first. Then SIGTERM: exit 0. The server's
resident memory is sampled throughout.

    python benchmarks/serve_load.py --clients 8 --seconds 30 --json serve_load.json

Without ``--model`` it makes a resnet_v2_50 checkpoint (1001 classes,
randomized; ``engines.py``'s) and serves ``export --serving``'s SavedModel.
"""

import argparse
import base64
import collections
import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engines as engines_bench  # pylint: disable=g-import-not-at-top,wrong-import-position

from resnet_v2_slim.cli import main as cli  # pylint: disable=wrong-import-position
from resnet_v2_slim.data import images as images_lib  # pylint: disable=wrong-import-position

MAX_PIXELS = 1_000_000       # the server's limit in this run
START_TIMEOUT = 300


def _free_port():
  with socket.socket() as probe:
    probe.bind(('127.0.0.1', 0))
    return probe.getsockname()[1]


def _post(url, body, timeout=120):
  request = urllib.request.Request(url, data=body, method='POST', headers={
      'Content-Type': 'application/json'})
  try:
    with urllib.request.urlopen(request, timeout=timeout) as answer:
      return answer.status, json.load(answer)
  except urllib.error.HTTPError as error:
    return error.code, json.loads(error.read() or b'null')


def _v1(data):
  return json.dumps({'instances': [
      {'b64': base64.b64encode(data).decode()}]}).encode()


def _requests(name):
  """(path, body, good) for the valid request and each malformed kind."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  import io  # pylint: disable=g-import-not-at-top
  photo = images_lib.bundled_photos()[0].data
  big = io.BytesIO()
  Image.fromarray(np.full((1200, 1200, 3), 90, np.uint8)).save(big, 'PNG')
  v1 = '/v1/models/%s:predict' % name
  v2 = '/v2/models/%s/infer' % name
  wrong_dtype = json.dumps({'inputs': [{
      'name': 'pixels', 'datatype': 'FP32', 'shape': [1, 2, 2, 3],
      'data': [0.5] * 12}]}).encode()
  return (v1, _v1(photo)), [
      (v1, _v1(b'hello')), (v1, _v1(photo[:len(photo) // 3])),
      (v2, wrong_dtype), (v1, _v1(big.getvalue())), (v1, b''),
      ('/v1/models/not_%s:predict' % name, _v1(photo)),
      (v1, b'x' * 50_000_000)]


class _Memory(threading.Thread):
  """Samples a process's resident memory every half second."""

  def __init__(self, pid):
    super().__init__(daemon=True)
    import psutil  # pylint: disable=g-import-not-at-top  (kserve's dependency)
    self.process, self.samples, self.done = psutil.Process(pid), [], False

  def run(self):
    while not self.done:
      try:
        self.samples.append(self.process.memory_info().rss)
      except Exception:  # pylint: disable=broad-except
        return
      time.sleep(0.5)


def _start(model, batch, log):
  http = _free_port()
  argv = [sys.executable, '-m', 'resnet_v2_slim', 'serve', model,
          '--http_port', str(http), '--grpc_port', '0', '--max_batch_size',
          str(batch), '--max_image_pixels', str(MAX_PIXELS)]
  process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
  url = 'http://127.0.0.1:%d' % http
  deadline = time.time() + START_TIMEOUT
  while time.time() < deadline and process.poll() is None:
    try:
      with urllib.request.urlopen(url + '/v2/health/ready', timeout=5):
        return process, url
    except OSError:
      time.sleep(0.5)
  process.kill()
  raise SystemExit('the server did not start: see %s' % log.name)


def _batches(url):
  with urllib.request.urlopen(url + '/metrics', timeout=10) as answer:
    text = answer.read().decode()
  return [float(re.search(r'^resnet_v2_slim_batch_size_%s (\S+)$' % what,
                          text, re.M).group(1)) for what in ('count', 'sum')]


def _drive(url, name, args):
  """N clients for T seconds; returns latencies, counts and problems."""
  (path, body), malformed = _requests(name)
  status, first = _post(url + path, body)
  assert status == 200, first
  expected = first['predictions'][0]['classes']
  latencies, counts, problems = [], collections.Counter(), []
  lock, stop_at = threading.Lock(), time.time() + args.seconds
  rng = np.random.RandomState(0)
  plan = iter(rng.uniform(size=10 ** 7))

  def client(_):
    while time.time() < stop_at:
      with lock:
        bad = next(plan) < args.malformed
        which = malformed[counts['malformed'] % len(malformed)] if bad \
            else None
        counts['malformed' if bad else 'valid'] += 1
      start = time.perf_counter()
      status, answer = _post(url + (which or (path,))[0],
                             which[1] if bad else body)
      took = time.perf_counter() - start
      with lock:
        if bad:
          counts[status] += 1
          if not (400 <= status < 500 and '\n' not in answer['error']):
            problems.append((which[0], status, answer))
        elif status != 200 or answer['predictions'][0]['classes'] != \
            expected:
          problems.append((path, status, answer))
        else:
          latencies.append(took)

  with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
    list(pool.map(client, range(args.clients)))
  return latencies, counts, problems


def _mode(model, name, batch, args, work):
  with open(os.path.join(work, 'server-%d.log' % batch), 'w') as log:
    process, url = _start(model, batch, log)
    memory = _Memory(process.pid)
    memory.start()
    try:
      runs, images = _batches(url)
      latencies, counts, problems = _drive(url, name, args)
      runs_after, images_after = _batches(url)
    finally:
      process.send_signal(signal.SIGTERM)
      code = process.wait(timeout=120)
      memory.done = True
  mib = [m / 2 ** 20 for m in memory.samples]
  return {
      'max_batch_size': batch, 'valid': counts['valid'],
      'malformed': counts['malformed'],
      'malformed_status': {str(k): v for k, v in counts.items()
                           if isinstance(k, int)},
      'problems': problems[:5], 'problem_count': len(problems),
      'requests_per_s': len(latencies) / args.seconds,
      'p50_ms': 1000 * float(np.percentile(latencies, 50)),
      'p99_ms': 1000 * float(np.percentile(latencies, 99)),
      'mean_batch': (images_after - images) / max(runs_after - runs, 1),
      'rss_mib_start': mib[0], 'rss_mib_peak': max(mib),
      'rss_mib_end': mib[-1], 'exit_code': code}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--model', help='what to serve (default: a '
                      'resnet_v2_50 SavedModel made here)')
  parser.add_argument('--name', default='resnet_v2_50',
                      help='its name in the URLs (default %(default)s)')
  parser.add_argument('--clients', type=int, default=8)
  parser.add_argument('--seconds', type=float, default=30)
  parser.add_argument('--malformed', type=float, default=0.05,
                      help='the share of malformed requests')
  parser.add_argument('--modes', default='0,16',
                      help='--max_batch_size of each run (default '
                      '%(default)s: off, then on)')
  parser.add_argument('--json', help='write the results here')
  args = parser.parse_args(argv)
  with tempfile.TemporaryDirectory() as work:
    model = args.model
    if not model:
      prefix = engines_bench._checkpoint(work, 'resnet_v2_50', 224)  # pylint: disable=protected-access
      model = os.path.join(work, 'served')
      assert cli.main(['export', '--checkpoint', prefix, '--serving',
                       '--saved_model_dir', model]) == 0
    results = [_mode(model, args.name, int(batch), args, work)
               for batch in args.modes.split(',')]
  for r in results:
    print('max_batch_size %2d: %6.1f requests/s, p50 %7.1f ms, p99 %7.1f '
          'ms, mean batch %.1f; %d malformed %s; server RSS %.0f -> peak '
          '%.0f -> %.0f MiB; problems %d; exit %d' % (
              r['max_batch_size'], r['requests_per_s'], r['p50_ms'],
              r['p99_ms'], r['mean_batch'], r['malformed'],
              r['malformed_status'], r['rss_mib_start'], r['rss_mib_peak'],
              r['rss_mib_end'], r['problem_count'], r['exit_code']))
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'clients': args.clients, 'seconds': args.seconds,
                 'results': results}, f, indent=1)
  return 0 if all(not r['problem_count'] and r['exit_code'] == 0
                  for r in results) else 1


if __name__ == '__main__':
  sys.exit(main())
