"""Winograd convolution F(4x4, 5x5) on 8 x 8 tiles: the 5x5 kernels' transforms.

The same computation as hat/kernels/winograd.py (read its docstring first), with 8 x 8 tiles
for m = 4 outputs a side: 64 multiplications per 4 x 4 block against 400 for the direct
product (6.25x), or 2.25x fewer than F(2x2, 5x5) on 6 x 6 tiles, and the transformed arrays V
and M 2.25x smaller per output. The interpolation points are 0, 1, -1, 2, -2, 1/2, -1/2 and
infinity (winograd.transforms(5)); BT's entries are multiples of 1/4 (the 21/4 and 17/4
of the well-known F(6, 3) transform). In float32 the results differ from im2col's by about
1e-6 of each array's scale, like the 6 x 6 tiles.

The kernels keep winograd.py's signatures, layouts ((64, channels, tiles), position
a * 8 + b) and loop structure, with every pass written out for eight rows: a tile size is a
different straight-line program, and numba does not inline the helpers that would share one
(see winograd.py). m must be 4.
"""

import numpy as np

from hat.kernels.jit import jit
from hat.kernels.winograd import (
    block_index,
    blocks_to_planes,
    blocks_to_pooled,
    output_scratch,
    planes_to_blocks,
    pooled_index,
    tile_starts,
)

TILE = 8


@jit
def _consts(dtype_of):
    """The transforms' constants in dtype_of's dtype (a float64 literal would promote
    float32 arithmetic): 1/8, 1/4, 1/2, 5/4, 2, 5/2, 4, 17/4, 5, 21/4, 8."""
    t = dtype_of.dtype.type
    return (
        t(0.125), t(0.25), t(0.5), t(1.25), t(2.0), t(2.5), t(4.0), t(4.25), t(5.0), t(5.25),
        t(8.0),
    )  # fmt: skip


@jit
def _bt(K, d0, d1, d2, d3, d4, d5, d6, d7):
    """BT @ d: the input transform along one axis (rows 1-6 in pairs a +- b)."""
    q, h, k125, k2, k25, k4, k425, k5, k525 = K[1], K[2], K[3], K[4], K[5], K[6], K[7], K[8], K[9]
    a1, b1 = d2 + d6 - k425 * d4, d1 + d5 - k425 * d3
    a3, b3 = q * d2 - k125 * d4 + d6, h * d1 - k25 * d3 + k2 * d5
    a5, b5 = k4 * d2 - k5 * d4 + d6, k2 * d1 - k25 * d3 + h * d5
    return (
        d6 - d0 + k525 * (d2 - d4),
        a1 + b1,
        a1 - b1,
        a3 + b3,
        a3 - b3,
        a5 + b5,
        a5 - b5,
        d7 - d1 + k525 * (d3 - d5),
    )


@jit
def _b(K, v0, v1, v2, v3, v4, v5, v6, v7):
    """BT^T @ v: the input transform's gradient along one axis."""
    q, h, k125, k2, k25, k4, k425, k5, k525 = K[1], K[2], K[3], K[4], K[5], K[6], K[7], K[8], K[9]
    s12, d12, s34, d34, s56, d56 = v1 + v2, v1 - v2, v3 + v4, v3 - v4, v5 + v6, v5 - v6
    return (
        -v0,
        d12 + h * d34 + k2 * d56 - v7,
        k525 * v0 + s12 + q * s34 + k4 * s56,
        k525 * v7 - k425 * d12 - k25 * (d34 + d56),
        -k525 * v0 - k425 * s12 - k125 * s34 - k5 * s56,
        d12 + k2 * d34 + h * d56 - k525 * v7,
        v0 + s12 + s34 + s56,
        v7,
    )


