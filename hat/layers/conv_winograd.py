"""Conv2D's Winograd path (hat/kernels/winograd.py): stride 1, 3x3 or 5x5 kernels.

Conv2D picks it at build time when it applies (see Conv2D's `algorithm`); these functions
are its forward and backward passes, written against the layer's buffers like the im2col path
in hat/layers/conv.py: the batch in chunks on hat.threads' pool, each chunk's kernels and its
36 small GEMMs back to back while the chunk is in cache, the transformed input V kept from
forward for backward in training.
"""

import numpy as np

from hat.kernels import winograd
from hat.threads import chunks_of, parallel_for

KERNEL_SIZES = (3, 5)
# Bytes of one chunk's V (36, C, tiles) and M (36, F, tiles). Measured on the two CNNs'
# Winograd layers (forward + backward, 2 threads, alternating with im2col): 16->32 5x5 at
# batch 50 took 6.9 ms in 12 chunks (2 MB), 6.4-6.5 in 8 (3-4 MB), 6.7 in 4 (6 MB); im2col
# 9.6-10.2. Smaller chunks pay more per-call overhead than they gain in cache.
CHUNK_BYTES = 4 << 20


class Geometry:
    """Tiles of one Winograd layer: m x m outputs per 6 x 6 input tile, th x tw tiles an image,
    and the weight transform G in the layer's dtype (the kernels have AT and BT written out)."""

    def __init__(self, r: int, out_hw: tuple[int, int], dtype):
        G = winograd.transforms(r)[1]
        self.m = winograd.TILE - r + 1
        self.th, self.tw = (-(-size // self.m) for size in out_hw)
        # The padded input every tile lies inside: (th - 1) * m + 6 rows.
        self.padded_hw = ((self.th - 1) * self.m + 6, (self.tw - 1) * self.m + 6)
        self.G = G.astype(dtype)

    def weights_to_tiles(self, layer, W) -> np.ndarray:
        """U (36, F, C): U[a * 6 + b, f, c] = (G W[f, c] G^T)[a, b], in the layer's buffers."""
        f, c, r, _ = W.shape
        GW = np.matmul(self.G, W, out=layer._buffer("GW", (f, c, 6, r), W.dtype))
        GWG = np.matmul(GW, self.G.T, out=layer._buffer("GWG", (f, c, 6, 6), W.dtype))
        U = layer._buffer("U", (36, f, c), W.dtype)
        U[...] = GWG.reshape(f, c, 36).transpose(2, 0, 1)
        return U

    def tiles_to_weights(self, layer, dU, dW) -> None:
        """dW[f, c] = G^T dU[:, f, c] G, the adjoint of weights_to_tiles."""
        f, c, r, _ = dW.shape
        blocks = layer._buffer("GWG", (f, c, 6, 6), dW.dtype)
        blocks[...] = dU.transpose(1, 2, 0).reshape(f, c, 6, 6)
        GtU = np.matmul(self.G.T, blocks, out=layer._buffer("GtU", (f, c, r, 6), dW.dtype))
        np.matmul(GtU, self.G, out=dW)

    def per_sample(self, channels: int) -> int:
        """Elements of one sample's transformed input V (or M, for the output channels)."""
        return 36 * channels * self.th * self.tw

    def chunks(self, n: int, channels: int) -> list[tuple[int, int]]:
        """(start, stop) of the batch's chunks: shapes only, never the thread count."""
        return chunks_of(n, self.per_sample(channels) * self.G.itemsize, CHUNK_BYTES)


def _padded(layer, x, s0, s1, geo: Geometry) -> np.ndarray:
    """Samples s0:s1 of x copied into a per-thread zero-bordered scratch the tiles cover
    (a whole-batch copy cost 25 MB more peak memory at predict's batch of 1000)."""
    from hat.kernels import conv

    shape = (s1 - s0, x.shape[1]) + geo.padded_hw
    xp = layer._scratch("wxp", shape, x.dtype, zeroed=True)
    conv.pad_into(x[s0:s1], xp, layer.pads[0], layer.pads[2])
    return xp


def forward(layer, x, training, code, alpha):
    """The layer's output act(conv(x, W) + b) into its "y" buffer (N, F, OH, OW)."""
    geo: Geometry = layer._winograd
    n, c = x.shape[:2]
    f, (oh, ow), m, th, tw = layer.n_outfmaps, layer.out_hw, geo.m, geo.th, geo.tw
    U = geo.weights_to_tiles(layer, layer.params["W"])
    b = layer.params["b"]
    z = layer._buffer("y", (n, f, oh, ow), x.dtype)
    z3 = z.reshape(n, f, oh * ow)
    chunks = geo.chunks(n, c + f)
    per_sample = geo.per_sample(c)
    kept = layer._buffer("V", (per_sample * n,), x.dtype) if training else None

    def task(i):
        s0, s1 = chunks[i]
        shape = (36, c, (s1 - s0) * th * tw)
        if kept is None:
            V = layer._scratch("V", shape, x.dtype)
        else:
            V = kept[per_sample * s0 : per_sample * s1].reshape(shape)
        winograd.input_tiles(_padded(layer, x, s0, s1, geo), m, th, tw, V)
        M = layer._scratch("M", (36, f, shape[2]), x.dtype)
        np.matmul(U, V, out=M)
        winograd.output_tiles(M, m, b, code, alpha, th, tw, ow, z3[s0:s1])

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
    chunks, x, kept = layer._chunks, layer._x_in, layer._cols
    per_sample = geo.per_sample(c)
    U = layer._buffers["U"]
    if dx is not None:
        UT = layer._buffer("UT", (36, c, f), dy3.dtype)
        UT[...] = U.transpose(0, 2, 1)
    dU_parts = layer._buffer("dU_parts", (len(chunks), 36, f, c) if want_w else (0,), dy3.dtype)
    top, left = layer.pads[0], layer.pads[2]

    def task(t):
        i = len(chunks) - 1 - t  # last first: forward wrote its V last (in cache)
        s0, s1 = chunks[i]
        shape = (36, c, (s1 - s0) * th * tw)
        Mg = layer._scratch("M", (36, f, shape[2]), dy3.dtype)
        winograd.grad_tiles(dy3[s0:s1], y3[s0:s1], code, alpha, m, th, tw, ow, Mg, db_parts[i])
        if kept is not None:
            V = kept[per_sample * s0 : per_sample * s1].reshape(shape)
        else:  # forward ran in inference mode: transform the input again
            V = layer._scratch("V", shape, dy3.dtype)
            winograd.input_tiles(_padded(layer, x, s0, s1, geo), m, th, tw, V)
        if want_w:
            np.matmul(Mg, V.transpose(0, 2, 1), out=dU_parts[i])
        if dx is not None:
            np.matmul(UT, Mg, out=V)  # V is spent: its gradient
            dxp = layer._scratch("wdxp", (s1 - s0, c) + geo.padded_hw, dy3.dtype)
            winograd.input_grad_tiles(V, m, th, tw, dxp)
            conv.crop_from(dxp, dx[s0:s1], top, left)

    parallel_for(task, len(chunks))
    if want_w:
        dU = layer._buffer("dU", (36, f, c), dy3.dtype)
        np.sum(dU_parts, axis=0, out=dU)
        geo.tiles_to_weights(layer, dU, layer.grads["W"])
