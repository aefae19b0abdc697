"""Convolution kernels: im2col / col2im around one BLAS GEMM, and the layout moves around it.

The column matrix is (C*kh*kw, N*OH*OW): row (c, i, j) holds, for every sample and output
pixel, the input value under kernel tap (i, j) of channel c. Then the forward pass is one GEMM
W (F, C*kh*kw) @ cols, and the backward pass two: dW = dz^T cols^T and dcols = W^T dz^T.
Inputs are zero-padded copies, so every index is a sum of non-negative loop variables
(a negative offset makes numba insert wraparound checks that stop vectorisation). Reading the
unpadded image instead, with each tap's valid output range worked out per row, made im2col
2-3x slower (variable-length copies and more views per row), far more than the pad costs
(0.009 ms a chunk). The forward GEMM runs once per sample straight into NCHW (numpy's batched
matmul over the chunk's per-sample column blocks), then bias_activate_nchw adds the bias and an
elementwise activation in place: 6-15% faster on the first conv layers than one GEMM into
(F, N*P) and a layout move (A/B in one process, 2026-11-23). nchw_to_rows moves the gradient
back to the (F, N*P) layout the backward GEMMs take, through the activation's gradient.

The layer (hat/layers/conv.py) runs these on chunks of a few samples (about 1 MB of columns
each, see CHUNK_BYTES there), each chunk a task on hat.threads' pool of Python threads, with
OpenBLAS held to one thread: every kernel here takes a batch slice, so the chunk's columns stay
in cache from im2col to the GEMMs. Training keeps each chunk's columns for the backward pass
(15.7 MB for the 16->32 5x5 layer at batch 50): rebuilding them there cost 35% more time in
that layer's backward (27 -> 17 ms a step under load 5).

Measured on the 2-core dev machine (whole train steps; noisy, other jobs running). Before, one
whole-batch column matrix, serial kernels + OpenBLAS 2 threads: 5x5 CNN b50 21.5-21.9 ms, BN-CNN
b64 31.4-32.5 (PyTorch 15.5-18.0 and 35.1-36.7) when the machine was quiet, but 3x slower with
one busy neighbour (a 2-thread GEMM waits for its descheduled partner). numba prange with BLAS
on 1 thread: 27.5 and 37; prange with BLAS on 2 threads: 3-6x slower (two spinning pools).
Chunks on Python threads + BLAS 1 thread: 1.6-9x PyTorch under load 2.7-6 (PyTorch's pools
collapse), but 0.64x on a nearly quiet machine (see docs/performance.md). im2col and col2im
cost about as much as the GEMMs per chunk until their copy loops indexed 1-D views from 0
(row[off + q] had kept LLVM from vectorising them): 1.6-2.3x faster, 0.28 + 0.31 ms against
0.42 + 0.44 for the GEMMs (5 samples of the 16->32 layer, one thread); the GEMMs (60 GFLOP/s
on one core) now dominate. Tried and dropped (2026-11-23, one thread, per chunk):
- "wide" columns at stride 1 (one column per padded-width pixel, so row (c, i, j) of a sample is
  one contiguous run of the padded plane): im2col and col2im at memcpy speed (0.07 and 0.09
  ms), but the GEMMs do wp/ow more work (+29% at 14 pixels, pad 2), so the chunk was only
  0-6% faster, and slower for the single-channel first layers.
- direct kernels for one input channel written as numba loops (vectorised along the output
  row, no im2col): 4-5x slower than im2col + GEMM, forward and dW alike, their accumulators
  in memory. Done since as LLVM IR micro-kernels with the accumulators in registers, 1.5-4.6x
  faster than this path: hat/kernels/conv_direct.py, which Conv2D takes for one channel.
- calling numpy's own OpenBLAS GEMM from inside numba (its cblas symbol passed as a first-class
  function argument, which keeps the kernels cacheable), so that a thread ran a whole group of
  chunks in one call with no GIL hand-off: one thread's forward of the 16->32 layer then took
  exactly the sum of its kernels (the Python path costs about 20% more there), but whole
  training steps on two threads were no faster (A/B in one process, 16 rounds: 0.96x-1.04x,
  within the noise), so the extra code path was not kept.
"""

