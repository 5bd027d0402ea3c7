"""resnet_v2_slim/errors.py and cli/common.py: one error base; the CLI maps
only it to one line (flags named as flags), anything else stays a bug."""

import hashlib
import inspect
import os
import pkgutil
import importlib

import pytest

import resnet_v2_slim
from resnet_v2_slim import errors
from resnet_v2_slim.cli import convert as convert_cmd
from resnet_v2_slim.cli import evaluate as evaluate_cmd
from resnet_v2_slim.cli import inspect as inspect_cmd
from resnet_v2_slim.cli import main as cli_main
from resnet_v2_slim.cli import train as train_cmd


def _package_exceptions():
  for info in pkgutil.walk_packages(resnet_v2_slim.__path__,
                                    'resnet_v2_slim.'):
    if info.name.endswith('__main__'):
      continue   # running it is the command
    module = importlib.import_module(info.name)
    for name, obj in vars(module).items():
      if (inspect.isclass(obj) and issubclass(obj, BaseException) and
          obj.__module__ == module.__name__):
        yield name, obj


def test_every_package_exception_derives_from_the_one_base():
  found = dict(_package_exceptions())
  # The rooms' own, written by hand: a new one must be added here too.
  for name in ('NetworkError', 'OutputPathError', 'CheckpointError',
               'CheckpointMismatchError', 'DataError', 'RecordError',
               'LabelsError', 'BenchmarkError', 'EvalError', 'ImageError',
               'ExportError', 'TrainError', 'TrainInterrupted',
               'ExperimentError', 'DistributeError', 'PeerError',
               'ServeError', 'RequestError', 'ServeSettingsError'):
    assert name in found, name
  assert [n for n, c in found.items() if not issubclass(c, errors.Error)
          and not c.__module__.startswith('resnet_v2_slim.teaching')] == []
  assert issubclass(errors.Error, ValueError)   # old `except ValueError`


def test_as_flags_writes_backticked_arguments_as_flags():
  assert errors.as_flags('`data_dir` /x is not a folder; see `tf.io`') == (
      '--data_dir /x is not a folder; see `tf.io`')


def test_a_package_error_is_one_line_with_the_flag(tmp_path, capsys):
  code = inspect_cmd.main([str(tmp_path / 'nothing')])
  err = capsys.readouterr().err
  assert code == 2 and err.count('\n') == 1
  assert err.startswith('resnet-v2-slim inspect: error: ')


def test_a_library_message_names_the_argument_the_cli_the_flag(tmp_path,
                                                                capsys):
  from resnet_v2_slim.data import images  # pylint: disable=g-import-not-at-top
  with pytest.raises(images.DataError, match='^`data_dir` .* is not a folder'):
    images.scan_folder(str(tmp_path / 'none'))
  code = convert_cmd.main(['--data_dir', str(tmp_path / 'none'),
                           '--output_dir', str(tmp_path / 'out')])
  assert code == 2
  assert capsys.readouterr().err == (
      'resnet-v2-slim convert: error: --data_dir %s is not a folder.\n'
      % (tmp_path / 'none'))
  assert not (tmp_path / 'out').exists()


def test_an_unexpected_exception_is_a_traceback_not_bad_input(monkeypatch):
  from resnet_v2_slim import checkpoints  # pylint: disable=g-import-not-at-top

  def bug(*args, **kwargs):
    raise ValueError('an internal bug')

  monkeypatch.setattr(checkpoints, 'read', bug)
  with pytest.raises(ValueError, match='an internal bug'):
    inspect_cmd.main(['x.ckpt'])


def test_no_abbreviated_flags(capsys):
  """`--labels F` must never be read as `--labels_offset F`."""
  with pytest.raises(SystemExit) as exit_:
    evaluate_cmd.main(['--checkpoint', 'x', '--data_dir', 'y',
                       '--labels_off', '0'])
  assert exit_.value.code == 2
  assert 'unknown flag --labels_off (did you mean --labels_offset?)' in (
      capsys.readouterr().err)


def test_every_subcommand_is_wrapped_and_refuses_abbreviations():
  for name, (module, _, _) in cli_main.COMMANDS.items():
    main = importlib.import_module('resnet_v2_slim.cli.' + module).main
    assert main.__wrapped__, name
    source = inspect.getsource(importlib.import_module(
        'resnet_v2_slim.cli.' + module))
    assert 'argparse.ArgumentParser(' not in source, name


def test_output_guard_keeps_a_read_only_file(tmp_path):
  from resnet_v2_slim.utils import fileio  # pylint: disable=g-import-not-at-top
  path = tmp_path / 'result.json'
  path.write_text('mine')
  os.chmod(path, 0o444)
  digest = hashlib.sha256(path.read_bytes()).hexdigest()
  with pytest.raises(fileio.OutputPathError, match='read-only; it is kept'):
    fileio.check_writable(str(path), '`json`')
  assert hashlib.sha256(path.read_bytes()).hexdigest() == digest


def test_check_written_refuses_a_short_file(tmp_path):
  from resnet_v2_slim.utils import fileio  # pylint: disable=g-import-not-at-top
  path = tmp_path / 'events'
  path.write_bytes(b'')
  with pytest.raises(fileio.OutputPathError, match='holds 0 bytes'):
    fileio.check_written(str(path), 'events file')
  assert fileio.check_written(str(path), 'x', min_bytes=0) == 0
  with pytest.raises(fileio.OutputPathError, match='was not written'):
    fileio.check_written(str(tmp_path / 'missing'), 'x')


