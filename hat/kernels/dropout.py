"""Inverted dropout: kept units are scaled by 1 / (1 - p) so inference needs no rescaling."""

from hat.kernels.jit import jit


@jit
def dropout_forward(x, uniform, p_drop, y, mask):
    """y = x * mask, where mask is 1/(1-p) where uniform >= p_drop and 0 elsewhere.

    All arrays are flat (1-D) views of the same size.
    """
    scale = x.dtype.type(1.0 / (1.0 - p_drop))
    zero = x.dtype.type(0.0)
    p = uniform.dtype.type(p_drop)
    for i in range(x.shape[0]):
        m = scale if uniform[i] >= p else zero
        mask[i] = m
        y[i] = x[i] * m


@jit
def multiply(a, b, out):
    """out = a * b on flat arrays (dropout's backward pass)."""
    for i in range(a.shape[0]):
        out[i] = a[i] * b[i]
