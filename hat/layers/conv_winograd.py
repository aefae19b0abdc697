"""Conv2D's Winograd path (hat/kernels/winograd.py, winograd8.py): stride 1, 3x3 or 5x5.

Conv2D picks it at build time when it applies (see Conv2D's `algorithm`); these functions
are its forward and backward passes, written against the layer's buffers like the im2col path
in hat/layers/conv.py: the batch in chunks on hat.threads' pool, each chunk's kernels and its
n * n small GEMMs (36 for 3x3 kernels, 64 for 5x5) back to back while the chunk is in cache,
the transformed input V kept from forward for backward in training.
"""

import numpy as np

from hat.kernels import sgemm, sgemm_nt, winograd, winograd8
from hat.threads import chunks_of, parallel_for

KERNEL_SIZES = tuple(winograd.KERNEL_TILES)  # 3 and 5: F(4x4, 3x3), F(4x4, 5x5)
_KERNELS = {6: winograd, 8: winograd8}  # by tile size
# Bytes of one chunk's V (n * n, C, tiles) and M (n * n, F, tiles). Measured on the two CNNs'
# Winograd layers (forward + backward, 2 threads, alternating with im2col): 16->32 5x5 at
# batch 50 on 6 x 6 tiles took 6.9 ms in 12 chunks (2 MB), 6.4-6.5 in 8 (3-4 MB), 6.7 in 4
# (6 MB); im2col 9.6-10.2. On 8 x 8 tiles, whole training steps of cnn_scratch: 1 MB chunks
# as fast as 4 MB, 256 KB 1.33x slower. Smaller chunks pay more per-call overhead than they
# gain in cache.
CHUNK_BYTES = 4 << 20