@jit
def _at_rows(K, v0, v1, v2, v3, v4, v5, v6, v7, h0, h1, h2, h3, bias):
    """h_i = bias + (AT @ v)_i, i < 4, along rows of length T: the output transform."""
    e, q, h, k2, k4, k8 = K[0], K[1], K[2], K[4], K[6], K[10]
    for t in range(h0.shape[0]):
        s12, d12, s34, d34 = v1[t] + v2[t], v1[t] - v2[t], v3[t] + v4[t], v3[t] - v4[t]
        s56, d56 = v5[t] + v6[t], v5[t] - v6[t]
        h0[t] = bias + (v0[t] + s12 + s34 + s56)
        h1[t] = bias + (d12 + k2 * d34 + h * d56)
        h2[t] = bias + (s12 + k4 * s34 + q * s56)
        h3[t] = bias + (d12 + k8 * d34 + e * d56 + v7[t])


@jit
def _a_rows(K, u0, u1, u2, u3, h0, h1, h2, h3, h4, h5, h6, h7):
    """h = AT^T @ u along rows of length T: the output transform's gradient."""
    e, q, h, k2, k4, k8 = K[0], K[1], K[2], K[4], K[6], K[10]
    for t in range(h0.shape[0]):
        a, b, c, d = u0[t], u1[t], u2[t], u3[t]
        e1, o1 = a + c, b + d
        e2, o2 = a + k4 * c, k2 * b + k8 * d
        e3, o3 = a + q * c, h * b + e * d
        h0[t], h1[t], h2[t], h3[t] = a, e1 + o1, e1 - o1, e2 + o2
        h4[t], h5[t], h6[t], h7[t] = e2 - o2, e3 + o3, e3 - o3, d


@jit
def input_tiles(xp, left, m, th, tw, V):
    """V[a * 8 + b, c, t] = (BT d BT^T)[a, b] for each 8 x 8 tile d of xp (S, C, HP, W) padded
    with left columns of zeros (and on the right as far as the tiles reach), read as zeros,
    as in winograd.input_tiles."""
    ns, nc, w = xp.shape[0], xp.shape[1], xp.shape[3]
    wp = (tw - 1) * m + 8  # the padded width the tiles cover
    K, nk = _consts(xp), ns * th
    rows = np.zeros((8, nk * wp), xp.dtype)  # [a, (s, ti, q)]: BT down each tile row; the
    # columns left and right of the input's stay zero
    start = tile_starts(nk, tw, wp, m)
    for c in range(nc):
        for s in range(ns):
            for ti in range(th):
                r, q0, q1 = ti * m, (s * th + ti) * wp + left, (s * th + ti) * wp + left + w
                x0, x1, x2, x3 = xp[s, c, r], xp[s, c, r + 1], xp[s, c, r + 2], xp[s, c, r + 3]
                x4, x5, x6, x7 = xp[s, c, r + 4], xp[s, c, r + 5], xp[s, c, r + 6], xp[s, c, r + 7]
                r0, r1, r2, r3 = rows[0, q0:q1], rows[1, q0:q1], rows[2, q0:q1], rows[3, q0:q1]
                r4, r5, r6, r7 = rows[4, q0:q1], rows[5, q0:q1], rows[6, q0:q1], rows[7, q0:q1]
                for q in range(w):
                    o = _bt(K, x0[q], x1[q], x2[q], x3[q], x4[q], x5[q], x6[q], x7[q])
                    r0[q], r1[q], r2[q], r3[q], r4[q], r5[q], r6[q], r7[q] = o
        for a in range(8):
            e, src = a * 8, rows[a]
            v0, v1, v2, v3 = V[e, c], V[e + 1, c], V[e + 2, c], V[e + 3, c]
            v4, v5, v6, v7 = V[e + 4, c], V[e + 5, c], V[e + 6, c], V[e + 7, c]
            for t in range(nk * tw):
                q = start[t]
                o = _bt(
                    K, src[q], src[q + 1], src[q + 2], src[q + 3],
                    src[q + 4], src[q + 5], src[q + 6], src[q + 7],
                )  # fmt: skip
                v0[t], v1[t], v2[t], v3[t], v4[t], v5[t], v6[t], v7[t] = o


