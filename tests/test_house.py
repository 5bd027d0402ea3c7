"""The house: rooms and import direction, one registry, one command,
official argument order, the published-checkpoint table, preprocessing."""

import argparse
import ast
import importlib
import inspect
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow.compat.v1 as tf
import tf_slim as slim
from tf_slim.nets import resnet_utils as ref_utils
from tf_slim.nets import resnet_v2 as ref_v2

import resnet_v2_slim
from resnet_v2_slim import _quiet
from resnet_v2_slim import checkpoints
from resnet_v2_slim import names as names_lib
from resnet_v2_slim.cli import main as cli_main
from resnet_v2_slim.data import preprocessing
from resnet_v2_slim.inference import evaluate as evaluate_lib
from resnet_v2_slim.nets import nets_factory
from resnet_v2_slim.nets import pretrained
from resnet_v2_slim.nets import resnet_utils
from resnet_v2_slim.nets import resnet_v2
from conftest import by_cost

ROOT = os.path.join(os.path.dirname(__file__), '..')
PACKAGE = os.path.join(ROOT, 'resnet_v2_slim')

# Rooms from the bottom up; a module may import its own room and lower ones.
# _quiet applies compat's fix; config sits above nets and checkpoints (its
# validate methods check networks and checkpoints) and below the rooms
# whose settings it declares.
LEVELS = {'compat': 0, 'errors': 0, 'names': 0, '_quiet': 1, 'nets': 2,
          'utils': 2, 'checkpoints': 3, 'config': 4, 'data': 5,
          'distribute': 5, 'perf': 6, 'inference': 6, 'training': 6,
          'teaching': 7, 'serve': 7, 'cli': 8, '__main__': 9}


def _room(module):
  """'resnet_v2_slim.nets.resnet_v2' -> 'nets'; the package root -> None."""
  parts = module.split('.')
  return parts[1] if len(parts) > 1 else None


def _package_imports():
  for folder, _, files in os.walk(PACKAGE):
    for name in files:
      if not name.endswith('.py'):
        continue
      path = os.path.join(folder, name)
      rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, '.')
      module = rel[:-len('.__init__')] if rel.endswith('__init__') else rel
      for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and node.module and (
            node.module.startswith('resnet_v2_slim')):
          targets = ([node.module + '.' + a.name for a in node.names]
                     if node.module == 'resnet_v2_slim' else [node.module])
          for target in targets:
            yield module, target, node.lineno


def test_imports_only_go_down():
  wrong = []
  for module, target, line in _package_imports():
    here, there = _room(module), _room(target)
    if here is None or there is None or here == there:
      continue   # the package __init__ gathers; a room uses itself
    if LEVELS[there] >= LEVELS[here] or (there not in LEVELS):
      wrong.append('%s:%d imports %s' % (module, line, target))
  assert not wrong, wrong


def test_every_room_says_what_lives_there_and_what_it_may_import():
  rooms = sorted(d for d in os.listdir(PACKAGE)
                 if os.path.isfile(os.path.join(PACKAGE, d, '__init__.py')))
  assert rooms == sorted(r for r in LEVELS if not r.startswith('_')
                         and r not in ('compat', 'errors', 'names'))
  uses = {room: set() for room in rooms}
  for module, target, _ in _package_imports():
    here, there = _room(module), _room(target)
    if here in uses and there in rooms and there != here:
      uses[here].add(there)
  for room in rooms:
    doc = ast.get_docstring(ast.parse(open(
        os.path.join(PACKAGE, room, '__init__.py')).read()))
    assert doc and 'Typical use' in doc, room
    said = re.search(r'May import: (.*?)\.(\s|$)', doc, re.S).group(1)
    if said == 'every room':
      declared = set(rooms) - {room}
    else:
      declared = set(re.findall(r'``(\w+)``', said))
      assert declared or said.startswith('nothing above it'), (room, said)
    # What the docstring says is what the room's code imports.
    assert declared >= uses[room] and (said == 'every room' or
                                       declared == uses[room]), (
                                           room, declared, uses[room])


def test_round_one_import_paths_are_the_same_modules():
  import resnet_v2_slim.checkpoint as old_ckpt  # pylint: disable=g-import-not-at-top
  import resnet_v2_slim.nets_factory as old_factory  # pylint: disable=g-import-not-at-top
  import resnet_v2_slim.resnet_utils as old_utils  # pylint: disable=g-import-not-at-top
  import resnet_v2_slim.resnet_v2 as old_v2  # pylint: disable=g-import-not-at-top
  assert old_v2 is resnet_v2 and old_utils is resnet_utils
  assert old_factory is nets_factory and old_ckpt is checkpoints
  from resnet_v2_slim.nets import resnet_v2 as ported  # pylint: disable=g-import-not-at-top
  assert ported is resnet_v2


