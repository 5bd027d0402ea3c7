"""Trains a ResNet V2 (or its plain twin) in graph mode, resuming if stopped.

    python scripts/train.py --model resnet_v2_18 --train_dir /tmp/rn18
    python scripts/train.py --model resnet_v2_18 --no_shortcut --train_dir /tmp/plain18
    python scripts/train.py --model resnet_v2_50 --data_dir my_images/ \
        --train_dir /tmp/ft --checkpoint resnet_v2_50.ckpt --image_size 224

Without --data_dir it trains on scikit-learn's handwritten digits (shipped
in the scikit-learn wheel, so it runs offline). Rerunning with the same
--train_dir resumes from its latest checkpoints.
"""

import sys

from resnet_v2_slim.cli import common
from resnet_v2_slim.data import preprocessing
from resnet_v2_slim.distribute import strategy as dist
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.training import trainer


@common.command
def main(argv=None, prog='resnet-v2-slim train'):
  """Runs the command; returns 0, 2 (bad input) or 130 (Ctrl-C)."""
  defaults = trainer.TrainConfig(model='', train_dir='')
  parser = common.parser(prog, __doc__)
  parser.add_argument('--model', required=True,
                      help=', '.join(nets_factory.network_names()))
  parser.add_argument('--train_dir', required=True)
  parser.add_argument('--data_dir', default=None,
                      help='folder of class sub-folders of images (default: '
                      'the digits)')
  parser.add_argument('--use_shortcut', dest='use_shortcut',
                      action='store_true', default=True)
  parser.add_argument('--no_shortcut', dest='use_shortcut',
                      action='store_false', help='train the plain twin')
  parser.add_argument('--steps', type=int, default=defaults.steps,
                      help='total steps, counting resumed ones')
  parser.add_argument('--batch_size', type=int, default=defaults.batch_size,
                      help='images per replica and step; the global batch '
                      'is this times the replicas (default %(default)s)')
  parser.add_argument('--learning_rate', type=float,
                      default=defaults.learning_rate,
                      help='used as given under every strategy; with N '
                      'replicas the linear scaling rule (Goyal et al. 2017) '
                      'suggests N times the one-replica rate '
                      '(default %(default)s)')
  parser.add_argument('--image_size', type=int, default=defaults.image_size)
  parser.add_argument('--checkpoint', default=None,
                      help='warm-start from this checkpoint (not its logits)')
  parser.add_argument('--exclude_scopes', nargs='*', default=None,
                      help='scopes not to warm-start (default: the logits); '
                      'each must exist in the network')
  parser.add_argument('--tfrecord', default=None, metavar='PATTERN',
                      help='TF-Slim TFRecord shards (e.g. from convert) '
                      'instead of --data_dir')
  parser.add_argument('--num_classes', type=int, default=None,
                      help='with --tfrecord: default from labels.txt')
  parser.add_argument('--labels_offset', type=int, default=1,
                      choices=(0, 1), help='with --tfrecord: subtracted '
                      'from the 1-based labels (0 keeps a background class '
                      'at 0, as TF-Slim\'s 1001-way heads)')
  parser.add_argument('--shuffle_buffer', type=int, default=10000)
  parser.add_argument('--deterministic', action='store_true',
                      help='with --tfrecord: the same order every run')
  parser.add_argument('--preprocessing', default='auto',
                      choices=preprocessing.FLAG_CHOICES,
                      help='training preprocessing of --data_dir images '
                      '(auto: the published checkpoint\'s when fine-tuning '
                      'one, else inception)')
  parser.add_argument('--save_every', type=int, default=defaults.save_every)
  parser.add_argument('--log_every', type=int, default=defaults.log_every)
  parser.add_argument('--seed', type=int, default=0)
  dist.add_flags(parser)
  args = parser.parse_args(argv)
  common.quiet()
  config = trainer.TrainConfig(**{
      f: getattr(args, f) for f in (
          'model', 'train_dir', 'data_dir', 'use_shortcut', 'steps',
          'batch_size', 'learning_rate', 'image_size', 'checkpoint',
          'exclude_scopes', 'preprocessing', 'save_every', 'log_every',
          'seed', 'tfrecord', 'num_classes', 'labels_offset',
          'shuffle_buffer', 'deterministic')},
      distribute=dist.options_from_args(args))
  try:
    history = trainer.train(config, log=lambda line: print(line, flush=True))
  except trainer.TrainInterrupted as exc:
    print('%s: %s' % (prog, exc), file=sys.stderr)
    return 130   # the shell's code for Ctrl-C
  except dist.PeerError as exc:   # another worker died: exit 1, not 2
    return common.fail(prog, exc, code=1)
  if history:
    print('done: step %d, loss %.4f, accuracy %.3f; checkpoints in %s'
          % (history[-1]['step'], history[-1]['loss'],
             history[-1]['accuracy'], args.train_dir))
  else:
    print('nothing to do: %s is already at step %d or beyond'
          % (args.train_dir, args.steps))
  return 0
