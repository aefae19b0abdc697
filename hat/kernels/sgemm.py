"""hat's own float32 matrix product, c = a @ b, compiled by numba for the host's AVX-512.

Why not numpy's BLAS: OpenBLAS picks its kernels at load time, and the environment can pin
them (OPENBLAS_CORETYPE=Haswell, as on our benchmark machine, gives its AVX2 kernels on an
AVX-512 CPU; hat leaves that setting alone). One thread, float32, on that machine:

| a @ b | OpenBLAS Haswell | OpenBLAS SkylakeX | this kernel |
| --- | --- | --- | --- |
| 64x128 @ 128x512 (an LSTM step's chunk) | 107-113 GFLOP/s | 190 | 240-255 |
| 128x128 @ 128x512 | 113-121 | 212 | 230-258 |
| 500x784 @ 784x500 (the MLP's first layer) | 115-123 | 223 | 214-240 |
| 64x32 @ 32x279 (a Winograd tile product) | 96-104 | 198 | 210-227 |
| 128x3584 @ 3584x512 (an LSTM's dH, a transposed) | 110-115 | - | 150-200 |

The micro-kernel keeps a tile of 12 rows x 32 columns of c in 24 AVX-512 registers (two
16-float vectors a row) and runs over k: per k, two vector loads of b's row, and per row one
broadcast of a's element and two fused multiply-adds. It is written in LLVM IR (an intrinsic
below) because numba's own loops kept the tile in memory (40 GFLOP/s). Edges take the same
kernel on fewer rows (4, then 1) and masked loads and stores for the last columns, so any
shape works without padding copies. Tried and not kept: prefetching b's rows ahead (the long-k
product gained 5-10%, the others lost as much); tiles of one vector and 24 rows for narrow
products (500x500 @ 500x10 took 63 us either way: the broadcasts of a's elements, one a row
and k, bound both); blocks of 192 rows of c (2048^3 fell from 313 to 260 GFLOP/s); copying
each 32-column panel of b into a contiguous buffer first, against L1 set conflicts of b's
2 KB-strided rows (the same bits; 64x128 @ 128x512 fell from 240 to 149 GFLOP/s, 500x784 @
784x500 from 231 to 218: the copy cost more than it saved).

Every element of c is the same sum whatever tile, row split or thread computed it: per block
of k's (their bounds depend on k only), a chain of fused multiply-adds over k in order, then
the blocks' sums added to c in order. So a row of c has the same bits whichever batch it is
in, and whichever thread ran it. The bits differ from OpenBLAS's (another order of the same
sum): float32 rounding only.

`available()` says whether hat uses it: numba compiles (no NUMBA_DISABLE_JIT), the host has
AVX-512F, and HAT_OWN_SGEMM is not "0". Elsewhere, products go to numpy as before.
"""

import os
import threading

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from hat.kernels.jit import jit

LANES = 16  # floats in one AVX-512 register
TILE_ROWS = (12, 4, 1)  # the micro-kernel's row counts: full tiles, then the edge
TILE_VECTORS = 2  # vectors of c per row in one tile: 32 columns
TILE_COLS = LANES * TILE_VECTORS
# k is run in near-equal blocks of at most this many, so that a's block of rows (m x K_BLOCK)
# stays in the core's L2 while the tiles sweep b's columns: 128x3584 @ 3584x512 went from 118
# GFLOP/s as one block to 150-200 (noisy; 192 to 768 all in that range, 256 the best seen).
# Equal blocks: 784 = 3 x 262 rather than 256 + 256 + 256 + 16.
K_BLOCK = 256


def _host_has_avx512() -> bool:
    import llvmlite.binding as llvm

    return bool(llvm.get_host_cpu_features().get("avx512f", False))


_available: bool | None = None


def available() -> bool:
    """Whether float32 products use this kernel (see the module's docstring)."""
    global _available
    if _available is None:
        _available = (
            not numba.config.DISABLE_JIT
            and os.environ.get("HAT_OWN_SGEMM", "1") != "0"
            and _host_has_avx512()
        )
    return _available


