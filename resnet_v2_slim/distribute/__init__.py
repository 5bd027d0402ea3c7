"""Scale-out: TensorFlow's own tf.distribute strategies, in graph mode.

``strategy`` turns ``--strategy none|mirrored|multi_worker``,
``--num_devices``, ``--all_reduce`` and ``--peer_timeout`` into a
``Setup``: the strategy, the session target and config a worker needs, the
chief/worker roles from ``TF_CONFIG``, and session runs whose failures
(a dead or silent peer) become one clear error. Training and timing build
on it; its flags (``Options``) are declared in ``config.distribute``.
May import: ``config``.

Typical use::

    from resnet_v2_slim.distribute import strategy as dist

    setup = dist.make(dist.Options(strategy='mirrored', num_devices=2))
    with graph.as_default(), setup.scope():
      ...                                  # build under the strategy
    with setup.session(graph) as sess:
      setup.run(sess, train_op)
"""

from resnet_v2_slim import _quiet

# This room uses TensorFlow: it gets it quietly, with the compat fix, even
# when a module of it is the first thing imported.
_quiet.bootstrap()
