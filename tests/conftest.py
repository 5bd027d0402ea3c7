"""Shared pytest set-up: import the package (quiet TF, compat fix) first."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import resnet_v2_slim  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position
import tensorflow.compat.v1 as tf  # noqa: E402  pylint: disable=wrong-import-position


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
def saved(tmp_path_factory):
  """case name -> (prefix, {variable name: value}), saved on first use."""
  import refnets  # pylint: disable=g-import-not-at-top
  cache = {}

  def get(case):
    if case not in cache:
      model, fmt, classes, scope = CHECKPOINT_CASES[case]
      folder = tmp_path_factory.mktemp(case)
      cache[case] = refnets.save_reference_checkpoint(
          folder / (model + '.ckpt'), model, classes, scope=scope,
          write_version=(tf.train.SaverDef.V1 if fmt == 'V1' else None))
    return cache[case]
  return get
