"""Training: the graph-mode training loop (sessions, UPDATE_OPS, resume).

``trainer`` checks data and train dir, builds the model, resumes or
warm-starts, trains and saves atomically. May import: ``nets``, ``checkpoints``, ``data``, ``distribute``, ``utils``.

Typical use::

    from resnet_v2_slim.training import trainer

    config = trainer.TrainConfig(model='resnet_v2_18', train_dir='/tmp/run')
    history = trainer.train(config)
"""
