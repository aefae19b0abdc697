"""Loss kernels: each returns the loss (mean over samples) and writes its gradient in one pass.

Losses sum over the last axis and average over samples, as Hat's objectives did. Gradients are
with respect to the model output, except the `*_from_*` kernels, which fuse the output activation
and return the gradient with respect to its input (the stable form).
"""

import numpy as np

from hat.kernels.jit import jit


@jit
def softmax_crossentropy(p, y, eps, dz):
    """Categorical cross-entropy of softmax outputs p against targets y; dz = dL/d(logits)."""
    n, k = p.shape
    inv_n = p.dtype.type(1.0 / n)
    lo = p.dtype.type(eps)
    hi = p.dtype.type(1.0 - eps)
    total = np.float64(0.0)  # float64 sums, compiled or not (NUMBA_DISABLE_JIT)
    for i in range(n):
        row_sum = p.dtype.type(0.0)
        for j in range(k):
            row_sum += y[i, j]
            if y[i, j] != 0:
                total -= y[i, j] * np.log(min(max(p[i, j], lo), hi))
        for j in range(k):
            dz[i, j] = (p[i, j] * row_sum - y[i, j]) * inv_n
    return float(total / n)


@jit
def sparse_softmax_crossentropy(p, labels, eps, dz):
    """As softmax_crossentropy, with integer class labels instead of one-hot targets."""
    n, k = p.shape
    inv_n = p.dtype.type(1.0 / n)
    lo = p.dtype.type(eps)
    hi = p.dtype.type(1.0 - eps)
    total = np.float64(0.0)  # float64 sums, compiled or not (NUMBA_DISABLE_JIT)
    for i in range(n):
        for j in range(k):
            dz[i, j] = p[i, j] * inv_n
        c = labels[i]
        dz[i, c] -= inv_n
        total -= np.log(min(max(p[i, c], lo), hi))
    return float(total / n)


@jit
def categorical_crossentropy(p, y, eps, dp):
    """Cross-entropy of any probability output; dp = dL/dp (zero where p was clipped)."""
    n, k = p.shape
    inv_n = p.dtype.type(1.0 / n)
    lo = p.dtype.type(eps)
    hi = p.dtype.type(1.0 - eps)
    total = np.float64(0.0)  # float64 sums, compiled or not (NUMBA_DISABLE_JIT)
    for i in range(n):
        for j in range(k):
            q = p[i, j]
            inside = lo <= q <= hi
            q = min(max(q, lo), hi)
            if y[i, j] != 0:
                total -= y[i, j] * np.log(q)
            dp[i, j] = -y[i, j] / q * inv_n if inside else p.dtype.type(0.0)
    return float(total / n)


@jit
def sparse_categorical_crossentropy(p, labels, eps, dp):
    n, k = p.shape
    inv_n = p.dtype.type(1.0 / n)
    lo = p.dtype.type(eps)
    hi = p.dtype.type(1.0 - eps)
    total = np.float64(0.0)  # float64 sums, compiled or not (NUMBA_DISABLE_JIT)
    for i in range(n):
        for j in range(k):
            dp[i, j] = 0
        c = labels[i]
        q = p[i, c]
        inside = lo <= q <= hi
        q = min(max(q, lo), hi)
        total -= np.log(q)
        if inside:
            dp[i, c] = -inv_n / q
    return float(total / n)


@jit
def sigmoid_binary_crossentropy(p, y, eps, dz):
    """Binary cross-entropy of sigmoid outputs p; dz = dL/d(logits) = (p - y) / N."""
    n, k = p.shape
    inv_n = p.dtype.type(1.0 / n)
    lo = p.dtype.type(eps)
    hi = p.dtype.type(1.0 - eps)
    total = np.float64(0.0)  # float64 sums, compiled or not (NUMBA_DISABLE_JIT)
    for i in range(n):
        for j in range(k):
            q = min(max(p[i, j], lo), hi)
            total -= y[i, j] * np.log(q) + (1.0 - y[i, j]) * np.log(1.0 - q)
            dz[i, j] = (p[i, j] - y[i, j]) * inv_n
    return float(total / n)


@jit
def binary_crossentropy(p, y, eps, dp):
    n, k = p.shape
    inv_n = p.dtype.type(1.0 / n)
    lo = p.dtype.type(eps)
    hi = p.dtype.type(1.0 - eps)
    one = p.dtype.type(1.0)
    total = np.float64(0.0)  # float64 sums, compiled or not (NUMBA_DISABLE_JIT)
    for i in range(n):
        for j in range(k):
            q = p[i, j]
            inside = lo <= q <= hi
            q = min(max(q, lo), hi)
            total -= y[i, j] * np.log(q) + (1.0 - y[i, j]) * np.log(1.0 - q)
            dp[i, j] = (q - y[i, j]) / (q * (one - q)) * inv_n if inside else p.dtype.type(0.0)
    return float(total / n)


@jit
def mean_squared_error(p, y, dp):
    n, k = p.shape
    scale = p.dtype.type(2.0 / n)
    total = np.float64(0.0)  # float64 sums, compiled or not (NUMBA_DISABLE_JIT)
    for i in range(n):
        for j in range(k):
            d = p[i, j] - y[i, j]
            total += d * d
            dp[i, j] = scale * d
    return float(total / n)


@jit
def mean_absolute_error(p, y, dp):
    n, k = p.shape
    inv_n = p.dtype.type(1.0 / n)
    total = np.float64(0.0)  # float64 sums, compiled or not (NUMBA_DISABLE_JIT)
    for i in range(n):
        for j in range(k):
            d = p[i, j] - y[i, j]
            total += abs(d)
            dp[i, j] = inv_n * np.sign(d)
    return float(total / n)
