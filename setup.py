"""Packaging for hat: a Keras-like deep-learning framework on numpy and numba."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "hat" / "__init__.py").read_text()).group(1)

setup(
    name="hat-nn",  # "hat" on PyPI is the original Theano-era Hat; the import name stays hat
    version=VERSION,
    description="A Keras-like deep-learning framework for the CPU, on numpy and numba",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["hat", "hat.*"]),
    python_requires=">=3.10",
    install_requires=["numpy>=1.24", "numba>=0.58", "h5py>=3.8", "tqdm>=4.60"],
    extras_require={
        "test": [
            "pytest>=7",
            "pytest-cov>=4",
            "hypothesis>=6",
            "ruff>=0.5",
            "matplotlib>=3.6",
            "onnx>=1.14",
            "onnxruntime>=1.16",
            "tensorboard>=2.12",
        ],
        "onnx": ["onnx>=1.14"],
        "plot": ["matplotlib>=3.6"],
        "docs": [
            "mkdocs>=1.6",
            "mkdocs-material>=9.5",
            "mkdocstrings[python]>=0.25",
            "ruff>=0.5",  # mkdocstrings formats long signatures with it
            "griffe-inherited-docstrings>=1.0",  # overrides show their base's docstring
        ],
        # Data-parallel fit (hat.distributed); on a cluster, mpi4py built on the site's MPI.
        "mpi": ["mpi4py", "mpich"],
    },
)
