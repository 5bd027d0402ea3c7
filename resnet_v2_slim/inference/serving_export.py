"""``export --serving``: self-contained artifacts, each proven on real images
through its own input before it is moved into place.

The SavedModel takes image files (``image_bytes``) in TF Serving's layout
(``DIR/<version>/``); ONNX, OpenVINO and TFLite take decoded ``pixels``.
Each is written to a temporary path, run on its engine's own runtime on the
check images (the user's ``data_dir``/``tfrecord``, else scikit-image's
bundled photos) next to the checkpoint's own ``classify`` pipeline on the
same files: the same top-k ids and logits within ``tolerance`` (relative
to the logit scale), else nothing is written.

Typical use::

    from resnet_v2_slim.inference import export, serving_export

    settings = export.ExportSettings(checkpoint='model.ckpt-1000',
                                     onnx_file='model.onnx', serving=True)
    result = serving_export.export_serving(settings, log=print)
    result['facts']      # what the artifacts carry as metadata
"""

import contextlib
import dataclasses
import logging
import os
from typing import (Any, Callable, Dict, Iterator, List, NamedTuple,
                    Optional)

import numpy as np

from resnet_v2_slim.inference import bridges
from resnet_v2_slim.inference import classifier
from resnet_v2_slim.inference import engines
from resnet_v2_slim.inference import serving
from resnet_v2_slim.inference import serving_files
from resnet_v2_slim.inference import triton
from resnet_v2_slim.utils import fileio

# The targets that carry serving artifacts; the others are refused.
TARGETS = ('saved_model_dir', 'onnx_file', 'openvino_dir', 'tflite_file',
           'keras_file', 'triton_repository')
PIXEL_TARGETS = TARGETS[1:]
NOT_SERVING = ('output_file',)
# checkpoints/restore.py's logger (its module name; the package's
# ``checkpoints.restore`` is the function).
RESTORE_LOG = logging.getLogger('resnet_v2_slim.checkpoints.restore')


class CheckFiles(NamedTuple):
  """The image files every serving artifact is checked on."""
  files: List[bytes]
  source: str


@dataclasses.dataclass
class _ServingRun:
  """One serving export: settings, check images and the reference logits,
  the temporaries and the reports so far."""
  settings: Any                  # export.ExportSettings
  check: CheckFiles
  reference: np.ndarray          # the checkpoint's logits [N, classes]
  log: Callable[[str], None]
  stage: Optional[fileio.Staging] = None   # temporaries, scratch folder
  reports: List[Dict[str, Any]] = dataclasses.field(default_factory=list)


def check_options(settings: Any) -> None:
  """Refuses a serving export that cannot be made, before any work.

  Raises:
    ExportError: a target that cannot carry a serving artifact, no target,
      a bad ``top_k`` or ``model_version``, or an existing version.
  """
  from resnet_v2_slim.inference import export  # pylint: disable=g-import-not-at-top
  s = settings
  for name in NOT_SERVING:
    if getattr(s, name):
      raise export.ExportError(
          '`%s` cannot carry a serving artifact (`serving` takes %s); leave '
          'out one or the other.' % (name, ', '.join(
              '`%s`' % t for t in TARGETS)))
  if not any(getattr(s, name) for name in TARGETS):
    raise export.ExportError('`serving` needs a target: %s.' % ', '.join(
        '`%s`' % t for t in TARGETS))
  if s.quantize:
    raise export.ExportError('`quantize` applies to the preprocessed-form '
                             'TFLite file; leave out `serving` or it.')
  if not (isinstance(s.top_k, int) and s.top_k > 0):
    raise export.ExportError('`top_k` must be a positive integer, got %r.'
                             % (s.top_k,))
  if s.model_version is not None and not (
      isinstance(s.model_version, int) and s.model_version > 0):
    raise export.ExportError('`model_version` must be a positive integer, '
                             'got %r.' % (s.model_version,))