# --- one registry -----------------------------------------------------------

def test_every_list_of_networks_derives_from_the_one_table():
  # Declared once, without TensorFlow, in names.py; nets reads that dict.
  assert resnet_v2.NETWORKS is names_lib.NETWORKS
  names = list(resnet_v2.NETWORKS)
  assert nets_factory.network_names() == names
  assert list(resnet_v2.NETWORK_FNS) == names   # defs follow the table
  assert [n for n in resnet_v2.__all__ if n in names] == names
  assert [n for n in resnet_v2_slim.__all__ if n in names] == names
  for name in names:
    assert resnet_v2.NETWORK_FNS[name] is nets_factory.networks_map[name]
    assert getattr(resnet_v2, name) is resnet_v2.NETWORK_FNS[name]
    assert getattr(resnet_v2_slim, name) is getattr(resnet_v2, name)
    assert getattr(resnet_v2, name).__name__ == name
    assert (getattr(resnet_v2, name).family,
            getattr(resnet_v2, name).units_per_block) == (
                resnet_v2.NETWORKS[name])
  # He et al., Table 1 (and 3-24-36-3 for ResNet-200), written by hand.
  assert resnet_v2.NETWORKS == {
      'resnet_v2_18': ('basic', (2, 2, 2, 2)),
      'resnet_v2_34': ('basic', (3, 4, 6, 3)),
      'resnet_v2_50': ('bottleneck', (3, 4, 6, 3)),
      'resnet_v2_101': ('bottleneck', (3, 4, 23, 3)),
      'resnet_v2_152': ('bottleneck', (3, 8, 36, 3)),
      'resnet_v2_200': ('bottleneck', (3, 24, 36, 3))}
  # Depths and strides are read through block_specs only: the twin and the
  # factory do not zip the shared tables themselves.
  for folder, _, files in os.walk(PACKAGE):
    for file_name in files:
      path = os.path.join(folder, file_name)
      if file_name.endswith('.py') and not path.endswith(
          os.path.join('nets', 'resnet_v2.py')):
        source = open(path).read()
        assert 'BLOCK_BASE_DEPTHS' not in source, path
        assert 'BLOCK_STRIDES' not in source, path


def _network_source():
  return open(os.path.join(PACKAGE, 'nets', 'resnet_v2.py')).read()


def _assigned(tree, name):
  """The one value a module's top level assigns to ``name`` (an AST)."""
  values = [node.value for node in tree.body
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and name in [
                getattr(t, 'id', None) for t in getattr(
                    node, 'targets', [getattr(node, 'target', None)])]]
  assert len(values) == 1, (name, len(values))
  return values[0]


