"""How layers run an activation: the fused numba kernel, or a user's registered functions.

Arrays are viewed as 2-D: (rows, last axis) where the row matters (softmax runs along the last
axis; a bias or its gradient is per column), else as one long row. Short rows cost a factor:
ReLU's backward on a conv chunk viewed as rows of 28 ran 7x slower than as one row.
"""

import numpy as np

from hat.activations import ActivationSpec
from hat.kernels import activations as kernels

_NO_BIAS = {
    np.dtype(np.float32): np.empty(0, np.float32),
    np.dtype(np.float64): np.empty(0, np.float64),
}


def _rows(a: np.ndarray, spec: ActivationSpec, per_column: bool = False) -> np.ndarray:
    """a viewed as the 2-D array the kernels take (a must be C-contiguous)."""
    if per_column or spec.code == kernels.SOFTMAX:
        return a.reshape(-1, a.shape[-1])
    return a.reshape(1, -1)


def activate(spec: ActivationSpec, z: np.ndarray, bias: np.ndarray | None = None):
    """act(z + bias), in place for built-in activations. Returns (y, what backward needs)."""
    if spec.is_builtin:
        b = _NO_BIAS[z.dtype] if bias is None else bias
        kernels.bias_activation_forward(_rows(z, spec, bias is not None), b, spec.code, spec.alpha)
        return z, None
    if bias is not None:
        z += bias
    return np.asarray(spec.forward(z), dtype=z.dtype), z.copy()


def grad_kernels(spec: ActivationSpec, masked: bool = False) -> list:
    """activation_grad's kernel with its argument spec (see Layer.backward_kernels); masked:
    the one it calls with a folded Dropout's mask."""
    if masked:
        from hat.kernels.dropout import masked_activation_backward

        return [(masked_activation_backward, "A2 A2 i f A2 A2 A1")]
    return [(kernels.activation_backward, "A2 A2 i f A2 A1")] if spec.is_builtin else []


def activation_grad(spec, y, saved_z, dy, dz, db=None, mask=None) -> np.ndarray:
    """dz = dL/dz; db (if given) receives the sums of dz over every axis but the last. mask
    (2-D, y's shape): a Dropout folded into the layer (hat.layers.core.fold_dropouts), whose
    mask multiplies dy in the same pass; y is then the dropped output."""
    if mask is not None:
        from hat.kernels.dropout import masked_activation_backward

        b = _NO_BIAS[y.dtype] if db is None else db
        masked_activation_backward(dy, y, spec.code, spec.alpha, mask, dz, b)
        return dz
    if spec.is_builtin:
        b = _NO_BIAS[y.dtype] if db is None else db
        per_column = db is not None
        kernels.activation_backward(
            _rows(dy, spec, per_column), _rows(y, spec, per_column), spec.code, spec.alpha,
            _rows(dz, spec, per_column), b,
        )  # fmt: skip
        return dz
    dz[...] = spec.backward(saved_z, y, dy)
    if db is not None:
        np.sum(dz.reshape(-1, dz.shape[-1]), axis=0, out=db)
    return dz
