"""The accuracy gate: reduced precision judged on the user's labelled images.

MLPerf Inference's closed division accepts a quantized ResNet-50 only if it
keeps 99% of the fp32 top-1; OpenVINO's model zoo publishes converted-vs-
original accuracy. ``export`` applies that rule when an artifact is
written: the fp32 graph and every reduced-precision output (int8 on any
engine, OpenVINO's bf16, ``--precision bf16``'s graph) are evaluated on the
same labelled images by ``evaluate.evaluate`` (the code behind ``evaluate
--model_file``), and one below ``min_accuracy_ratio`` of fp32's top-1 is
refused before anything is moved into place.

Typical use::

    from resnet_v2_slim.inference import accuracy_gate

    gate = accuracy_gate.Gate.from_settings(settings, image_size, log=print)
    gate.judge('int8.onnx', 'onnxruntime int8', model_file=staged_path)
"""

import dataclasses
from typing import Any, Callable, Dict, Optional

from resnet_v2_slim.inference import bridges

MLPERF_RATIO = 0.99     # the closed division's share of fp32's top-1


class AccuracyGateError(bridges.VerificationError):
  """A reduced-precision output below the gate: refused (exit code 1)."""


def check_ratio(ratio: Any) -> None:
  """Raises ExportError unless ``ratio`` is a number in (0, 1]."""
  from resnet_v2_slim.inference import export  # pylint: disable=g-import-not-at-top
  if not (isinstance(ratio, (int, float)) and 0 < ratio <= 1):
    raise export.ExportError('`min_accuracy_ratio` must be a number in (0, '
                             '1] (MLPerf\'s rule is %g), got %r.'
                             % (MLPERF_RATIO, ratio))


@dataclasses.dataclass
class Gate:
  """The labelled images, the rule and fp32's top-1 (evaluated once)."""
  config: Any              # evaluate.EvalConfig of the checkpoint's graph
  min_ratio: float
  log: Callable[[str], None]
  fp32: Optional[Dict[str, Any]] = None   # evaluate's result, once run

  @classmethod
  def from_settings(cls, settings: Any, image_size: int, *,
                    log: Callable[[str], None]) -> Optional['Gate']:
    """The gate of an export, or None (said through ``log``) when no
    labelled images were given."""
    from resnet_v2_slim.inference import evaluate  # pylint: disable=g-import-not-at-top
    s = settings
    if not (s.data_dir or s.tfrecord or s.dataset_name):
      log('accuracy gate: not applied (no labelled images: give `data_dir`, '
          '`tfrecord` or `dataset_name`); top-1 agreement with fp32 on the '
          'check images is above')
      return None
    config = evaluate.EvalConfig(
        checkpoint=s.checkpoint, model=s.model, num_classes=s.num_classes,
        preprocessing=s.preprocessing, image_size=image_size,
        raw_weights=s.raw_weights, data_dir=s.data_dir, tfrecord=s.tfrecord,
        dataset_name=s.dataset_name, dataset_split_name=s.dataset_split_name,
        max_examples=s.max_examples)
    return cls(config=config, min_ratio=s.min_accuracy_ratio, log=log)

  def _evaluate(self, **changes) -> Dict[str, Any]:
    from resnet_v2_slim.inference import evaluate  # pylint: disable=g-import-not-at-top
    return evaluate.evaluate(dataclasses.replace(self.config, **changes),
                             log=lambda line: None)

  def baseline(self) -> Dict[str, Any]:
    """fp32's evaluation (the checkpoint's graph), run once."""
    if self.fp32 is None:
      self.fp32 = self._evaluate()
      self.log('accuracy gate: fp32 top-1 %.2f%% on %d images of %s'
               % (100 * self.fp32['top1'], self.fp32['num_examples'],
                  self.fp32['source']))
    return self.fp32

  def judge(self, shown: str, what: str, *,
            model_file: Optional[str] = None,
            precision: str = 'fp32') -> Dict[str, Any]:
    """Evaluates one reduced-precision output and applies the rule.

    Args:
      shown: the output's path as the user gave it (named in the lines).
      what: the engine and precision, in words ('openvino int8').
      model_file: the (staged) artifact; None: the checkpoint's graph at
        ``precision``.
      precision: 'fp32', or 'bf16' (OpenVINO's hint, or the TF graph's).

    Returns:
      ``{'path', 'what', 'top1', 'fp32_top1', 'ratio', 'images'}``.

    Raises:
      AccuracyGateError: below ``min_ratio``; nothing has been written.
    """
    fp32 = self.baseline()
    result = self._evaluate(model_file=model_file, precision=precision)
    ratio = result['top1'] / fp32['top1'] if fp32['top1'] else None
    verdict = {'path': shown, 'what': what, 'top1': result['top1'],
               'fp32_top1': fp32['top1'], 'ratio': ratio,
               'images': result['num_examples']}
    if ratio is None:
      self.log('accuracy gate: %s (%s) top-1 %.2f%%; not applied: fp32 '
               'classifies none of these images right (labels that do not '
               'fit the head?)' % (shown, what, 100 * result['top1']))
      return verdict
    line = ('%s (%s): top-1 %.2f%% against fp32\'s %.2f%% on %d images, '
            'ratio %.4f' % (shown, what, 100 * result['top1'],
                            100 * fp32['top1'], result['num_examples'],
                            ratio))
    if ratio < self.min_ratio:
      fix = ('calibrate on more, or more typical, images (`calibration_data`'
             ', `calibration_size`), or export it without `quantize`'
             if 'int8' in what else 'export it in fp32' if model_file is None
             else 'lower the gate: OpenVINO runs this model in bf16 by '
             'default on this CPU (its INFERENCE_PRECISION_HINT f32 runs '
             'it in fp32)')
      raise AccuracyGateError(
          'accuracy gate: %s < `min_accuracy_ratio` %g; refused, nothing '
          'was written. To keep it, %s (`min_accuracy_ratio`).'
          % (line, self.min_ratio, fix))
    self.log('accuracy gate: %s >= %g: kept' % (line, self.min_ratio))
    return verdict
