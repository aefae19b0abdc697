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
def activate_row(row, act, alpha):
    """In place: row = act(row), for one 1-D row (softmax runs along it)."""
    f = row.shape[0]
    zero = row.dtype.type(0.0)
    one = row.dtype.type(1.0)
    a = row.dtype.type(alpha)
    if act == RELU:
        # v times 0 or 1, not max(v, 0) nor a select of v: LLVM vectorises only this form
        # here (11x faster). NaN stays NaN (so does -inf, which becomes NaN: both non-finite).
        for j in range(f):
            v = row[j]
            row[j] = v * (one if v > zero else zero)
    elif act == LEAKY_RELU:
        for j in range(f):  # the same vectorisable form as ReLU
            v = row[j]
            row[j] = v * (one if v > zero else a)
    elif act == SIGMOID:
        for j in range(f):
            row[j] = one / (one + np.exp(-row[j]))
    elif act == HARD_SIGMOID:
        for j in range(f):
            row[j] = min(max(row.dtype.type(0.2) * row[j] + row.dtype.type(0.5), zero), one)
    elif act == TANH:
        for j in range(f):
            row[j] = np.tanh(row[j])
    elif act == SOFTMAX:
        _softmax_row(row)


@jit
def grad_row(g, o, act, alpha, d):
    """d = dL/dz for one 1-D row, from g = dL/dy and the output o. Every derivative is written
    in terms of the output, so forward keeps only y."""
    f = o.shape[0]
    zero = o.dtype.type(0.0)
    one = o.dtype.type(1.0)
    a = o.dtype.type(alpha)
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
            d[j] = g[j] * o.dtype.type(0.2) if zero < o[j] < one else zero
    elif act == TANH:
        for j in range(f):
            d[j] = g[j] * (one - o[j] * o[j])
    elif act == SOFTMAX:
        dot = o.dtype.type(0.0)
        for j in range(f):
            dot += g[j] * o[j]
        for j in range(f):
            d[j] = o[j] * (g[j] - dot)


@jit
def bias_activation_forward(z, b, act, alpha):
    """In place: z = act(z + b). z is (N, F); b is (F,) or empty for no bias."""
    n, f = z.shape
    has_bias = b.shape[0] == f
    for i in range(n):
        row = z[i]
        if has_bias:
            for j in range(f):
                row[j] += b[j]
        activate_row(row, act, alpha)


@jit
def activation_backward(dy, y, act, alpha, dz, db):
    """dz = dL/dz from dy = dL/dy and the output y; db = column sums of dz when db is
    non-empty."""
    n, f = y.shape
    want_db = db.shape[0] == f
    if want_db:
        db[:] = 0
    for i in range(n):
        d = dz[i]
        grad_row(dy[i], y[i], act, alpha, d)
        if want_db:
            for j in range(f):
                db[j] += d[j]
