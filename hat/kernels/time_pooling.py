"""Mean and maximum over the time axis of (batch, time, features) arrays, under a mask.

mask is (N, T) with nonzero entries on real steps, or has no columns (shape (N, 0)): every
step is real. A sample with no real step gets zeros (and a zero gradient).
"""

import numpy as np

from hat.kernels.jit import jit


@jit
def time_mean_forward(x, mask, y, counts):
    """y[s] = the mean of x[s, t] over the real steps t; counts[s] = how many there are."""
    n, t_len, c = x.shape
    masked = mask.shape[1] == t_len
    for s in range(n):
        out = y[s]
        out[:] = 0
        count = 0
        for t in range(t_len):
            if masked and mask[s, t] == 0:
                continue
            count += 1
            row = x[s, t]
            for j in range(c):
                out[j] += row[j]
        counts[s] = count
        if count > 0:
            scale = x.dtype.type(1.0 / count)
            for j in range(c):
                out[j] *= scale


@jit
def time_mean_backward(dy, mask, counts, dx):
    n, t_len, c = dx.shape
    masked = mask.shape[1] == t_len
    for s in range(n):
        scale = dx.dtype.type(1.0 / counts[s]) if counts[s] > 0 else dx.dtype.type(0.0)
        g = dy[s]
        for t in range(t_len):
            row = dx[s, t]
            if masked and mask[s, t] == 0:
                row[:] = 0
                continue
            for j in range(c):
                row[j] = g[j] * scale


@jit
def time_max_forward(x, mask, y, argmax):
    """y[s, j] = the maximum of x[s, t, j] over the real steps t (NaN if one of them is NaN);
    argmax[s, j] = its first step, or -1 when the sample has no real step (y = 0)."""
    n, t_len, c = x.shape
    masked = mask.shape[1] == t_len
    for s in range(n):
        out, where = y[s], argmax[s]
        where[:] = -1
        out[:] = 0
        for t in range(t_len):
            if masked and mask[s, t] == 0:
                continue
            row = x[s, t]
            for j in range(c):
                v = row[j]
                # The first real step seeds the maximum; once a NaN is in, it stays.
                best = out[j]
                if where[j] < 0 or (best == best and (v > best or v != v)):
                    out[j] = v
                    where[j] = t


@jit
def time_max_backward(dy, argmax, dx):
    """dx = each (sample, feature)'s gradient on the step of its maximum, zero elsewhere."""
    n, t_len, c = dx.shape
    dx[...] = 0
    for s in range(n):
        for j in range(c):
            t = argmax[s, j]
            if t >= 0:
                dx[s, t, j] = dy[s, j]


def no_mask(n: int, dtype) -> np.ndarray:
    """The kernels' "every step is real"."""
    return np.empty((n, 0), dtype)
