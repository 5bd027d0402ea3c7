"""Teaching: per-unit summaries and seed 003's residual-vs-plain experiment.

``summary`` prints shapes, parameters and FLOPs per unit; ``experiment``
trains residual and plain twins with one budget and says whether seed
003's finding held. May import: ``nets``, ``data``, ``perf``, ``training``, ``utils``.

Typical use::

    from resnet_v2_slim.teaching import summary

    print(summary.format_table(summary.summarize('resnet_v2_50')))
"""
