#!/usr/bin/env python
"""Tells which ResNet V2 a checkpoint holds; optionally lists its variables.

    python scripts/inspect_checkpoint.py resnet_v2_50.ckpt
    python scripts/inspect_checkpoint.py train_dir/ --list
    python scripts/inspect_checkpoint.py model.ckpt-1000.index --json
"""

import argparse
import json
import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

from resnet_v2_slim import checkpoint  # pylint: disable=wrong-import-position
from resnet_v2_slim import cli  # pylint: disable=wrong-import-position


def main(argv=None):
  parser = argparse.ArgumentParser(prog='inspect_checkpoint.py',
                                   description=__doc__.splitlines()[0])
  parser.add_argument('path', help='checkpoint prefix, one of its files, a '
                      'V1 .ckpt file, or a directory')
  parser.add_argument('--list', action='store_true',
                      help='also list every variable with shape and dtype')
  parser.add_argument('--json', action='store_true', help='print JSON')
  args = parser.parse_args(argv)
  cli.quiet()
  try:
    info = checkpoint.describe(args.path)
    variables = checkpoint.list_variables(info['path']) if args.list else None
  except checkpoint.CheckpointError as exc:
    return cli.fail('inspect_checkpoint.py', str(exc))
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
  print('variables:      %d' % info['num_variables'])
  print('parameters:     {:,}'.format(info['num_parameters']))
  if variables is not None:
    width = max(len(name) for name in variables)
    for name, (shape, dtype) in variables.items():
      print('%-*s  %-20s %s' % (width, name, shape, dtype))
  return 0


if __name__ == '__main__':
  sys.exit(main())
