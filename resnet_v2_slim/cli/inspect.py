"""Tells which ResNet V2 a checkpoint holds; optionally lists its variables.

    python scripts/inspect_checkpoint.py resnet_v2_50.ckpt
    python scripts/inspect_checkpoint.py train_dir/ --list
    python scripts/inspect_checkpoint.py model.ckpt-1000.index --json
"""

import dataclasses
import json

from resnet_v2_slim import checkpoints
from resnet_v2_slim.cli import common


@common.command
def main(argv=None, prog='resnet-v2-slim inspect'):
  """Runs the command; returns its exit code (0, 1 or 2)."""
  parser = common.parser(prog, __doc__)
  parser.add_argument('path', help='checkpoint prefix, one of its files, a '
                      'V1 .ckpt file, or a directory')
  parser.add_argument('--list', action='store_true',
                      help='also list every variable with shape and dtype')
  parser.add_argument('--json', action='store_true', help='print JSON')
  args = parser.parse_args(argv)
  common.quiet()
  checkpoint = checkpoints.read(args.path)   # one read for all below
  info = checkpoint.as_dict()
  variables = checkpoint.variables if args.list else None
  row = checkpoint.pretrained
  if row is not None:
    info['pretrained'] = dataclasses.asdict(row)
  if args.json:
    if variables is not None:
      info['variables'] = [{'name': name, 'shape': shape, 'dtype': dtype}
                           for name, (shape, dtype) in variables.items()]
    print(json.dumps(info, indent=2))
    return 0
  print('checkpoint:     %s (%s)' % (info['path'], info['format']))
  print('model:          %s' % (info['model'] or 'unregistered depth'))
  print('scope:          %s' % info['scope'])
  print('units/block:    %s' % '-'.join(map(str, info['units_per_block'])))
  print('num_classes:    %s%s' % (info['num_classes'],
                                  ' (index 0 = background)'
                                  if info['num_classes'] == 1001 else ''))
  print('shortcuts:      %s' % ('yes' if info['use_shortcut']
                                 else 'no (plain twin: --no_shortcut)'))
  if row is not None:
    print('pretrained:     %s (%s): %s preprocessing at %d, labels offset %d, '
          'published top-1 %.1f%% / top-5 %.1f%%'
          % (row.name, row.tarball or 'weights never released',
             row.preprocessing, row.image_size, row.labels_offset, row.top1,
             row.top5))
  print('variables:      %d' % info['num_variables'])
  print('parameters:     {:,}'.format(info['num_parameters']))
  if variables is not None:
    width = max(len(name) for name in variables)
    for name, (shape, dtype) in variables.items():
      print('%-*s  %-20s %s' % (width, name, shape, dtype))
  return 0
