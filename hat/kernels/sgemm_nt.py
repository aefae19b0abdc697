"""c = a @ b.T in float32 where both a and b run along k in memory: the weight gradients of the
convolutions (Winograd's dU = M V^T per tile position, im2col's dW = dZ cols^T).

hat's GEMM (sgemm.py) wants b's rows along c's columns, so such a b had to be copied
transposed first or left to numpy's OpenBLAS (pinned to its AVX2 kernels here), which ran
cnn_scratch's 64 products of 32 x 208 @ 208 x 16 at about 65 GFLOP/s. Here each element is a
dot product along k instead: a tile of 4 rows of a by 4 rows of b keeps 16 vector sums in
AVX-512 registers, loads 8 vectors per 16 fused multiply-adds, and adds each sum's 16 lanes
at the end, all 16 at once (Emit.lane_sums). Edges reuse the last row of a or b and store
only what exists.

Every element of c is the same sum whichever tile computed it: lane l accumulates the terms
k = l, l + 16, ... in order from zero, then the lanes are added halves by halves (8 + 8,
4 + 4, 2 + 2, 1 + 1). The bits differ from OpenBLAS's and sgemm's (other orders of the same
sum): float32 rounding only.
"""

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from hat.kernels import sgemm
from hat.kernels.jit import jit
from hat.kernels.vector_ir import LANES, Emit

TILE = 4  # rows of a and of b a tile takes: 16 sums in registers


@intrinsic
def _tile(typingctx, g, i0, j0):
    """c[i0:i0 + 4, j0:j0 + 4] = a[i0:i0 + 4] @ b[j0:j0 + 4].T, rows past m or n reading the
    last one and storing nothing. g: (a's address, its row stride, b's address, its row
    stride, c's address, its row stride, m, n, k), strides in floats, a's and b's rows
    unit-stride."""
    if not (isinstance(g, types.UniTuple) and g.count == 9 and g.dtype == types.int64):
        return None
    sig = types.void(g, i0, j0)

    def codegen(context, builder, signature, args):
        e, b = Emit(builder), builder
        a_data, lda, b_data, ldb, c_data, ldc, m, n, k = cgutils.unpack_tuple(builder, args[0])
        i0_, j0_ = args[1:]
        a_data, b_data, c_data = (e.pointer(v) for v in (a_data, b_data, c_data))

        def clamped(first, r, count):
            index = b.add(first, e.const(r))
            inside = b.icmp_signed("<", index, count)
            return b.select(inside, index, b.sub(count, e.const(1))), inside

        rows = [clamped(i0_, r, m) for r in range(TILE)]
        cols = [clamped(j0_, r, n)[0] for r in range(TILE)]
        a_at = [b.mul(i, lda) for i, _ in rows]
        b_at = [b.mul(j, ldb) for j in cols]
        sums = e.accumulators(TILE * TILE)  # [r * TILE + q]
        vectors = b.sdiv(b.add(k, e.const(LANES - 1)), e.const(LANES))
        with cgutils.for_range(b, vectors) as loop:
            k0 = b.mul(loop.index, e.const(LANES))
            mask = e.below(b.sub(k, k0))
            av = [e.load(a_data, b.add(at, k0), mask) for at in a_at]
            bv = [e.load(b_data, b.add(at, k0), mask) for at in b_at]
            for r in range(TILE):
                for q in range(TILE):
                    e.fma_into(sums[r * TILE + q], av[r], bv[q])
        totals = e.lane_sums([b.load(slot) for slot in sums])  # lane r * 4 + q
        left = b.sub(n, j0_)
        mask = e.below(b.select(b.icmp_signed("<", left, e.const(TILE)), left, e.const(TILE)))
        undef = ir.Constant(e.vec, ir.Undefined)
        for r, (i, row_inside) in enumerate(rows):
            with b.if_then(row_inside):
                picks = [r * TILE + q for q in range(TILE)] + [0] * (LANES - TILE)
                row = b.shuffle_vector(totals, undef, e.picks(picks))
                e.store(row, c_data, b.add(b.mul(i, ldc), j0_), mask)
        return context.get_dummy_value()

    return sig, codegen


@jit
def _batched(a, b, c):
    """c[e] = a[e] @ b[e].T for each e: a (E, m, k), b (E, n, k), c (E, m, n)."""
    m, n, k = a.shape[1], b.shape[1], a.shape[2]
    for p in range(c.shape[0]):
        g = (
            np.int64(a[p].ctypes.data), np.int64(a.strides[1] // 4),
            np.int64(b[p].ctypes.data), np.int64(b.strides[1] // 4),
            np.int64(c[p].ctypes.data), np.int64(c.strides[1] // 4),
            np.int64(m), np.int64(n), np.int64(k),
        )  # fmt: skip
        for i0 in range(0, m, TILE):
            for j0 in range(0, n, TILE):
                _tile(g, i0, j0)


_entry_point = None


def _entry():
    """_batched compiled once for arrays of any layout (numba's "A"), as sgemm._entry."""
    global _entry_point
    if _entry_point is None:
        m3 = types.Array(types.float32, 3, "A")
        a3 = types.Array(types.float32, 3, "A", readonly=True)
        signature = types.void(a3, a3, m3)
        _entry_point = numba.njit(signature, cache=True, nogil=True)(_batched.py_func)
    return _entry_point


def fits(a, b, out) -> bool:
    """Whether matmul_nt takes these: float32 2-D or 3-D stacks of the same count, a's and
    b's rows unit-stride (along k), out not overlapping them, on a host where hat's GEMM
    runs (sgemm.available())."""
    if not (sgemm.available() and a.dtype == b.dtype == out.dtype == np.float32):
        return False
    if not (a.ndim == b.ndim == out.ndim and a.ndim in (2, 3)):
        return False
    if a.shape[:-2] != b.shape[:-2] or out.shape != a.shape[:-1] + (b.shape[-2],):
        return False
    if a.shape[-1] != b.shape[-1] or 0 in a.shape[-2:] or 0 in b.shape[-2:]:
        return False
    unit = all(x.strides[-1] == 4 or x.shape[-1] == 1 for x in (a, b))
    shares = np.may_share_memory(out, a) or np.may_share_memory(out, b)
    return bool(unit and not shares)


def matmul_nt(a, b, out):
    """out = a @ b.T (2-D), or out[e] = a[e] @ b[e].T (3-D), on this thread where fits() says
    so, else numpy's product of a and b's transpose view. Returns out."""
    if not fits(a, b, out):
        return np.matmul(a, np.swapaxes(b, -1, -2), out=out)
    if a.ndim == 2:
        _entry()(a[None], b[None], out[None])
    else:
        _entry()(a, b, out)
    return out
