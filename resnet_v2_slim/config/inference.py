"""The settings of classify, evaluate and export, declared once.

``InputSettings``: what a checkpoint can answer (``auto``), shared by the
three; ``ExportSettings`` (export) and ``EvalConfig`` (evaluate) add their
own. ``inference.inputs``, ``inference.export`` and ``inference.evaluate``
re-export them: the same classes.

Typical use::

    from resnet_v2_slim.config import inference

    settings.add_flags(parser, inference.EvalConfig)
    config = settings.from_args(inference.EvalConfig, parser.parse_args())
    config.validate()
"""

import dataclasses
from typing import Optional, Union

from resnet_v2_slim import errors
from resnet_v2_slim import names
from resnet_v2_slim.config import convert
from resnet_v2_slim.utils import settings
from resnet_v2_slim.utils.settings import setting

# Relative logit difference an fp32 artifact may have from the TF graph
# (``bridges.verify``); beyond it the artifact is refused.
TOLERANCE = 1e-4


class EvalError(errors.Error):
  """A setting or a record that stops the evaluation (exit code 2)."""


@dataclasses.dataclass(kw_only=True)
class InputSettings:
  """What a checkpoint can answer ('auto'): shared by classify, evaluate and
  export, whose flags are made from these fields."""
  model: str = setting('auto', help='network name, or auto (from the '
                       'checkpoint)')
  num_classes: Union[int, str] = setting(
      'auto', type=settings.auto_or_positive_int,
      help='auto (from the checkpoint) or a number')
  preprocessing: str = setting(
      'auto', choices=names.PREPROCESSING_CHOICES,
      help='auto: what train recorded beside the checkpoint, else what '
      'the published checkpoint was trained with (inception), else '
      'inception')
  image_size: Union[int, str] = setting(
      'auto', type=settings.auto_or_positive_int,
      help='input height and width (auto: what train recorded beside the '
      'checkpoint, else what the published checkpoint was trained at, '
      '299, else the network\'s default, 224)')
  precision: str = setting(
      'fp32', choices=names.INFERENCE_PRECISIONS,
      help='bf16: compute in bfloat16, the weights cast once when restored '
      '(2-3x faster on CPUs with AVX512_BF16 or AMX; logits within about '
      '1e-2 of fp32); with --model_file: OpenVINO\'s inference '
      'precision, or a float32 TensorFlow graph run in bf16 (default '
      '%(default)s)')
  raw_weights: bool = setting(False, help='restore the raw weights even '
                              'where the checkpoint holds moving averages '
                              '(train --moving_average_decay)')


class RuntimeSettingsError(errors.Error):
  """Thread or stream counts that cannot be used (exit code 2)."""


# The engines that run several requests at once (--streams).
STREAM_ENGINES = ('openvino', 'onnxruntime')


@dataclasses.dataclass(kw_only=True)
class RuntimeSettings:
  """How many threads and parallel requests an inference uses: shared by
  classify, evaluate and time-forward, recorded in their JSON."""
  threads: Optional[int] = setting(
      None, type=int, help='intra-op threads (TensorFlow\'s inter-op too; '
      'ONNX Runtime, OpenVINO, LiteRT: their thread count; default: the '
      'engine\'s, every core)')
  streams: int = setting(
      1, type=int, help='parallel requests, each on part of a batch: '
      'OpenVINO\'s streams, ONNX Runtime\'s parallel sessions (default '
      '%(default)s)')

  def check_runtime(self, engine: Optional[str]) -> None:
    """Refuses counts that cannot run on ``engine`` (None: the checkpoint's
    TensorFlow graph).

    Raises:
      RuntimeSettingsError: naming the setting and what to do.
    """
    if self.threads is not None and self.threads < 1:
      raise RuntimeSettingsError('`threads` must be >= 1 (or left out for '
                                 'the engine\'s default), got %d.'
                                 % self.threads)
    if self.streams < 1:
      raise RuntimeSettingsError('`streams` must be >= 1, got %d.'
                                 % self.streams)
    if self.streams > 1 and engine not in STREAM_ENGINES:
      raise RuntimeSettingsError(
          '`streams` %d runs parallel requests on %s; %s runs one at a '
          'time: leave `streams` out, or give a `model_file` they run.'
          % (self.streams, ' and '.join(STREAM_ENGINES),
             engine or 'the TensorFlow graph'))
    if self.threads is not None and engine == 'keras':
      raise RuntimeSettingsError('`threads` is not offered for keras (its '
                                 'threads are TensorFlow\'s, set when the '
                                 'process starts): leave it out.')

  def session_threads(self) -> dict:
    """TensorFlow ``ConfigProto`` fields for ``threads`` ({} for its
    default: every core)."""
    if self.threads is None:
      return {}
    return {'intra_op_parallelism_threads': self.threads,
            'inter_op_parallelism_threads': self.threads}

  def runtime_record(self) -> dict:
    """``{'threads', 'streams'}`` for a result's JSON."""
    return {'threads': self.threads, 'streams': self.streams}