@jit
def _channel_blocks(K, M, f, bias_f, half, block):
    """block[i, j, t] = bias_f + (AT M_t AT^T)[i, j] for channel f's tiles t of M (64, F, T)."""
    zero = block.dtype.type(0.0)
    for a in range(8):
        e = a * 8
        v0, v1, v2, v3 = M[e, f], M[e + 1, f], M[e + 2, f], M[e + 3, f]
        v4, v5, v6, v7 = M[e + 4, f], M[e + 5, f], M[e + 6, f], M[e + 7, f]
        h0, h1, h2, h3 = half[a, 0], half[a, 1], half[a, 2], half[a, 3]
        _at_rows(K, v0, v1, v2, v3, v4, v5, v6, v7, h0, h1, h2, h3, zero)
    for j in range(4):
        u0, u1, u2, u3 = half[0, j], half[1, j], half[2, j], half[3, j]
        u4, u5, u6, u7 = half[4, j], half[5, j], half[6, j], half[7, j]
        b0, b1, b2, b3 = block[0, j], block[1, j], block[2, j], block[3, j]
        _at_rows(K, u0, u1, u2, u3, u4, u5, u6, u7, b0, b1, b2, b3, bias_f)


@jit
def output_tiles(M, m, bias, act, alpha, th, tw, ow, y):
    """y[s, f, p] = act(bias[f] + (AT M_tile AT^T)), the 4 x 4 output blocks from M
    (64, F, T), cropped to y's (S, F, OH * OW) planes (bias empty: none)."""
    _, nf, plane = y.shape
    nt = M.shape[2]
    K, (biases, half, block) = _consts(y), output_scratch(M, y, bias, 8)
    flat, index = block.reshape(16 * nt), block_index(m, th, tw, ow, plane, nt)
    for f in range(nf):
        _channel_blocks(K, M, f, biases[f], half, block)
        blocks_to_planes(flat, index, th * tw, act, alpha, y, f)


@jit
def output_tiles_pooled(M, bias, act, alpha, th, tw, pw, y):
    """output_tiles' values, 2x2 max pooled, as winograd.output_tiles_pooled."""
    _, nf, plane = y.shape
    nt = M.shape[2]
    K, (biases, half, block) = _consts(y), output_scratch(M, y, bias, 8)
    pooled = np.empty((2, 2, nt), y.dtype)  # [i, j, t]: each block's window maxima
    index = pooled_index(th, tw, pw, plane, nt)
    for f in range(nf):
        _channel_blocks(K, M, f, biases[f], half, block)
        blocks_to_pooled(block, pooled, index, th * tw, act, alpha, y, f)


@jit
def grad_tiles(dy, y, act, alpha, m, th, tw, ow, Mg, db):
    """Mg[a * 8 + b, f, t] = (A dZ A^T)[a, b] for each 4 x 4 block dZ of dL/dz (zero past the
    image's edge); dL/dz from dy (S, F, P) through the activation's gradient (from the output
    y). db (if not empty) = the sums of dL/dz per channel, in a fixed order."""
    _, nf, plane = dy.shape
    nt = Mg.shape[2]
    K = _consts(dy)
    dz = np.empty(plane, dy.dtype)
    block = np.zeros((4, 4, nt), dy.dtype)  # [i, j, t]; cells past the edge stay zero
    flat, index = block.reshape(16 * nt), block_index(m, th, tw, ow, plane, nt)
    half = np.empty((8, 4, nt), dy.dtype)  # [a, j, t]: A applied along i
    for f in range(nf):
        total = planes_to_blocks(dy, y, f, act, alpha, index, th * tw, dz, flat)
        if db.shape[0] == nf:
            db[f] = total
        for j in range(4):
            u0, u1, u2, u3 = block[0, j], block[1, j], block[2, j], block[3, j]
            h0, h1, h2, h3 = half[0, j], half[1, j], half[2, j], half[3, j]
            h4, h5, h6, h7 = half[4, j], half[5, j], half[6, j], half[7, j]
            _a_rows(K, u0, u1, u2, u3, h0, h1, h2, h3, h4, h5, h6, h7)
        for a in range(8):
            e = a * 8
            u0, u1, u2, u3 = half[a, 0], half[a, 1], half[a, 2], half[a, 3]
            g0, g1, g2, g3 = Mg[e, f], Mg[e + 1, f], Mg[e + 2, f], Mg[e + 3, f]
            g4, g5, g6, g7 = Mg[e + 4, f], Mg[e + 5, f], Mg[e + 6, f], Mg[e + 7, f]
            _a_rows(K, u0, u1, u2, u3, g0, g1, g2, g3, g4, g5, g6, g7)


