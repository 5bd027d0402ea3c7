"""Settings declared once: a dataclass field per setting, flags made from it.

A command's settings are a dataclass (``training.trainer.TrainConfig``
...). Each field says its default and its help once, with ``setting``; the
command line's flags (name, type, default, help, choices) are made from the
fields by ``add_flags``, and ``from_args`` builds the dataclass back from
the parsed flags. Nothing is retyped in ``cli/``.

Typical use::

    @dataclasses.dataclass
    class Config:
      model: str = setting(help='network name')          # required flag
      steps: int = setting(300, help='total steps')

    parser = argparse.ArgumentParser()
    settings.add_flags(parser, Config)
    config = settings.from_args(Config, parser.parse_args(argv))
"""

import argparse
import typing
import dataclasses

_REQUIRED = dataclasses.MISSING
_T = typing.TypeVar('_T')


# Returns typing.Any, as dataclasses.field does, so that a field typed
# ``steps: int = setting(...)`` type-checks; the value is a Field.
def setting(  # pylint: disable=redefined-builtin
    default: typing.Any = _REQUIRED, *, help: str, flag: bool = True,
    **argparse_kwargs: typing.Any) -> typing.Any:
  """A dataclass field that is also a command-line flag.

  Args:
    default: the default; leave it out for a required setting.
    help: the flag's help text (``%(default)s`` works).
    flag: False keeps the setting out of the command line.
    **argparse_kwargs: what ``add_argument`` needs beyond the default
      (``choices``, ``nargs``, ``type``, ``dest`` ...); for a bool,
      ``negative='--no_x'`` adds a flag that sets it False.

  Returns:
    A ``dataclasses.field``.
  """
  metadata = {'help': help, 'flag': flag, 'argparse': argparse_kwargs}
  if isinstance(default, (list, dict, set)):
    raise TypeError('setting(%r): use a tuple, not a mutable default.'
                    % (default,))
  return dataclasses.field(default=default, metadata=metadata)


def auto_or_positive_int(text: str) -> typing.Union[int, str]:
  """Flag type for settings like ``--num_classes auto|N``."""
  if text == 'auto':
    return text
  try:
    value = int(text)
  except ValueError:
    value = 0
  if value <= 0:
    raise argparse.ArgumentTypeError('expected auto or a positive integer, '
                                     'got %r' % text)
  return value


def auto_or_int(text: str) -> typing.Union[int, str]:
  """Flag type for settings like ``--labels_offset auto|N``."""
  if text == 'auto':
    return text
  try:
    return int(text)
  except ValueError:
    raise argparse.ArgumentTypeError('expected auto or an integer, got %r'
                                     % text) from None


def _flag_type(field):
  kind = field.type
  inner = [a for a in typing.get_args(kind) if a is not type(None)]
  if len(inner) == 1:   # Optional[int] and int | None: an int flag
    kind = inner[0]
  kind = kind if isinstance(kind, type) else None
  if kind in (int, float, str):
    return kind
  if field.default not in (None, _REQUIRED) and not isinstance(
      field.default, bool):
    return type(field.default)
  return str


def flag_fields(cls: type) -> typing.List[dataclasses.Field]:
  """The fields of ``cls`` that are command-line flags, in order."""
  return [f for f in dataclasses.fields(cls) if f.metadata.get('flag')]


def add_flags(parser: argparse.ArgumentParser, cls: type, *,
              group: typing.Optional[str] = None,
              exclude: typing.Iterable[str] = ()) -> None:
  """Adds one flag per ``setting`` field of ``cls`` to ``parser``.

  Args:
    parser: an ``argparse.ArgumentParser``.
    cls: a dataclass whose fields were made with ``setting``.
    group: an optional title; the flags go into an argument group.
    exclude: field names to leave out.
  """
  target = parser.add_argument_group(group) if group else parser
  for field in flag_fields(cls):
    if field.name in exclude:
      continue
    extra = dict(field.metadata['argparse'])
    negative = extra.pop('negative', None)
    name = '--' + field.name
    kwargs = {'help': field.metadata['help']}
    if field.default is _REQUIRED:
      kwargs['required'] = True
    else:
      kwargs['default'] = field.default
    if field.type in (bool, 'bool') or isinstance(field.default, bool):
      kwargs['action'] = 'store_true'
      kwargs['dest'] = field.name
      # A flag and its negative together contradict each other: refused.
      pair = target.add_mutually_exclusive_group() if negative else target
      pair.add_argument(name, **kwargs, **extra)
      if negative:
        pair.add_argument(negative, dest=field.name, action='store_false',
                          help='sets %s off' % name)
      continue
    if 'nargs' not in extra and 'type' not in extra:
      kwargs['type'] = _flag_type(field)
    target.add_argument(name, **kwargs, **extra)


def from_args(cls: typing.Type[_T], args: argparse.Namespace,
              **overrides: typing.Any) -> _T:
  """Builds ``cls`` from parsed flags (``add_flags``) and ``overrides``."""
  values = {f.name: getattr(args, f.name) for f in flag_fields(cls)
            if hasattr(args, f.name)}
  values.update(overrides)
  return cls(**values)


__all__ = ['setting', 'add_flags', 'from_args', 'flag_fields']
