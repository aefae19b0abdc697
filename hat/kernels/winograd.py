"""Winograd convolution F(m x m, r x r): F(4x4, 3x3) on 6 x 6 tiles (this module) and
F(4x4, 5x5) on 8 x 8 tiles (winograd8.py, same structure).

A stride-1 convolution computes each m x m block of output from one n x n tile of input
(tiles overlap by r - 1). Winograd's minimal filtering algorithm does it in the transformed
domain:

    Y = AT [ (G g G^T) * (BT d BT^T) ] AT^T        (* elementwise, over the n x n positions)

so that, summed over input channels, each of the n * n positions is one GEMM: U (F, C) @
V (C, T) for T tiles. That is n^2 * F * C multiply-adds per tile against F * C * m^2 * r^2 for
the direct product: 4x fewer for 3x3 kernels on 6 x 6 tiles, 6.25x for 5x5 on 8 x 8. The
gradients are the transposed computation, exact for these transforms (so finite differences
hold in float64):

    dV = U^T @ Mg,  dU = Mg @ V^T,  with Mg = A dY A^T per output block,
    dX = the sum of B dV BT over the overlapping tiles,  dW = G^T dU G.

U = G W G^T and dW are small (n * n x F x C): hat/layers/conv_winograd.py does them with one
numpy GEMM each.

The matrices come from the interpolation points 0, 1, -1, 2, -2 (and 1/2, -1/2 for 8 x 8
tiles) and infinity, the usual choice (larger points lose float32 precision): AT and G are
written down from the points, and BT is solved for so that the 1-D identity holds exactly
(see transforms()). In float32 the results differ from im2col's in the last few bits: about
1e-6 of each array's scale, within 1e-5 in tests/layers/test_conv_winograd.py (also against
PyTorch). F(2x2, 5x5) on 6 x 6 tiles was hat's 5x5 path until 8 x 8 tiles replaced it
(2026-11-23: the cnn_scratch layer 1.3-1.4x faster, forward + backward, alternating).

Layouts: V and Mg are (n * n, channels, tiles), position a * n + b, tile
t = (sample * th + ti) * tw + tj for th x tw tiles per image. The input xp is zero-padded so
that every tile lies inside it: (th - 1) * m + n rows and (tw - 1) * m + n columns. The
kernels take m (= 4) for the tile strides.
"""

import numpy as np

from hat.kernels.activations import LINEAR, activate_row, grad_row
from hat.kernels.jit import jit

TILE = 6
# Interpolation points per tile size (and infinity): 6 x 6 tiles here, 8 x 8 in winograd8.py.
_POINTS = {6: (0.0, 1.0, -1.0, 2.0, -2.0), 8: (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5)}
KERNEL_TILES = {3: 6, 5: 8}  # the tile each kernel size is written out for


