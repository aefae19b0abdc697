"""Naive numpy references for the sequence layers, written from the maths, in float64 loops.

Arrays are (batch, time, features); masks (batch, time) with nonzero entries on real steps.
"""

import numpy as np

from tests.helpers import reference as ref


def pads_1d(t: int, k: int, stride: int, border_mode) -> tuple[int, int]:
    if isinstance(border_mode, tuple):
        return border_mode
    if isinstance(border_mode, int):
        return border_mode, border_mode
    if border_mode == "valid":
        return 0, 0
    if border_mode == "full":
        return k - 1, k - 1
    if border_mode == "causal":
        return k - 1, 0
    out = -(-t // stride)  # 'same'
    total = max((out - 1) * stride + k - t, 0)
    return total // 2, total - total // 2


def conv1d_forward(x, W, b, stride, pads, act="linear"):
    """y[n, t, f] = act(b[f] + sum_{j, c} xp[n, t*stride + j, c] W[f, j, c])."""
    x = np.asarray(x, np.float64)
    n, t, c = x.shape
    f, k, _ = W.shape
    xp = np.zeros((n, t + pads[0] + pads[1], c))
    xp[:, pads[0] : pads[0] + t] = x
    t_out = (xp.shape[1] - k) // stride + 1
    z = np.zeros((n, t_out, f))
    for s in range(n):
        for p in range(t_out):
            window = xp[s, p * stride : p * stride + k]  # (k, c)
            for o in range(f):
                z[s, p, o] = b[o] + np.sum(window * W[o])
    return ref.activation(act, z)


def pool1d_forward(x, k, stride, mode):
    x = np.asarray(x, np.float64)
    n, t, c = x.shape
    t_out = (t - k) // stride + 1
    y = np.zeros((n, t_out, c))
    for p in range(t_out):
        window = x[:, p * stride : p * stride + k]
        y[:, p] = window.max(axis=1) if mode == "max" else window.mean(axis=1)
    return y


def time_pool(x, mask, mode):
    """Mean or max over the real steps of each sample; zeros for a sample with none."""
    x = np.asarray(x, np.float64)
    n, t, c = x.shape
    mask = np.ones((n, t)) if mask is None else np.asarray(mask)
    y = np.zeros((n, c))
    for s in range(n):
        real = x[s][mask[s] != 0]
        if len(real):
            y[s] = real.mean(axis=0) if mode == "mean" else real.max(axis=0)
    return y
