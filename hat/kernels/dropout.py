"""Inverted dropout: kept units are scaled by 1 / (1 - p) so inference needs no rescaling.

The mask's random numbers come from a counter-based generator: unit i of a call gets the
splitmix64 output for state key + i * golden (the splitmix64 sequence started at key), so a
call needs one 64-bit key from the model's generator, not one draw per unit. numpy's
Generator.random filled float32 arrays at 4 ns a number here, which was most of dropout's
time; the hash runs at about 1 ns (measured on 250,000 units: 1.08 -> 0.29 ms a call).
The top 24 bits of each output make a uniform u in [0, 1) with 2^-24 resolution; a unit is
kept when u >= p_drop, so P(kept) = 1 - ceil(p_drop * 2^24) / 2^24.
"""

import numpy as np

from hat.kernels.activations import LINEAR, RELU
from hat.kernels.jit import jit

GOLDEN = 0x9E3779B97F4A7C15  # splitmix64's increment
_MIX1, _MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
UNIT_BITS = 24


@jit
def splitmix64(state):
    """splitmix64's output function: a 64-bit hash of the state (uint64, wrapping)."""
    z = (state ^ (state >> np.uint64(30))) * np.uint64(_MIX1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_MIX2)
    return z ^ (z >> np.uint64(31))


@jit
def dropout_forward(x, key, p_drop, y, mask):
    """y = x * mask, where mask[i] = 1/(1-p) if unit i is kept, else 0: kept when the top 24
    bits of splitmix64(key + i * GOLDEN) are >= ceil(p_drop * 2^24). Flat arrays, one size."""
    scale = x.dtype.type(1.0 / (1.0 - p_drop))
    zero = x.dtype.type(0.0)
    threshold = np.uint64(np.ceil(p_drop * 2.0**UNIT_BITS))
    state, step, shift = np.uint64(key), np.uint64(GOLDEN), np.uint64(64 - UNIT_BITS)
    for i in range(x.shape[0]):
        bits = splitmix64(state + np.uint64(i) * step) >> shift
        m = scale if bits >= threshold else zero
        mask[i] = m
        y[i] = x[i] * m


@jit
def multiply(a, b, out):
    """out = a * b on flat arrays (dropout's backward pass)."""
    for i in range(a.shape[0]):
        out[i] = a[i] * b[i]


@jit
def masked_activation_backward(dy, y, act, alpha, mask, dz, db):
    """dz = dL/dz of a Dense whose Dropout is folded into it (hat.layers.core.fold_dropouts):
    y is the dropped output act(z) * mask, dy the Dropout's output gradient, mask (N, F) its
    mask. Only for activations whose slope depends on the output's sign (linear, relu,
    leaky_relu), which the positive scale keeps; a dropped unit's gradient is zero. The values
    of the separate passes, dy * mask then act': the same products in the same order. db as
    activation_backward's (column sums of dz, in row order) when it is non-empty."""
    n, f = y.shape
    zero = y.dtype.type(0.0)
    a = y.dtype.type(alpha)
    want_db = db.shape[0] == f
    if want_db:
        db[:] = 0
    for i in range(n):
        d, g, o, m = dz[i], dy[i], y[i], mask[i]
        if act == LINEAR:
            for j in range(f):
                d[j] = g[j] * m[j]
        elif act == RELU:
            for j in range(f):
                d[j] = g[j] * m[j] if o[j] > zero else zero
        else:  # LEAKY_RELU
            for j in range(f):
                v = g[j] * m[j]
                d[j] = v if o[j] > zero else a * v
        if want_db:
            for j in range(f):
                db[j] += d[j]
