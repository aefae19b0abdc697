"""The numeric settings that the rest of hat reads: the default float type and the fuzz factor."""

import numpy as np

_FLOATX = "float32"
_EPSILON = 1e-7


def floatx() -> str:
    """The default float type of parameters and data ('float32').

    Returns:
        str: The dtype's name.
    """
    return _FLOATX


def epsilon() -> float:
    """The fuzz factor that keeps logarithms and divisions finite (1e-7).

    Returns:
        float: The factor.
    """
    return _EPSILON


def cast_to_floatx(x) -> np.ndarray:
    """x as an array of the default float type.

    Args:
        x (array-like): The data.

    Returns:
        numpy.ndarray: x in floatx() ('float32').
    """
    return np.asarray(x, dtype=_FLOATX)
