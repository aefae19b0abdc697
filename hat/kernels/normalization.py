"""Batch normalization kernels on x viewed as (A, C, B): statistics per c over a and b.

A dense input (N, F) is (N, F, 1); a conv input (N, C, H, W) is (N, C, H*W). Sums run in
float64 in a fixed order, so float32 statistics over large batches keep their digits and
repeat bit for bit.

Every kernel works on the channels [c0, c1) only, so the layer can split the channels among
hat.threads' pool (a channel's numbers never depend on the split). An elementwise activation
(a code from hat.kernels.activations; LINEAR for none) can ride along: forward applies it to
y, backward first takes its gradient from the output y. That saves the separate Activation
layer's passes over the whole tensor (BatchNorm then ReLU is the usual pair).
"""

import numpy as np

from hat.kernels.activations import LINEAR, activate_row, grad_row
from hat.kernels.jit import jit


@jit
def _channel_sums(x, shift, square, out, c0, c1):
    """out[c] = sum over a, b of (x - shift[c]) (square: its square), in float64."""
    a_n, _, b_n = x.shape
    out[c0:c1] = 0.0
    for a in range(a_n):
        if b_n == 1:  # dense: one value per (a, c); row views would cost more than the work
            for c in range(c0, c1):
                d = np.float64(x[a, c, 0]) - shift[c]
                out[c] += d * d if square else d
            continue
        for c in range(c0, c1):
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
def _normalize(x, mean, inv_std, gamma, beta, act, alpha, xhat, y, c0, c1):
    """xhat = (x - mean) * inv_std (kept for backward; not when xhat is empty, as in
    inference, where it would double the memory); y = act(gamma * xhat + beta)."""
    a_n, _, b_n = x.shape
    keep = xhat.shape[0] > 0
    for a in range(a_n):
        if b_n == 1:  # dense (see _channel_sums)
            for c in range(c0, c1):
                h = (x[a, c, 0] - x.dtype.type(mean[c])) * x.dtype.type(inv_std[c])
                if keep:
                    xhat[a, c, 0] = h
                y[a, c, 0] = gamma[c] * h + beta[c]
            continue
        for c in range(c0, c1):
            m = x.dtype.type(mean[c])
            s = x.dtype.type(inv_std[c])
            g, t = gamma[c], beta[c]
            src, out = x[a, c], y[a, c]
            if keep:
                h_row = xhat[a, c]
                for b in range(b_n):
                    h = (src[b] - m) * s
                    h_row[b] = h
                    out[b] = g * h + t
            else:
                for b in range(b_n):
                    out[b] = g * ((src[b] - m) * s) + t
            if act != LINEAR and b_n > 1:  # while the row is in cache
                activate_row(out, act, alpha)
    if act != LINEAR and b_n == 1:  # one value per row: one pass over the channel slice
        y2 = y.reshape(a_n, y.shape[1])  # C-contiguous rows: the same activate_row as conv's
        for a in range(a_n):
            activate_row(y2[a, c0:c1], act, alpha)


@jit
def batchnorm_forward_train(
    x, gamma, beta, eps, momentum, running_mean, running_var, update, act, alpha, xhat,
    inv_std, y, work, c0, c1,
):  # fmt: skip
    """Normalize by the batch's mean and biased variance. With update, running statistics move
    as running = momentum * running + (1 - momentum) * batch, with the unbiased variance (as
    PyTorch does). work is float64 scratch of shape (2, C)."""
    a_n, _, b_n = x.shape
    count = a_n * b_n
    mean, var = work[0], work[1]
    mean[c0:c1] = 0.0
    _channel_sums(x, mean, False, var, c0, c1)  # plain sums (shifted by 0), into var first
    for c in range(c0, c1):
        mean[c] = var[c] / count
    _channel_sums(x, mean, True, var, c0, c1)
    for c in range(c0, c1):
        var[c] /= count
        inv_std[c] = 1.0 / np.sqrt(var[c] + eps)
    _normalize(x, mean, inv_std, gamma, beta, act, alpha, xhat, y, c0, c1)
    if update:
        keep = running_mean.dtype.type(momentum)
        take = running_mean.dtype.type(1.0 - momentum)
        unbiased = count / (count - 1.0)
        for c in range(c0, c1):
            running_mean[c] = keep * running_mean[c] + take * running_mean.dtype.type(mean[c])
            running_var[c] = keep * running_var[c] + take * running_var.dtype.type(
                var[c] * unbiased
            )


@jit
def batchnorm_forward_infer(
    x, gamma, beta, eps, running_mean, running_var, act, alpha, xhat, inv_std, y, c0, c1
):
    """Normalize by the running statistics."""
    for c in range(c0, c1):
        inv_std[c] = 1.0 / np.sqrt(np.float64(running_var[c]) + eps)
    _normalize(x, running_mean, inv_std, gamma, beta, act, alpha, xhat, y, c0, c1)


