"""The names flags choose from, each declared once, without TensorFlow.

The command line builds its parsers (choices and help) from these and from
the settings in ``config`` before it imports TensorFlow, so ``--help``
answers at once. The rooms that use a name import it from here and
re-export it under the name they always had (``resnet_v2.NETWORKS``,
``preprocessing.METHODS``, ``recipe.OPTIMIZERS`` ...): the same object.
Standard library only; every room may import it.

Typical use::

    from resnet_v2_slim import names

    parser.add_argument('--model', choices=tuple(names.NETWORKS))
"""

from typing import Dict, Tuple

# THE table of networks, the one place their architecture is declared:
# {name: (unit family, units per block)}, from He et al., Table 1 (and
# 3-24-36-3 for ResNet-200). Each row has a function of the same name at the
# end of nets/resnet_v2.py, which builds its blocks from the row.
# nets_factory, checkpoint detection, the Keras twin, command-line choices
# and the tests all read it; the package re-exports the functions by name.
NETWORKS: Dict[str, Tuple[str, Tuple[int, ...]]] = {
    'resnet_v2_18': ('basic', (2, 2, 2, 2)),
    'resnet_v2_34': ('basic', (3, 4, 6, 3)),
    'resnet_v2_50': ('bottleneck', (3, 4, 6, 3)),
    'resnet_v2_101': ('bottleneck', (3, 4, 23, 3)),
    'resnet_v2_152': ('bottleneck', (3, 8, 36, 3)),
    'resnet_v2_200': ('bottleneck', (3, 24, 36, 3)),
}

# Compute precisions -> the TensorFlow dtype each computes in
# (``nets.precision.DTYPES``); variables stay float32.
PRECISIONS: Dict[str, str] = {'fp32': 'float32', 'bf16': 'bfloat16',
                              'fp16': 'float16'}
# Inference precisions: the checkpoint's graph (weights cast once) and
# OpenVINO's hint. fp16 is left out: on CPUs it is emulated.
INFERENCE_PRECISIONS = ('fp32', 'bf16')
DATA_FORMATS = ('NHWC', 'NCHW')

# TF-Slim's preprocessing variants (``data.preprocessing``); the flag also
# takes 'auto': the checkpoint's (checkpoints.CheckpointInfo.input_defaults).
PREPROCESSING = ('inception', 'vgg')
PREPROCESSING_CHOICES = ('auto',) + PREPROCESSING
# The data sets that ship inside installed packages (``data.datasets``) and
# research/slim's split names.
DATASETS = ('digits', 'mnist5k')
SPLITS = ('train', 'validation')

# research/slim's optimizers and learning-rate schedules (training.recipe).
OPTIMIZERS = ('momentum', 'sgd', 'rmsprop', 'adam', 'adagrad', 'adadelta',
              'ftrl')
DECAY_TYPES = ('fixed', 'exponential', 'polynomial', 'cosine', 'piecewise')

# tf.distribute (distribute.strategy).
STRATEGIES = ('none', 'mirrored', 'multi_worker')
ALL_REDUCE = ('auto', 'ring', 'nccl')

# The engines an exported model runs on (inference.engines).
ENGINES = ('tensorflow', 'keras', 'onnxruntime', 'openvino', 'litert')

# time-forward (perf.benchmark): what is timed, and when half-precision
# weights are cast.
BENCHMARK_MODES = ('forward', 'forward-backward')
WEIGHTS_CASTS = ('auto', 'once', 'every_step')

# summarize's tables (teaching.summary).
SUMMARY_FORMATS = ('text', 'markdown', 'json')

# explain --class_id topK: the most classes one run explains (each adds a
# gradient to the graph).
MAX_EXPLAINED_CLASSES = 10
# explain --output_stride: the nominal 32, or the denser strides DeepLab
# runs a ResNet classifier at (atrous convolution in the last blocks).
OUTPUT_STRIDES = (8, 16, 32)
