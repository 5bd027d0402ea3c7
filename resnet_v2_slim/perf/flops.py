"""FLOP counting on a built graph: convolutions and matmuls, 2 per MAC.

Used by the timing protocol (GFLOP/s) and the teaching summary (FLOPs per
unit), so it lives apart from both.

Typical use::

    from resnet_v2_slim.perf import flops

    total, skipped = flops.count_flops(tf.get_default_graph())
"""

from typing import Optional, Tuple

import numpy as np
import tensorflow.compat.v1 as tf

# Ops whose FLOPs are counted: 2 per multiply-add.
CONV_OPS = ('Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter')
MATMUL_OPS = ('MatMul', 'BatchMatMul', 'BatchMatMulV2', 'BatchMatMulV3')


def _static(shape):
  dims = shape.as_list() if shape.rank is not None else None
  if dims is None or any(d is None for d in dims):
    return None
  return dims


def op_flops(op: tf.Operation) -> Optional[int]:
  """FLOPs of one convolution or matmul op (2 per multiply-add).

  Convolution backprop ops count like the forward convolution they mirror.

  Returns:
    The FLOP count; 0 for other op types; None if a shape is not static.
  """
  if op.type in CONV_OPS:
    if op.type == 'Conv2D':
      kernel, out = op.inputs[1], op.outputs[0]
    elif op.type == 'Conv2DBackpropInput':   # out is the input gradient
      kernel, out = op.inputs[1], op.inputs[2]
    else:                                     # Conv2DBackpropFilter
      kernel, out = op.outputs[0], op.inputs[2]
    kernel_dims, out_dims = _static(kernel.shape), _static(out.shape)
    if kernel_dims is None or out_dims is None:
      return None
    kh, kw, cin, _ = kernel_dims
    return 2 * int(np.prod(out_dims)) * kh * kw * cin
  if op.type in MATMUL_OPS:
    a, out = _static(op.inputs[0].shape), _static(op.outputs[0].shape)
    if a is None or out is None:
      return None
    transpose_a = (op.get_attr('transpose_a') if op.type == 'MatMul'
                   else op.get_attr('adj_x'))
    return 2 * int(np.prod(out)) * (a[-2] if transpose_a else a[-1])
  return 0


def count_flops(graph: tf.Graph) -> Tuple[int, int]:
  """FLOPs of one run of ``graph``: convolutions and matmuls, 2 per MAC.

  Returns:
    ``(flops, skipped_ops)``: ops with unknown static shapes are skipped.
  """
  flops, skipped = 0, 0
  for op in graph.get_operations():
    count = op_flops(op)
    if count is None:
      skipped += 1
    else:
      flops += count
  return flops, skipped