def check_paths(settings: Any) -> None:
  """Export's output-path checks, before any work; the SavedModel's base
  folder may hold earlier versions (each export adds one beside them).

  Raises:
    fileio.OutputPathError: an output path that cannot be used.
  """
  from resnet_v2_slim.inference import export  # pylint: disable=g-import-not-at-top
  export.check_paths(dataclasses.replace(settings, saved_model_dir=None))
  for name in ('saved_model_dir', 'triton_repository'):
    if getattr(settings, name):
      fileio.check_writable_dir(getattr(settings, name), '`%s`' % name)


def version_dir(settings: Any) -> Optional[str]:
  """``saved_model_dir/<version>``: ``model_version`` or the next free one.

  Raises:
    ExportError: the version folder exists (an export never overwrites
      one), or ``saved_model_dir`` is a file.
  """
  from resnet_v2_slim.inference import export  # pylint: disable=g-import-not-at-top
  base = settings.saved_model_dir
  if not base:
    return None
  if os.path.exists(base) and not os.path.isdir(base):
    raise export.ExportError('`saved_model_dir` %s is a file; give the '
                             'model\'s folder (versions go inside).' % base)
  version = settings.model_version or serving_files.next_version(base)
  target = os.path.join(base, str(version))
  if os.path.exists(target):
    raise export.ExportError(
        '`model_version` %d exists in %s; give a new one, or leave it out '
        'for the next free version (%d).' % (
            version, base, serving_files.next_version(base)))
  return target


def check_files(settings: Any) -> CheckFiles:
  """The user's images, else scikit-image's bundled photos, as files."""
  from resnet_v2_slim.data import images  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import export  # pylint: disable=g-import-not-at-top
  if settings.data_dir or settings.tfrecord:
    files, source = export.check_files(data_dir=settings.data_dir,
                                       tfrecord=settings.tfrecord)
    return CheckFiles(files, source)
  photos = images.bundled_photos()
  return CheckFiles([p.data for p in photos], '%d real photos (%s)' % (
      len(photos), ', '.join(images.PHOTOS)))


def _reference(settings, facts: serving.Facts, check: CheckFiles
               ) -> np.ndarray:
  """The checkpoint's own ``classify`` pipeline on the check files."""
  with classifier.Classifier(
      settings.checkpoint, model=facts.network, num_classes=facts.num_classes,
      preprocessing_method=facts.preprocessing, image_size=facts.image_size,
      labels_file=settings.labels, raw_weights=settings.raw_weights) as clf:
    return np.stack([clf.run(data, 'check image %d' % i)['logits']
                     for i, data in enumerate(check.files)])


def _facts(settings, input_name: str) -> serving.Facts:
  return serving.facts_for(
      settings.checkpoint, input=input_name, model=settings.model,
      num_classes=settings.num_classes,
      preprocessing_method=settings.preprocessing,
      image_size=settings.image_size, labels_file=settings.labels,
      top_k=settings.top_k, features=settings.features)


