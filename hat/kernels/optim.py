"""Optimizer updates: each walks the flat parameter buffer once, in place.

Hyperparameters arrive as Python floats and are cast to the parameters' dtype first, so float32
parameters are updated in float32 arithmetic (as PyTorch does) at full SIMD width.
The formulas follow torch.optim, so the parity tests can compare step by step. The updates
compile with numpy's error model (jit_elementwise), so that their loops vectorize.
"""

import numpy as np

from hat.kernels.jit import jit, jit_elementwise


@jit_elementwise
def _clipped(g, clipvalue):
    if clipvalue > 0:
        return min(max(g, -clipvalue), clipvalue)
    return g


@jit_elementwise
def sgd_update(p, g, velocity, lr, momentum, nesterov, weight_decay, clipvalue):
    t = p.dtype.type
    lr, mom, wd, clip = t(lr), t(momentum), t(weight_decay), t(clipvalue)
    for i in range(p.shape[0]):
        gi = _clipped(g[i], clip) + wd * p[i]
        if momentum != 0:
            v = mom * velocity[i] + gi
            velocity[i] = v
            gi = gi + mom * v if nesterov else v
        p[i] -= lr * gi


@jit_elementwise
def adam_update(p, g, m, v, lr, beta1, beta2, eps, step, weight_decay, decoupled, clipvalue):
    """Adam (decoupled=False: L2 added to the gradient) or AdamW (decoupled=True)."""
    t = p.dtype.type
    b1, b2, e, wd, clip = t(beta1), t(beta2), t(eps), t(weight_decay), t(clipvalue)
    step_size = t(lr / (1.0 - beta1**step))
    bias2_sqrt = t(np.sqrt(1.0 - beta2**step))
    decay = t(1.0 - lr * weight_decay)
    one = t(1.0)
    for i in range(p.shape[0]):
        gi = _clipped(g[i], clip)
        if decoupled:
            p[i] *= decay
        else:
            gi += wd * p[i]
        mi = b1 * m[i] + (one - b1) * gi
        vi = b2 * v[i] + (one - b2) * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] -= step_size * mi / (np.sqrt(vi) / bias2_sqrt + e)


@jit_elementwise
def rmsprop_update(p, g, square_avg, lr, rho, eps, weight_decay, clipvalue):
    t = p.dtype.type
    lr, r, e, wd, clip = t(lr), t(rho), t(eps), t(weight_decay), t(clipvalue)
    one = t(1.0)
    for i in range(p.shape[0]):
        gi = _clipped(g[i], clip) + wd * p[i]
        a = r * square_avg[i] + (one - r) * gi * gi
        square_avg[i] = a
        p[i] -= lr * gi / (np.sqrt(a) + e)


@jit_elementwise
def adagrad_update(p, g, sum_sq, lr, eps, weight_decay, clipvalue):
    t = p.dtype.type
    lr, e, wd, clip = t(lr), t(eps), t(weight_decay), t(clipvalue)
    for i in range(p.shape[0]):
        gi = _clipped(g[i], clip) + wd * p[i]
        s = sum_sq[i] + gi * gi
        sum_sq[i] = s
        p[i] -= lr * gi / (np.sqrt(s) + e)


@jit_elementwise
def adadelta_update(p, g, square_avg, acc_delta, lr, rho, eps, weight_decay, clipvalue):
    t = p.dtype.type
    lr, r, e, wd, clip = t(lr), t(rho), t(eps), t(weight_decay), t(clipvalue)
    one = t(1.0)
    for i in range(p.shape[0]):
        gi = _clipped(g[i], clip) + wd * p[i]
        a = r * square_avg[i] + (one - r) * gi * gi
        square_avg[i] = a
        delta = np.sqrt(acc_delta[i] + e) / np.sqrt(a + e) * gi
        acc_delta[i] = r * acc_delta[i] + (one - r) * delta * delta
        p[i] -= lr * delta


@jit
def l1l2_penalty(w, dw, l1, l2, want_grad):
    """l1 * sum|w| + l2 * sum w^2 (summed in float64; the same bits with or without
    want_grad), and with want_grad dw += l1 * sign(w) + 2 * l2 * w (flat arrays)."""
    total_abs = 0.0
    total_sq = 0.0
    for i in range(w.shape[0]):
        v = np.float64(w[i])
        total_abs += abs(v)
        total_sq += v * v
    if want_grad:
        a = w.dtype.type(l1)
        b = w.dtype.type(2.0 * l2)
        for i in range(w.shape[0]):
            if l1 != 0.0:
                dw[i] += a * np.sign(w[i])
            if l2 != 0.0:
                dw[i] += b * w[i]
    return l1 * total_abs + l2 * total_sq
