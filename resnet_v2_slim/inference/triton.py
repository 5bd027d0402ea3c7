"""A Triton model repository from the serving ONNX model
(``export --serving --triton_repository DIR``), as Triton takes it.

Writes, under ``DIR/NAME`` (NAME: the network's, e.g. ``resnet_v2_50``)::

    config.pbtxt        the onnxruntime backend; inputs and outputs read
                        from the ONNX graph itself; dynamic batching with
                        ``serve``'s defaults
    labels.txt          class names, for Triton's classification extension
                        (``probabilities`` with ``class_count``)
    <version>/model.onnx

A repository that already holds the model gets a new version beside the
others (Triton's default policy serves the newest); an existing version is
refused, never overwritten.

Typical use (``serving_export`` does this)::

    moves = triton.stage_model(stage, 'model.onnx', facts, 'models/')
    stage.commit(moves)
"""

import os
import shutil
from typing import Dict, List, Optional

from resnet_v2_slim.config import serve as serve_config
from resnet_v2_slim.inference import engines
from resnet_v2_slim.inference import serving
from resnet_v2_slim.inference import serving_files
from resnet_v2_slim.utils import fileio

CONFIG, LABELS, MODEL = 'config.pbtxt', 'labels.txt', 'model.onnx'
# The config's first line ends so: a model folder this package wrote, whose
# config and labels a new version may replace.
MARKER = 'written by resnet_v2_slim export --serving.'
# ONNX element types (onnx.TensorProto) -> Triton's data types.
_TYPES = {1: 'TYPE_FP32', 2: 'TYPE_UINT8', 6: 'TYPE_INT32', 7: 'TYPE_INT64',
          8: 'TYPE_STRING', 11: 'TYPE_FP64'}


class TritonError(serving.ServingError):
  """A Triton repository that cannot be written as asked."""


def _tensors(values, label_output: Optional[str]) -> str:
  """``input [...]`` or ``output [...]`` entries of ONNX graph values,
  without the batch axis (``max_batch_size`` stands for it)."""
  entries = []
  for value in values:
    kind = value.type.tensor_type
    dims = [d.dim_value if d.dim_value else -1 for d in kind.shape.dim][1:]
    lines = ['    name: "%s"' % value.name,
             '    data_type: %s' % _TYPES[kind.elem_type],
             '    dims: [ %s ]' % ', '.join(str(d) for d in dims)]
    if value.name == label_output:
      lines.append('    label_filename: "%s"' % LABELS)
    entries.append('  {\n%s\n  }' % '\n'.join(lines))
  return ',\n'.join(entries)


def config_text(onnx_path: str, facts: serving.Facts, *, name: str) -> str:
  """The model's ``config.pbtxt`` (Triton's ``ModelConfig`` in text).

  Args:
    onnx_path: the serving ONNX model (``pixels`` in, its outputs).
    facts: what it computes.
    name: the model's name in the repository.

  Returns:
    The text; it parses with Triton's own ``model_config.proto``.
  """
  engines.require('tf2onnx')
  import onnx  # pylint: disable=g-import-not-at-top  (tf2onnx's dependency)
  graph = onnx.load(onnx_path, load_external_data=False).graph
  return '\n'.join([
      '# %s, %d classes, %s preprocessing at %d inside; %s' % (
          facts.network, facts.num_classes, facts.preprocessing,
          facts.image_size, MARKER),
      'name: "%s"' % name,
      'backend: "onnxruntime"',
      'max_batch_size: %d' % serve_config.DEFAULT_MAX_BATCH_SIZE,
      'input [\n%s\n]' % _tensors(graph.input, None),
      'output [\n%s\n]' % _tensors(graph.output, 'probabilities'),
      # Requests are batched as in ``serve`` (Triton batches images of
      # one size together: a pixels batch has one size).
      'dynamic_batching {\n  max_queue_delay_microseconds: %d\n}' % round(
          serve_config.DEFAULT_BATCH_TIMEOUT_MS * 1000), ''])


def version_dir(repository: str, name: str, version: Optional[int]) -> str:
  """``DIR/NAME/<version>``: ``version`` or the next free one.

  Raises:
    TritonError: the version exists, the repository is a file, or it holds
      a folder of that name that this package did not write (its
      config.pbtxt and labels.txt would be replaced).
  """
  if os.path.exists(repository) and not os.path.isdir(repository):
    raise TritonError('`triton_repository` %s is a file; give a folder '
                      '(models go inside).' % repository)
  model = os.path.join(repository, name)
  config = os.path.join(model, CONFIG)
  if os.path.exists(model) and not (
      os.path.isfile(config) and MARKER in open(config, encoding='utf-8',
                                                errors='replace').read()):
    raise TritonError(
        '`triton_repository` %s already holds %s, which this package did '
        'not write (no %s of its own): nothing was written; give another '
        'repository, or move that folder.' % (repository, name, CONFIG))
  version = version or serving_files.next_version(model)
  target = os.path.join(model, str(version))
  if os.path.exists(target):
    raise TritonError('`model_version` %d of %s exists; give a new one, or '
                      'leave it out for the next free version (%d).' % (
                          version, model, serving_files.next_version(model)))
  return target


def stage_model(stage: fileio.Staging, onnx_path: str, facts: serving.Facts,
                target: str) -> List[fileio.Staged]:
  """The model's files, written to temporaries, and where each goes.

  Args:
    stage: the export's staging (temporaries beside their targets).
    onnx_path: the verified serving ONNX model.
    facts: what it computes.
    target: ``version_dir``'s answer.

  Returns:
    The moves: the whole model folder if it is new, else the version
    folder, ``config.pbtxt`` and ``labels.txt``.
  """
  model = os.path.dirname(target)
  texts = {CONFIG: config_text(onnx_path, facts,
                               name=os.path.basename(model)),
           LABELS: '\n'.join(facts.labels) + '\n'}
  if not os.path.exists(model):    # a new model: its whole folder at once
    os.makedirs(os.path.dirname(model), exist_ok=True)   # the repository
    holder = stage.new_temp(model, folder=True)
    _write(holder, texts)
    os.mkdir(os.path.join(holder, os.path.basename(target)))
    shutil.copyfile(onnx_path, os.path.join(
        holder, os.path.basename(target), MODEL))
    return [fileio.Staged(holder, model, folder=True)]
  holder = stage.new_temp(target, folder=True)
  shutil.copyfile(onnx_path, os.path.join(holder, MODEL))
  moves = [fileio.Staged(holder, target, folder=True)]
  for name, text in texts.items():
    tmp = stage.new_temp(os.path.join(model, name))
    _write(os.path.dirname(tmp), {os.path.basename(tmp): text})
    moves.append(fileio.Staged(tmp, os.path.join(model, name), folder=False))
  return moves


def _write(folder: str, texts: Dict[str, str]) -> None:
  for name, text in texts.items():
    with open(os.path.join(folder, name), 'w', encoding='utf-8') as f:
      f.write(text)