@jit
def input_grad_tiles(dV, m, th, tw, dxp):
    """dxp (S, C, HP, WP), C-contiguous, = the sum over tiles of B dV_tile BT placed where
    each tile was read (tiles overlap; zeroes dxp first, adds in a fixed order)."""
    ns, nc, hp, wp = dxp.shape
    nt = dV.shape[2]
    K, nk, zero = _consts(dxp), ns * th, dxp.dtype.type(0.0)
    h = np.empty((8, nt), dxp.dtype)  # B applied along b, one a at a time
    h0, h1, h2, h3, h4, h5, h6, h7 = h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
    rows = np.empty((8, nk * wp), dxp.dtype)  # [a, (s, ti, q)]: tiles laid back in rows
    start = tile_starts(nk, tw, wp, m)
    for c in range(nc):
        rows[:] = zero
        for a in range(8):
            e = a * 8
            v0, v1, v2, v3 = dV[e, c], dV[e + 1, c], dV[e + 2, c], dV[e + 3, c]
            v4, v5, v6, v7 = dV[e + 4, c], dV[e + 5, c], dV[e + 6, c], dV[e + 7, c]
            for t in range(nt):
                o = _b(K, v0[t], v1[t], v2[t], v3[t], v4[t], v5[t], v6[t], v7[t])
                h0[t], h1[t], h2[t], h3[t], h4[t], h5[t], h6[t], h7[t] = o
            dst = rows[a]
            for t in range(nt):
                q = start[t]
                dst[q] += h0[t]
                dst[q + 1] += h1[t]
                dst[q + 2] += h2[t]
                dst[q + 3] += h3[t]
                dst[q + 4] += h4[t]
                dst[q + 5] += h5[t]
                dst[q + 6] += h6[t]
                dst[q + 7] += h7[t]
        r0, r1, r2, r3, r4, r5, r6, r7 = (
            rows[0], rows[1], rows[2], rows[3], rows[4], rows[5], rows[6], rows[7]
        )  # fmt: skip
        for s in range(ns):
            plane = dxp[s, c].reshape(hp * wp)  # one view a plane, flat offsets inside (the
            # row views of each tile row made this pass 2-3x as long: a reference count each)
            plane[:] = zero
            for ti in range(th):
                p0, q0 = ti * m * wp, (s * th + ti) * wp
                for q in range(wp):
                    u, p = q0 + q, p0 + q
                    o = _b(K, r0[u], r1[u], r2[u], r3[u], r4[u], r5[u], r6[u], r7[u])
                    plane[p] += o[0]
                    plane[p + wp] += o[1]
                    plane[p + 2 * wp] += o[2]
                    plane[p + 3 * wp] += o[3]
                    plane[p + 4 * wp] += o[4]
                    plane[p + 5 * wp] += o[5]
                    plane[p + 6 * wp] += o[6]
                    plane[p + 7 * wp] += o[7]
