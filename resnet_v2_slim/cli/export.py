"""Exports a checkpoint as a frozen inference graph and/or a SavedModel.

    python scripts/export_inference_graph.py --checkpoint resnet_v2_50.ckpt \
        --output_file resnet_v2_50.pb --saved_model_dir resnet_v2_50_saved

Input ``input:0``: float32 [batch, H, W, 3], already preprocessed (Inception
style for the slim checkpoints: [-1, 1] at 299x299). Outputs ``logits:0``
and ``predictions:0``.
"""


from resnet_v2_slim.cli import common
from resnet_v2_slim.inference import inputs
from resnet_v2_slim.utils import settings
from resnet_v2_slim.inference import export


@common.command
def main(argv=None, prog='resnet-v2-slim export'):
  """Runs the command; returns its exit code (0, 1 or 2)."""
  parser = common.parser(prog, __doc__)
  parser.add_argument('--checkpoint', required=True)
  parser.add_argument('--output_file', default=None,
                      help='frozen GraphDef to write (.pb)')
  parser.add_argument('--saved_model_dir', default=None,
                      help='SavedModel folder to write (replaced if present)')
  settings.add_flags(parser, inputs.InputSettings,
                     exclude=('preprocessing',))
  parser.add_argument('--batch_size', type=int, default=None,
                      help='fixed batch size (default: any)')
  args = parser.parse_args(argv)
  common.quiet()
  if not args.output_file and not args.saved_model_dir:
    return common.fail(prog, 'give --output_file and/or --saved_model_dir.')
  if args.batch_size is not None and args.batch_size <= 0:
    return common.fail(prog, '--batch_size must be > 0.')
  names = export.export_inference_graph(
      args.checkpoint, output_file=args.output_file,
      saved_model_dir=args.saved_model_dir, model=args.model,
      num_classes=args.num_classes,
      image_size=None if args.image_size == 'auto' else args.image_size,
      batch_size=args.batch_size)
  if args.output_file:
    print('wrote frozen graph %s' % args.output_file)
  if args.saved_model_dir:
    print('wrote SavedModel %s (signature %r)' % (args.saved_model_dir,
                                                  export.SIGNATURE_KEY))
  for role, name in names.items():
    print('%-12s %s' % (role, name))
  return 0
