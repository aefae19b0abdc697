"""Hat's backend module, kept so that `import hat.backend as K` in old scripts still works.

The original Hat wrapped Theano here; hat computes with numpy and numba, so the backend is
just the numeric settings that the rest of the package reads.
"""

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7


def floatx() -> str:
    """The default float type of parameters and data ('float32')."""
    return _FLOATX


def epsilon() -> float:
    """The fuzz factor that keeps logarithms and divisions finite."""
    return _EPSILON


def cast_to_floatx(x) -> np.ndarray:
    return np.asarray(x, dtype=_FLOATX)
