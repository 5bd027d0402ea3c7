"""Top-k classes of image files, with a checkpoint or an exported model.

    python scripts/classify.py --checkpoint resnet_v2_50.ckpt cat.jpg dog.png
    resnet-v2-slim classify --model_file served.onnx cat.jpg --json top.json

With --checkpoint, model and classes come from the checkpoint; preprocessing
defaults to what the slim ResNet V2 checkpoints were trained with (Inception,
299x299). With --model_file, a serving artifact (export --serving) brings
its own preprocessing and class names and runs on its engine (--engine to
choose); a preprocessed-form export needs --image_size (and --preprocessing,
--labels if not Inception/ImageNet). An unreadable image is reported and
skipped; the exit code is then 1.
"""

import sys
from typing import Optional, Sequence

from resnet_v2_slim import names
from resnet_v2_slim.cli import common
from resnet_v2_slim.config import inference as inference_config
from resnet_v2_slim.utils import settings

# Flags that describe a checkpoint; an exported model has its own.
_CHECKPOINT_ONLY = ('model', 'num_classes', 'raw_weights')


def _parser(prog):
  parser = common.parser(prog, __doc__)
  parser.add_argument('images', nargs='+', metavar='IMAGE')
  source = parser.add_mutually_exclusive_group(required=True)
  source.add_argument('--checkpoint',
                      help='a slim ResNet V2 checkpoint: prefix, one of its '
                      'files, a V1 .ckpt file or a train_dir')
  source.add_argument('--model_file',
                      help='an exported model (export, export --serving): '
                      'SavedModel folder, .pb, .keras, .onnx, OpenVINO '
                      'folder or .xml, .tflite')
  parser.add_argument('--engine', choices=names.ENGINES, default=None,
                      help='with --model_file: the runtime (default: the '
                      'file kind\'s first; openvino also runs .onnx)')
  settings.add_flags(parser, inference_config.InputSettings)
  settings.add_flags(parser, inference_config.RuntimeSettings)
  parser.add_argument('--top_k', type=int, default=5,
                      help='classes shown per image (default %(default)s)')
  parser.add_argument('--labels', default=None,
                      help='class names file, one per line (default: the '
                      'model\'s own, else ImageNet for 1000/1001 classes)')
  common.add_json_flag(parser, 'the top-k classes of every image')
  return parser


def _check_flags(args):
  """One line naming the flag that does not fit, or None."""
  if args.top_k <= 0:
    return '--top_k must be > 0.'
  if args.engine and not args.model_file:
    return '--engine runs an exported model: give --model_file.'
  if args.model_file:
    given = [name for name in _CHECKPOINT_ONLY
             if getattr(args, name) not in ('auto', False)]
    if given:
      return ('--%s describes a checkpoint; an exported model (--model_file) '
              'has its own: leave it out.' % given[0])
  return None


def _open(args):
  """The classifier the flags ask for (checkpoint or exported model)."""
  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim import checkpoints
  from resnet_v2_slim.inference import classifier
  # pylint: enable=g-import-not-at-top
  if args.model_file:
    common.check_json(args.json, lambda: [
        ('IMAGE', path) for path in args.images] + [
            ('--model_file', args.model_file)])
    return classifier.ArtifactClassifier(
        args.model_file, engine=args.engine,
        preprocessing_method=args.preprocessing, image_size=args.image_size,
        labels_file=args.labels, precision=args.precision,
        threads=args.threads, streams=args.streams)
  settings.from_args(inference_config.RuntimeSettings, args).check_runtime(
      None)   # the checkpoint's TensorFlow graph
  common.check_json(args.json, lambda: [
      ('IMAGE', path) for path in args.images] + checkpoints.input_paths(
          args.checkpoint))
  return classifier.Classifier(
      args.checkpoint, model=args.model, num_classes=args.num_classes,
      preprocessing_method=args.preprocessing, image_size=args.image_size,
      labels_file=args.labels, raw_weights=args.raw_weights,
      precision=args.precision, threads=args.threads)


def _banner(prog, clf):
  """What runs, on stderr: the reader sees which defaults were taken."""
  from resnet_v2_slim.inference import classifier  # pylint: disable=g-import-not-at-top
  if isinstance(clf, classifier.ArtifactClassifier):
    return '%s: %s on %s, %s preprocessing at %d (from %s)' % (
        prog, clf.path, clf.engine, clf.preprocessing, clf.image_size,
        clf.source)
  return ('%s: %s, %d classes, %s preprocessing at %d (auto settings from '
          '%s), from %s%s') % (
      prog, clf.model, clf.num_classes, clf.preprocessing, clf.image_size,
      clf.defaults_source, clf.report.path, ' (moving averages of the '
      'weights; --raw_weights for the raw ones)' if clf.moving_averages
      else '')


@common.command
def main(argv: Optional[Sequence[str]] = None,
         prog: str = 'resnet-v2-slim classify') -> int:
  """Runs the command; returns its exit code (0, 1 or 2)."""
  args = _parser(prog).parse_args(argv)
  common.quiet()
  problem = _check_flags(args)
  if problem:
    return common.fail(prog, problem)
  from resnet_v2_slim.inference import classifier  # pylint: disable=g-import-not-at-top
  results, failed, flat = [], 0, 0
  with _open(args) as clf:
    print(_banner(prog, clf), file=sys.stderr)
    for path in args.images:
      try:
        out = clf.outputs(path)
      except classifier.ImageError as exc:
        failed += 1
        print('%s: skipped: %s' % (prog, exc), file=sys.stderr)
        continue
      top = classifier.top_hits(out['probabilities'], clf.labels,
                                args.top_k, logits=out['logits'])
      flat += classifier.near_uniform(out['probabilities'])
      results.append({'image': path, 'top_k': top})
      print(path, file=common.human_out(args))
      for hit in top:
        print('  %.4f  %4d  %s' % (hit['probability'], hit['index'],
                                   hit['label']), file=common.human_out(args))
  if flat:
    print('%s: warning: the probabilities are near-uniform for %d of %d '
          'image(s): an untrained or randomly initialised model? Its top '
          'names mean little.' % (prog, flat, len(results)), file=sys.stderr)
  if args.json and common.emit_json(prog, args.json, results):
    return common.EXIT_BAD_INPUT
  return 1 if failed else 0
