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

The `*_run` and `*_run_back` kernels are a chunk's (rows lo:hi) whole time loop, forward or
back: the products through numpy's own BLAS (hat/kernels/blas.py), the step kernels between
them, with no Python per step. `order` holds the input time of each output position; the
layer has written the initial states into the rows the first step reads; `HT` is H.T as a
contiguous copy (OpenBLAS's AVX-512 kernels took 125 us for 128 x 512 @ H.T as a transposed
view, 86 us for the copy).

The forward kernels take the step's column of the mask, m = mask[:, time] (inference keeps
two steps of storage, s = 0 and 1, and alternates between them: see _rows). Masked steps
(mask == 0) carry the state over and output zeros; their gate gradients are zero and the
state's gradient passes through them unchanged.
"""

import numba
import numpy as np

from hat.kernels.blas import gemm
from hat.kernels.jit import FASTMATH

# hat's jit options plus numpy's error model: with Python's, every float division checks for
# zero and raises, a branch that keeps the rational tanh from vectorising (16x slower).
jit = numba.njit(cache=True, fastmath=FASTMATH, nogil=True, error_model="numpy")

# Codes as in hat.kernels.activations (the element-wise ones).
LINEAR, RELU, LEAKY_RELU, SIGMOID, HARD_SIGMOID, TANH = range(6)


@jit
def _tanh32(v):
    """tanh in float32 as a rational function (Eigen's coefficients), without a libm call, so
    that loops of it vectorise; within 1e-6 of np.tanh (tested)."""
    x = min(max(v, np.float32(-7.9053111)), np.float32(7.9053111))
    x2 = x * x
    p = np.float32(-2.76076847742355e-16)
    p = p * x2 + np.float32(2.00018790482477e-13)
    p = p * x2 + np.float32(-8.60467152213735e-11)
    p = p * x2 + np.float32(5.12229709037114e-08)
    p = p * x2 + np.float32(1.48572235717979e-05)
    p = p * x2 + np.float32(6.37261928875436e-04)
    p = p * x2 + np.float32(4.89352455891786e-03)
    q = np.float32(1.19825839466702e-06)
    q = q * x2 + np.float32(1.18534705686654e-04)
    q = q * x2 + np.float32(2.26843463243900e-03)
    q = q * x2 + np.float32(4.89352518554385e-03)
    return x * p / q


@jit
def activate(seg, code, alpha):
    """seg = act(seg) in place, the branch outside the loop so that each loop vectorises;
    float32 takes the rational tanh (sigmoid(v) = (1 + tanh(v / 2)) / 2), float64 libm's."""
    one, zero, half = seg.dtype.type(1.0), seg.dtype.type(0.0), seg.dtype.type(0.5)
    fast = seg.itemsize == 4
    m = seg.shape[0]
    if code == SIGMOID:
        if fast:
            for j in range(m):
                seg[j] = half + half * _tanh32(np.float32(seg[j] * half))
        else:
            for j in range(m):
                seg[j] = one / (one + np.exp(-seg[j]))
    elif code == TANH:
        if fast:
            for j in range(m):
                seg[j] = _tanh32(np.float32(seg[j]))
        else:
            for j in range(m):
                seg[j] = np.tanh(seg[j])
    elif code == RELU:
        for j in range(m):
            v = seg[j]
            seg[j] = v * (one if v > zero else zero)
    elif code == LEAKY_RELU:
        a = seg.dtype.type(alpha)
        for j in range(m):
            v = seg[j]
            seg[j] = v * (one if v > zero else a)
    elif code == HARD_SIGMOID:
        for j in range(m):
            seg[j] = min(max(seg[j] * seg.dtype.type(0.2) + half, zero), one)


@jit
def slope(o, code, alpha, d):
    """d *= act'(z) in place, in terms of the output o = act(z); the branch outside the loop."""
    one, zero = o.dtype.type(1.0), o.dtype.type(0.0)
    m = o.shape[0]
    if code == SIGMOID:
        for j in range(m):
            d[j] *= o[j] * (one - o[j])
    elif code == TANH:
        for j in range(m):
            d[j] *= one - o[j] * o[j]
    elif code == RELU:
        for j in range(m):
            d[j] *= one if o[j] > zero else zero
    elif code == LEAKY_RELU:
        a = o.dtype.type(alpha)
        for j in range(m):
            d[j] *= one if o[j] > zero else a
    elif code == HARD_SIGMOID:
        for j in range(m):
            d[j] *= o.dtype.type(0.2) if zero < o[j] < one else zero


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


@jit
def _put(src, dst):
    for j in range(dst.shape[0]):
        dst[j] = src[j]


@jit
def _state_out(hprev, hlast, r, s_next):
    """Where step s writes its new state for row r."""
    return hprev[r, s_next] if s_next >= 0 else hlast[r]


@jit
def _output(y, r, k, h, real, seq):
    if seq:
        if real:
            _put(h, y[r, k])
        else:
            y[r, k, :] = 0


# -- SimpleRnn: h = act(x W + b + h_prev H) ------------------------------------------------------


@jit
def simple_forward(xp, hp, s, s_next, k, lo, m, hprev, hlast, y, seq, act, alpha):
    """xp[r, s] keeps h."""
    for i in range(hp.shape[0]):
        r = lo + i
        real = m[r] != 0
        if real:
            row = xp[r, s]
            for j in range(row.shape[0]):
                row[j] += hp[i, j]
            activate(row, act, alpha)
            h = row
        else:
            h = hprev[r, s]
        _put(h, _state_out(hprev, hlast, r, s_next))
        _output(y, r, k, h, real, seq)


@jit
def simple_backward(xp, rec, dh, s, k, lo, mask, dy, seq, act, alpha):
    """Leaves dZ[s] in xp[r, s]."""
    n = dh.shape[1]
    for i in range(dh.shape[0]):
        r = lo + i
        row, g = xp[r, s], dh[i]
        for j in range(n):
            g[j] += rec[i, j]
        if mask[r, s] == 0:
            row[:] = 0
            continue
        if seq:
            for j in range(n):
                g[j] += dy[r, k, j]
        slope(row, act, alpha, g)
        _put(g, row)
        g[:] = 0


# -- LSTM, gates in PyTorch's order (i, f, g, o) --------------------------------------------------
# c = f c_prev + i g, h = o act(c); cprev is to c what hprev is to h, tc[r, s] = act(c).


@jit
def lstm_forward(
    xp, hp, s, s_next, k, lo, m, hprev, hlast, cprev, clast, tc, y, seq, gate, act, alpha
):
    if fused_lstm(xp, gate, act):
        lstm_forward_fast(xp, hp, s, s_next, k, lo, m, hprev, hlast, cprev, clast, tc, y, seq)
    else:
        _lstm_forward_generic(
            xp, hp, s, s_next, k, lo, m, hprev, hlast, cprev, clast, tc, y, seq, gate, act, alpha
        )


@jit
def fused_lstm(xp, gate, act):
    """Whether a step takes the fused path: float32, sigmoid gates, tanh (the default)."""
    return xp.itemsize == 4 and gate == SIGMOID and act == TANH


@jit
def _lstm_forward_generic(
    xp, hp, s, s_next, k, lo, m, hprev, hlast, cprev, clast, tc, y, seq, gate, act, alpha
):
    n = hprev.shape[2]
    for i in range(hp.shape[0]):
        r = lo + i
        real = m[r] != 0
        h_new = _state_out(hprev, hlast, r, s_next)
        c_new = _state_out(cprev, clast, r, s_next)
        if not real:
            _lstm_carry(hprev, cprev, h_new, c_new, y, r, s, k, seq)
            continue
        row, c_old, t = xp[r, s], cprev[r, s], tc[r, s]
        for j in range(4 * n):
            row[j] += hp[i, j]
        activate(row[: 2 * n], gate, alpha)
        activate(row[2 * n : 3 * n], act, alpha)
        activate(row[3 * n :], gate, alpha)
        for j in range(n):
            c = row[n + j] * c_old[j] + row[j] * row[2 * n + j]
            c_new[j] = c
            t[j] = c
        activate(t, act, alpha)
        for j in range(n):
            h_new[j] = row[3 * n + j] * t[j]
        _output(y, r, k, h_new, real, seq)


@jit
def _lstm_carry(hprev, cprev, h_new, c_new, y, r, s, k, seq):
    """A masked step: the states carried over, a zero output."""
    _put(cprev[r, s], c_new)
    _put(hprev[r, s], h_new)
    _output(y, r, k, h_new, False, seq)


@jit
def lstm_forward_fast(xp, hp, s, s_next, k, lo, m, hprev, hlast, cprev, clast, tc, y, seq):
    """lstm_forward where fused_lstm: the real rows in one loop (_lstm_forward_fused), then
    the masked rows and the output sequence (a row's state view is taken only where one of
    them needs it: one for every row cost 60 ns a row, 15% of this kernel's time at
    inference)."""
    _lstm_forward_fused(xp, hp, s, s_next, lo, m, hprev, hlast, cprev, clast, tc)
    for i in range(hp.shape[0]):
        r = lo + i
        if m[r] == 0:
            h_new = _state_out(hprev, hlast, r, s_next)
            c_new = _state_out(cprev, clast, r, s_next)
            _lstm_carry(hprev, cprev, h_new, c_new, y, r, s, k, seq)
        elif seq:
            _output(y, r, k, _state_out(hprev, hlast, r, s_next), True, seq)


@jit
def _lstm_forward_fused(xp, hp, s, s_next, lo, m, hprev, hlast, cprev, clast, tc):
    """lstm_forward's real rows for float32 with sigmoid gates and tanh, the default: each
    row's four gates and its update in one loop over the units, indexing the 3-D arrays
    directly, with no call in the loop (one made it slower). The generic path's passes over
    row views took 0.35 ms for 28 training steps of 64 rows x 128 units on one thread, this
    0.26-0.33. The loop vectorises only where the step's state rows differ (s_next != s; the
    same row ran scalar, 5x slower): inference alternates between two rows for that. The
    same formulas; a sum may round differently where the compiler fuses it otherwise."""
    n = hprev.shape[2]
    half = np.float32(0.5)
    for i in range(hp.shape[0]):
        r = lo + i
        if m[r] == 0:
            continue
        for j in range(n):
            zi = xp[r, s, j] + hp[i, j]
            zf = xp[r, s, n + j] + hp[i, n + j]
            zg = xp[r, s, 2 * n + j] + hp[i, 2 * n + j]
            zo = xp[r, s, 3 * n + j] + hp[i, 3 * n + j]
            gi = half + half * _tanh32(zi * half)  # sigmoid as activate() computes it
            gf = half + half * _tanh32(zf * half)
            gg = _tanh32(zg)
            go = half + half * _tanh32(zo * half)
            xp[r, s, j] = gi
            xp[r, s, n + j] = gf
            xp[r, s, 2 * n + j] = gg
            xp[r, s, 3 * n + j] = go
            c = gf * cprev[r, s, j] + gi * gg
            t = _tanh32(c)
            tc[r, s, j] = t
            h = go * t
            if s_next >= 0:
                cprev[r, s_next, j] = c
                hprev[r, s_next, j] = h
            else:
                clast[r, j] = c
                hlast[r, j] = h


@jit
def lstm_backward(xp, rec, dh, dc, work, s, k, lo, mask, cprev, tc, dy, seq, gate, act, alpha):
    """work (rows, 4n) is scratch (the generic path's)."""
    if fused_lstm(xp, gate, act):
        lstm_backward_fast(xp, rec, dh, dc, s, k, lo, mask, cprev, tc, dy, seq)
    else:
        _lstm_backward_generic(
            xp, rec, dh, dc, work, s, k, lo, mask, cprev, tc, dy, seq, gate, act, alpha
        )


@jit
def _lstm_backward_generic(
    xp, rec, dh, dc, work, s, k, lo, mask, cprev, tc, dy, seq, gate, act, alpha
):
    """work (rows, 4n) is scratch."""
    n = dh.shape[1]
    for i in range(dh.shape[0]):
        r = lo + i
        g = dh[i]
        for j in range(n):
            g[j] += rec[i, j]
        row = xp[r, s]
        if mask[r, s] == 0:
            row[:] = 0
            continue
        if seq:
            for j in range(n):
                g[j] += dy[r, k, j]
        w, t, c_old, d = work[i], tc[r, s], cprev[r, s], dc[i]
        for j in range(n):
            w[j] = g[j] * row[3 * n + j]
        slope(t, act, alpha, w[:n])
        for j in range(n):
            dcj = d[j] + w[j]
            w[j] = dcj * row[2 * n + j]
            w[n + j] = dcj * c_old[j]
            w[2 * n + j] = dcj * row[j]
            w[3 * n + j] = g[j] * t[j]
            d[j] = dcj * row[n + j]
        slope(row[: 2 * n], gate, alpha, w[: 2 * n])
        slope(row[2 * n : 3 * n], act, alpha, w[2 * n : 3 * n])
        slope(row[3 * n :], gate, alpha, w[3 * n :])
        _put(w, row)
        g[:] = 0


@jit
def lstm_backward_fast(xp, rec, dh, dc, s, k, lo, mask, cprev, tc, dy, seq):
    """lstm_backward where fused_lstm, as _lstm_forward_fused (0.61 -> 0.37 ms for 28 steps of
    64 rows x 128 units): the generic path's products, in its order."""
    n = dh.shape[1]
    one = np.float32(1.0)
    for i in range(dh.shape[0]):
        r = lo + i
        if mask[r, s] == 0:  # the state's gradient passes through, no gate gradient
            for j in range(n):
                dh[i, j] += rec[i, j]
            xp[r, s, :] = 0
            continue
        for j in range(n):
            g = dh[i, j] + rec[i, j]
            if seq:
                g += dy[r, k, j]
            gi, gf = xp[r, s, j], xp[r, s, n + j]
            gg, go = xp[r, s, 2 * n + j], xp[r, s, 3 * n + j]
            t = tc[r, s, j]
            dcj = dc[i, j] + g * go * (one - t * t)
            xp[r, s, j] = dcj * gg * (gi * (one - gi))
            xp[r, s, n + j] = dcj * cprev[r, s, j] * (gf * (one - gf))
            xp[r, s, 2 * n + j] = dcj * gi * (one - gg * gg)
            xp[r, s, 3 * n + j] = g * t * (go * (one - go))
            dc[i, j] = dcj * gf
            dh[i, j] = 0


# -- GRU, PyTorch's form and order (r, z, n) -------------------------------------------------------
# r, z = gate(x W + b + h_prev H + bH), m = act(x W_n + b_n + r (h_prev H_n + bH_n)),
# h = (1 - z) m + z h_prev. hn[r, s] keeps h_prev H_n + bH_n for the backward pass.


@jit
def gru_forward(xp, hp, bH, s, s_next, k, lo, m, hprev, hlast, hn, y, seq, gate, act, alpha):
    n = hprev.shape[2]
    one = xp.dtype.type(1.0)
    for i in range(hp.shape[0]):
        r = lo + i
        real = m[r] != 0
        h_old, h_new = hprev[r, s], _state_out(hprev, hlast, r, s_next)
        if not real:
            _put(h_old, h_new)
            _output(y, r, k, h_new, real, seq)
            continue
        row, q = xp[r, s], hn[r, s]
        for j in range(2 * n):
            row[j] += hp[i, j] + bH[j]
        activate(row[: 2 * n], gate, alpha)
        for j in range(n):
            q[j] = hp[i, 2 * n + j] + bH[2 * n + j]
            row[2 * n + j] += row[j] * q[j]
        activate(row[2 * n :], act, alpha)
        for j in range(n):
            z = row[n + j]
            h_new[j] = (one - z) * row[2 * n + j] + z * h_old[j]
        _output(y, r, k, h_new, real, seq)


@jit
def gru_backward(xp, rec, dh, work, s, k, lo, mask, hprev, hn, dy, seq, gate, act, alpha):
    """Leaves the gradient of the recurrent pre-activations (r, z, and r * dm for n) in xp[r, s]
    and that of the input's n pre-activation in hn[r, s]: they differ by the factor r. work
    (rows, 3n) is scratch."""
    n = dh.shape[1]
    one = xp.dtype.type(1.0)
    for i in range(dh.shape[0]):
        r = lo + i
        g = dh[i]
        for j in range(n):
            g[j] += rec[i, j]
        row, q = xp[r, s], hn[r, s]
        if mask[r, s] == 0:
            row[:] = 0
            q[:] = 0
            continue
        if seq:
            for j in range(n):
                g[j] += dy[r, k, j]
        w, h_old = work[i], hprev[r, s]
        for j in range(n):
            w[j] = g[j] * (one - row[n + j])  # then dm
            w[n + j] = g[j] * (h_old[j] - row[2 * n + j])
        slope(row[2 * n :], act, alpha, w[:n])
        slope(row[n : 2 * n], gate, alpha, w[n : 2 * n])
        for j in range(n):
            w[2 * n + j] = w[j] * q[j]
        slope(row[:n], gate, alpha, w[2 * n :])
        for j in range(n):
            dm, z = w[j], row[n + j]
            q[j] = dm
            row[2 * n + j] = dm * row[j]
            row[j] = w[2 * n + j]
            row[n + j] = w[n + j]
            g[j] *= z  # the direct path; rec adds the paths through H next step


# -- whole time loops of one chunk ------------------------------------------------------------
# One loop per cell and direction, alike in shape: a loop taking its step kernel as an argument
# would be one function, but numba does not cache functions that take other jitted functions
# (measured: recompiled in every process), and these run in every recurrent model.


@jit
def _rows(order, k, training):
    """(storage row that step k reads, the one it writes, -1 after the last step): every step
    has its own in training; inference keeps two and alternates, so that a step never writes
    the row it reads (the fused LSTM step vectorises only then)."""
    q_next = order[k + 1] if k + 1 < order.shape[0] else -1
    if training:
        return order[k], q_next
    return k % 2, -1 if q_next < 0 else (k + 1) % 2


@jit
def _project(x, W, b, xp, lo, hi, q, blas):
    """xp[lo:hi, q] = x @ W + b, one step's input projection (inference projects step by
    step); the bias added through xp's own rows, contiguous to numba (on the 2-D view
    xp[lo:hi, q] the loop ran 4x as long, not vectorised)."""
    gemm(x, W, xp[lo:hi, q], blas)
    for i in range(lo, hi):
        row = xp[i, q]
        for j in range(row.shape[0]):
            row[j] += b[j]


@jit
def simple_run(x, W, b, H, hp, lo, hi, order, training, mask, xp, hprev, hlast, y, seq, act,
               alpha, blas):  # fmt: skip
    for k in range(order.shape[0]):
        s = order[k]
        q, q_next = _rows(order, k, training)
        if not training:
            _project(x[lo:hi, s], W, b, xp, lo, hi, q, blas)
        gemm(hprev[lo:hi, q], H, hp[lo:hi], blas)
        simple_forward(xp, hp[lo:hi], q, q_next, k, lo, mask[:, s], hprev, hlast, y, seq, act,
                       alpha)  # fmt: skip


@jit
def simple_run_back(xp, HT, rec, dh, lo, hi, order, mask, dy, seq, act, alpha, blas):
    for k in range(order.shape[0] - 1, -1, -1):
        s = order[k]
        simple_backward(xp, rec[lo:hi], dh[lo:hi], s, k, lo, mask, dy, seq, act, alpha)
        if k:
            gemm(xp[lo:hi, s], HT, rec[lo:hi], blas)


@jit
def lstm_run(x, W, b, H, hp, lo, hi, order, training, mask, xp, hprev, hlast, cprev, clast, tc,
             y, seq, gate, act, alpha, blas):  # fmt: skip
    for k in range(order.shape[0]):
        s = order[k]
        q, q_next = _rows(order, k, training)
        if not training:
            _project(x[lo:hi, s], W, b, xp, lo, hi, q, blas)
        gemm(hprev[lo:hi, q], H, hp[lo:hi], blas)
        _lstm_forward_generic(xp, hp[lo:hi], q, q_next, k, lo, mask[:, s], hprev, hlast, cprev,
                              clast, tc, y, seq, gate, act, alpha)  # fmt: skip


@jit
def lstm_run_fast(x, W, b, H, hp, lo, hi, order, training, mask, xp, hprev, hlast, cprev, clast,
                  tc, y, seq, blas):  # fmt: skip
    """lstm_run where fused_lstm (a kernel of its own, so that the default LSTM does not compile
    the generic step)."""
    for k in range(order.shape[0]):
        s = order[k]
        q, q_next = _rows(order, k, training)
        if not training:
            _project(x[lo:hi, s], W, b, xp, lo, hi, q, blas)
        gemm(hprev[lo:hi, q], H, hp[lo:hi], blas)
        lstm_forward_fast(xp, hp[lo:hi], q, q_next, k, lo, mask[:, s], hprev, hlast, cprev,
                          clast, tc, y, seq)  # fmt: skip


@jit
def lstm_run_back(xp, HT, rec, dh, dc, work, lo, hi, order, mask, cprev, tc, dy, seq, gate, act,
                  alpha, blas):  # fmt: skip
    for k in range(order.shape[0] - 1, -1, -1):
        s = order[k]
        _lstm_backward_generic(xp, rec[lo:hi], dh[lo:hi], dc[lo:hi], work[lo:hi], s, k, lo, mask,
                               cprev, tc, dy, seq, gate, act, alpha)  # fmt: skip
        if k:
            gemm(xp[lo:hi, s], HT, rec[lo:hi], blas)


@jit
def lstm_run_back_fast(xp, HT, rec, dh, dc, lo, hi, order, mask, cprev, tc, dy, seq, blas):
    """lstm_run_back where fused_lstm."""
    for k in range(order.shape[0] - 1, -1, -1):
        s = order[k]
        lstm_backward_fast(xp, rec[lo:hi], dh[lo:hi], dc[lo:hi], s, k, lo, mask, cprev, tc, dy,
                           seq)  # fmt: skip
        if k:
            gemm(xp[lo:hi, s], HT, rec[lo:hi], blas)


@jit
def gru_run(x, W, b, H, bH, hp, lo, hi, order, training, mask, xp, hprev, hlast, hn, y, seq,
            gate, act, alpha, blas):  # fmt: skip
    for k in range(order.shape[0]):
        s = order[k]
        q, q_next = _rows(order, k, training)
        if not training:
            _project(x[lo:hi, s], W, b, xp, lo, hi, q, blas)
        gemm(hprev[lo:hi, q], H, hp[lo:hi], blas)
        gru_forward(xp, hp[lo:hi], bH, q, q_next, k, lo, mask[:, s], hprev, hlast, hn, y, seq,
                    gate, act, alpha)  # fmt: skip


@jit
def gru_run_back(xp, HT, rec, dh, work, lo, hi, order, mask, hprev, hn, dy, seq, gate, act, alpha,
                 blas):  # fmt: skip
    for k in range(order.shape[0] - 1, -1, -1):
        s = order[k]
        gru_backward(xp, rec[lo:hi], dh[lo:hi], work[lo:hi], s, k, lo, mask, hprev, hn, dy, seq,
                     gate, act, alpha)  # fmt: skip
        if k:
            gemm(xp[lo:hi, s], HT, rec[lo:hi], blas)
