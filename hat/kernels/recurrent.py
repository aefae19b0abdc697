"""The per-step passes of SimpleRnn, LSTM and GRU: gate non-linearities and the state update
fused in one pass over a chunk of the batch, forward and back.

The layer does the matrix products: the input projection of every step in one GEMM before the
loop (`xp`, (N, T, G*n), bias included), the recurrent product of each step (`hp` = h @ H for
the chunk's rows) and the weight gradients after it. These kernels do the rest, row by row.

Arrays are indexed by input time `s`; `k` is the step's position in the output (k == s
forwards, T-1-s when the layer goes backwards). `hprev[r, s]` (N, T, n) holds the state that
step s read, so that dH = hprev.T @ dZ is one GEMM; the step writes its new state into
`hprev[r, s_next]`, or into `hlast` on the last step (s_next < 0). The forward pass overwrites
`xp[r, s]` with the gates it computed, and the backward pass overwrites them with the gradient
of their pre-activations: the tensor of all steps exists once.

The backward passes take `dh` (rows, n), the state's gradient carried past masked steps (and,
on the first backward step of a layer that returns its last state only, that output's
gradient), and `rec` = dZ[next step] @ H.T. `dy` is the output sequence's gradient, or a dummy
when `seq` is False.

Masked steps (mask[r, s] == 0) carry the state over and output zeros; their gate gradients
are zero and the state's gradient passes through them unchanged.
"""

import numpy as np

from hat.kernels.jit import jit

# Codes as in hat.kernels.activations (the element-wise ones).
LINEAR, RELU, LEAKY_RELU, SIGMOID, HARD_SIGMOID, TANH = range(6)


@jit
def _act(v, code, alpha, one, zero):
    if code == SIGMOID:
        return one / (one + np.exp(-v))
    if code == TANH:
        return np.tanh(v)
    if code == RELU:
        return v if v > zero else zero
    if code == LEAKY_RELU:
        return v if v > zero else v * alpha
    if code == HARD_SIGMOID:
        return min(max(v * (one / 5) + one / 2, zero), one)
    return v


@jit
def _slope(o, code, alpha, one, zero):
    """d act / d z, in terms of the output o = act(z)."""
    if code == SIGMOID:
        return o * (one - o)
    if code == TANH:
        return one - o * o
    if code == RELU:
        return one if o > zero else zero
    if code == LEAKY_RELU:
        return one if o > zero else alpha
    if code == HARD_SIGMOID:
        return one / 5 if zero < o < one else zero
    return one


# -- SimpleRnn: h = act(x W + b + h_prev H) ------------------------------------------------------


@jit
def simple_forward(xp, hp, s, s_next, k, lo, mask, hprev, hlast, y, seq, act, alpha):
    """xp[r, s] keeps h."""
    n = hprev.shape[2]
    one, zero = xp.dtype.type(1.0), xp.dtype.type(0.0)
    a = xp.dtype.type(alpha)
    for i in range(hp.shape[0]):
        r = lo + i
        real = mask[r, s] != 0
        for j in range(n):
            if real:
                h = _act(xp[r, s, j] + hp[i, j], act, a, one, zero)
                xp[r, s, j] = h
            else:
                h = hprev[r, s, j]
            if s_next >= 0:
                hprev[r, s_next, j] = h
            else:
                hlast[r, j] = h
            if seq:
                y[r, k, j] = h if real else zero


@jit
def simple_backward(xp, rec, dh, s, k, lo, mask, dy, seq, act, alpha):
    """Leaves dZ[s] in xp[r, s]."""
    n = dh.shape[1]
    one, zero = xp.dtype.type(1.0), xp.dtype.type(0.0)
    a = xp.dtype.type(alpha)
    for i in range(dh.shape[0]):
        r = lo + i
        if mask[r, s] != 0:
            for j in range(n):
                g = dh[i, j] + rec[i, j]
                if seq:
                    g += dy[r, k, j]
                xp[r, s, j] = g * _slope(xp[r, s, j], act, a, one, zero)
                dh[i, j] = zero
        else:
            for j in range(n):
                dh[i, j] += rec[i, j]
                xp[r, s, j] = zero


# -- LSTM, gates in PyTorch's order (i, f, g, o) --------------------------------------------------
# c = f c_prev + i g, h = o act(c); cprev is to c what hprev is to h, tc[r, s] = act(c).


@jit
def lstm_forward(
    xp, hp, s, s_next, k, lo, mask, hprev, hlast, cprev, clast, tc, y, seq, gate, act, alpha
):
    n = hprev.shape[2]
    one, zero = xp.dtype.type(1.0), xp.dtype.type(0.0)
    a = xp.dtype.type(alpha)
    for i in range(hp.shape[0]):
        r = lo + i
        real = mask[r, s] != 0
        for j in range(n):
            if real:
                ig = _act(xp[r, s, j] + hp[i, j], gate, a, one, zero)
                fg = _act(xp[r, s, n + j] + hp[i, n + j], gate, a, one, zero)
                gg = _act(xp[r, s, 2 * n + j] + hp[i, 2 * n + j], act, a, one, zero)
                og = _act(xp[r, s, 3 * n + j] + hp[i, 3 * n + j], gate, a, one, zero)
                xp[r, s, j], xp[r, s, n + j], xp[r, s, 2 * n + j], xp[r, s, 3 * n + j] = (
                    ig,
                    fg,
                    gg,
                    og,
                )
                c = fg * cprev[r, s, j] + ig * gg
                t = _act(c, act, a, one, zero)
                tc[r, s, j] = t
                h = og * t
            else:
                c = cprev[r, s, j]
                h = hprev[r, s, j]
            if s_next >= 0:
                hprev[r, s_next, j] = h
                cprev[r, s_next, j] = c
            else:
                hlast[r, j] = h
                clast[r, j] = c
            if seq:
                y[r, k, j] = h if real else zero


