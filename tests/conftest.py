"""Shared pytest set-up: import the package (quiet TF, compat fix) first."""

import fcntl
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from crashsafe import pytest_xdist_make_scheduler  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
import resnet_v2_slim  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
import tensorflow.compat.v1 as tf  # noqa: E402  pylint: disable=wrong-import-position


# The deepest networks take 20-60 s each to build in graph mode on these
# machines; per-network tests run them with `-m slow` (the tiny-input
# builds of 50 and 101 cover the same code, and resnet_v2_152's logits are
# checked at full size in test_slow.py).
DEEPEST = ('resnet_v2_152', 'resnet_v2_200')


def by_cost(names):
  """pytest params for ``names``, the deepest marked slow."""
  return [pytest.param(n, marks=pytest.mark.slow) if n in DEEPEST else n
          for n in names]


@pytest.hookimpl(tryfirst=True)   # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items):
  """Slow tests get an hour before pytest-timeout ends them (pytest.ini).
  xdist groups (``--dist loadgroup`` in pytest.ini): a module's tests on
  one worker, so its module fixtures are made once, except test_docs.py,
  whose documents each run in a sandbox of their own and spread over both
  workers (the module is a third of the suite's time)."""
  for item in items:
    if item.get_closest_marker('slow'):   # full-size runs: an hour, not 15 min
      item.add_marker(pytest.mark.timeout(3600))
    group = item.module.__name__
    if group == 'test_docs' and hasattr(item, 'callspec'):
      group = 'docs:' + item.callspec.params['path']
    item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope='session', autouse=True)
def temp_folder(tmp_path_factory):
  """The system temp folder of this run, inside pytest's own (removed after
  a pass): what a killed process leaves there (autograph's generated files,
  a converter's scratch) goes with it."""
  import tempfile  # pylint: disable=g-import-not-at-top
  folder = str(tmp_path_factory.mktemp('tmp'))
  before = os.environ.get('TMPDIR')
  os.environ['TMPDIR'] = tempfile.tempdir = folder
  yield folder
  tempfile.tempdir = None
  if before is None:
    os.environ.pop('TMPDIR', None)
  else:
    os.environ['TMPDIR'] = before


@pytest.fixture(scope='session')
def forks(tmp_path_factory, temp_folder):  # pylint: disable=unused-argument
  """A fork server for this worker (tests/forkserver.py): package commands
  as real processes without importing TensorFlow again for each."""
  import forkserver  # pylint: disable=g-import-not-at-top
  with forkserver.ForkServer(cwd=str(tmp_path_factory.mktemp('forks')),
                             env=dict(os.environ)) as server:
    yield server


@pytest.fixture
def graph():
  """A fresh default graph for one test."""
  g = tf.Graph()
  with g.as_default():
    yield g


# Reference-built checkpoints shared by all test modules: (model, format,
# classes, scope). Together they cover 50 and 101, V1 and V2, 1001 and 1000
# classes, and a custom outer scope.
CHECKPOINT_CASES = {
    'rn50_v1_1001': ('resnet_v2_50', 'V1', 1001, None),
    'rn50_v2_1000': ('resnet_v2_50', 'V2', 1000, None),
    'rn101_v2_1001': ('resnet_v2_101', 'V2', 1001, None),
    'custom_scope': ('resnet_v2_50', 'V2', 1001, 'custom/resnet_v2_50'),
}


@pytest.fixture(scope='session')
def saved(tmp_path_factory, worker_id):
  """case name -> (prefix, {variable name: value}), saved on first use.

  xdist's workers share one copy of each (the first to ask builds it under
  a lock, the others read it back): each takes 20-90 s to build and is
  100-170 MB. The shared folder is the run's own, removed after a pass.
  """
  import refnets  # pylint: disable=g-import-not-at-top
  shared = tmp_path_factory.getbasetemp()
  if worker_id != 'master':
    shared = shared.parent   # pytest-N/, above each worker's popen-gwN/
  cache = {}

  def get(case):
    if case not in cache:
      cache[case] = _shared_checkpoint(shared, case, refnets)
    return cache[case]
  return get


def _shared_checkpoint(shared, case, refnets):
  model, fmt, classes, scope = CHECKPOINT_CASES[case]
  folder = shared / ('saved-' + case)
  prefix = folder / (model + '.ckpt')
  done = shared / ('saved-%s.done' % case)
  with open(shared / ('saved-%s.lock' % case), 'w') as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)   # released when the file closes
    if not done.exists():
      folder.mkdir()
      made = refnets.save_reference_checkpoint(
          prefix, model, classes, scope=scope,
          write_version=(tf.train.SaverDef.V1 if fmt == 'V1' else None))
      done.write_text('')
      return made
  reader = tf.train.load_checkpoint(str(prefix))
  return str(prefix), {name: reader.get_tensor(name)
                       for name in reader.get_variable_to_shape_map()}