def _tile_kernel(rows: int, vectors: int = TILE_VECTORS):
    """The intrinsic tile(g, i0, j0, ncols, k0, k1, accumulate): c[i0:i0+rows, j0:j0+ncols]
    (=, or += when accumulate) a[i0:i0+rows, k0:k1] @ b[k0:k1, j0:j0+ncols], the sum a chain
    of fused multiply-adds from zero over k in order, with ncols <= LANES * vectors. g is the
    operands' geometry, a tuple of 7 ints: (a's address, a's row and column strides, b's
    address, b's row stride, c's address, c's row stride), strides in elements; b's and c's
    rows are unit-stride, a is read through both strides (a transpose's view works as it is).
    Addresses and strides rather than arrays: the kernel compiles once, whatever the arrays'
    layouts."""

    @intrinsic
    def tile(typingctx, g, i0, j0, ncols, k0, k1, accumulate):
        if not (isinstance(g, types.UniTuple) and g.count == 7 and g.dtype == types.int64):
            return None  # a typing error, not wrong code
        sig = types.void(g, i0, j0, ncols, k0, k1, accumulate)

        def codegen(context, builder, signature, args):
            geometry = cgutils.unpack_tuple(builder, args[0])
            i0_, j0_, ncols_, k0_, k1_, acc_flag = args[1:]
            i1, i32, i64, f32 = ir.IntType(1), ir.IntType(32), ir.IntType(64), ir.FloatType()
            vec, mask_ty = ir.VectorType(f32, LANES), ir.VectorType(i1, LANES)
            vptr, align = vec.as_pointer(), ir.Constant(i32, 4)
            module = builder.module
            fma = cgutils.get_or_insert_function(
                module, ir.FunctionType(vec, [vec, vec, vec]), "llvm.fma.v16f32"
            )
            load = cgutils.get_or_insert_function(
                module,
                ir.FunctionType(vec, [vptr, i32, mask_ty, vec]),
                "llvm.masked.load.v16f32.p0",
            )
            store = cgutils.get_or_insert_function(
                module,
                ir.FunctionType(ir.VoidType(), [vec, vptr, i32, mask_ty]),
                "llvm.masked.store.v16f32.p0",
            )

            def const(v):
                return ir.Constant(i64, v)

            def splat(value, ty):
                undef = ir.Constant(ir.VectorType(ty, LANES), ir.Undefined)
                one = builder.insert_element(undef, value, ir.Constant(i32, 0))
                zeros = ir.Constant(ir.VectorType(i32, LANES), [0] * LANES)
                return builder.shuffle_vector(one, undef, zeros)

            fptr = f32.as_pointer()
            a_data, lda_row, lda_col, b_data, ldb, c_data, ldc = geometry
            a_data, b_data, c_data = (builder.inttoptr(v, fptr) for v in (a_data, b_data, c_data))

            def at(data, offset):
                return builder.bitcast(builder.gep(data, [offset]), vptr)

            lanes = ir.Constant(ir.VectorType(i64, LANES), [const(j) for j in range(LANES)])
            masks = [
                builder.icmp_signed("<", lanes, splat(builder.sub(ncols_, const(v * LANES)), i64))
                for v in range(vectors)
            ]
            zero = ir.Constant(vec, [ir.Constant(f32, 0.0)] * LANES)
            accumulate_ = builder.icmp_unsigned("!=", acc_flag, ir.Constant(acc_flag.type, 0))

            # The accumulators live in allocas that LLVM promotes to registers.
            c_at, accs = [], []
            for r in range(rows):
                row = builder.mul(builder.add(i0_, const(r)), ldc)
                for v in range(vectors):
                    c_at.append(at(c_data, builder.add(row, builder.add(j0_, const(v * LANES)))))
                    accs.append(cgutils.alloca_once_value(builder, zero))
            with cgutils.for_range(builder, builder.sub(k1_, k0_)) as loop:
                k = builder.add(k0_, loop.index)
                b_row = builder.add(builder.mul(k, ldb), j0_)
                bs = [
                    builder.call(
                        load,
                        [at(b_data, builder.add(b_row, const(v * LANES))), align, masks[v], zero],
                    )
                    for v in range(vectors)
                ]
                for r in range(rows):
                    i = builder.add(i0_, const(r))
                    offset = builder.add(builder.mul(i, lda_row), builder.mul(k, lda_col))
                    a_ik = splat(builder.load(builder.gep(a_data, [offset])), f32)
                    for v in range(vectors):
                        slot = accs[r * vectors + v]
                        builder.store(builder.call(fma, [a_ik, bs[v], builder.load(slot)]), slot)
            # c (=, +=) the block's sum: a long k adds block sums, not one chain of k terms
            # (for k = 3584, 2.1e-6 relative error as one chain).
            for slot, p, v in zip(accs, c_at, list(range(vectors)) * rows, strict=True):
                total = builder.load(slot)
                with builder.if_then(accumulate_):
                    old = builder.call(load, [p, align, masks[v], zero])
                    builder.call(store, [builder.fadd(old, total), p, align, masks[v]])
                with builder.if_then(builder.not_(accumulate_)):
                    builder.call(store, [total, p, align, masks[v]])
            return context.get_dummy_value()

        return sig, codegen

    return tile