def test_every_network_is_a_function_you_can_jump_to():
  """Each row of the literal ``NETWORKS`` table (names.py) is a ``def`` of
  its name in nets/resnet_v2.py, decorated with @register_network, that
  builds its blocks from its own row and passes every argument on by name:
  one declaration per network, found by grep, no locals()/globals()."""
  tree = ast.parse(_network_source())
  called = {n.func.id for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
  assert not called & {'locals', 'globals', 'vars'}
  # The table is written out in names.py (the registry reads it; nothing
  # fills it by calling the networks), and resnet_v2.py takes that dict.
  names_tree = ast.parse(open(os.path.join(PACKAGE, 'names.py')).read())
  assert ast.literal_eval(_assigned(names_tree, 'NETWORKS')) == (
      resnet_v2.NETWORKS)
  assert ast.unparse(_assigned(tree, 'NETWORKS')) == 'names.NETWORKS'
  defs = {node.name: node for node in tree.body
          if isinstance(node, ast.FunctionDef)}
  for name in resnet_v2.NETWORKS:
    node = defs[name]
    assert [d.id for d in node.decorator_list] == ['register_network']
    positional = [a.arg for a in node.args.args]
    assert positional == ['inputs', 'num_classes', 'global_pool', 'reuse',
                          'scope']
    assert node.args.defaults[-1].value == name          # scope default
    assert node.args.vararg is None and node.args.kwarg is None
    body = node.body[1:]                                 # after the docstring
    assert ast.get_docstring(node)
    # blocks = network_blocks('<name>')
    assert isinstance(body[0], ast.Assign) and (
        body[0].targets[0].id == 'blocks')
    assert body[0].value.func.id == 'network_blocks'
    assert [a.value for a in body[0].value.args] == [name]
    # return _build('<name>', inputs, blocks, <the rest in order>,
    #               <each keyword-only argument as itself>)
    build = body[1].value
    assert len(body) == 2 and isinstance(body[1], ast.Return)
    assert build.func.id == '_build' and build.args[0].value == name
    assert [a.id for a in build.args[1:]] == (
        positional[:1] + ['blocks'] + positional[1:])
    assert [(k.arg, k.value.id) for k in build.keywords] == [
        (a.arg, a.arg) for a in node.args.kwonlyargs]
    # No depth, stride or unit count in the body: they live in the table.
    assert not [c.value for stmt in body for c in ast.walk(stmt)
                if isinstance(c, ast.Constant) and
                isinstance(c.value, int)], name
    assert inspect.getsourcefile(getattr(resnet_v2, name)).endswith(
        'resnet_v2.py')


def test_the_registry_stores_functions_without_calling_them(monkeypatch):
  def resnet_v2_50(*args, **kwargs):
    raise AssertionError('register_network called the network')

  monkeypatch.setattr(resnet_v2, 'NETWORK_FNS', {})
  assert resnet_v2.register_network(resnet_v2_50) is resnet_v2_50
  assert resnet_v2.NETWORK_FNS == {'resnet_v2_50': resnet_v2_50}
  assert (resnet_v2_50.family, resnet_v2_50.units_per_block,
          resnet_v2_50.default_image_size) == ('bottleneck', (3, 4, 6, 3),
                                               224)
  with pytest.raises(resnet_utils.NetworkError, match='registered already'):
    resnet_v2.register_network(resnet_v2_50)

  def resnet_v2_26(*args, **kwargs):
    raise AssertionError('register_network called the network')

  with pytest.raises(resnet_utils.NetworkError,
                     match='declare its row in NETWORKS first'):
    resnet_v2.register_network(resnet_v2_26)


def test_a_new_network_is_a_row_and_a_def(monkeypatch):
  # A row without its function fails the import's check at once.
  monkeypatch.setitem(resnet_v2.NETWORKS, 'resnet_v2_26',
                      ('bottleneck', (2, 2, 2, 2)))
  with pytest.raises(resnet_utils.NetworkError, match='resnet_v2_26'):
    resnet_v2._check_registry()  # pylint: disable=protected-access
  monkeypatch.setattr(resnet_v2, 'NETWORK_FNS',
                      dict(resnet_v2.NETWORK_FNS))

  def resnet_v2_26(*args, **kwargs):
    raise AssertionError('register_network called the network')

  resnet_v2.register_network(resnet_v2_26)
  resnet_v2._check_registry()  # pylint: disable=protected-access
  blocks = resnet_v2.network_blocks('resnet_v2_26')
  assert [(b.scope, len(b.args), b.args[-1]['stride']) for b in blocks] == [
      ('block1', 2, 2), ('block2', 2, 2), ('block3', 2, 2), ('block4', 2, 1)]
  # A family with no block builder is refused too.
  monkeypatch.setitem(resnet_v2.NETWORKS, 'resnet_v2_26',
                      ('wide', (2, 2, 2, 2)))
  with pytest.raises(resnet_utils.NetworkError, match='resnet_v2_26'):
    resnet_v2._check_registry()  # pylint: disable=protected-access


def test_the_package_re_exports_every_network_by_name():
  """A literal row per network in the package's lazy table (read on first
  use, PEP 562) and an explicit __all__: a network added to NETWORKS
  without its re-export fails here."""
  source = open(os.path.join(PACKAGE, '__init__.py')).read()
  tree = ast.parse(source)
  assert 'globals()' not in source
  lazy = ast.literal_eval(_assigned(tree, '_LAZY'))
  assert [n for n in lazy if n.startswith('resnet_v2_')] == (
      list(resnet_v2.NETWORKS))
  for name in resnet_v2.NETWORKS:
    assert lazy[name] == (resnet_v2.__name__, name)
  for name in resnet_v2_slim.__all__:   # each name is there, or is read
    assert name in lazy or name in vars(resnet_v2_slim), name
  assert ast.literal_eval(_assigned(tree, '__all__')) == (
      resnet_v2_slim.__all__)                               # a literal
  assert [n for n in resnet_v2_slim.__all__ if n.startswith('resnet_v2_')] == (
      list(resnet_v2.NETWORKS))
  # The module's own __all__ is written out too.
  module_all = _assigned(ast.parse(_network_source()), '__all__')
  assert [n for n in ast.literal_eval(module_all)
          if n.startswith('resnet_v2_') and n in resnet_v2.NETWORKS] == (
              list(resnet_v2.NETWORKS))


@pytest.mark.parametrize('name', by_cost(nets_factory.network_names()))
def test_every_registered_network_builds_and_is_detected(name, graph):
  images = tf.placeholder(tf.float32, [1, 32, 32, 3])
  logits, _ = nets_factory.get_network_fn(name, 7)(images,
                                                   spatial_squeeze=True)
  assert logits.shape.as_list() == [1, 7]
  network = checkpoints.detect_network(
      [v.op.name for v in tf.global_variables()])
  assert network.model == name and network.scope == name


def test_pretrained_table_rows():
  rows = {r.model: (r.top1, r.top5, r.released)
          for r in pretrained.PRETRAINED.values()}
  assert rows == {'resnet_v2_50': (75.6, 92.8, True),
                  'resnet_v2_101': (77.0, 93.7, True),
                  'resnet_v2_152': (77.8, 94.1, True),
                  'resnet_v2_200': (79.9, 95.2, False)}
  for row in pretrained.PRETRAINED.values():
    assert row.model in resnet_v2.NETWORKS
    assert (row.num_classes, row.labels_offset, row.preprocessing,
            row.image_size, row.format) == (1001, 0, 'inception', 299, 'V1')
    # One meaning of labels_offset: the published heads are what evaluate's
    # 'auto' computes for 1001 classes.
    assert row.labels_offset == evaluate_lib.label_offset(row.num_classes)
  assert pretrained.match('resnet_v2_50', 1001).tarball == (
      'resnet_v2_50_2017_04_14.tar.gz')
  assert pretrained.match('resnet_v2_50', 1000) is None


# --- one command ------------------------------------------------------------

def test_command_lists_its_subcommands_and_version(capsys):
  assert cli_main.main(['--help']) == 0
  out = capsys.readouterr().out
  for name in ('time-forward', 'inspect', 'classify', 'export', 'train',
               'summarize', 'residual-experiment'):
    assert '  ' + name in out
  assert cli_main.main(['--version']) == 0
  assert capsys.readouterr().out.strip() == (
      'resnet-v2-slim %s' % resnet_v2_slim.__version__)
  assert cli_main.main(['bogus']) == 2
  assert "unknown command 'bogus'" in capsys.readouterr().err
  assert cli_main.main([]) == 2   # no command: the list, as an error
  assert '  time-forward' in capsys.readouterr().err


class _Parsed(Exception):
  pass


@pytest.mark.parametrize('command', sorted(cli_main.COMMANDS))
def test_every_flag_has_help_with_its_default(command, monkeypatch):
  def capture(parser, *args, **kwargs):
    raise _Parsed(parser)
  monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', capture)
  with pytest.raises(_Parsed) as caught:
    cli_main.run(command, [], 'resnet-v2-slim ' + command)
  parser = caught.value.args[0]
  for action in parser._actions:  # pylint: disable=protected-access
    if not action.option_strings or action.dest == 'help':
      continue
    flag = action.option_strings[0]
    assert action.help, '%s %s has no help' % (command, flag)
    default = action.default
    if default not in (None, False, True, argparse.SUPPRESS) and not (
        isinstance(action, argparse._StoreFalseAction)):  # pylint: disable=protected-access
      assert ('%(default)s' in action.help or str(default) in action.help
              or 'default' in action.help), (
                  '%s %s: help does not give its default %r'
                  % (command, flag, default))


def test_every_script_wraps_its_subcommand():
  for command, (module, script, _) in cli_main.COMMANDS.items():
    path = os.path.join(ROOT, 'scripts', script)
    text = open(path).read()
    assert 'from resnet_v2_slim.cli import %s' % module in text, script
    assert len(text.splitlines()) < 20, script   # a wrapper, no logic
    assert 'resnet-v2-slim %s' % command in text


# Runs `python -m resnet_v2_slim ARGS` for each ARGS in one interpreter
# (runpy, as -m does) and prints {ARGS: exit code} and the TensorFlow
# modules then loaded: no TensorFlow before the flags are parsed.
_HELP_PROBE = """
import contextlib, io, json, pkgutil, runpy, sys
import resnet_v2_slim.config
for info in pkgutil.iter_modules(resnet_v2_slim.config.__path__):
  __import__('resnet_v2_slim.config.' + info.name)
codes = {}
for args in json.loads(sys.argv[1]):
  sys.argv = ['resnet-v2-slim'] + args
  out = io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
    try:
      runpy.run_module('resnet_v2_slim', run_name='__main__', alter_sys=True)
    except SystemExit as exc:
      codes[' '.join(args)] = exc.code
print(json.dumps({'codes': codes, 'loaded': sorted(
    m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tf_slim',
                                                  'tf_keras'))}))
"""


def test_help_and_argument_errors_import_no_tensorflow():
  """--help, --version, the bare command and a bad flag answer before
  TensorFlow is imported (it takes seconds): every command builds its
  parser from config and names, and imports TensorFlow after parsing."""
  runs = [['--help'], ['--version'], []]
  for command in cli_main.COMMANDS:
    runs += [[command, '--help'], [command, '--no_such_flag']]
  result = subprocess.run(
      [sys.executable, '-c', _HELP_PROBE, json.dumps(runs)],
      capture_output=True, text=True, timeout=120, check=False,
      env=dict(os.environ, PYTHONPATH=os.path.abspath(ROOT)))
  assert result.returncode == 0, result.stderr[-2000:]
  probe = json.loads(result.stdout.splitlines()[-1])
  want = {' '.join(args): 2 if (not args or args[-1] == '--no_such_flag')
          else 0 for args in runs}
  assert probe['codes'] == want
  assert probe['loaded'] == []


def test_settings_are_declared_once_in_config():
  """The rooms re-export config's settings and names' choices: the same
  objects, so `trainer.TrainConfig` and a flag's choices cannot drift."""
  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.config import benchmark as benchmark_config
  from resnet_v2_slim.config import convert as convert_config
  from resnet_v2_slim.config import distribute as distribute_config
  from resnet_v2_slim.config import experiment as experiment_config
  from resnet_v2_slim.config import inference as inference_config
  from resnet_v2_slim.config import train as train_config
  from resnet_v2_slim.data import datasets
  from resnet_v2_slim.data import tfrecords
  from resnet_v2_slim.distribute import strategy
  from resnet_v2_slim.inference import bridges
  from resnet_v2_slim.inference import engines
  from resnet_v2_slim.inference import export
  from resnet_v2_slim.inference import inputs
  from resnet_v2_slim.nets import precision
  from resnet_v2_slim.perf import benchmark
  from resnet_v2_slim.teaching import experiment
  from resnet_v2_slim.teaching import summary
  from resnet_v2_slim.training import recipe
  from resnet_v2_slim.training import settings as train_settings
  from resnet_v2_slim.training import trainer
  # pylint: enable=g-import-not-at-top
  assert (trainer.TrainConfig is train_settings.TrainConfig is
          train_config.TrainConfig)
  assert trainer.TrainError is train_config.TrainError
  assert evaluate_lib.EvalConfig is inference_config.EvalConfig
  assert evaluate_lib.EvalError is inference_config.EvalError
  assert export.ExportSettings is inference_config.ExportSettings
  assert inputs.InputSettings is inference_config.InputSettings
  assert benchmark.Config is benchmark_config.Config
  assert benchmark.BenchmarkError is benchmark_config.BenchmarkError
  assert tfrecords.ConvertSettings is convert_config.ConvertSettings
  assert experiment.ExperimentConfig is experiment_config.ExperimentConfig
  assert experiment.DEPTHS is experiment_config.DEPTHS
  assert strategy.Options is distribute_config.Options
  assert strategy.add_flags is distribute_config.add_flags
  assert strategy.DistributeError is distribute_config.DistributeError
  assert bridges.TOLERANCE == inference_config.TOLERANCE
  # The library's own lists are the flags' choices.
  assert preprocessing.METHODS is names_lib.PREPROCESSING
  assert preprocessing.FLAG_CHOICES is names_lib.PREPROCESSING_CHOICES
  assert tuple(datasets.BUILTIN) == names_lib.DATASETS
  assert datasets.SPLITS is names_lib.SPLITS
  assert recipe.OPTIMIZERS is names_lib.OPTIMIZERS
  assert recipe.DECAY_TYPES is names_lib.DECAY_TYPES
  assert engines.ENGINES is names_lib.ENGINES
  assert inputs.PRECISIONS is names_lib.INFERENCE_PRECISIONS
  assert tuple(precision.DTYPES) == tuple(names_lib.PRECISIONS)
  assert precision.DTYPES['bf16'] == tf.bfloat16
  assert resnet_utils.DATA_FORMATS is names_lib.DATA_FORMATS
  assert summary.FORMATS is names_lib.SUMMARY_FORMATS
  assert benchmark.MODES is names_lib.BENCHMARK_MODES


def test_python_dash_m_and_scripts_run_the_same_main(tmp_path):
  env = dict(os.environ, PYTHONPATH=os.path.abspath(ROOT))
  runs = [
      [sys.executable, '-m', 'resnet_v2_slim', 'summarize', '--model',
       'resnet_v2_18', '--image_size', '32', '--json', '-'],
      [sys.executable, os.path.join(ROOT, 'scripts', 'summarize.py'),
       '--model', 'resnet_v2_18', '--image_size', '32', '--json', '-'],
  ]
  outputs = []
  for cmd in runs:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                            check=False, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'I0000' not in result.stderr   # no TensorFlow log flood
    outputs.append(result.stdout)
  assert outputs[0] == outputs[1] and '"total"' in outputs[0]
  bad = subprocess.run(runs[0][:4] + ['--model', 'resnet_v2_18',
                                      '--image_size', '0'],
                       capture_output=True, text=True, timeout=300,
                       check=False, cwd=tmp_path, env=env)
  assert bad.returncode == 2
  assert bad.stderr.startswith('resnet-v2-slim summarize: error: '
                               '--image_size 0 cannot be used')


# --- official positional order ---------------------------------------------

def _positional(fn):
  return [p.name for p in inspect.signature(fn).parameters.values()
          if p.kind == p.POSITIONAL_OR_KEYWORD]


def _readme_differences():
  """{function: (ours, official)} from docs/compatibility.md's table."""
  text = open(os.path.join(ROOT, 'docs', 'compatibility.md')).read()
  section = text.split('## Positional order: deliberate differences', 1)[1]
  section = section.split('\n#', 1)[0]
  rows = {}
  for match in re.finditer(r'^\| `(\w+)` \| `([\w, ]*)` \| `([\w, ]*)` \|$',
                           section, re.M):
    rows[match.group(1)] = (match.group(2).split(', '),
                            match.group(3).split(', '))
  return rows


def test_positional_order_matches_official_except_the_readme_list():
  differences = {}
  for ours, ref in ((resnet_utils, ref_utils), (resnet_v2, ref_v2)):
    for name, fn in vars(ref).items():
      if name.startswith('_') or not inspect.isfunction(
          inspect.unwrap(fn)) or fn.__module__ != ref.__name__:
        continue
      if _positional(getattr(ours, name)) != _positional(fn):
        differences[name] = (_positional(getattr(ours, name)),
                             _positional(fn))
  assert differences == _readme_differences()
  assert 'resnet_arg_scope' in differences and 'bottleneck' not in differences


def test_official_positional_calls_of_the_units_work(graph):
  x = tf.placeholder(tf.float32, [1, 9, 9, 8])
  with slim.arg_scope(resnet_utils.resnet_arg_scope(is_training=False)):
    # rate is the 5th argument, as in tf_slim; stride 1 with rate 2.
    y = resnet_utils.conv2d_same(x, 4, 3, 1, 2, 'same')
    z = resnet_v2.bottleneck(x, 8, 2, 1, 2, None, 'unit')
    blocks = [resnet_utils.Block('b', resnet_v2.bottleneck,
                                 [(8, 2, 2), (8, 2, 1)])]
    w = resnet_utils.stack_blocks_dense(x, blocks, 1)   # output_stride 1
  assert y.shape.as_list() == [1, 9, 9, 4] and z.shape.as_list() == [1, 9, 9,
                                                                       8]
  assert w.shape.as_list() == [1, 9, 9, 8]
  # The rate reached the 3x3 convolutions (atrous: dilated, or done with
  # SpaceToBatch around a plain convolution).
  for scope in ('same/', 'unit/conv2/'):
    ops = [op for op in graph.get_operations() if op.name.startswith(scope)]
    assert any(op.type == 'SpaceToBatchND' or (
        op.type == 'Conv2D' and op.get_attr('dilations') == [1, 2, 2, 1])
               for op in ops), scope


@pytest.mark.parametrize('call, pattern', [
    (lambda: resnet_utils.resnet_arg_scope(1e-4),
     r'resnet_arg_scope keeps the book\'s positional order, where the 1st '
     r'argument is is_training; in official TF-Slim it is weight_decay\. '
     r'Pass it as a keyword'),
    (lambda: resnet_utils.resnet_arg_scope(True, 1e-4, 0.997, True),
     r'batch_norm_epsilon must be a number.*4th argument is '
     r'batch_norm_epsilon; in official TF-Slim it is batch_norm_scale'),
    (lambda: nets_factory.get_network_fn('resnet_v2_50', 1001, 4e-5),
     r'get_network_fn.*3rd argument is is_training; in official TF-Slim it '
     r'is weight_decay'),
    (lambda: resnet_v2.resnet_v2_50(
        tf.zeros([1, 32, 32, 3]), 10, True, True, 16),
     r'resnet_v2_50 scope must be a string, got 16.*5th argument is scope; '
     r'in official TF-Slim it is output_stride'),
    (lambda: resnet_v2.resnet_v2(
        tf.zeros([1, 32, 32, 3]), resnet_v2.bottleneck_blocks((1, 1, 1, 1)),
        10, False, True, 16),
     r'reuse must be None, True, False or tf.AUTO_REUSE, got 16.*6th '
     r'argument is reuse; in official TF-Slim it is output_stride'),
    (lambda: resnet_utils.conv2d_same(tf.zeros([1, 8, 8, 3]), 4, 3, 2,
                                      'conv'),
     r"argument after stride is rate .* got the string 'conv'. Pass the "
     r"scope as a keyword: scope='conv'"),
    (lambda: resnet_utils.stack_blocks_dense(tf.zeros([1, 8, 8, 3]), [],
                                             'collection'),
     r'3rd argument is output_stride .*outputs_collections='),
])
def test_wrong_kind_in_a_conflicting_position_names_both_orders(
    graph, call, pattern):
  with pytest.raises(TypeError, match=pattern):
    call()
  assert not tf.global_variables()


# --- preprocessing ------------------------------------------------------------

def test_training_preprocessing_variants(graph):
  rng = np.random.RandomState(0)
  image = tf.constant(rng.randint(0, 256, (60, 80, 3), np.uint8))
  flat = tf.constant(np.full((40, 50, 3), 128, np.uint8))
  outs = {(m, t): preprocessing.preprocess(image, m, 32, is_training=t,
                                           seed=3)
          for m in preprocessing.METHODS for t in (False, True)}
  vgg_flat = preprocessing.preprocess(flat, 'vgg', 32, is_training=True,
                                      seed=1)
  with tf.Session() as sess:
    first = sess.run(outs)
    second = sess.run(outs)
    flat_value = sess.run(vgg_flat)
  for (method, training), value in first.items():
    assert value.shape == (32, 32, 3)
    if method == 'inception':
      assert -1 <= value.min() and value.max() <= 1
    # Evaluation is deterministic, training draws new crops every run.
    assert np.array_equal(value, second[method, training]) != training
  # A flat grey image stays flat: 128 minus the channel means, by hand.
  np.testing.assert_allclose(flat_value, np.broadcast_to(
      128.0 - np.array(preprocessing.VGG_MEANS), (32, 32, 3)), atol=1e-3)
  with pytest.raises(ValueError, match='preprocessing must be one of'):
    preprocessing.preprocess(image, 'caffe', 32, is_training=True)


# --- where each module is tested --------------------------------------------

def _module_table():
  text = open(os.path.join(ROOT, 'tests', 'README.md')).read()
  return {m.group(1): [t.strip() for t in m.group(2).split(',')]
          for m in re.finditer(r'^\| `([\w/]+\.py)` \| ([\w., ]+) \|$', text,
                               re.M)}


def test_every_module_has_its_tests_named_in_tests_readme():
  table = _module_table()
  modules = sorted(
      os.path.relpath(os.path.join(folder, name), PACKAGE)
      for folder, _, files in os.walk(PACKAGE) for name in files
      if name.endswith('.py') and name != '__init__.py')
  assert sorted(table) == modules
  for module, test_files in table.items():
    dotted = module[:-3].replace('/', '.')
    leaf = dotted.rsplit('.', 1)[-1]
    for test_file in test_files:
      path = os.path.join(ROOT, 'tests', test_file)
      assert os.path.isfile(path), (module, test_file)
      # The file imports the module itself, or (a command) runs it: by
      # name through cli.main/the script, never by a chance substring.
      imported = _imported_modules(path)
      command = leaf.replace('_', '-')
      runs = module.startswith(('cli/', '__main__')) and (
          re.search(r"scripts.*%s\.py|'%s\.py'|'%s'|'-m', 'resnet_v2_slim'"
                    % (leaf, leaf, command),
                    open(path).read()) is not None)
      # Or it imports the room and calls what the module defines there.
      through_room = ('resnet_v2_slim.' + dotted.rsplit('.', 1)[0] in imported
                      and _defined(os.path.join(PACKAGE, module)) &
                      _attributes(path))
      # Or it runs a command whose module imports it.
      commands = [name for name in imported
                  if name.startswith('resnet_v2_slim.cli.')]
      through_command = any(
          'resnet_v2_slim.' + dotted in _imported_modules(
              importlib.import_module(name).__file__) for name in commands)
      assert ('resnet_v2_slim.' + dotted in imported or runs or
              through_room or through_command), (
          '%s does not import or run %s' % (test_file, module))


def _defined(path):
  """The public names a module defines at its top level."""
  tree = ast.parse(open(path).read())
  names = {node.name for node in tree.body if isinstance(
      node, (ast.FunctionDef, ast.ClassDef))}
  names.update(target.id for node in tree.body if isinstance(node, ast.Assign)
               for target in node.targets if isinstance(target, ast.Name))
  return {name for name in names if not name.startswith('_')}


def _attributes(path):
  """Every ``x.name`` a file reads."""
  return {node.attr for node in ast.walk(ast.parse(open(path).read()))
          if isinstance(node, ast.Attribute)}


def _imported_modules(path):
  """The package modules a file imports, by their real names.

  ``from a.b import c`` counts a.b, and a.b.c where c is a module; the
  drop-in paths (``resnet_v2_slim.resnet_v2``) count as the modules they
  are (``resnet_v2_slim.nets.resnet_v2``).
  """
  names = set()
  for node in ast.walk(ast.parse(open(path).read())):
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      names.add(node.module)
      names.update('%s.%s' % (node.module, alias.name)
                   for alias in node.names)
  found = set()
  for name in names:
    if name.split('.')[0] == 'resnet_v2_slim':
      try:
        found.add(importlib.import_module(name).__name__)
      except ImportError:   # a function or class, not a module
        pass
  return found


def test_the_package_imports_tensorflow_without_a_word():
  # TensorFlow's C++ start-up lines (CUDA, oneDNN, CPU features) go to fd 2
  # before its log level is read: _quiet parks them, and the tf_slim
  # deprecation notices are off, so a first import prints nothing.
  code = ('from %s import %s as first; first(); '
          'import resnet_v2_slim; import tensorflow.compat.v1 as tf; '
          'import tf_slim as slim; tf.disable_eager_execution(); '
          'from resnet_v2_slim import resnet_v2; '
          'x = tf.placeholder(tf.float32, [1, 32, 32, 3]); '
          'resnet_v2.resnet_v2_18(x, 10)'
          % (_quiet.__name__, _quiet.import_tensorflow.__name__))
  result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=120, check=False)
  assert result.returncode == 0, result.stderr[-2000:]
  assert result.stderr == '' and result.stdout == ''