def transforms(r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(AT (4, n), G (n, r), BT (n, n)) in float64 for F(4x4, r x r) on n x n tiles,
    n = r + 3: r = 3 (n = 6, this module) or r = 5 (n = 8, winograd8.py).

    AT[i, j] = p_j^i and G[j, k] = p_j^k / prod_{l != j} (p_j - p_l) for the finite points,
    plus the point at infinity (last column of AT, last row of G picks the top coefficient);
    BT solves sum_j AT[i, j] G[j, k] BT[j, l] = [l == i + k], exactly (its entries are
    multiples of 1/16)."""
    if r not in KERNEL_TILES:
        raise ValueError(f"hat's Winograd tiles take 3x3 or 5x5 kernels; got {r}x{r}")
    n = KERNEL_TILES[r]
    m = n - r + 1
    p = np.array(_POINTS[n])
    AT, G = np.zeros((m, n)), np.zeros((n, r))
    for j, pj in enumerate(p):
        norm = np.prod([pj - pl for pl in p if pl != pj])
        AT[:, j] = pj ** np.arange(m)
        G[j] = pj ** np.arange(r) / norm
    AT[m - 1, n - 1] = G[n - 1, r - 1] = 1.0
    # One linear system per column l of BT: rows (i, k), unknowns BT[:, l].
    K = np.einsum("ij,jk->ikj", AT, G).reshape(m * r, n)
    target = np.zeros((m * r, n))
    for i in range(m):
        for k in range(r):
            target[i * r + k, i + k] = 1.0
    BT = np.linalg.lstsq(K, target, rcond=None)[0]
    BT = np.round(BT * 16) / 16  # the exact solution is in sixteenths; drop lstsq's rounding
    assert np.allclose(K @ BT, target, atol=1e-12), "Winograd transforms do not check out"
    return AT, G, BT


# The transforms written out (the entries of transforms()'s matrices, which the tests check
# against): straight-line code over six values, so that each pass is one loop over a long row
# computing all six outputs at once, instead of a multiply-add per nonzero matrix entry over
# short rows (the input transform took 0.93 ms a chunk that way, 0.15 written out).
# K = (2, 4, 5, 8) in the arrays' dtype: an int or float64 literal would promote float32
# arithmetic to float64.


@jit
def _bt(K, d0, d1, d2, d3, d4, d5):
    """BT @ d: the input transform along one axis."""
    k2, k4, k5 = K[0], K[1], K[2]
    return (
        k4 * d0 - k5 * d2 + d4,
        d3 + d4 - k4 * (d1 + d2),
        k4 * (d1 - d2) - d3 + d4,
        k2 * (d3 - d1) - d2 + d4,
        k2 * (d1 - d3) - d2 + d4,
        k4 * d1 - k5 * d3 + d5,
    )


@jit
def _b(K, v0, v1, v2, v3, v4, v5):
    """BT^T @ v: the input transform's gradient along one axis."""
    k2, k4, k5 = K[0], K[1], K[2]
    return (
        k4 * v0,
        k4 * (v2 - v1 + v5) + k2 * (v4 - v3),
        -k5 * v0 - k4 * (v1 + v2) - v3 - v4,
        v1 - v2 + k2 * (v3 - v4) - k5 * v5,
        v0 + v1 + v2 + v3 + v4,
        v5,
    )


@jit
def _consts(dtype_of):
    """K = (2, 4, 5, 8) in dtype_of's dtype."""
    t = dtype_of.dtype.type
    return (t(2.0), t(4.0), t(5.0), t(8.0))


@jit
def _at_rows(K, v0, v1, v2, v3, v4, v5, h0, h1, h2, h3, bias):
    """h_i = bias + (AT @ v)_i, i < 4, along rows of length T: the output transform along one
    axis."""
    k2, k4, k8 = K[0], K[1], K[3]
    for t in range(h0.shape[0]):
        s12, d12, s34, d34 = v1[t] + v2[t], v1[t] - v2[t], v3[t] + v4[t], v3[t] - v4[t]
        h0[t] = bias + (v0[t] + s12 + s34)
        h1[t] = bias + (d12 + k2 * d34)
        h2[t] = bias + (s12 + k4 * s34)
        h3[t] = bias + (d12 + k8 * d34 + v5[t])


@jit
def _a_rows(K, u0, u1, u2, u3, h0, h1, h2, h3, h4, h5):
    """h = AT^T @ u along rows of length T: the output transform's gradient along one axis."""
    k2, k4 = K[0], K[1]
    for t in range(h0.shape[0]):
        even, odd = u0[t] + u2[t], u1[t] + u3[t]
        e4, o4 = u0[t] + k4 * u2[t], u1[t] + k4 * u3[t]
        h0[t], h1[t], h2[t] = u0[t], even + odd, even - odd
        h3[t], h4[t], h5[t] = e4 + k2 * o4, e4 - k2 * o4, u3[t]


@jit
def block_index(m, th, tw, ow, plane, nt):
    """For each output pixel p of one image, where its value sits in a (4, 4, nt) block array
    [i, j, tile] viewed flat (add sample * th * tw for the sample): one table lookup per pixel
    instead of loops over tiles m wide, whose overhead cost 4 ns a pixel at m = 4."""
    index = np.empty(plane, np.int64)
    for p in range(plane):
        ti, i = divmod(p // ow, m)
        tj, j = divmod(p % ow, m)
        index[p] = (i * 4 + j) * nt + ti * tw + tj
    return index


# The two helpers take the whole (S, F, P) arrays and a channel f: a view y[:, f] would be a
# non-contiguous array to numba, and the row kernels it calls would not vectorise (grad_tiles
# took 3.5x as long that way).


@jit
def blocks_to_planes(flat, index, per_sample, act, alpha, y, f):
    """y[s, f, p] = act(flat[index[p] + s * per_sample]): channel f's pixels picked out of the
    (4, 4, tiles) block array (flat) for each sample of y (S, F, P) (shared with winograd8)."""
    for s in range(y.shape[0]):
        out, base = y[s, f], s * per_sample
        for p in range(y.shape[2]):
            out[p] = flat[index[p] + base]
        if act != LINEAR:
            activate_row(out, act, alpha)


@jit
def pooled_index(th, tw, pw, pplane, nt):
    """For each pixel p of one image's 2x2 max pooling (pplane of them, pw wide), where its
    value sits in a (2, 2, nt) array [i, j, tile] of each 4 x 4 block's four window maxima
    viewed flat (add sample * th * tw for the sample)."""
    index = np.empty(pplane, np.int64)
    for p in range(pplane):
        ti, i = divmod(p // pw, 2)
        tj, j = divmod(p % pw, 2)
        index[p] = (i * 2 + j) * nt + ti * tw + tj
    return index


@jit
def blocks_to_pooled(block, pooled, index, per_sample, act, alpha, y, f):
    """y[s, f, p] = the 2x2 max pooling of act(block) for channel f: act on the (4, 4, nt)
    blocks, each window's maximum into pooled (2, 2, nt), the pooled pixels picked out by index
    (pooled_index) into y (S, F, PH * PW). The same values and the same order of comparisons
    as blocks_to_planes then pooling.maxpool2x2_values (NaN wherever a window holds one)."""
    nt = block.shape[2]
    if act != LINEAR:
        activate_row(block.reshape(16 * nt), act, alpha)
    nan = y.dtype.type(np.nan)
    for i in range(2):
        for j in range(2):
            a, b = block[2 * i, 2 * j], block[2 * i, 2 * j + 1]
            d, e, out = block[2 * i + 1, 2 * j], block[2 * i + 1, 2 * j + 1], pooled[i, j]
            for t in range(nt):
                best = max(max(max(a[t], b[t]), d[t]), e[t])
                any_nan = (a[t] != a[t]) | (b[t] != b[t]) | (d[t] != d[t]) | (e[t] != e[t])
                out[t] = best if not any_nan else nan
    flat = pooled.reshape(4 * nt)
    for s in range(y.shape[0]):
        row, base = y[s, f], s * per_sample
        for p in range(y.shape[2]):
            row[p] = flat[index[p] + base]


@jit
def planes_to_blocks(dy, y, f, act, alpha, index, per_sample, dz, flat):
    """The adjoint of blocks_to_planes for channel f: dL/dz from dy (S, F, P) through the
    activation's gradient (from y) into flat's cells; returns the sum of dL/dz (per sample,
    then over samples: a fixed order)."""
    total = dy.dtype.type(0.0)
    for s in range(dy.shape[0]):
        grad_row(dy[s, f], y[s, f], act, alpha, dz)
        part = dy.dtype.type(0.0)
        for p in range(dy.shape[2]):
            part += dz[p]
        total += part
        base = s * per_sample
        for p in range(dy.shape[2]):
            flat[index[p] + base] = dz[p]
    return total


# Views (a[i], a[i, j:k]) cost a reference-count update each in numba: the loops below take
# their row views outside the innermost loops and index the rest directly. Two tidier forms
# were measured slower and not kept (2026-11-23, one thread, per chunk): helpers returning
# the six row views (instead of writing them out) made input_tiles 1.4-1.6x slower, numba not
# inlining them; and scratch passed in from the layer, carved from one buffer, instead of the
# small np.empty arrays each kernel makes per call, made them 5-35% slower (the index tables
# precomputed per layer did not make up for it). The per-call allocations are deliberate.


@jit
def tile_starts(rows, tw, wp, m):
    """Where each tile t = k * tw + tj starts in rows of tile rows k, each wp wide, flat."""
    start = np.empty(rows * tw, np.int64)
    for k in range(rows):
        for tj in range(tw):
            start[k * tw + tj] = k * wp + tj * m
    return start


@jit
def pad_rows_into(x, xp, top):
    """Copy each plane of x (N, C, H, W) into xp (N, C, HP, W) from row top: planes of the same
    width, so each is one contiguous copy (the rows above and below are left as they are:
    the caller keeps them zero). Winograd's input needs its padding rows in memory; its
    padding columns input_tiles reads as zeros without them."""
    n, c, h, w = x.shape
    for s in range(n):
        for ch in range(c):
            src, dst = x[s, ch].reshape(h * w), xp[s, ch, top : top + h].reshape(h * w)
            for i in range(h * w):
                dst[i] = src[i]


@jit
def input_tiles(xp, left, m, th, tw, V):
    """V[a * 6 + b, c, t] = (BT d BT^T)[a, b] for each tile d of xp (S, C, HP, W) padded with
    left columns of zeros (and on the right as far as the tiles reach), which are read as
    zeros, not copied: xp holds the padding rows only (pad_rows_into), a plane copy that is
    one contiguous run (a copy with the padding columns too cost 12% of cnn_bn.py's 3x3
    layer at prediction; reading the padding rows as zeros too took two loops, which doubled
    the kernel's compile time)."""
    ns, nc, w = xp.shape[0], xp.shape[1], xp.shape[3]
    wp = (tw - 1) * m + 6  # the padded width the tiles cover
    K, nk = _consts(xp), ns * th
    rows = np.zeros((6, nk * wp), xp.dtype)  # [a, (s, ti, q)]: BT down each tile row; the
    # columns left and right of the input's stay zero
    start = tile_starts(nk, tw, wp, m)
    for c in range(nc):
        for s in range(ns):
            for ti in range(th):
                r, q0 = ti * m, (s * th + ti) * wp + left
                x0, x1, x2 = xp[s, c, r], xp[s, c, r + 1], xp[s, c, r + 2]
                x3, x4, x5 = xp[s, c, r + 3], xp[s, c, r + 4], xp[s, c, r + 5]
                r0, r1, r2 = rows[0, q0 : q0 + w], rows[1, q0 : q0 + w], rows[2, q0 : q0 + w]
                r3, r4, r5 = rows[3, q0 : q0 + w], rows[4, q0 : q0 + w], rows[5, q0 : q0 + w]
                for q in range(w):
                    o = _bt(K, x0[q], x1[q], x2[q], x3[q], x4[q], x5[q])
                    r0[q], r1[q], r2[q], r3[q], r4[q], r5[q] = o
        for a in range(6):
            e, src = a * 6, rows[a]
            v0, v1, v2 = V[e, c], V[e + 1, c], V[e + 2, c]
            v3, v4, v5 = V[e + 3, c], V[e + 4, c], V[e + 5, c]
            for t in range(nk * tw):
                q = start[t]
                o = _bt(K, src[q], src[q + 1], src[q + 2], src[q + 3], src[q + 4], src[q + 5])
                v0[t], v1[t], v2[t], v3[t], v4[t], v5[t] = o


@jit
def output_scratch(M, y, bias, n):
    """What an output transform over M (n * n, F, T) into y (S, F, ...) works with: the bias
    per channel (zeros where bias is empty), and the scratch half (n, 4, T), AT applied
    along b, and block (4, 4, T) [i, j, t] (shared with winograd8, whose constants differ)."""
    nf, nt = y.shape[1], M.shape[2]
    biases = bias if bias.shape[0] == nf else np.zeros(nf, y.dtype)
    half = np.empty((n, 4, nt), y.dtype)
    block = np.empty((4, 4, nt), y.dtype)
    return biases, half, block


@jit
def _channel_blocks(K, M, f, bias_f, half, block):
    """block[i, j, t] = bias_f + (AT M_t AT^T)[i, j] for channel f's tiles t of M (36, F, T)."""
    zero = block.dtype.type(0.0)
    for a in range(6):
        e = a * 6
        v0, v1, v2 = M[e, f], M[e + 1, f], M[e + 2, f]
        v3, v4, v5 = M[e + 3, f], M[e + 4, f], M[e + 5, f]
        h0, h1, h2, h3 = half[a, 0], half[a, 1], half[a, 2], half[a, 3]
        _at_rows(K, v0, v1, v2, v3, v4, v5, h0, h1, h2, h3, zero)
    for j in range(4):
        u0, u1, u2 = half[0, j], half[1, j], half[2, j]
        u3, u4, u5 = half[3, j], half[4, j], half[5, j]
        b0, b1, b2, b3 = block[0, j], block[1, j], block[2, j], block[3, j]
        _at_rows(K, u0, u1, u2, u3, u4, u5, b0, b1, b2, b3, bias_f)


@jit
def output_tiles(M, m, bias, act, alpha, th, tw, ow, y):
    """y[s, f, p] = act(bias[f] + (AT M_tile AT^T)), the m x m output blocks from M
    (36, F, T), cropped to y's (S, F, OH * OW) planes (bias empty: none)."""
    _, nf, plane = y.shape
    nt = M.shape[2]
    K, (biases, half, block) = _consts(y), output_scratch(M, y, bias, 6)
    flat, index = block.reshape(16 * nt), block_index(m, th, tw, ow, plane, nt)
    for f in range(nf):
        _channel_blocks(K, M, f, biases[f], half, block)
        blocks_to_planes(flat, index, th * tw, act, alpha, y, f)


@jit
def output_tiles_pooled(M, bias, act, alpha, th, tw, pw, y):
    """output_tiles' values, 2x2 max pooled: y (S, F, PH * PW), PH x PW = pw wide, as
    blocks_to_pooled computes it from each channel's blocks. A kernel of its own, so that
    training, which never pools here, does not compile it."""
    _, nf, plane = y.shape
    nt = M.shape[2]
    K, (biases, half, block) = _consts(y), output_scratch(M, y, bias, 6)
    pooled = np.empty((2, 2, nt), y.dtype)  # [i, j, t]: each block's window maxima
    index = pooled_index(th, tw, pw, plane, nt)
    for f in range(nf):
        _channel_blocks(K, M, f, biases[f], half, block)
        blocks_to_pooled(block, pooled, index, th * tw, act, alpha, y, f)


@jit
def grad_tiles(dy, y, act, alpha, m, th, tw, ow, Mg, db):
    """Mg[a * 6 + b, f, t] = (A dZ A^T)[a, b] for each m x m block dZ of dL/dz (zero past the
    image's edge), where dL/dz comes from dy (S, F, P) through the activation's gradient (from
    the output y). db (if not empty) = the sums of dL/dz per channel, in a fixed order."""
    _, nf, plane = dy.shape
    nt = Mg.shape[2]
    K = _consts(dy)
    dz = np.empty(plane, dy.dtype)
    block = np.zeros((4, 4, nt), dy.dtype)  # [i, j, t]; cells past the edge stay zero
    flat, index = block.reshape(16 * nt), block_index(m, th, tw, ow, plane, nt)
    half = np.empty((6, 4, nt), dy.dtype)  # [a, j, t]: A applied along i
    for f in range(nf):
        total = planes_to_blocks(dy, y, f, act, alpha, index, th * tw, dz, flat)
        if db.shape[0] == nf:
            db[f] = total
        for j in range(4):
            u0, u1, u2, u3 = block[0, j], block[1, j], block[2, j], block[3, j]
            h0, h1, h2 = half[0, j], half[1, j], half[2, j]
            h3, h4, h5 = half[3, j], half[4, j], half[5, j]
            _a_rows(K, u0, u1, u2, u3, h0, h1, h2, h3, h4, h5)
        for a in range(6):
            e = a * 6
            u0, u1, u2, u3 = half[a, 0], half[a, 1], half[a, 2], half[a, 3]
            g0, g1, g2 = Mg[e, f], Mg[e + 1, f], Mg[e + 2, f]
            g3, g4, g5 = Mg[e + 3, f], Mg[e + 4, f], Mg[e + 5, f]
            _a_rows(K, u0, u1, u2, u3, g0, g1, g2, g3, g4, g5)


@jit
def input_grad_tiles(dV, m, th, tw, dxp):
    """dxp (S, C, HP, WP), C-contiguous, = the sum over tiles of B dV_tile BT placed where
    each tile was read (tiles overlap; zeroes dxp first, adds in a fixed order)."""
    ns, nc, hp, wp = dxp.shape
    nt = dV.shape[2]
    K, nk, zero = _consts(dxp), ns * th, dxp.dtype.type(0.0)
    h0, h1, h2, h3, h4, h5 = np.empty((6, nt), dxp.dtype)  # B applied along b, one a at a time
    rows = np.empty((6, nk * wp), dxp.dtype)  # [a, (s, ti, q)]: tiles laid back in rows
    start = tile_starts(nk, tw, wp, m)
    for c in range(nc):
        rows[:] = zero
        for a in range(6):
            e = a * 6
            v0, v1, v2 = dV[e, c], dV[e + 1, c], dV[e + 2, c]
            v3, v4, v5 = dV[e + 3, c], dV[e + 4, c], dV[e + 5, c]
            for t in range(nt):
                o = _b(K, v0[t], v1[t], v2[t], v3[t], v4[t], v5[t])
                h0[t], h1[t], h2[t], h3[t], h4[t], h5[t] = o
            dst = rows[a]
            for t in range(nt):
                q = start[t]
                dst[q] += h0[t]
                dst[q + 1] += h1[t]
                dst[q + 2] += h2[t]
                dst[q + 3] += h3[t]
                dst[q + 4] += h4[t]
                dst[q + 5] += h5[t]
        r0, r1, r2, r3, r4, r5 = (
            rows[0], rows[1], rows[2], rows[3], rows[4], rows[5]
        )  # fmt: skip
        for s in range(ns):
            plane = dxp[s, c].reshape(hp * wp)  # one view a plane, flat offsets inside (the
            # row views of each tile row made this pass 2-3x as long: a reference count each)
            plane[:] = zero
            for ti in range(th):
                p0, q0 = ti * m * wp, (s * th + ti) * wp
                for q in range(wp):
                    u, p = q0 + q, p0 + q
                    o = _b(K, r0[u], r1[u], r2[u], r3[u], r4[u], r5[u])
                    plane[p] += o[0]
                    plane[p + wp] += o[1]
                    plane[p + 2 * wp] += o[2]
                    plane[p + 3 * wp] += o[3]
                    plane[p + 4 * wp] += o[4]
                    plane[p + 5 * wp] += o[5]
