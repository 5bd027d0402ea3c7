"""Training: TF1's MonitoredTrainingSession, its hooks, and slim's recipe.

``settings`` holds a run's flags (``TrainConfig``, declared without
TensorFlow in ``config.train``) and what workers share, ``model`` builds the
training graph (``build_model``), ``hooks`` holds each guarantee of a run
as a ``SessionRunHook``, ``trainer`` runs them (``train``), ``recipe``
holds research/slim's optimizers and learning-rate schedules.
May import: ``nets``, ``checkpoints``, ``config``, ``data``, ``distribute``,
``utils``.

Typical use::

    from resnet_v2_slim.training import trainer

    config = trainer.TrainConfig(model='resnet_v2_18', train_dir='/tmp/run')
    history = trainer.train(config)
"""

from resnet_v2_slim import _quiet

# This room uses TensorFlow: it gets it quietly, with the compat fix, even
# when a module of it is the first thing imported.
_quiet.bootstrap()
