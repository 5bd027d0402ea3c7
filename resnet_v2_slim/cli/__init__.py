"""The command line: ``resnet-v2-slim <command>`` and the scripts.

One module per subcommand, each with ``main(argv=None, prog=...) -> int``;
``main`` dispatches to them, and ``scripts/*.py`` and ``python -m
resnet_v2_slim`` are thin wrappers of the same functions. The top room: it
may import every other room, and nothing imports it.

May import: every room.

Typical use::

    resnet-v2-slim time-forward --model resnet_v2_50 --num_batches 20
    resnet-v2-slim inspect resnet_v2_50.ckpt
    python -m resnet_v2_slim classify --checkpoint resnet_v2_50.ckpt cat.jpg
"""
