"""Training: TF1's MonitoredTrainingSession, its hooks, and slim's recipe.

``settings`` declares a run's flags (``TrainConfig``), ``model`` builds the
training graph (``build_model``), ``hooks`` holds each guarantee of a run
as a ``SessionRunHook``, ``trainer`` runs them (``train``), ``recipe``
holds research/slim's optimizers and learning-rate schedules.
May import: ``nets``, ``checkpoints``, ``data``, ``distribute``, ``utils``.

Typical use::

    from resnet_v2_slim.training import trainer

    config = trainer.TrainConfig(model='resnet_v2_18', train_dir='/tmp/run')
    history = trainer.train(config)
"""