@dataclasses.dataclass(kw_only=True)
class ExportSettings(InputSettings):
  """``export``'s settings; its flags are made from these fields."""
  checkpoint: str = setting(help='checkpoint prefix, file or folder')
  output_file: Optional[str] = setting(
      None, help='frozen GraphDef to write (.pb)')
  saved_model_dir: Optional[str] = setting(
      None, help='SavedModel folder to write (replaced if it holds only a '
      'SavedModel)')
  keras_file: Optional[str] = setting(
      None, help='Keras 3 model to write (.keras)')
  keras_layout: str = setting('twin', choices=('twin', 'applications'),
                              help='twin: exact, all of the checkpoint\'s '
                              'classes; applications: the stock '
                              'keras.applications ResNet V2 (1000 classes, '
                              'its difference reported)')
  onnx_file: Optional[str] = setting(
      None, help='ONNX model to write (.onnx)')
  openvino_dir: Optional[str] = setting(None, help='folder for OpenVINO IR '
                                        '(model.xml, model.bin)')
  tflite_file: Optional[str] = setting(
      None, help='TFLite model to write (.tflite)')
  quantize: Optional[str] = setting(
      None, choices=('int8',),
      help='int8: post-training quantization of every --onnx_file (ONNX '
      'Runtime, static QDQ), --openvino_dir (NNCF) and --tflite_file (full '
      'integer, any batch) given, calibrated on --calibration_size images '
      'through the checkpoint\'s preprocessing and judged by the accuracy '
      'gate (docs/deploy.md)')
  data_dir: Optional[str] = setting(
      None, help='class sub-folders: the labelled images to check exports '
      'with and gate reduced precision on (default: generated images)')
  tfrecord: Optional[str] = setting(None, metavar='PATTERN',
                                    help='TF-Slim shards instead of '
                                    '--data_dir')
  dataset_name: Optional[str] = setting(
      None, choices=names.DATASETS,
      help='a built-in dataset instead of --data_dir, as evaluate takes it '
      '(int8 calibrates on its train split)')
  dataset_split_name: str = setting('validation', choices=names.SPLITS,
                                    help='with --dataset_name: the split '
                                    'checked and gated on (default '
                                    '%(default)s)')
  calibration_data: Optional[str] = setting(
      None, metavar='DIR_OR_PATTERN',
      help='with --quantize: the images to calibrate on, a folder of images '
      '(sub-folders too) or TF-Slim shards (default: --dataset_name\'s '
      'train split, else the images of --data_dir/--tfrecord; without any, '
      'generated images and a warning: not calibrated)')
  calibration_size: int = setting(
      300, type=int, help='with --quantize: images to calibrate on (default '
      '%(default)s, NNCF\'s default subset)')
  min_accuracy_ratio: float = setting(
      0.99, help='the accuracy gate: a reduced-precision output (int8, '
      'OpenVINO bf16, --precision bf16) whose top-1 on the labelled images '
      'is below this fraction of fp32\'s is refused, nothing written '
      '(default %(default)s, MLPerf\'s rule)')
  max_examples: Optional[int] = setting(
      None, type=int, help='the accuracy gate evaluates only the first N '
      'labelled images (default: all)')
  tolerance: float = setting(TOLERANCE, help='largest relative logit '
                             'difference an fp32 export may have (default '
                             '%(default)s)')
  batch_size: Optional[int] = setting(
      None, type=int, help='fixed batch size of the frozen graph and '
      'SavedModel (default: any)')
  serving: bool = setting(
      False, help='self-contained artifacts (docs/deploy.md): the '
      'SavedModel takes image files (TF Serving layout DIR/<version>), '
      'ONNX, OpenVINO, TFLite and Keras 3 uint8 pixels of any size; '
      'preprocessing, '
      'class names and facts inside; each checked on real photos')
  triton_repository: Optional[str] = setting(
      None, help='with --serving: a Triton model repository to add the '
      'model to (DIR/NAME/config.pbtxt, labels.txt, <version>/model.onnx; '
      'docs/serve.md)')
  model_version: Optional[int] = setting(
      None, type=int, help='with --serving: the SavedModel\'s and Triton '
      'model\'s version folder (default: the next free integer; an '
      'existing one is refused)')
  top_k: int = setting(5, type=int, help='with --serving: classes and '
                       'scores given per image (default %(default)s)')
  labels: Optional[str] = setting(
      None, help='with --serving: class names file, one per line (default: '
      'ImageNet for 1000/1001 classes)')
  features: bool = setting(False, help='with --serving: also output the '
                           'global-pooled pre-logits vector (`features`)')