@contextlib.contextmanager
def _said_once(logger: logging.Logger) -> Iterator[None]:
  """Each of ``logger``'s messages at most once inside the block: the same
  checkpoint is restored into the reference and each engine's graph, and
  "Restored N variables from X" three times says nothing more."""
  seen = set()

  def once(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    new = message not in seen
    seen.add(message)
    return new
  logger.addFilter(once)
  try:
    yield
  finally:
    logger.removeFilter(once)


def export_serving(settings: Any, log: Optional[Callable[[str], None]] = None
                   ) -> Dict[str, Any]:
  """Writes the serving artifacts ``settings`` asks for, each verified.

  Args:
    settings: an ``export.ExportSettings`` with ``serving`` set; its
      options and output paths are checked here, before any work.
    log: where report lines go.

  Returns:
    ``{'facts': the pixels (or bytes) facts as a dict, 'reports': [...],
    'saved_model_version_dir': path or None}``.

  Raises:
    ExportError: options that cannot make a serving artifact.
    bridges.VerificationError: an artifact that disagrees (nothing moved).
    fileio.OutputPathError: an output path that cannot be used, or a file
      that could not be written.
  """
  log = log or (lambda line: None)
  check_options(settings)
  check_paths(settings)
  target_version = version_dir(settings)
  facts = _facts(settings, serving.PIXELS)
  triton_version = settings.triton_repository and triton.version_dir(
      settings.triton_repository, facts.network, settings.model_version)
  check = check_files(settings)
  log('checking serving exports on %s (%s preprocessing at %d inside)'
      % (check.source, facts.preprocessing, facts.image_size))
  with _said_once(RESTORE_LOG), fileio.staging(
      'resnet-v2-slim-serving-') as stage:
    run = _ServingRun(settings=settings, check=check,
                      reference=_reference(settings, facts, check), log=log,
                      stage=stage)
    moves = []
    if target_version:
      moves.append(_saved_model(run, target_version))
    if any(getattr(settings, name) for name in PIXEL_TARGETS):
      moves += _pixel_artifacts(run, facts, triton_version)
    run.stage.commit(moves)   # all verified: now into place
  return {'facts': dataclasses.asdict(facts), 'reports': run.reports,
          'saved_model_version_dir': target_version,
          'triton_version_dir': triton_version or None}


def _saved_model(run: _ServingRun, target: str) -> fileio.Staged:
  """The ``image_bytes`` SavedModel, verified, for ``DIR/<version>``."""
  s = run.settings
  facts = _facts(s, serving.BYTES)
  holder = run.stage.new_temp(s.saved_model_dir.rstrip(os.sep), folder=True)
  tmp = os.path.join(holder, os.path.basename(target))
  sess, graph = serving.restored_session(
      facts, s.checkpoint, raw_weights=s.raw_weights, preprocessed=True)
  with sess:
    serving_files.write_saved_model(sess, graph, facts, tmp,
                                    preprocessed=graph.preprocessed,
                                    warmup=run.check.files[:1])
  _verify(run, tmp, target)
  return fileio.Staged(tmp, target, folder=True)


def _pixel_artifacts(run: _ServingRun, facts: serving.Facts,
                     triton_version: Optional[str]) -> List[fileio.Staged]:
  """ONNX (also in a Triton repository), OpenVINO and TFLite from one
  restored ``pixels`` graph; the Keras 3 model from the checkpoint's
  weights."""
  s, moves = run.settings, []
  sess, graph = serving.restored_session(facts, s.checkpoint,
                                         raw_weights=s.raw_weights)
  with sess:
    frozen = serving.freeze(sess, graph)
    if s.tflite_file:   # the TFLite converter reads a SavedModel
      pixels_model = os.path.join(run.stage.scratch, 'pixels_saved_model')
      serving_files.write_saved_model(sess, graph, facts, pixels_model)
  if s.onnx_file or s.openvino_dir or triton_version:
    onnx_path = (run.stage.new_temp(s.onnx_file) if s.onnx_file
                 else os.path.join(run.stage.scratch, 'model.onnx'))
    serving_files.write_onnx(frozen, facts, onnx_path)
    if s.onnx_file or triton_version:
      _verify(run, onnx_path, s.onnx_file or os.path.join(
          triton_version, triton.MODEL))
    if s.onnx_file:
      moves.append(fileio.Staged(onnx_path, s.onnx_file, folder=False))
    if triton_version:
      moves += triton.stage_model(run.stage, onnx_path, facts,
                                  triton_version)
    if s.openvino_dir:
      folder = run.stage.new_temp(s.openvino_dir, folder=True)
      serving_files.write_openvino(onnx_path, facts, folder)
      _verify(run, folder, s.openvino_dir)
      moves.append(fileio.Staged(folder, s.openvino_dir, folder=True))
  if s.tflite_file:
    tmp = run.stage.new_temp(s.tflite_file)
    serving_files.write_tflite(pixels_model, facts, tmp)
    _verify(run, tmp, s.tflite_file)
    moves.append(fileio.Staged(tmp, s.tflite_file, folder=False))
  if s.keras_file:
    moves.append(_keras_model(run, facts))
  return moves


def _keras_model(run: _ServingRun, facts: serving.Facts) -> fileio.Staged:
  """The Keras 3 serving model (``serving_keras``), verified."""
  from resnet_v2_slim import checkpoints  # pylint: disable=g-import-not-at-top
  from resnet_v2_slim.inference import serving_keras  # pylint: disable=g-import-not-at-top
  s = run.settings
  info = checkpoints.read(s.checkpoint)
  tmp = run.stage.new_temp(s.keras_file)
  serving_keras.build(facts, info, moving_averages=(
      checkpoints.has_moving_averages(info) and not s.raw_weights)).save(tmp)
  _verify(run, tmp, s.keras_file)
  return fileio.Staged(tmp, s.keras_file, folder=False)


def run_on_files(runner: serving_files.Runner, files: List[bytes]
                 ) -> Dict[str, np.ndarray]:
  """Runs a serving artifact on image files through its own input: all
  at once for ``image_bytes``; decoded, one image per batch for
  ``pixels`` (a batch has one size)."""
  if runner.facts.input == serving.BYTES:
    return runner.run(np.array(files, dtype=object))
  outs = [runner.run(pixels[np.newaxis]) for pixels in serving.decode(files)]
  return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


def _verify(run: _ServingRun, path: str, target: str) -> Dict[str, Any]:
  """Runs a written artifact next to the checkpoint's pipeline.

  Raises:
    bridges.VerificationError: logits beyond the tolerance, or other
      top-k classes.
  """
  with serving_files.load(path) as runner:
    out = run_on_files(runner, run.check.files)
  report = {'path': target, 'engine': runner.engine, 'precision': 'fp32',
            'input': runner.facts.input, 'exact': True,
            'tolerance': run.settings.tolerance,
            'size_bytes': _size(path)}
  report.update(bridges.compare(out['logits'], run.reference))
  report['top_k_agree'] = _top_k_agree(out['classes'], run.reference,
                                       run.settings.tolerance)
  line = bridges.report_line(report)
  run.log('%s, top-%d the same on %d/%d (through `%s`)' % (
      line, out['classes'].shape[1], report['top_k_agree'],
      report['images'], runner.facts.input))
  if (not report['max_rel'] <= run.settings.tolerance or
      report['top_k_agree'] != report['images']):
    raise bridges.VerificationError(
        '%s disagrees with the checkpoint\'s classify pipeline on %s: %s. '
        'A serving artifact must give the same top-k classes within '
        '`tolerance` %g; nothing was written.' % (
            target, run.check.source, bridges.numbers_line(report),
            run.settings.tolerance))
  run.reports.append(report)
  return report


def _top_k_agree(classes: np.ndarray, reference: np.ndarray,
                 tolerance: float) -> int:
  """Images whose top-k ids are the reference's, in order; a swap of two
  classes whose reference logits tie (within ``tolerance`` of the scale)
  still agrees."""
  scale = float(np.max(np.abs(reference))) or 1.0
  agree = 0
  for ids, logits in zip(classes, reference):
    expected = np.sort(logits)[::-1][:len(ids)]
    agree += bool(np.all(np.abs(logits[ids] - expected) <= tolerance * scale))
  return agree


def _size(path: str) -> int:
  if not os.path.isdir(path):
    return os.path.getsize(path)
  return sum(os.path.getsize(os.path.join(folder, name))
             for folder, _, names in os.walk(path) for name in names)


def describe(path: str) -> Dict[str, Any]:
  """``inspect ARTIFACT``: the facts a serving artifact carries.

  Raises:
    EngineError: not an exported model.
    ServingError: no serving metadata (a preprocessed-form export).
  """
  path = serving_files.resolve(path)
  facts = serving_files.read_facts(path)
  if facts is None:
    raise serving.ServingError(
        '%s has no resnet_v2_slim serving metadata: a preprocessed-form '
        'export (float32 [N, H, W, 3] in) or one written before `serving`.'
        % path)
  data = dataclasses.asdict(facts)
  data.update(path=path, kind=engines.kind_of(path),
              outputs=list(facts.outputs), contract=facts.contract)
  return data