from hat.kernels.activations import LINEAR, activate_row, grad_row
from hat.kernels.jit import jit


@jit
def pad_into(x, xp, top, left):
    """Copy x (N, C, H, W) into the interior of xp (N, C, H + pads, W + pads); borders are
    left as they are (the caller keeps them zero)."""
    n, c, h, w = x.shape
    for s in range(n):
        for ch in range(c):
            for i in range(h):
                src = x[s, ch, i]
                dst = xp[s, ch, top + i]
                for j in range(w):
                    dst[left + j] = src[j]


@jit
def crop_from(xp, x, top, left):
    """The inverse of pad_into: x = xp's interior."""
    n, c, h, w = x.shape
    for s in range(n):
        for ch in range(c):
            for i in range(h):
                src = xp[s, ch, top + i]
                dst = x[s, ch, i]
                for j in range(w):
                    dst[j] = src[left + j]


@jit
def im2col(xp, kh, kw, sh, sw, oh, ow, cols):
    """cols[(c*kh + i)*kw + j, (s*oh + p)*ow + q] = xp[s, c, p*sh + i, q*sw + j]."""
    n, c = xp.shape[0], xp.shape[1]
    for s in range(n):
        for ch in range(c):
            for i in range(kh):
                for j in range(kw):
                    row = cols[(ch * kh + i) * kw + j]
                    for p in range(oh):
                        # 1-D views indexed from 0: with offsets in the index (row[off + q])
                        # LLVM did not vectorise the copy, 1.6-2.3x slower.
                        dst = row[(s * oh + p) * ow : (s * oh + p + 1) * ow]
                        if sw == 1:
                            src = xp[s, ch, p * sh + i, j : j + ow]
                            for q in range(ow):
                                dst[q] = src[q]
                        else:
                            src = xp[s, ch, p * sh + i]
                            for q in range(ow):
                                dst[q] = src[q * sw + j]


@jit
def col2im(dcols, kh, kw, sh, sw, oh, ow, dxp):
    """dxp = the sum of every column entry back onto the pixel it was read from (zeroes dxp
    first). Loops in a fixed order, so the sums are the same bits every run."""
    n, c = dxp.shape[0], dxp.shape[1]
    for s in range(n):
        dxp[s] = 0
        for ch in range(c):
            for i in range(kh):
                for j in range(kw):
                    row = dcols[(ch * kh + i) * kw + j]
                    for p in range(oh):
                        src = row[(s * oh + p) * ow : (s * oh + p + 1) * ow]
                        if sw == 1:
                            dst = dxp[s, ch, p * sh + i, j : j + ow]
                            for q in range(ow):
                                dst[q] += src[q]
                        else:
                            dst = dxp[s, ch, p * sh + i]
                            for q in range(ow):
                                dst[q * sw + j] += src[q]


@jit
def bias_activate_nchw(y, b, act, alpha):
    """In place on y (N, F, P): y[s, f] = act(y[s, f] + b[f]) (b empty: no bias)."""
    n, f, plane = y.shape
    has_bias = b.shape[0] == f
    for s in range(n):
        for k in range(f):
            row = y[s, k]
            if has_bias:
                bias = b[k]
                for p in range(plane):
                    row[p] += bias
            if act != LINEAR:
                activate_row(row, act, alpha)


@jit
def nchw_to_rows(dy, y, act, alpha, zt, db):
    """zt[f, s*P + p] = dL/dz from dy[s, f, p] = dL/dy and the output y (NCHW to the GEMM's
    (F, N*P) layout, through the activation's gradient); db (if not empty) = the sums of
    dL/dz over s and p, in a fixed order."""
    n, f, plane = dy.shape
    want_db = db.shape[0] == f
    for k in range(f):
        acc = dy.dtype.type(0.0)
        for s in range(n):
            dst = zt[k, s * plane : (s + 1) * plane]
            grad_row(dy[s, k], y[s, k], act, alpha, dst)
            total = dy.dtype.type(0.0)
            for p in range(plane):
                total += dst[p]
            acc += total
        if want_db:
            db[k] = acc
