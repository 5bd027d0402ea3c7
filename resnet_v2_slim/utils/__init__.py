"""Utilities without TensorFlow: the files the commands write.

``fileio``: atomic writes with the user's file mode, the guard that keeps
outputs off inputs (``check_outputs``), folders replaced only when they
hold what the command writes, and a lock for a folder one run owns. May
import: the standard library only.

May import: nothing above it.

Typical use::

    from resnet_v2_slim.utils import fileio

    fileio.check_outputs([('--json', 'r.json')], [('--checkpoint', 'm.ckpt')])
    fileio.atomic_write_text('r.json', '{}')
"""
