"""Helpers shared by the subcommands: one-line errors, flag types, JSON.

Every subcommand's ``main`` is wrapped by ``@common.command``: the
package's errors (``resnet_v2_slim.errors.Error`` and its subclasses)
become one line ``prog: error: ...`` with exit code 2, their argument
names written as flags; any other exception is a bug and stays a
traceback. SIGTERM, SIGHUP and Ctrl-C stop a command through its clean-up
(temporary files removed, earlier outputs kept): one line, exit code 128 +
the signal's number (143, 129, 130); ``train`` saves first (see
docs/training.md). ``common.parser`` makes parsers that take no abbreviations
(``--labels`` is never read as ``--labels_offset``).

A subcommand builds its parser from ``config`` and ``names`` (no
TensorFlow), parses, and only then calls ``common.quiet()`` (TensorFlow,
quietly) and imports the rooms that use TensorFlow, inside ``main``:
importing TensorFlow takes seconds, and ``--help`` or a mistyped flag
must answer at once (tests/test_house.py checks that no command's
``--help`` imports it). Nothing here imports TensorFlow either.

Typical use (a subcommand)::

    from resnet_v2_slim.cli import common

    @common.command
    def main(argv=None, prog='resnet-v2-slim inspect'):
      args = common.parser(prog, __doc__).parse_args(argv)
      common.quiet()
      from resnet_v2_slim import checkpoints   # TensorFlow: after parsing
      ...
"""

import argparse
import contextlib
import difflib
import functools
import inspect
import json
import re
import signal
import sys
import threading
from typing import (Any, Callable, Iterator, NoReturn, Optional, Sequence,
                    TextIO, Union)

from resnet_v2_slim import errors
# After parsing: TensorFlow (quietly, compat-fixed), warnings on one line.
from resnet_v2_slim._quiet import quiet_logs as quiet  # noqa: F401  re-exported
from resnet_v2_slim.utils import fileio

EXIT_BAD_INPUT = 2


def fail(prog: str, message: Union[str, Exception],
         code: int = EXIT_BAD_INPUT) -> int:
  """Prints ``prog: error: message`` (flags named as flags) to stderr.

  Args:
    prog: the command, e.g. ``'resnet-v2-slim train'``.
    message: the error, in the library's words or the command's.
    code: the exit code to return.

  Returns:
    ``code`` (2: bad input).
  """
  print('%s: error: %s' % (prog, errors.as_flags(str(message))),
        file=sys.stderr)
  return code


# Signals that stop a command the way Ctrl-C does (see ``stops_cleanly``).
STOP_SIGNALS = ('SIGTERM', 'SIGHUP')


@contextlib.contextmanager
def stops_cleanly() -> Iterator[None]:
  """While the body runs, SIGTERM and SIGHUP raise KeyboardInterrupt (as
  Ctrl-C does: ``except Exception`` does not swallow it, ``finally`` runs)
  where the command was, its ``number`` the signal's.

  Why: Python's default for them ends the process at once, so the
  ``finally`` blocks that remove a half-written temporary never run (a
  SIGTERM during ``export`` left a hidden temp file beside the output).
  The first signal puts the earlier handlers back, so a second one ends
  the process at once. Only the main thread can hold signal handlers:
  elsewhere (a library caller's thread) nothing changes. ``train``'s
  preemption hook takes these signals over while it trains.
  """
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  numbers = [getattr(signal, name) for name in STOP_SIGNALS]
  previous = {}

  def stop(number, frame):
    del frame
    for each, handler in previous.items():
      signal.signal(each, handler)
    stopped = KeyboardInterrupt(signal.Signals(number).name)
    stopped.number = number
    raise stopped
  for number in numbers:
    previous[number] = signal.signal(number, stop)
  try:
    yield
  finally:
    for number, handler in previous.items():
      signal.signal(number, handler)


def command(main: Callable[..., int]) -> Callable[..., int]:
  """Wraps a subcommand's ``main(argv=None, prog=...)``: the package's
  errors become one line and exit code 2, other exceptions stay tracebacks;
  a stop signal or Ctrl-C is one line and exit code 128 + its number.
  """
  default_prog = inspect.signature(main).parameters['prog'].default

  @functools.wraps(main)
  def run(argv=None, prog=default_prog):
    try:
      with stops_cleanly():
        return main(argv, prog=prog)
    except errors.Error as exc:
      return fail(prog, exc)
    except KeyboardInterrupt as exc:
      number = getattr(exc, 'number', signal.SIGINT)
      print('%s: stopped by %s; what it was writing was removed, earlier '
            'outputs are as they were.' % (prog, signal.Signals(number).name),
            file=sys.stderr)
      return 128 + number
  return run


