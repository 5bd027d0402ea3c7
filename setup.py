"""Installs resnet_v2_slim with the versions it was tested against."""

from setuptools import find_packages
from setuptools import setup

# Tested together on Python 3.11 (see README "Compatibility"). tf-slim 1.1.0
# is the last release; it needs the fix in resnet_v2_slim/compat.py.
INSTALL_REQUIRES = [
    'tensorflow==2.21.0',
    'tf-keras==2.21.0',
    'tf-slim==1.1.0',
    'numpy==2.4.6',
    'pillow==13.0.0',           # image files in tests and data folders
    'scikit-learn==1.9.1',      # ships the digits the training scripts use
    'matplotlib==3.11.2',       # residual_experiment.py's plot
]

setup(
    name='resnet_v2_slim',
    version='0.2.0',
    description=('The book\'s TF-Slim ResNet V2 (full pre-activation), '
                 'graph mode, on today\'s TensorFlow.'),
    packages=find_packages(include=['resnet_v2_slim', 'resnet_v2_slim.*']),
    package_data={'resnet_v2_slim.data': ['*.txt']},
    entry_points={
        'console_scripts': ['resnet-v2-slim = resnet_v2_slim.cli.main:main'],
    },
    python_requires='>=3.10',
    install_requires=INSTALL_REQUIRES,
    extras_require={
        # xdist: graph building is single-threaded Python, so two workers
        # use both cores and halve the suite's wall time.
        'test': ['pytest==9.0.3', 'pytest-xdist==3.8.0'],
    },
)
