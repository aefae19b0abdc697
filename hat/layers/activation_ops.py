"""How layers run an activation: the fused numba kernel, or a user's registered functions.

Arrays are viewed as 2-D (rows, last axis) so that softmax runs along the last axis.
"""

import numpy as np

from hat.activations import ActivationSpec
from hat.kernels import activations as kernels

_NO_BIAS = {
    np.dtype(np.float32): np.empty(0, np.float32),
    np.dtype(np.float64): np.empty(0, np.float64),
}


def _rows(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, a.shape[-1])


def activate(spec: ActivationSpec, z: np.ndarray, bias: np.ndarray | None = None):
    """act(z + bias), in place for built-in activations. Returns (y, what backward needs)."""
    if spec.is_builtin:
        b = _NO_BIAS[z.dtype] if bias is None else bias
        kernels.bias_activation_forward(_rows(z), b, spec.code, spec.alpha)
        return z, None
    if bias is not None:
        z += bias
    return np.asarray(spec.forward(z), dtype=z.dtype), z.copy()


def activation_grad(spec, y, saved_z, dy, dz, db=None) -> np.ndarray:
    """dz = dL/dz; db (if given) receives the sums of dz over every axis but the last."""
    if spec.is_builtin:
        b = _NO_BIAS[y.dtype] if db is None else db
        kernels.activation_backward(_rows(dy), _rows(y), spec.code, spec.alpha, _rows(dz), b)
        return dz
    dz[...] = spec.backward(saved_z, y, dy)
    if db is not None:
        np.sum(_rows(dz), axis=0, out=db)
    return dz