_tile12, _tile4, _tile1 = (_tile_kernel(rows) for rows in TILE_ROWS)


@jit
def _block(g, m, n, k0, k1, accumulate):
    """c (=, +=) a[:, k0:k1] @ b[k0:k1] (g: see _tile_kernel): b's 32-column panel (k1 - k0
    rows) stays in cache while the tiles run down c's m rows."""
    for j0 in range(0, n, TILE_COLS):
        ncols = min(TILE_COLS, n - j0)
        i0 = 0
        while i0 + 12 <= m:
            _tile12(g, i0, j0, ncols, k0, k1, accumulate)
            i0 += 12
        while i0 + 4 <= m:
            _tile4(g, i0, j0, ncols, k0, k1, accumulate)
            i0 += 4
        while i0 < m:
            _tile1(g, i0, j0, ncols, k0, k1, accumulate)
            i0 += 1


@jit
def _product(g, m, n, k, accumulate):
    """c (=, +=) a @ b for the operands g describes (m x k @ k x n), k in near-equal blocks."""
    blocks = -(-k // K_BLOCK)
    for i in range(blocks):
        k0, k1 = k * i // blocks, k * (i + 1) // blocks
        _block(g, m, n, k0, k1, accumulate or i > 0)


@jit
def sgemm(a, b, c, accumulate=False):
    """c = a @ b, or c += a @ b, in float32 on one thread (nogil).

    a (m, k) with a unit stride on either axis (row-major, or a transpose's view); b (k, n)
    and c (m, n) with unit-stride rows. The caller checks the layouts (gemm_fits). The arrays
    stay alive for the call: the kernel reads them through their addresses."""
    m, k, n = a.shape[0], a.shape[1], c.shape[1]
    if m == 0 or n == 0:
        return
    if k == 0:
        if not accumulate:
            c[:] = 0
        return
    g = (
        np.int64(a.ctypes.data), np.int64(a.strides[0] // 4), np.int64(a.strides[1] // 4),
        np.int64(b.ctypes.data), np.int64(b.strides[0] // 4),
        np.int64(c.ctypes.data), np.int64(c.strides[0] // 4),
    )  # fmt: skip
    _product(g, m, n, k, accumulate)


def gemm_fits(a, b, c) -> bool:
    """Whether sgemm takes these operands as they are: float32, 2-D, a with a unit stride on
    one axis, b's and c's rows unit-stride, c not overlapping a or b."""
    if not (a.dtype == b.dtype == c.dtype == np.float32 and a.ndim == b.ndim == c.ndim == 2):
        return False
    unit = (b.strides[1] == 4 or b.shape[1] == 1) and (c.strides[1] == 4 or c.shape[1] == 1)
    return bool(
        unit and 4 in a.strides and not np.may_share_memory(c, a) and not np.may_share_memory(c, b)
    )


@jit
def _batched(a, b, c, accumulate):
    """c[i] (=, +=) a[i] @ b[i] for each i."""
    for i in range(c.shape[0]):
        sgemm(a[i], b[i], c[i], accumulate)


_entry_point = None


def _entry():
    """_batched compiled once, on first use, for arrays of any layout (C, F, strided, a
    broadcast's zero stride) as numba's "A" arrays: numba would otherwise compile the kernel
    again for every mix of layouts it meets, about 1 s each on a cold cache. Python's 2-D
    products go through it as stacks of one."""
    global _entry_point
    if _entry_point is None:
        m3 = types.Array(types.float32, 3, "A")
        a3 = types.Array(types.float32, 3, "A", readonly=True)  # a broadcast view is read-only
        signature = types.void(a3, a3, m3, types.boolean)
        _entry_point = numba.njit(signature, cache=True, nogil=True)(_batched.py_func)
    return _entry_point


def product(a, b, c, accumulate=False) -> None:
    """c = a @ b (or c += a @ b) through sgemm, from Python; the layouts as gemm_fits says."""
    _entry()(a[None], b[None], c[None], accumulate)


# Below this many rows of a, a b with strided rows (a transpose's view) is left to numpy
# rather than copied for this kernel: the copy costs about what the faster product saves.
COPY_MIN_ROWS = 64
_copies = threading.local()  # each thread's buffer for those copies


def rows_contiguous(a, b, private: bool = False):
    """b, or a row-major copy of it in this thread's buffer when its rows are strided (a
    transpose's view; 2-D, or 3-D with one such matrix per batch), a has COPY_MIN_ROWS rows or
    more and k >= MIN_K, so that sgemm can take the product: numpy's (OpenBLAS pinned to its
    AVX2 kernels) runs a transposed b at half this kernel's rate (one thread, 250x500 @
    500x500: 1.10 ms against 0.56, the copy 0.07). The copy is valid until this thread's
    next call; private=True makes it a new array instead (for a second b in use at once)."""
    if b.ndim not in (2, 3) or b.dtype != np.float32:
        return b
    if b.strides[-1] == b.itemsize or b.shape[-1] == 1:
        return b
    if a.shape[-2] < COPY_MIN_ROWS or b.shape[-2] < MIN_K:
        return b
    if private:
        return np.ascontiguousarray(b)
    buf = getattr(_copies, "buf", None)
    if buf is None or buf.size < b.size:
        buf = _copies.buf = np.empty(b.size, np.float32)
    copy = buf[: b.size].reshape(b.shape)
    np.copyto(copy, b)
    return copy


# Products with a shorter k go to numpy: they are bound by writing c, which this kernel does
# more slowly than OpenBLAS into a large output (the first convolution of cnn_bn.py, 32 x 9 @
# 9 x 676 an image: predicting 1,000 images 7.0-7.2 ms against numpy's 5.2-5.4; its 5 x 5
# twin in cnn_scratch.py, k = 25, 7.2 against 6.8, training the same). Into a c that stays in
# cache (short_k=True) it is the faster: that layer's 1,000 images in 9-image chunks, one
# thread, 2.6 ms against numpy's 4.9.
MIN_K = 16


def matmul(a, b, out, short_k: bool = False):
    """out = a @ b on this thread, as np.matmul(a, b, out=out) for 2-D operands or stacks of
    them (b and out 3-D with one batch, a 3-D with it too or 2-D): with sgemm where it is
    available, the layouts fit and k >= MIN_K (any k with short_k, for an out in cache), else
    numpy's. A b with strided rows (a transpose's view) is copied first where that pays
    (rows_contiguous), else left to numpy."""
    if not (available() and a.dtype == b.dtype == out.dtype == np.float32):
        return np.matmul(a, b, out=out)
    if a.shape[-1] < MIN_K and not short_k:
        return np.matmul(a, b, out=out)
    b = rows_contiguous(a, b)
    if a.ndim == b.ndim == out.ndim == 2:
        if gemm_fits(a, b, out):
            product(a, b, out)
            return out
    elif b.ndim == out.ndim == 3 and 0 < b.shape[0] == out.shape[0]:
        stacked = a.ndim == 3 and a.shape[0] == b.shape[0]
        if (stacked or a.ndim == 2) and gemm_fits(a[0] if stacked else a, b[0], out[0]):
            if not np.may_share_memory(out, a) and not np.may_share_memory(out, b):
                a3 = a if stacked else np.broadcast_to(a, (out.shape[0],) + a.shape)
                _entry()(a3, b, out, False)
                return out
    return np.matmul(a, b, out=out)