@jit
def lstm_backward(xp, rec, dh, dc, s, k, lo, mask, cprev, tc, dy, seq, gate, act, alpha):
    n = dh.shape[1]
    one, zero = xp.dtype.type(1.0), xp.dtype.type(0.0)
    a = xp.dtype.type(alpha)
    for i in range(dh.shape[0]):
        r = lo + i
        real = mask[r, s] != 0
        for j in range(n):
            g = dh[i, j] + rec[i, j]
            if not real:
                dh[i, j] = g
                for q in range(4):
                    xp[r, s, q * n + j] = zero
                continue
            if seq:
                g += dy[r, k, j]
            ig, fg, gg, og = xp[r, s, j], xp[r, s, n + j], xp[r, s, 2 * n + j], xp[r, s, 3 * n + j]
            t = tc[r, s, j]
            d = dc[i, j] + g * og * _slope(t, act, a, one, zero)
            xp[r, s, j] = d * gg * _slope(ig, gate, a, one, zero)
            xp[r, s, n + j] = d * cprev[r, s, j] * _slope(fg, gate, a, one, zero)
            xp[r, s, 2 * n + j] = d * ig * _slope(gg, act, a, one, zero)
            xp[r, s, 3 * n + j] = g * t * _slope(og, gate, a, one, zero)
            dc[i, j] = d * fg
            dh[i, j] = zero


# -- GRU, PyTorch's form and order (r, z, n) -------------------------------------------------------
# r, z = gate(x W + b + h_prev H + bH), m = act(x W_n + b_n + r (h_prev H_n + bH_n)),
# h = (1 - z) m + z h_prev. hn[r, s] keeps h_prev H_n + bH_n for the backward pass.


@jit
def gru_forward(xp, hp, bH, s, s_next, k, lo, mask, hprev, hlast, hn, y, seq, gate, act, alpha):
    n = hprev.shape[2]
    one, zero = xp.dtype.type(1.0), xp.dtype.type(0.0)
    a = xp.dtype.type(alpha)
    for i in range(hp.shape[0]):
        r = lo + i
        real = mask[r, s] != 0
        for j in range(n):
            hp_ = hprev[r, s, j]
            if real:
                rg = _act(xp[r, s, j] + hp[i, j] + bH[j], gate, a, one, zero)
                zg = _act(xp[r, s, n + j] + hp[i, n + j] + bH[n + j], gate, a, one, zero)
                q = hp[i, 2 * n + j] + bH[2 * n + j]
                m = _act(xp[r, s, 2 * n + j] + rg * q, act, a, one, zero)
                xp[r, s, j], xp[r, s, n + j], xp[r, s, 2 * n + j] = rg, zg, m
                hn[r, s, j] = q
                h = (one - zg) * m + zg * hp_
            else:
                h = hp_
            if s_next >= 0:
                hprev[r, s_next, j] = h
            else:
                hlast[r, j] = h
            if seq:
                y[r, k, j] = h if real else zero


@jit
def gru_backward(xp, rec, dh, s, k, lo, mask, hprev, hn, dy, seq, gate, act, alpha):
    """Leaves the gradient of the recurrent pre-activations (r, z, and r * dm for n) in xp[r, s]
    and that of the input's n pre-activation in hn[r, s]: they differ by the factor r."""
    n = dh.shape[1]
    one, zero = xp.dtype.type(1.0), xp.dtype.type(0.0)
    a = xp.dtype.type(alpha)
    for i in range(dh.shape[0]):
        r = lo + i
        real = mask[r, s] != 0
        for j in range(n):
            g = dh[i, j] + rec[i, j]
            if not real:
                dh[i, j] = g
                for q in range(3):
                    xp[r, s, q * n + j] = zero
                hn[r, s, j] = zero
                continue
            if seq:
                g += dy[r, k, j]
            rg, zg, m = xp[r, s, j], xp[r, s, n + j], xp[r, s, 2 * n + j]
            dm = g * (one - zg) * _slope(m, act, a, one, zero)
            xp[r, s, j] = dm * hn[r, s, j] * _slope(rg, gate, a, one, zero)
            xp[r, s, n + j] = g * (hprev[r, s, j] - m) * _slope(zg, gate, a, one, zero)
            xp[r, s, 2 * n + j] = dm * rg
            hn[r, s, j] = dm
            dh[i, j] = g * zg  # the direct path; rec adds the paths through H next step
