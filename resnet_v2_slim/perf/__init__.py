"""Performance: FLOP counting and the book's timing protocol.

``flops`` counts a graph's convolutions and matmuls, ``benchmark`` is seed
000's ``time_tensorflow_run`` fixed and extended (mixed precision lives in
``nets.precision``, which training uses too). Its settings
(``benchmark.Config``) are declared in ``config.benchmark``.
May import: ``nets``, ``checkpoints``, ``config``, ``distribute``.

Typical use::

    from resnet_v2_slim.perf import benchmark

    result = benchmark.run(benchmark.Config(model='resnet_v2_50',
                                            batch_size=8))
"""

from resnet_v2_slim import _quiet

# This room uses TensorFlow: it gets it quietly, with the compat fix, even
# when a module of it is the first thing imported.
_quiet.bootstrap()
