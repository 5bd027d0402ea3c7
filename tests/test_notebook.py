"""The teaching notebook runs top to bottom, and its saved outputs are the
ones the code gives today (for the cells whose output is deterministic)."""

import os
import re

import pytest

nbformat = pytest.importorskip('nbformat')
nbclient = pytest.importorskip('nbclient')

NOTEBOOK = os.path.join(os.path.dirname(__file__), '..', 'notebooks',
                        'resnet_v2_graph_mode.ipynb')
# Cells tagged 'deterministic' must print exactly what is saved in the file.
TAG = 'deterministic'


def _text(cell):
  """A code cell's outputs as text (stdout, results, errors)."""
  parts = []
  for output in cell.get('outputs', []):
    if output['output_type'] == 'stream':
      parts.append(output['text'])
    elif output['output_type'] in ('execute_result', 'display_data'):
      data = output['data']
      parts.append(data.get('text/markdown') or data.get('text/plain', ''))
    elif output['output_type'] == 'error':
      parts.append('%s: %s' % (output['ename'], output['evalue']))
  # Object addresses differ between runs.
  return re.sub(r' at 0x[0-9a-f]+', ' at 0x...', ''.join(parts))


@pytest.fixture(scope='module')
def notebooks(tmp_path_factory):
  saved = nbformat.read(NOTEBOOK, as_version=4)
  fresh = nbformat.read(NOTEBOOK, as_version=4)
  del tmp_path_factory   # the notebook writes into temporary folders itself
  # Run where it lives, as Jupyter would (it shows ../docs/*.png). A
  # generous per-cell limit; the whole notebook takes about 1.5 minutes.
  nbclient.NotebookClient(
      fresh, timeout=600, kernel_name='python3',
      resources={'metadata': {'path': os.path.dirname(NOTEBOOK)}}).execute()
  return saved, fresh


def test_the_notebook_runs_top_to_bottom_without_errors(notebooks):
  _, fresh = notebooks
  code = [c for c in fresh.cells if c.cell_type == 'code']
  assert len(code) >= 10
  for cell in code:
    assert not [o for o in cell.outputs if o['output_type'] == 'error'], (
        cell.source[:80])
    assert cell.outputs, 'no output: %s' % cell.source[:80]


def test_the_saved_outputs_are_current(notebooks):
  saved, fresh = notebooks
  # Saved executed: every code cell has outputs in the file itself.
  assert all(c.outputs and c.execution_count
             for c in saved.cells if c.cell_type == 'code')
  checked = 0
  for before, after in zip(saved.cells, fresh.cells):
    if TAG in before.get('metadata', {}).get('tags', []):
      assert _text(before) == _text(after), before.source[:80]
      checked += 1
  assert checked >= 6


def test_the_notebook_shows_what_the_book_explains(notebooks):
  saved, _ = notebooks
  text = '\n'.join(_text(c) for c in saved.cells if c.cell_type == 'code')
  # conv2d_same is the reference for both parities; TF's SAME is not for 6x6.
  assert text.count('conv2d_same == reference: True') == 2
  assert 'SAME == reference: True' in text
  assert 'SAME == reference: False' in text
  # is_training=True queues batch norm updates, False none.
  assert re.search(r'True\s+6\s+4\s+True', text)
  assert re.search(r'False\s+0\s+4\s+False', text)
  assert '25,568,360' in text                   # resnet_v2_50's parameters
  # The short run is too short to judge, and says so; it measured the
  # gradient at every depth of all four nets.
  assert 'no verdict: 40 steps are too few' in text
  for net in ('resnet_v2_18 residual', 'resnet_v2_34 plain'):
    assert re.search(r'%s: outputs [0-9.]+ at step 0, [0-9.]+ at step 40'
                     % net, text)
  # Grad-CAM on scikit-image's photo: the last block's 7x7 map, drawn.
  assert 'resnet_v2_18/block4 gives a 7x7 map' in text
  assert re.search(r'chelsea\.jpg: .+ \(\d+\) [0-9.]+, peak at row', text)
  # The pointing game's digits: a map points at its positions' centres
  # (4x4: canvas pixels 7, 21, 35, 49), which bounds the score.
  assert 'a 4x4 map points at 16 places, 183 of the 200 digits' in text
  assert 'a 7x7 map points at 49 places, 199 of the 200 digits' in text
  assert "'pointing_game.png'" in saved.cells[-1].source
  assert 'image/png' in str(saved.cells[-1].outputs)


def test_the_notebook_uses_the_public_api_only(notebooks):
  saved, _ = notebooks
  code = '\n'.join(c.source for c in saved.cells if c.cell_type == 'code')
  private = re.findall(r'resnet_v2_slim(?:\.\w+)*\._\w+|import _\w+', code)
  assert not private, private
