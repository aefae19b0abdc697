"""numpy's own GEMM (OpenBLAS's cblas_sgemm / cblas_dgemm), callable from inside numba kernels.

A recurrent layer does one small product per time step (64 x 128 @ 128 x 512 for an LSTM
chunk). Called from Python, each step also paid its slicing, numpy's dispatch and the GIL,
which the batch chunks on hat's pool then fought over: an LSTM forward of 28 steps spent about
a quarter of its time there. With the product called from numba, a chunk's whole time loop is
one nogil kernel call.

The function's address is looked up at run time in the OpenBLAS that numpy loaded, and passed
to the kernels as an argument: an address fixed at compile time would be baked into numba's
on-disk cache and be wrong in the next process. Being numpy's own routine with the same
arguments, a product here gives the bits np.matmul gives. float32 products go to hat's own
kernel instead where it is available (hat/kernels/sgemm.py: about twice OpenBLAS's AVX2
kernels' speed on this project's AVX-512 machine). `handle()` is None where numpy's BLAS is not
an OpenBLAS that exports cblas (Accelerate, MKL): the layers then keep their per-step Python
loop. With NUMBA_DISABLE_JIT, gemm() is np.matmul.
"""

import ctypes

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from hat.kernels.jit import jit
from hat.kernels.sgemm import available as sgemm_available
from hat.kernels.sgemm import sgemm

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
# numpy's wheels ship OpenBLAS with 64-bit integers (ILP64) and these names; other builds
# (32-bit integers, other BLAS libraries) take the layers' Python loop rather than an ABI this
# code was never run against.
_NAMES = ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_")

_handle: tuple | None | bool = False  # False: not looked up yet


def _find() -> tuple | None:
    from hat import threads

    # numpy's own first, where another package brought an OpenBLAS of its own too
    for path in sorted(threads.openblas_paths(), key=lambda p: "numpy" not in p):
        lib = ctypes.CDLL(path)
        found = [getattr(lib, name, None) for name in _NAMES]
        if all(f is not None for f in found):
            return tuple(ctypes.cast(f, ctypes.c_void_p).value for f in found)
    return None


def handle() -> tuple | None:
    """(sgemm address, dgemm address, own) for numpy's OpenBLAS, or None where there is none;
    own is 1 where hat's own kernel does the float32 products (hat/kernels/sgemm.py
    available()), else 0. A run-time value, not a global baked in at compile time, so that a
    kernel from numba's disk cache follows HAT_OWN_SGEMM. With NUMBA_DISABLE_JIT the kernels
    run as Python and gemm() is np.matmul, which needs no address: (0, 0, 0)."""
    global _handle
    if _handle is False:
        found = (0, 0) if numba.config.DISABLE_JIT else _find()
        _handle = None if found is None else found + (int(sgemm_available()),)
    return _handle


@intrinsic
def _cblas_gemm(typingctx, address, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """cblas_?gemm64_(RowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) through
    the function at `address`: the enums as C ints, the sizes as 64-bit ints, the pointers
    given as integers."""
    sig = types.void(address, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        i32, i64, ptr = ir.IntType(32), ir.IntType(64), ir.IntType(8).as_pointer()
        real = context.get_value_type(signature.args[6])
        fn_int, ta_, tb_, m_, n_, k_, al, a_, lda_, b_, ldb_, be, c_, ldc_ = args
        params = [i32, i32, i32, i64, i64, i64, real, ptr, i64, ptr, i64, real, ptr, i64]
        fn = builder.inttoptr(fn_int, ir.FunctionType(ir.VoidType(), params).as_pointer())
        builder.call(
            fn,
            [ir.Constant(i32, _ROW_MAJOR), builder.trunc(ta_, i32), builder.trunc(tb_, i32)]
            + [m_, n_, k_, al, builder.inttoptr(a_, ptr), lda_, builder.inttoptr(b_, ptr)]
            + [ldb_, be, builder.inttoptr(c_, ptr), ldc_],
        )
        return context.get_dummy_value()

    return sig, codegen


def _own_sgemm(a, b, c, accumulate):
    """sgemm for float32 operands; for float64 ones a no-op that gemm never reaches (it checks
    the item size first), there only so that the float64 specialisations type."""


@overload(_own_sgemm)
def _own_sgemm_impl(a, b, c, accumulate):
    if a.dtype == types.float32:
        return lambda a, b, c, accumulate: sgemm(a, b, c, accumulate)
    return lambda a, b, c, accumulate: None


@jit
def _fits_sgemm(a, b, c):
    """sgemm's layouts (hat/kernels/sgemm.py gemm_fits, less the overlap check: the kernels'
    operands never overlap)."""
    unit_a = a.strides[1] == 4 or a.strides[0] == 4 or a.shape[1] == 1
    return (
        unit_a and (b.strides[1] == 4 or b.shape[1] == 1) and (c.strides[1] == 4 or c.shape[1] == 1)
    )


@jit
def _layout(v):
    """(transpose flag, leading dimension) of a 2-D view with a unit stride on one axis."""
    step = v.itemsize
    if v.strides[1] == step or v.shape[1] == 1:
        return _NO_TRANS, max(v.strides[0] // step, v.shape[1])
    return _TRANS, max(v.strides[1] // step, v.shape[0])


if numba.config.DISABLE_JIT:

    def gemm(a, b, c, blas, accumulate=False):
        """c = a @ b (or c += a @ b), as np.matmul: kernels running as plain Python."""
        if accumulate:
            c += a @ b
        else:
            np.matmul(a, b, out=c)

else:

    @jit
    def gemm(a, b, c, blas, accumulate=False):
        """c = a @ b (or c += a @ b) with numpy's BLAS, from inside a kernel.

        a (m, k), b (k, n) and c (m, n) are 2-D views of one dtype (float32 or float64) with
        a unit stride on one axis (a row block of a larger array, a transpose); c's rows are
        contiguous. blas is handle(), which must not be None."""
        m, k, n = a.shape[0], a.shape[1], b.shape[1]
        if m == 0 or n == 0:
            return
        if a.itemsize == 4 and blas[2] and _fits_sgemm(a, b, c):
            _own_sgemm(a, b, c, accumulate)
            return
        ta, lda = _layout(a)
        tb, ldb = _layout(b)
        ldc = max(c.strides[0] // c.itemsize, n)
        one = a.dtype.type(1.0)
        beta = one if accumulate else a.dtype.type(0.0)
        address = blas[0] if a.itemsize == 4 else blas[1]
        _cblas_gemm(
            address, ta, tb, m, n, k, one,
            a.ctypes.data, lda, b.ctypes.data, ldb, beta, c.ctypes.data, ldc,
        )  # fmt: skip