def _unannotated_public_functions():
  """'path:line name' of every public function or method (of a public
  class) without hints: each parameter but self/cls, and the return value
  (``__init__`` may leave it out)."""
  missing = []
  for folder, _, files in os.walk(PACKAGE):
    for name in sorted(files):
      if not name.endswith('.py'):
        continue
      path = os.path.join(folder, name)
      with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read())
      for node in tree.body:
        if isinstance(node, ast.FunctionDef):
          functions = [node]
        elif isinstance(node, ast.ClassDef) and not node.name.startswith('_'):
          functions = [m for m in node.body
                       if isinstance(m, ast.FunctionDef)]
        else:
          functions = []
        for fn in functions:
          if fn.name.startswith('_') and fn.name != '__init__':
            continue
          args = [a for a in fn.args.args + fn.args.kwonlyargs
                  if a.arg not in ('self', 'cls')]
          if ((fn.returns is None and fn.name != '__init__') or
              any(a.annotation is None for a in args) or
              (fn.args.vararg and fn.args.vararg.annotation is None) or
              (fn.args.kwarg and fn.args.kwarg.annotation is None)):
            missing.append('%s:%d %s' % (os.path.relpath(path, ROOT),
                                         fn.lineno, fn.name))
  return missing


def test_every_public_function_has_type_hints():
  missing = _unannotated_public_functions()
  assert not missing, ('public functions without type hints:\n  '
                       + '\n  '.join(missing))