@jit
def batchnorm_backward(
    dy, y, act, alpha, xhat, gamma, inv_std, batch_stats, dgamma, dbeta, dz, dx, work, c0, c1
):
    """dgamma = sum(dz * xhat), dbeta = sum(dz) per channel, where dz = dy through the
    activation's gradient (dz is scratch of dy's shape; unused when act is LINEAR); dx through
    the normalization (skipped when dx is empty). batch_stats: forward used the batch's
    statistics (so they depend on x), else fixed ones. work: float64 scratch of shape (2, C)."""
    a_n, _, b_n = dy.shape
    count = a_n * b_n
    if act != LINEAR:
        # Dense: one pass along the channels, on 2-D views whose row slices are contiguous
        # (strided 3-D slices would compile a second grad_row).
        c_n = dy.shape[1]
        dy2, y2, dz2 = (
            dy.reshape(a_n, c_n * b_n),
            y.reshape(a_n, c_n * b_n),
            dz.reshape(a_n, c_n * b_n),
        )
        for a in range(a_n):
            if b_n == 1:
                grad_row(dy2[a, c0:c1], y2[a, c0:c1], act, alpha, dz2[a, c0:c1])
                continue
            for c in range(c0, c1):
                grad_row(dy[a, c], y[a, c], act, alpha, dz[a, c])
        g_in = dz
    else:
        g_in = dy
    sum_dy, sum_dy_xhat = work[0], work[1]
    sum_dy[c0:c1] = 0.0
    sum_dy_xhat[c0:c1] = 0.0
    for a in range(a_n):
        if b_n == 1:  # dense (see _channel_sums)
            for c in range(c0, c1):
                g = np.float64(g_in[a, c, 0])
                sum_dy[c] += g
                sum_dy_xhat[c] += g * xhat[a, c, 0]
            continue
        for c in range(c0, c1):
            t0 = 0.0
            t1 = 0.0
            g_row, h_row = g_in[a, c], xhat[a, c]
            for b in range(b_n):
                g = np.float64(g_row[b])
                t0 += g
                t1 += g * h_row[b]
            sum_dy[c] += t0
            sum_dy_xhat[c] += t1
    for c in range(c0, c1):
        dbeta[c] = sum_dy[c]
        dgamma[c] = sum_dy_xhat[c]
    if dx.shape[0] == 0:
        return
    for c in range(c0, c1):
        scale = dx.dtype.type(gamma[c] * inv_std[c])
        if batch_stats:
            mean_dy = dx.dtype.type(sum_dy[c] / count)
            mean_dy_xhat = dx.dtype.type(sum_dy_xhat[c] / count)
        else:
            mean_dy = dx.dtype.type(0.0)
            mean_dy_xhat = dx.dtype.type(0.0)
        for a in range(a_n):
            if b_n == 1:  # dense (see _channel_sums)
                dx[a, c, 0] = scale * (g_in[a, c, 0] - mean_dy - xhat[a, c, 0] * mean_dy_xhat)
                continue
            g_row, h_row, out = g_in[a, c], xhat[a, c], dx[a, c]
            for b in range(b_n):
                out[b] = scale * (g_row[b] - mean_dy - h_row[b] * mean_dy_xhat)


@jit
def batchnorm_input_grad(g_in, xhat, gamma, inv_std, mean_g, mean_g_xhat, dx, c0, c1):
    """dx = gamma * inv_std * (g_in - mean_g - xhat * mean_g_xhat) per channel, where g_in is
    the gradient at the normalized output (through the activation) and mean_g, mean_g_xhat
    (float64, per channel) the means of g_in and g_in * xhat that the statistics take away.
    batchnorm_backward's last loop with the means given (hat.distributed's BatchNorm takes
    them from every shard); that loop stays inline there, where the compiler keeps plain
    fit's bits (as a call, fastmath rounded the means differently)."""
    a_n, _, b_n = g_in.shape
    for c in range(c0, c1):
        scale = dx.dtype.type(gamma[c] * inv_std[c])
        mean_dy = dx.dtype.type(mean_g[c])
        mean_dy_xhat = dx.dtype.type(mean_g_xhat[c])
        for a in range(a_n):
            if b_n == 1:  # dense (see _channel_sums)
                dx[a, c, 0] = scale * (g_in[a, c, 0] - mean_dy - xhat[a, c, 0] * mean_dy_xhat)
                continue
            g_row, h_row, out = g_in[a, c], xhat[a, c], dx[a, c]
            for b in range(b_n):
                out[b] = scale * (g_row[b] - mean_dy - h_row[b] * mean_dy_xhat)
