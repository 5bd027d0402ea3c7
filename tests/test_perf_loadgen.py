"""time-forward --scenario: MLPerf LoadGen's four scenarios on an exported
model and on the TF graph, its own summary read back, its logs kept beside
--json, and the settings LoadGen cannot meet refused in one line."""

import importlib.util
import json
import os
import re

import pytest

from resnet_v2_slim.cli import time_forward
from resnet_v2_slim.inference import export
from resnet_v2_slim.perf import loadgen
import refnets

SIZE = 32
FAST = ['--min_duration_ms', '200', '--min_query_count', '16']


@pytest.fixture(scope='module')
def onnx_file(tmp_path_factory):
  root = tmp_path_factory.mktemp('lg')
  prefix = refnets.save_our_checkpoint(root / 'm.ckpt', 'resnet_v2_18', 10,
                                       image_size=SIZE)
  path = str(root / 'm.onnx')
  export.export_inference_graph(prefix, image_size=SIZE, onnx_file=path)
  return path


def _run(capsys, argv):
  code = time_forward.main(argv)
  out, err = capsys.readouterr()
  return code, out, err


def _loadgen_says(summary, name):
  """A number as LoadGen's own summary file states it."""
  return float(re.search(re.escape(name) + r'\s*:\s*([\d.]+)',
                         summary).group(1))


@pytest.mark.parametrize('scenario, extra, name', [
    ('single_stream', [], 'SingleStream'),
    ('multi_stream', ['--samples_per_query', '4'], 'MultiStream'),
    ('offline', [], 'Offline'),
    ('server', ['--target_qps', '20', '--target_latency_ms', '500'],
     'Server'),
])
def test_each_scenario_reports_what_loadgen_wrote(onnx_file, tmp_path,
                                                  capsys, scenario, extra,
                                                  name):
  path = tmp_path / 'r.json'
  code, out, err = _run(capsys, [
      '--model_file', onnx_file, '--image_size', str(SIZE), '--batch_size',
      '4', '--scenario', scenario, '--json', str(path)] + FAST + extra)
  assert code == 0, err
  result = json.loads(path.read_text())
  summary = (tmp_path / 'r.mlperf_log_summary.txt').read_text()
  assert (tmp_path / 'r.mlperf_log_detail.txt').stat().st_size > 0
  assert 'Scenario : %s' % name in summary
  assert result['scenario'] == name
  assert result['valid'] == ('Result is : VALID' in summary)
  assert result['p90_latency_ms'] == pytest.approx(
      _loadgen_says(summary, '90.00 percentile latency (ns)') / 1e6)
  assert result['engine'] == 'onnxruntime'
  line = [l for l in out.splitlines() if l.startswith('LoadGen ')][0]
  assert line.startswith('LoadGen %s: %s; latency p50 ' % (
      name, 'VALID' if result['valid'] else 'INVALID'))
  if scenario == 'offline':
    assert result['samples_per_sec'] == pytest.approx(
        _loadgen_says(summary, '\nSamples per second'))
  if scenario == 'multi_stream':
    assert _loadgen_says(summary, 'samples_per_query') == 4
  if scenario == 'server':
    assert _loadgen_says(summary, 'target_qps') == 20
    assert _loadgen_says(summary, 'target_latency (ns)') == 500e6


def test_the_tf_graph_runs_under_loadgen_too(onnx_file, tmp_path, capsys):
  """The checkpoint's graph (restored; network and classes from it)."""
  checkpoint = os.path.join(os.path.dirname(onnx_file), 'm.ckpt')
  code, out, err = _run(capsys, [
      '--checkpoint', checkpoint, '--image_size', str(SIZE),
      '--batch_size', '4', '--scenario', 'single_stream', '--threads',
      '1', '--json', str(tmp_path / 'g.json')] + FAST)
  assert code == 0, err
  result = json.loads((tmp_path / 'g.json').read_text())
  assert (result['engine'], result['model'], result['threads']) == (
      'tensorflow', 'resnet_v2_18', 1)
  assert result['p90_latency_ms'] > 0
  assert 'LoadGen SingleStream: ' in out


@pytest.mark.parametrize('argv, said', [
    (['--scenario', 'server', '--target_qps', '0'],
     '--target_qps must be > 0 (a Server with no queries measures nothing)'),
    (['--target_qps', '3'],
     '--target_qps is a LoadGen setting: give --scenario too'),
    (['--scenario', 'single_stream', '--samples_per_query', '4'],
     '--samples_per_query applies to --scenario multi_stream, not '
     'single_stream'),
    (['--scenario', 'offline', '--mode', 'forward-backward'],
     '--scenario times inference in one process'),
    (['--scenario', 'offline', '--streams', '2'],
     '--streams 2 runs parallel requests on openvino and onnxruntime'),
    (['--scenario', 'offline', '--min_query_count', '0'],
     '--min_query_count must be > 0'),
])
def test_settings_loadgen_cannot_use_are_one_line(capsys, argv, said):
  code, _, err = _run(capsys, ['--model', 'resnet_v2_18', '--image_size',
                               str(SIZE)] + argv)
  assert code == 2 and err.count('\n') == 1, err
  assert said in err


def test_a_latency_bound_below_one_inference_is_refused(onnx_file,
                                                        tmp_path, capsys):
  code, _, err = _run(capsys, [
      '--model_file', onnx_file, '--image_size', str(SIZE), '--scenario',
      'server', '--target_latency_ms', '0.001', '--json',
      str(tmp_path / 'r.json')])
  assert code == 2 and err.count('\n') == 1, err
  assert re.search(r'--target_latency_ms 0.001 cannot be met: one image '
                   r'alone takes [\d.]+ ms here', err)
  assert os.listdir(tmp_path) == []


def test_without_loadgen_one_line_names_the_extra(capsys, monkeypatch):
  real = importlib.util.find_spec
  monkeypatch.setattr(importlib.util, 'find_spec',
                      lambda name, *a: None if name == 'mlperf_loadgen'
                      else real(name, *a))
  code, _, err = _run(capsys, ['--model', 'resnet_v2_18', '--image_size',
                               str(SIZE), '--scenario', 'offline'])
  assert code == 2 and err.count('\n') == 1, err
  assert 'pip install "resnet_v2_slim[benchmark]"' in err
  assert loadgen.INSTALL in err
