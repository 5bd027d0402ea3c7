"""Performance: FLOP counting, mixed precision and the book's timing protocol.

``flops`` counts a graph's convolutions and matmuls, ``precision`` builds a
network in bf16/fp16 with float32 variables, ``benchmark`` is seed 000's
``time_tensorflow_run`` fixed and extended. May import: ``nets``, ``checkpoints``, ``distribute``,
``utils``.

Typical use::

    from resnet_v2_slim.perf import benchmark

    result = benchmark.run(benchmark.Config(model='resnet_v2_50',
                                            batch_size=8))
"""
