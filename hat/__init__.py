"""hat: a Keras-like deep-learning framework for the CPU, on numpy and numba.

The public names load lazily, so `import hat` takes milliseconds; numba (about 0.3 s) is
imported with the first module that runs kernels (hat.models, hat.layers).
"""

import importlib

__version__ = "0.1.0"

_LAZY = {
    "Input": "hat.graph",
    "Sequential": "hat.models",
    "Model": "hat.models",
    "load_model": "hat.models",
}
_SUBMODULES = {
    "activations",
    "backend",
    "callbacks",
    "datasets",
    "distributed",
    "graph",
    "initializations",
    "io",
    "layers",
    "losses",
    "metrics",
    "models",
    "objectives",
    "onnx",
    "optimizers",
    "preprocessing",
    "regularizations",
    "serializations",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"hat.{name}")
    raise AttributeError(f"module 'hat' has no attribute {name!r}")
