"""The tf-keras compatibility fix: needed, applied on import, harmless twice."""

import importlib
import importlib.util
import subprocess
import sys
import textwrap

import pytest
from resnet_v2_slim import compat

# Which Keras TensorFlow's layers load (tf_keras from 2.15, keras before),
# and whether the package had to alias its moved legacy_tf_layers: then
# the module under the old name is the one from `.src` (tf-keras 2.15 is
# the one release tested here where nothing had moved).
KERAS = compat._tensorflow_layers_package()  # pylint: disable=protected-access
NEEDED = importlib.util.find_spec(KERAS + '.legacy_tf_layers').name != (
    KERAS + '.legacy_tf_layers')

BATCH_NORM_SNIPPET = textwrap.dedent("""
    import tensorflow.compat.v1 as tf
    import tf_slim as slim
    with tf.Graph().as_default():
      out = slim.batch_norm(tf.zeros([1, 2, 2, 3]), is_training=False)
    print('BATCH_NORM_OK', out.shape)
""")


def run_python(code):
  return subprocess.run([sys.executable, '-c', code], capture_output=True,
                        text=True, timeout=300, check=False)


def test_plain_tf_slim_batch_norm_is_broken_without_the_fix():
  # Documents why compat exists: if this starts passing, tf-keras fixed it.
  # Before TensorFlow 2.16 plain tf_slim works, and the fix must do nothing.
  result = run_python(BATCH_NORM_SNIPPET)
  if not NEEDED:
    assert result.returncode == 0, result.stderr[-2000:]
    return
  assert result.returncode != 0
  assert "No module named '%s.legacy_tf_layers'" % KERAS in result.stderr


def test_importing_the_package_makes_batch_norm_work():
  result = run_python('import resnet_v2_slim\n' + BATCH_NORM_SNIPPET)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'BATCH_NORM_OK (1, 2, 2, 3)' in result.stdout


@pytest.mark.skipif(not NEEDED, reason='no alias before TensorFlow 2.16')
def test_alias_points_at_the_moved_module_and_apply_is_idempotent():
  moved = importlib.import_module(KERAS + '.src.legacy_tf_layers.normalization')
  assert sys.modules[KERAS + '.legacy_tf_layers.normalization'] is moved
  assert compat.apply() is False  # already applied on package import
  assert sys.modules[KERAS + '.legacy_tf_layers.normalization'] is moved


def test_apply_is_a_no_op_where_nothing_moved():
  if NEEDED:
    assert KERAS + '.legacy_tf_layers' in sys.modules   # the alias exists
  assert compat.apply() is False


def test_package_import_is_quiet():
  result = run_python('import resnet_v2_slim')
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'I0000' not in result.stderr and 'oneDNN' not in result.stderr