class OneLineParser(argparse.ArgumentParser):
  """argparse, whose own errors are one line naming the flag and the fix.

  argparse prints the whole usage (about 50 lines for ``train``) before
  its error; here an unknown choice, an unknown flag, a missing value or a
  wrong type is one ``prog: error: ...`` line with the nearest known
  choice or flag, and where ``--help`` is. Exit code 2, as argparse.
  """

  def error(self, message: str) -> NoReturn:
    print('%s: error: %s (%s --help lists the flags)'
          % (self.prog, self._one_line(message), self.prog), file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)

  def _one_line(self, message: str) -> str:
    """argparse's message, reworded: the flag first, a suggestion after."""
    choice = re.match(r"argument (\S+): invalid choice: '?(.*?)'? "
                      r"\(choose from (.*)\)$", message)
    if choice:
      flag, value, allowed = choice.groups()
      allowed = [a.strip(" '") for a in allowed.split(',')]
      return '%s: %r is not one of %s%s' % (
          flag.split('/')[0], value, ', '.join(allowed),
          _did_you_mean(value, allowed))
    unknown = re.match(r'unrecognized arguments: (\S+)', message)
    if unknown:
      flags = [s for a in self._actions for s in a.option_strings]
      return 'unknown flag %s%s' % (unknown.group(1), _did_you_mean(
          unknown.group(1).split('=')[0], flags))
    return re.sub(r'^argument (\S+): ', lambda m: m.group(1).split('/')[0] +
                  ': ', message).replace('\n', ' ')


def _did_you_mean(word: str, known: Sequence[str]) -> str:
  close = difflib.get_close_matches(word, known, n=1)
  return ' (did you mean %s?)' % close[0] if close else ''


def parser(prog: str, doc: str) -> argparse.ArgumentParser:
  """An ``ArgumentParser`` for a subcommand: its doc's first line as the
  description, no abbreviated flags (a prefix is an error, not a guess),
  and its own errors in one line (``OneLineParser``).
  """
  return OneLineParser(prog=prog, description=doc.splitlines()[0],
                       allow_abbrev=False)


def write_json(path: str, obj: object) -> None:
  """Writes ``obj`` as indented JSON to ``path`` atomically."""
  fileio.atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True)
                             + '\n')


# ``--json PATH`` means the same in every command that has it: the result
# as JSON, written atomically to PATH, or to standard output for ``-`` (the
# human-readable lines then go to standard error).
STDOUT = '-'


def add_json_flag(parser: argparse.ArgumentParser, what: str) -> None:
  """Adds ``--json PATH`` (``-``: standard output) for ``what``."""
  parser.add_argument('--json', default=None, metavar='PATH',
                      help='also write %s as JSON to PATH, atomically; - '
                      'prints only the JSON on standard output (default: '
                      'no JSON)' % what)


def printer(out: Optional[TextIO] = None) -> Callable[[str], None]:
  """A ``log`` for the library: each line flushed, arguments as flags.

  Library lines name arguments in backticks (`` `checkpoint` ``); the
  command line shows them as its flags (``--checkpoint``).
  """
  return lambda line: print(errors.as_flags(line), flush=True,
                            file=out or sys.stdout)


def human_out(args: argparse.Namespace) -> TextIO:
  """Where the human-readable lines go: stderr when JSON takes stdout."""
  return sys.stderr if args.json == STDOUT else sys.stdout


def check_json(path: Optional[str], inputs: Callable[[], list]) -> None:
  """Before any work: ``--json`` is no input and can be written.

  Args:
    path: the ``--json`` value (None or ``-``: nothing to check).
    inputs: gives the ``(flag, path)`` pairs the command reads; called
      only when there is a file to check, so that a bad input is reported
      by the command's own checks otherwise.

  Raises:
    fileio.OutputPathError: ``path`` is an input or cannot be written.
  """
  if path in (None, STDOUT):
    return
  fileio.check_outputs([('--json', path)], inputs())
  fileio.check_writable(path, '--json')


def emit_json(prog: str, path: str, obj: object, *,
              printed: str = 'the result is printed above') -> int:
  """Writes the ``--json`` result; returns 0, or 2 with one line.

  Args:
    prog: the command, for the error line.
    path: the ``--json`` value: a file, or ``-`` for standard output.
    obj: what to write.
    printed: where the user still finds the result if the write fails.
  """
  if path == STDOUT:
    print(json.dumps(obj, indent=2, sort_keys=True))
    return 0
  try:
    write_json(path, obj)
  except OSError as exc:   # e.g. the disk filled up during the run
    return fail(prog, 'could not write --json %s (%s); %s.'
                % (path, exc.strerror, printed))
  print('wrote %s' % path)
  return 0


def say_recorded_defaults(prog: str, config: Any,
                          fields: Sequence[str]) -> None:
  """One line on stderr where 'auto' takes what train recorded.

  The published row and the package defaults are documented; the facts of
  a train_dir (``train_facts.json``) change what 'auto' means, so a run
  whose ``fields`` are left on auto says where they come from.

  Args:
    prog: the command, for the line.
    config: settings with ``checkpoint``, ``model``, ``num_classes`` and
      ``fields``.
    fields: the settings that 'auto' fills from the recorded facts.
  """
  from resnet_v2_slim import checkpoints  # pylint: disable=g-import-not-at-top
  try:
    model, _, info = checkpoints.choose_model(
        config.checkpoint, config.model, config.num_classes)
    chosen = info.defaults(model)
  except errors.Error:
    return   # the command's own checks report it, in their order
  if chosen.recorded and 'auto' in [getattr(config, f) for f in fields]:
    print('%s: defaults from %s: %s' % (prog, chosen.source,
                                        info.trained.summary()),
          file=sys.stderr, flush=True)
