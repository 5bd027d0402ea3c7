"""Performance: FLOP counting and the book's timing protocol.

``flops`` counts a graph's convolutions and matmuls, ``benchmark`` is seed
000's ``time_tensorflow_run`` fixed and extended (mixed precision lives in
``nets.precision``, which training uses too). May import: ``nets``,
``checkpoints``, ``distribute``, ``utils``.

Typical use::

    from resnet_v2_slim.perf import benchmark

    result = benchmark.run(benchmark.Config(model='resnet_v2_50',
                                            batch_size=8))
"""
