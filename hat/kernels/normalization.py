"""Batch normalization kernels on x viewed as (A, C, B): statistics per c over a and b.

A dense input (N, F) is (N, F, 1); a conv input (N, C, H, W) is (N, C, H*W). Sums run in
float64 in a fixed order, so float32 statistics over large batches keep their digits and
repeat bit for bit.
"""

import numpy as np

from hat.kernels.jit import jit


@jit
def _channel_sums(x, shift, square, out):
    """out[c] = sum over a, b of (x - shift[c]) (square: its square), in float64."""
    a_n, c_n, b_n = x.shape
    out[:] = 0.0
    for a in range(a_n):
        if b_n == 1:
            for c in range(c_n):
                d = np.float64(x[a, c, 0]) - shift[c]
                out[c] += d * d if square else d
        else:
            for c in range(c_n):
                m = shift[c]
                total = 0.0
                row = x[a, c]
                if square:
                    for b in range(b_n):
                        d = np.float64(row[b]) - m
                        total += d * d
                else:
                    for b in range(b_n):
                        total += np.float64(row[b]) - m
                out[c] += total


@jit
def _normalize(x, mean, inv_std, gamma, beta, xhat, y):
    """xhat = (x - mean) * inv_std; y = gamma * xhat + beta."""
    a_n, c_n, b_n = x.shape
    for a in range(a_n):
        for c in range(c_n):
            m = x.dtype.type(mean[c])
            s = x.dtype.type(inv_std[c])
            g, t = gamma[c], beta[c]
            for b in range(b_n):
                h = (x[a, c, b] - m) * s
                xhat[a, c, b] = h
                y[a, c, b] = g * h + t


@jit
def batchnorm_forward_train(
    x, gamma, beta, eps, momentum, running_mean, running_var, update, xhat, inv_std, y, work
):
    """Normalize by the batch's mean and biased variance. With update, running statistics move
    as running = momentum * running + (1 - momentum) * batch, with the unbiased variance (as
    PyTorch does). work is float64 scratch of shape (2, C)."""
    a_n, c_n, b_n = x.shape
    count = a_n * b_n
    mean, var = work[0], work[1]
    zero = np.zeros(c_n)
    _channel_sums(x, zero, False, mean)
    for c in range(c_n):
        mean[c] /= count
    _channel_sums(x, mean, True, var)
    for c in range(c_n):
        var[c] /= count
        inv_std[c] = 1.0 / np.sqrt(var[c] + eps)
    _normalize(x, mean, inv_std, gamma, beta, xhat, y)
    if update:
        keep = running_mean.dtype.type(momentum)
        take = running_mean.dtype.type(1.0 - momentum)
        unbiased = count / (count - 1.0)
        for c in range(c_n):
            running_mean[c] = keep * running_mean[c] + take * running_mean.dtype.type(mean[c])
            running_var[c] = keep * running_var[c] + take * running_var.dtype.type(
                var[c] * unbiased
            )


@jit
def batchnorm_forward_infer(x, gamma, beta, eps, running_mean, running_var, xhat, inv_std, y):
    """Normalize by the running statistics."""
    c_n = x.shape[1]
    mean = np.empty(c_n)
    for c in range(c_n):
        mean[c] = running_mean[c]
        inv_std[c] = 1.0 / np.sqrt(np.float64(running_var[c]) + eps)
    _normalize(x, mean, inv_std, gamma, beta, xhat, y)


@jit
def batchnorm_backward(dy, xhat, gamma, inv_std, batch_stats, dgamma, dbeta, dx):
    """dgamma = sum(dy * xhat), dbeta = sum(dy) per channel; dx through the normalization.
    batch_stats: forward used the batch's statistics (so they depend on x), else fixed ones."""
    a_n, c_n, b_n = dy.shape
    count = a_n * b_n
    sum_dy = np.zeros(c_n)
    sum_dy_xhat = np.zeros(c_n)
    for a in range(a_n):
        for c in range(c_n):
            t0 = 0.0
            t1 = 0.0
            for b in range(b_n):
                g = np.float64(dy[a, c, b])
                t0 += g
                t1 += g * xhat[a, c, b]
            sum_dy[c] += t0
            sum_dy_xhat[c] += t1
    for c in range(c_n):
        dbeta[c] = sum_dy[c]
        dgamma[c] = sum_dy_xhat[c]
    if dx.shape[0] == 0:
        return
    for c in range(c_n):
        scale = dx.dtype.type(gamma[c] * inv_std[c])
        if batch_stats:
            mean_dy = dx.dtype.type(sum_dy[c] / count)
            mean_dy_xhat = dx.dtype.type(sum_dy_xhat[c] / count)
        else:
            mean_dy = dx.dtype.type(0.0)
            mean_dy_xhat = dx.dtype.type(0.0)
        for a in range(a_n):
            for b in range(b_n):
                dx[a, c, b] = scale * (dy[a, c, b] - mean_dy - xhat[a, c, b] * mean_dy_xhat)
