#!/usr/bin/env python
"""What the preprocessing inside a serving artifact costs, per engine.

Makes a resnet_v2_50 checkpoint (1001 classes, randomized batch-norm
statistics; ``engines.py``'s), exports it twice with ``resnet-v2-slim
export`` -- the preprocessed form (float32 [N, 224, 224, 3] in) and
``--serving`` (the SavedModel takes JPEG bytes, ONNX/OpenVINO/TFLite take
uint8 pixels of the photo's own size) -- and times both forms on each
engine at batch 1 and batch 32 in interleaved rounds (medians), on
scikit-image's ``chelsea`` photo (300x451). Then ``embed`` images/s from
the checkpoint (TensorFlow session, JPEG bytes in).

    python benchmarks/serving_cost.py --rounds 3 --json serving_cost.json
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engines as engines_bench  # pylint: disable=g-import-not-at-top,wrong-import-position

from resnet_v2_slim.cli import main as cli  # pylint: disable=wrong-import-position
from resnet_v2_slim.data import images as images_lib  # pylint: disable=wrong-import-position
from resnet_v2_slim.inference import embed  # pylint: disable=wrong-import-position
from resnet_v2_slim.inference import engines  # pylint: disable=wrong-import-position
from resnet_v2_slim.inference import serving  # pylint: disable=wrong-import-position
from resnet_v2_slim.inference import serving_files  # pylint: disable=wrong-import-position
from resnet_v2_slim.utils import fileio  # pylint: disable=wrong-import-position

SIZE = 224   # the default; --image_size smaller for a smoke run


def _export(prefix, work, size):
  """Both forms of every target; returns {(engine, form): path}."""
  plain = {'onnx_file': 'p.onnx', 'openvino_dir': 'p_ov',
           'tflite_file': 'p.tflite', 'saved_model_dir': 'p_sm'}
  served = {'onnx_file': 's.onnx', 'openvino_dir': 's_ov',
            'tflite_file': 's.tflite', 'saved_model_dir': 's_sm'}
  for extra, names in (([], plain), (['--serving'], served)):
    argv = ['export', '--checkpoint', prefix, '--image_size', str(size)]
    for flag, name in names.items():
      argv += ['--' + flag, os.path.join(work, name)]
    assert cli.main(argv + extra) == 0, argv
  return {('onnxruntime', 'plain'): 'p.onnx', ('onnxruntime', 'serving'):
          's.onnx', ('openvino', 'plain'): 'p_ov', ('openvino', 'serving'):
          's_ov', ('litert', 'plain'): 'p.tflite', ('litert', 'serving'):
          's.tflite', ('tensorflow', 'plain'): 'p_sm',
          ('tensorflow', 'serving'): os.path.join('s_sm', '1')}


def _runners(paths, work, size):
  """(engine, form) -> a ``run(batch_size)`` closure, loaded once."""
  photo = images_lib.bundled_photos()[0].data
  pixels = serving.decode([photo])[0]
  runners = {}
  for (engine, form), name in paths.items():
    path = os.path.join(work, name)
    if form == 'plain':
      loaded = engines.load(path, engine)
      image = np.random.RandomState(0).uniform(
          -1, 1, (1, size, size, 3)).astype(np.float32)
      runners[engine, form] = (loaded, lambda n, e=loaded, x=image: e.run(
          np.repeat(x, n, 0)))
      continue
    loaded = serving_files.load(path, engine)
    if loaded.facts.input == serving.BYTES:
      feed = lambda n: np.array([photo] * n, dtype=object)
    else:
      feed = lambda n: np.repeat(pixels[np.newaxis], n, 0)
    runners[engine, form] = (loaded, lambda n, r=loaded, f=feed: r.run(f(n)))
  return runners


def _embed_rate(prefix, work, size, count=16):
  folder = os.path.join(work, 'photos')
  os.makedirs(folder, exist_ok=True)
  for i, image in enumerate(images_lib.bundled_photos() * (count // 3 + 1)):
    with open(os.path.join(folder, '%02d.jpg' % i), 'wb') as f:
      f.write(image.data)
  with embed.Embedder(checkpoint=prefix, image_size=size) as embedder:
    embed.embed_folder(embedder, folder)   # burn-in
    start = time.perf_counter()
    result = embed.embed_folder(embedder, folder)
    return len(result.files) / (time.perf_counter() - start)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--steps', type=int, default=3)
  parser.add_argument('--image_size', type=int, default=SIZE)
  parser.add_argument('--json', default=None)
  args = parser.parse_args(argv)
  if args.json:
    fileio.check_writable(args.json, '--json')
  with tempfile.TemporaryDirectory(prefix='serving-cost-') as work:
    return _measure(args, work)


def _measure(args, work):
  """Exports, times every (engine, form, batch), prints and writes rows."""
  prefix = engines_bench._checkpoint(work, 'resnet_v2_50', args.image_size)  # pylint: disable=protected-access
  runners = _runners(_export(prefix, work, args.image_size), work,
                     args.image_size)
  times = {(key, n): [] for key in runners for n in (1, 32)}
  for _ in range(args.rounds):   # interleaved: a busy machine slows all
    for (key, n), samples in times.items():
      run = runners[key][1]
      run(n)   # burn-in
      start = time.perf_counter()
      for _ in range(args.steps):
        run(n)
      samples.append((time.perf_counter() - start) / args.steps)
  for loaded, _ in runners.values():
    loaded.close()
  rows = []
  for (engine, form), n in sorted(times):
    median = statistics.median(times[(engine, form), n])
    plain = statistics.median(times[(engine, 'plain'), n])
    rows.append({'engine': engine, 'form': form, 'batch': n,
                 'images_per_s': n / median, 'vs_plain': median / plain})
    print('%-12s %-8s batch %2d  %7.1f images/s  %.2fx the preprocessed '
          'form\'s time' % (engine, form, n, n / median, median / plain))
  rate = _embed_rate(prefix, work, args.image_size)
  print('embed (checkpoint, TensorFlow, JPEG in, one image per step): '
        '%.1f images/s' % rate)
  if args.json:
    fileio.atomic_write_text(args.json, json.dumps(
        {'rows': rows, 'embed_images_per_s': rate}, indent=2))
  return 0


if __name__ == '__main__':
  sys.exit(main())