@dataclasses.dataclass(kw_only=True)
class EvalConfig(InputSettings, RuntimeSettings, convert.ImageNetLabels):
  """What to evaluate; 'auto' takes the checkpoint's (and its table row's).

  ``evaluate``'s flags are made from these fields.
  """
  checkpoint: Optional[str] = setting(
      None, help='checkpoint prefix, file or folder (with --model_file: '
      'where auto settings come from)')
  model_file: Optional[str] = setting(
      None, metavar='PATH',
      help='evaluate an exported model (export\'s .pb, SavedModel, .keras, '
      '.onnx, OpenVINO folder or .tflite) on its engine instead of the '
      'checkpoint\'s graph')
  engine: Optional[str] = setting(None, choices=names.ENGINES,
                                  help='with --model_file: the engine '
                                  '(default: the file\'s own)')
  tfrecord: Optional[str] = setting(None, metavar='PATTERN',
                                    help='glob of TF-Slim TFRecord shards')
  data_dir: Optional[str] = setting(
      None, help='folder of class sub-folders; or ImageNet\'s flat '
      'validation folder with --devkit, --solution_csv or --synset_labels')
  dataset_name: Optional[str] = setting(
      None, choices=names.DATASETS,
      help='a built-in dataset, as train\'s (image size auto: 32, train\'s '
      'default)')
  dataset_split_name: str = setting('validation', choices=names.SPLITS,
                                    help='with --dataset_name (default '
                                    '%(default)s: never trained on)')
  labels_offset: Union[int, str] = setting(
      'auto', type=settings.auto_or_int,
      help='subtracted from the 1-based labels (auto: what train '
      'recorded, else 0 for a 1001-way head, else 1)')
  batch_size: int = setting(50, help='images per step (default '
                            '%(default)s)')
  max_examples: Optional[int] = setting(
      None, type=int, help='evaluate only the first N images')
  skip_corrupt: bool = setting(False, help='skip images that do not '
                               'decode; their count and places go into the '
                               'output and JSON')
  watch: bool = setting(False, help='with --checkpoint TRAIN_DIR: evaluate '
                        'every new checkpoint once, as it appears (slim\'s '
                        'evaluation loop), writing TensorBoard summaries to '
                        'TRAIN_DIR/eval and a JSON line each')
  timeout: float = setting(600.0, help='with --watch: stop after this many '
                           'seconds without a new checkpoint (default '
                           '%(default)s)')
  poll_secs: float = setting(10.0, help='with --watch: how often to look '
                             '(default %(default)s)')

  def validate(self) -> None:
    if not self.checkpoint and not self.model_file:
      raise EvalError('give `checkpoint` (and/or `model_file`): what to '
                      'evaluate.')
    if self.engine and not self.model_file:
      raise EvalError('`engine` runs an exported model: give `model_file` '
                      'too.')
    if [self.tfrecord, self.data_dir, self.dataset_name].count(None) != 2:
      raise EvalError('give exactly one of `tfrecord` PATTERN, `data_dir` '
                      'DIR and `dataset_name` NAME.')
    sources = self.label_sources()
    if sources and not self.data_dir:
      raise EvalError('`%s` labels ImageNet\'s flat validation folder: give '
                      'the folder as `data_dir`.' % next(iter(sources)))
    if len(sources) > 1:
      raise EvalError('give one label source for the validation images, '
                      'not %s.' % ' and '.join('`%s`' % s for s in sources))
    if self.batch_size <= 0:
      raise EvalError('`batch_size` must be > 0, got %d.' % self.batch_size)
    if self.max_examples is not None and self.max_examples <= 0:
      raise EvalError('`max_examples` must be > 0, got %d.'
                      % self.max_examples)
