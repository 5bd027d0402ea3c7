"""Settings: every command's settings, declared once, without TensorFlow.

One module per settings group, each a dataclass whose fields are the
command's flags (``utils.settings.setting``): ``distribute`` (``Options``:
--strategy ...), ``convert``, ``inference`` (``InputSettings``,
``ExportSettings``, ``EvalConfig``), ``train`` (``TrainConfig``),
``benchmark`` (time-forward's ``Config``) and ``experiment``. The choices
come from ``resnet_v2_slim.names``. The rooms that run the commands import
their settings from here and re-export them (``trainer.TrainConfig`` is
``config.train.TrainConfig``). Importing this room imports no TensorFlow:
the command line builds its parsers from it before TensorFlow is loaded,
so ``--help`` and a mistyped flag answer at once; checks that need a
network or a checkpoint import those rooms inside ``validate``, after the
flags are parsed.

May import: ``utils``, and ``nets`` and ``checkpoints`` inside the
validate methods only.

Typical use::

    from resnet_v2_slim.config import train
    from resnet_v2_slim.utils import settings

    settings.add_flags(parser, train.TrainConfig)
    config = settings.from_args(train.TrainConfig, parser.parse_args(argv))
    config.validate()
"""
