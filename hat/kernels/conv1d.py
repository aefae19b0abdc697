"""1-D convolution on (batch, time, channels) arrays: im2col and col2im around one GEMM.

In this layout the window of output step t is one contiguous run of k*C values of the
(zero-padded) sample, xp[s, t*stride : t*stride + k] flattened, so the column matrix
(N, T_out, k*C) is a copy of runs, and cols (N*T_out, k*C) @ W (F, k*C)^T lands straight in
the (N, T_out, F) output: no transposes on either side of the GEMM.

Measured (b32, 80 steps, 128 -> 128 channels, k 5; benchmarks/bench_conv1d.py, 2-core machine
under load 14-16, 2026-12-01): im2col and col2im take 0.1 ms each against 12 ms for each of the
three GEMMs. Running the batch through Conv2D's kernels instead (a (N, 1, T, C) view, a (k, C)
kernel, the output moved to (N, T_out, F)) was 1.33-1.47x slower. Chunks of the batch with
their own im2col and GEMMs, as Conv2D runs them (256 KB, 1 MB, 4 MB of columns), were
0.77-0.90x as fast as the whole-batch products split in halves on the pool.
"""

from hat.kernels.jit import jit


@jit
def im2col_1d(xp, stride, cols):
    """cols[s, t] = xp[s, t*stride : t*stride + k] flattened (k*C values, k = width / C)."""
    n, tp, c = xp.shape
    t_out, width = cols.shape[1], cols.shape[2]
    for s in range(n):
        flat = xp[s].reshape(tp * c)
        for t in range(t_out):
            # 1-D views indexed from 0 let LLVM vectorise the copy (see kernels/conv.py).
            src = flat[t * stride * c : t * stride * c + width]
            dst = cols[s, t]
            for q in range(width):
                dst[q] = src[q]


@jit
def col2im_1d(dcols, stride, dxp):
    """dxp = 0, then every column entry added back onto the step and channel it was read
    from, in a fixed order (the same bits every run)."""
    n, tp, c = dxp.shape
    t_out, width = dcols.shape[1], dcols.shape[2]
    dxp[...] = 0
    for s in range(n):
        flat = dxp[s].reshape(tp * c)
        for t in range(t_out):
            dst = flat[t * stride * c : t * stride * c + width]
            src = dcols[s, t]
            for q in range(width):
                dst[q] += src[q]