# --- data/labels.py: both label file formats -------------------------------

def test_labels_read_one_name_per_line_and_slims_numbered_lines(tmp_path):
  from resnet_v2_slim.data import labels  # pylint: disable=g-import-not-at-top
  plain = tmp_path / 'plain.txt'
  plain.write_text('cat\ndog\nn01:tench, Tinca tinca\n')
  assert labels.load_labels(str(plain), 3) == ['cat', 'dog',
                                               'n01:tench, Tinca tinca']
  slim_file = tmp_path / 'labels.txt'       # what convert writes
  slim_file.write_text('1:cat\n2:dog\n')
  assert labels.load_labels(str(slim_file), 3) == ['background', 'cat',
                                                   'dog']
  assert labels.load_labels(str(slim_file), 2) == ['cat', 'dog']
  gap = tmp_path / 'gap.txt'
  gap.write_text('1:cat\n3:dog\n')
  with pytest.raises(labels.LabelsError, match=r'`labels` file .*gap.txt: '
                     'labels 2 are missing'):
    labels.load_labels(str(gap), 3)
  binary = tmp_path / 'binary.txt'
  binary.write_bytes(b'\x93\xff\x00')
  with pytest.raises(labels.LabelsError, match='not UTF-8'):
    labels.read_names(str(binary))


# --- utils/settings.py: flags made from one declaration --------------------

def test_settings_make_the_flags_and_the_config_back():
  import argparse  # pylint: disable=g-import-not-at-top
  import dataclasses  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.utils import settings  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.utils.settings import setting  # pylint: disable=g-import-not-at-top

  @dataclasses.dataclass
  class Config:
    model: str = setting(help='name')
    steps: int = setting(300, help='steps (default %(default)s)')
    rate: float = setting(0.1, help='rate')
    use_shortcut: bool = setting(True, negative='--no_shortcut', help='x')
    size: object = setting('auto', type=settings.auto_or_positive_int,
                           help='auto or N')
    hidden: int = setting(1, flag=False, help='not a flag')

  def parse(argv, **kwargs):
    parser = argparse.ArgumentParser(allow_abbrev=False)
    settings.add_flags(parser, Config, **kwargs)
    return settings.from_args(Config, parser.parse_args(argv))

  assert parse(['--model', 'm']) == Config(model='m')
  got = parse(['--model', 'm', '--steps', '5', '--rate', '2', '--no_shortcut',
               '--size', '64'])
  assert (got.steps, got.rate, got.use_shortcut, got.size) == (5, 2.0, False,
                                                               64)
  assert isinstance(got.steps, int) and isinstance(got.rate, float)
  for bad in (['--steps', '5'],                                  # required
              ['--model', 'm', '--use_shortcut', '--no_shortcut'],
              ['--model', 'm', '--size', '0'], ['--model', 'm', '--hidden',
                                                '2']):
    with pytest.raises(SystemExit):
      parse(bad)
  assert parse(['--model', 'm'], exclude=('size',)).size == 'auto'
  with pytest.raises(TypeError):
    setting([1], help='mutable')


def test_train_flags_are_the_train_config_fields():
  """Nothing retyped: each TrainConfig default is the flag's default."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.training import trainer  # pylint: disable=g-import-not-at-top
  source = inspect.getsource(train_cmd)
  assert 'default=' not in source and 'add_argument' not in source
  for field in dataclasses.fields(trainer.TrainConfig):
    if field.name != 'distribute':
      assert field.metadata['help'], field.name


def test_quoted_keeps_the_line_that_says_what_went_wrong():
  message = ('Graph execution error:\n\nDetected at node \'x\' defined at '
             '(most recent call last):\n    File "<stdin>", line 4\nNode: '
             '\'x\'\nReceived a label value of 2 which is outside the valid '
             'range of [0, 2).\n\t [[{{node x}}]]')
  assert errors.quoted(ValueError(message)) == (
      'Received a label value of 2 which is outside the valid range of '
      '[0, 2).')
  assert errors.quoted(ValueError('use `safe_mode`')) == "use 'safe_mode'"


@pytest.mark.parametrize('argv,line', [
    (['--optimizer', 'adamw2'],
     "--optimizer: 'adamw2' is not one of momentum, sgd, rmsprop, adam, "
     "adagrad, adadelta, ftrl (did you mean adam?)"),
    (['--batch_sise', '4'], 'unknown flag --batch_sise (did you mean '
     '--batch_size?)'),
    (['--steps'], '--steps: expected one argument'),
    (['--steps', 'x'], "--steps: invalid int value: 'x'"),
])
def test_the_argument_parsers_errors_are_one_line(argv, line, capsys):
  with pytest.raises(SystemExit) as exit_:
    train_cmd.main(['--model', 'resnet_v2_18', '--train_dir', 'unused'] +
                   argv)
  assert exit_.value.code == 2
  err = capsys.readouterr().err
  assert err == ('resnet-v2-slim train: error: %s (resnet-v2-slim train '
                 '--help lists the flags)\n' % line)


@pytest.mark.parametrize('command', sorted(cli_main.COMMANDS))
def test_every_command_names_an_unknown_flag_in_one_line(command, capsys):
  with pytest.raises(SystemExit) as exit_:
    cli_main.run(command, ['--no_such_flag'], 'resnet-v2-slim ' + command)
  assert exit_.value.code == 2
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and 'error: ' in err, err
  assert '--no_such_flag' in err or 'required' in err, err
