"""Teaching: per-unit summaries, the residual experiment and Grad-CAM.

``summary`` prints shapes, parameters and FLOPs per unit; ``experiment``
trains residual and plain twins with one budget and says whether seed
003's finding held, with ``gradient_flow``'s norms per unit; ``explain``
shows where a restored classifier looks (Grad-CAM), and ``pointing_game``
measures whether its maps point at the object. May import: ``nets``, ``checkpoints``, ``config``, ``data``,
``inference``, ``perf``, ``training``, ``utils``.

Typical use::

    from resnet_v2_slim.teaching import summary

    print(summary.format_table(summary.summarize('resnet_v2_50')))
"""

from resnet_v2_slim import _quiet

# This room uses TensorFlow: it gets it quietly, with the compat fix, even
# when a module of it is the first thing imported.
_quiet.bootstrap()
