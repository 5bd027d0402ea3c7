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
