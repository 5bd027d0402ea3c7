"""Tells which ResNet V2 a checkpoint holds, or what a serving artifact
carries; optionally lists a checkpoint's variables.

    python scripts/inspect_checkpoint.py resnet_v2_50.ckpt
    python scripts/inspect_checkpoint.py train_dir/ --list
    python scripts/inspect_checkpoint.py model.ckpt-1000.index --json -
    resnet-v2-slim inspect served.onnx

A serving artifact (export --serving: a SavedModel folder or TF Serving's
model base folder, .onnx, OpenVINO folder or .xml, .tflite) shows its
facts: network, classes, input contract, outputs, preprocessing, the source
checkpoint's sha256.
"""

import dataclasses
from typing import Optional, Sequence

from resnet_v2_slim.cli import common


@common.command
def main(argv: Optional[Sequence[str]] = None,
         prog: str = 'resnet-v2-slim inspect') -> int:
  """Runs the command; returns its exit code (0, 1 or 2)."""
  parser = common.parser(prog, __doc__)
  parser.add_argument('path', help='checkpoint prefix, one of its files, a '
                      'V1 .ckpt file, a directory, or a serving artifact')
  parser.add_argument('--list', action='store_true',
                      help='also list every variable with shape and dtype')
  common.add_json_flag(parser, 'what it finds (with --list, the variables)')
  args = parser.parse_args(argv)
  common.quiet()
  if _is_artifact(args.path):
    if args.list:
      return common.fail(prog, '--list lists a checkpoint\'s variables; %s '
                         'is an exported model.' % args.path)
    return _inspect_artifact(prog, args)
  from resnet_v2_slim import checkpoints  # pylint: disable=g-import-not-at-top
  common.check_json(args.json, lambda: checkpoints.input_paths(
      args.path, flag='PATH'))
  checkpoint = checkpoints.read(args.path)   # one read for all below
  info = checkpoint.as_dict()
  variables = checkpoint.variables if args.list else None
  row = checkpoint.pretrained
  if row is not None:
    info['pretrained'] = dataclasses.asdict(row)
  _print_info(info, row, variables, common.human_out(args))
  if args.json:
    if variables is not None:
      info['variables'] = [{'name': name, 'shape': shape, 'dtype': dtype}
                           for name, (shape, dtype) in variables.items()]
    return common.emit_json(prog, args.json, info)
  return 0


def _print_info(info, row, variables, out):
  """The human-readable report, to ``out``."""
  lines = [
      'checkpoint:     %s (%s)' % (info['path'], info['format']),
      'model:          %s' % (info['model'] or 'unregistered depth'),
      'scope:          %s' % info['scope'],
      'units/block:    %s' % '-'.join(map(str, info['units_per_block'])),
      'num_classes:    %s%s' % (info['num_classes'],
                                ' (index 0 = background)'
                                if info['num_classes'] == 1001 else ''),
      'shortcuts:      %s' % ('yes' if info['use_shortcut']
                               else 'no (plain twin: --no_shortcut)')]
  if row is not None:
    lines.append(
        'pretrained:     %s (%s): %s preprocessing at %d, labels offset %d, '
        'published top-1 %.1f%% / top-5 %.1f%%'
        % (row.name, row.tarball or 'weights never released',
           row.preprocessing, row.image_size, row.labels_offset, row.top1,
           row.top5))
  if info.get('trained'):
    lines.append('trained as:     %s (step %s)' % (info['trained']['summary'],
                                                   info['step']))
  lines.append('variables:      %d' % info['num_variables'])
  lines.append('parameters:     {:,}'.format(info['num_parameters']))
  if variables is not None:
    width = max(len(name) for name in variables)
    lines.extend('%-*s  %-20s %s' % (width, name, shape, dtype)
                 for name, (shape, dtype) in variables.items())
  print('\n'.join(lines), file=out)


def _is_artifact(path):
  """Whether ``path`` is an exported model rather than a checkpoint."""
  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import engines
  from resnet_v2_slim.inference import serving_files
  # pylint: enable=g-import-not-at-top
  try:
    engines.kind_of(serving_files.resolve(path))
  except engines.EngineError:
    return False
  return True


def _inspect_artifact(prog, args):
  """``inspect ARTIFACT``: its facts, human-readable and as ``--json``."""
  from resnet_v2_slim.inference import serving_export  # pylint: disable=g-import-not-at-top
  common.check_json(args.json, lambda: [('PATH', args.path)])
  info = serving_export.describe(args.path)
  names = info['labels']
  lines = [
      'artifact:       %s (%s)' % (info['path'], info['kind']),
      'model:          %s, %d classes%s' % (
          info['network'], info['num_classes'],
          ' (index 0 = background)' if info['labels_offset'] else ''),
      'input:          %s' % info['contract'],
      'outputs:        %s (top %d)' % (', '.join(info['outputs']),
                                       info['top_k']),
      'labels:         %s%s' % (', '.join(names[:4]),
                                ', ... (%d)' % len(names)
                                if len(names) > 4 else ''),
      'checkpoint:     sha256 %s' % info['checkpoint_sha256'],
      'written by:     resnet_v2_slim %s (facts format %d)' % (
          info['package_version'], info['format'])]
  print('\n'.join(lines), file=common.human_out(args))
  if args.json:
    return common.emit_json(prog, args.json, info)
  return 0
