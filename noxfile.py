"""The TensorFlow release matrix: one nox session per release.

Each session makes a fresh virtual environment, installs that TensorFlow
with its matching tf-keras (none for 2.13-2.14, which use their bundled
Keras 2) and the package without its pinned set, then runs the fast subset
that shows
whether the release works: the compat fix, the differential tests against
``tf_slim.nets``, checkpoint restore and a tiny ``time-forward``.

    pip install nox
    nox -s "tf(2.20)"           # one release
    nox                         # all of them (5-9 minutes each here)

Not part of the default test run; the results are in the README's
"Tested with" table.
"""

import nox

# TensorFlow release -> tf-keras release (None: 2.13 and 2.14 build
# tf.layers with their bundled Keras 2; 2.15 already asks tf-keras).
RELEASES = {
    '2.13': None, '2.14': None, '2.15': '2.15',
    '2.16': '2.16', '2.17': '2.17', '2.18': '2.18', '2.19': '2.19',
    '2.20': '2.20', '2.21': '2.21',
}
SUBSET = [
    'tests/test_compat.py',
    'tests/test_nets_resnet_v2.py',
    'tests/test_checkpoints.py',
    'tests/test_perf_benchmark.py::test_output_and_json',
]
nox.options.sessions = ['tf(%s)' % r for r in RELEASES]


@nox.session(name='tf', python=False)
@nox.parametrize('release', list(RELEASES), ids=list(RELEASES))
def tensorflow_release(session, release):
  """Runs the fast subset against one TensorFlow release."""
  venv = '.nox/tf-%s' % release
  session.run('python', '-m', 'venv', '--clear', venv)
  pip = '%s/bin/pip' % venv
  python = '%s/bin/python' % venv
  requirements = ['tensorflow==%s.*' % release]
  if RELEASES[release]:
    requirements.append('tf-keras==%s.*' % RELEASES[release])
  session.run(pip, 'install', '-q', *requirements, 'tf-slim==1.1.0',
              'pillow', 'pytest', 'pytest-xdist', 'scikit-learn')
  # --no-deps: the package's own ranges would otherwise move TensorFlow.
  session.run(pip, 'install', '-q', '--no-deps', '-e', '.')
  session.run(python, '-c', 'import tensorflow as tf, resnet_v2_slim; '
              'print("TensorFlow", tf.__version__, "resnet_v2_slim", '
              'resnet_v2_slim.__version__)')
  session.run(python, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
              *SUBSET)
