"""Activation kernels on 2-D arrays (rows are samples; softmax runs along each row).

An activation is named by an integer code so that one compiled kernel serves them all; the
branch sits outside the inner loop.
"""

import numpy as np

from hat.kernels.jit import jit

LINEAR, RELU, LEAKY_RELU, SIGMOID, HARD_SIGMOID, TANH, SOFTMAX = range(7)


@jit
def _softmax_row(row):
    peak = row[0]
    for j in range(1, row.shape[0]):
        peak = max(peak, row[j])
    total = row.dtype.type(0.0)
    for j in range(row.shape[0]):
        row[j] = np.exp(row[j] - peak)
        total += row[j]
    inv = row.dtype.type(1.0) / total
    for j in range(row.shape[0]):
        row[j] *= inv


@jit
def bias_activation_forward(z, b, act, alpha):
    """In place: z = act(z + b). z is (N, F); b is (F,) or empty for no bias."""
    n, f = z.shape
    has_bias = b.shape[0] == f
    zero = z.dtype.type(0.0)
    one = z.dtype.type(1.0)
    a = z.dtype.type(alpha)
    for i in range(n):
        row = z[i]
        if has_bias:
            for j in range(f):
                row[j] += b[j]
        if act == RELU:
            for j in range(f):
                row[j] = max(row[j], zero)
        elif act == LEAKY_RELU:
            for j in range(f):
                row[j] = row[j] if row[j] > 0 else a * row[j]
        elif act == SIGMOID:
            for j in range(f):
                row[j] = one / (one + np.exp(-row[j]))
        elif act == HARD_SIGMOID:
            for j in range(f):
                row[j] = min(max(z.dtype.type(0.2) * row[j] + z.dtype.type(0.5), zero), one)
        elif act == TANH:
            for j in range(f):
                row[j] = np.tanh(row[j])
        elif act == SOFTMAX:
            _softmax_row(row)


@jit
def activation_backward(dy, y, act, alpha, dz, db):
    """dz = dL/dz from dy = dL/dy and the output y; db += column sums of dz when db is non-empty.

    Every derivative is written in terms of the output y, so forward keeps only y.
    """
    n, f = y.shape
    want_db = db.shape[0] == f
    zero = y.dtype.type(0.0)
    one = y.dtype.type(1.0)
    a = y.dtype.type(alpha)
    if want_db:
        db[:] = zero
    for i in range(n):
        g = dy[i]
        o = y[i]
        d = dz[i]
        if act == LINEAR:
            for j in range(f):
                d[j] = g[j]
        elif act == RELU:
            for j in range(f):
                d[j] = g[j] if o[j] > zero else zero
        elif act == LEAKY_RELU:
            for j in range(f):
                d[j] = g[j] if o[j] > zero else a * g[j]
        elif act == SIGMOID:
            for j in range(f):
                d[j] = g[j] * o[j] * (one - o[j])
        elif act == HARD_SIGMOID:
            for j in range(f):
                d[j] = g[j] * y.dtype.type(0.2) if zero < o[j] < one else zero
        elif act == TANH:
            for j in range(f):
                d[j] = g[j] * (one - o[j] * o[j])
        elif act == SOFTMAX:
            dot = y.dtype.type(0.0)
            for j in range(f):
                dot += g[j] * o[j]
            for j in range(f):
                d[j] = o[j] * (g[j] - dot)
        if want_db:
            for j in range(f):
                db[j] += d[j]