# --- the suite's own runner --------------------------------------------------

CRASHING_SUITE = {
    'test_early.py': 'def test_one():\n  pass\n',
    # A worker dies in the middle of its group; the group's later tests
    # must still run (on the replacement) and the run must end.
    'test_crash.py': ('import os\nimport time\n\n'
                      'def test_before():\n  time.sleep(0.5)\n\n'
                      'def test_dies():\n  os._exit(1)\n\n'
                      'def test_after():\n  pass\n\n'
                      'def test_last():\n  pass\n'),
}


def test_a_crashed_worker_fails_its_test_once_and_the_run_ends(tmp_path):
  """With xdist 3.8.0's own loadgroup scheduler this very suite never ends
  (see tests/crashsafe.py); here it must end within the timeout."""
  for name, text in CRASHING_SUITE.items():
    (tmp_path / name).write_text(
        'import pytest\npytestmark = pytest.mark.xdist_group(%r)\n\n%s'
        % (name[5:-3], text))
  (tmp_path / 'conftest.py').write_text(
      'import sys\nsys.path.insert(0, %r)\n'
      'from crashsafe import pytest_xdist_make_scheduler  # noqa: F401\n'
      % os.path.join(ROOT, 'tests'))
  (tmp_path / 'pytest.ini').write_text('[pytest]\n')   # not ours
  child = subprocess.Popen(
      [sys.executable, '-m', 'pytest', '-q', '-n', '2', '--dist',
       'loadgroup', '-p', 'no:cacheprovider', '-p', 'no:benchmark',
       '-p', 'no:timeout'], cwd=tmp_path, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True, start_new_session=True)
  try:
    out, _ = child.communicate(timeout=120)
  finally:
    if child.poll() is None:   # its xdist workers too: one process group
      os.killpg(child.pid, 9)
      child.wait()
  assert "crashed while running 'test_crash.py::test_dies" in out, out
  assert out.count('FAILED') == 1, out      # reported once, not rerun
  assert '1 failed, 4 passed' in out, out   # test_after and test_last ran