class Geometry:
    """Tiles of one Winograd layer: m x m outputs per n x n input tile, th x tw tiles an image,
    the kernels for that tile size, and the weight transform as kron(G, G) in the layer's
    dtype (the kernels have AT and BT written out)."""

    def __init__(self, r: int, out_hw: tuple[int, int], dtype):
        self.n = winograd.KERNEL_TILES[r]
        self.kernels = _KERNELS[self.n]
        self.m = self.n - r + 1
        self.th, self.tw = (-(-size // self.m) for size in out_hw)
        # The padded input every tile lies inside: (th - 1) * m + n rows.
        self.padded_hw = ((self.th - 1) * self.m + self.n, (self.tw - 1) * self.m + self.n)
        # (G W G^T)[a, b] = sum_kl G[a, k] G[b, l] W[k, l]: the weight transform and its
        # adjoint as one GEMM each with kron(G, G) (n * n, r * r), instead of two stacked
        # small products per (f, c) block (0.38 ms a step for 32 x 16 blocks, 0.05 this way).
        G = winograd.transforms(r)[1]
        self.GG = np.kron(G, G).astype(dtype)

    def weights_to_tiles(self, layer, W) -> np.ndarray:
        """U (n * n, F, C): U[a * n + b, f, c] = (G W[f, c] G^T)[a, b], in the layer's buffers."""
        f, c, r, _ = W.shape
        U = layer._buffer("U", (self.n * self.n, f, c), W.dtype)
        np.matmul(self.GG, W.reshape(f * c, r * r).T, out=np.reshape(U, (-1, f * c), copy=False))
        return U

    def tiles_to_weights(self, layer, dU, dW) -> None:
        """dW[f, c] = G^T dU[:, f, c] G, the adjoint of weights_to_tiles."""
        f, c, r, _ = dW.shape
        np.matmul(dU.reshape(-1, f * c).T, self.GG, out=np.reshape(dW, (f * c, r * r), copy=False))

    def per_sample(self, channels: int) -> int:
        """Elements of one sample's transformed input V (or M, for the output channels)."""
        return self.n * self.n * channels * self.th * self.tw

    def chunks(self, n: int, channels: int) -> list[tuple[int, int]]:
        """(start, stop) of the batch's chunks: shapes only, never the thread count."""
        return chunks_of(n, self.per_sample(channels) * self.GG.itemsize, CHUNK_BYTES)


def _row_padded(layer, x, s0, s1, geo: Geometry) -> np.ndarray:
    """Samples s0:s1 of x with the padding rows the tiles read, in a per-thread zero-bordered
    scratch (S, C, HP, W) (a whole-batch copy cost 25 MB more peak memory at predict's batch
    of 1000), or x's own rows where the tiles need none; the padding columns input_tiles reads
    as zeros."""
    hp, top = geo.padded_hw[0], layer.pads[0]
    if top == 0 and hp == x.shape[2]:
        return x[s0:s1]
    xp = layer._scratch("wxp", (s1 - s0, x.shape[1], hp, x.shape[3]), x.dtype, zeroed=True)
    winograd.pad_rows_into(x[s0:s1], xp, top)
    return xp


def forward(layer, x, training, code, alpha, W, b, pool=None):
    """The layer's output act(conv(x, W) + b) into its "y" buffer (N, F, OH, OW); W and b are
    the layer's weights, or at inference their BatchNorm-folded copies. With pool (a folded
    2x2 MaxPool2D), its pooling of that into pool's "y" buffer instead."""
    geo: Geometry = layer._winograd
    x = np.ascontiguousarray(x)
    n, c = x.shape[:2]
    f, (oh, ow), m, th, tw = layer.n_outfmaps, layer.out_hw, geo.m, geo.th, geo.tw
    kernels, nn = geo.kernels, geo.n * geo.n
    U = geo.weights_to_tiles(layer, W)
    left = layer.pads[2]
    if pool is None:
        z, pool_w = layer._buffer("y", (n, f, oh, ow), x.dtype), 0
    else:  # the output transform pools each block (its m = 4 rows hold two windows' rows)
        z, pool_w = pool._buffer("y", (n,) + pool.output_shape, x.dtype), pool.output_shape[2]
    z3 = z.reshape(n, f, -1)
    chunks = geo.chunks(n, c + f)
    per_sample = geo.per_sample(c)
    kept = layer._buffer("V", (per_sample * n,), x.dtype) if training else None

    def task(i):
        s0, s1 = chunks[i]
        shape = (nn, c, (s1 - s0) * th * tw)
        if kept is None:
            V = layer._scratch("V", shape, x.dtype)
        else:
            V = kept[per_sample * s0 : per_sample * s1].reshape(shape)
        kernels.input_tiles(_row_padded(layer, x, s0, s1, geo), left, m, th, tw, V)
        M = layer._scratch("M", (nn, f, shape[2]), x.dtype)
        sgemm.matmul(U, V, out=M)
        if pool is None:
            kernels.output_tiles(M, m, b, code, alpha, th, tw, ow, z3[s0:s1])
        else:
            kernels.output_tiles_pooled(M, b, code, alpha, th, tw, pool_w, z3[s0:s1])

    parallel_for(task, len(chunks))
    layer._x_in, layer._x_shape, layer._chunks, layer._cols = x, x.shape, chunks, kept
    return z


def backward(layer, dy3, y3, code, alpha, db_parts, want_w, dx):
    """dL/dx into dx (None: not wanted); the weights' gradient into grads["W"] if want_w; the
    bias's per-chunk partial sums into db_parts. dy3, y3: (N, F, OH * OW)."""
    from hat.kernels import conv

    geo: Geometry = layer._winograd
    n, f, _ = dy3.shape
    c = layer._x_shape[1]
    ow, m, th, tw = layer.out_hw[1], geo.m, geo.th, geo.tw
    kernels, nn = geo.kernels, geo.n * geo.n
    chunks, x, kept = layer._chunks, layer._x_in, layer._cols
    per_sample = geo.per_sample(c)
    U = layer._buffers["U"]
    if dx is not None:
        UT = layer._buffer("UT", (nn, c, f), dy3.dtype)
        UT[...] = U.transpose(0, 2, 1)
    dU_parts = layer._buffer("dU_parts", (len(chunks), nn, f, c) if want_w else (0,), dy3.dtype)
    top, left = layer.pads[0], layer.pads[2]

    def task(t):
        i = len(chunks) - 1 - t  # last first: forward wrote its V last (in cache)
        s0, s1 = chunks[i]
        shape = (nn, c, (s1 - s0) * th * tw)
        Mg = layer._scratch("M", (nn, f, shape[2]), dy3.dtype)
        kernels.grad_tiles(dy3[s0:s1], y3[s0:s1], code, alpha, m, th, tw, ow, Mg, db_parts[i])
        if kept is not None:
            V = kept[per_sample * s0 : per_sample * s1].reshape(shape)
        else:  # forward ran in inference mode: transform the input again
            V = layer._scratch("V", shape, dy3.dtype)
            kernels.input_tiles(_row_padded(layer, x, s0, s1, geo), left, m, th, tw, V)
        if want_w:
            sgemm_nt.matmul_nt(Mg, V, out=dU_parts[i])  # both along the tiles
        if dx is not None:
            sgemm.matmul(UT, Mg, out=V)  # V is spent: its gradient
            dxp = layer._scratch("wdxp", (s1 - s0, c) + geo.padded_hw, dy3.dtype)
            kernels.input_grad_tiles(V, m, th, tw, dxp)
            conv.crop_from(dxp, dx[s0:s1], top, left)

    parallel_for(task, len(chunks))
    if want_w:
        dU = layer._buffer("dU", (nn, f, c), dy3.dtype)
        np.sum(dU_parts, axis=0, out=dU)
        geo.tiles_to_weights(layer, dU, layer.grads["W"])
