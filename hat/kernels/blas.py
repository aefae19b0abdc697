"""numpy's own BLAS GEMM, callable from inside numba kernels.

A conv layer's chunk is a few kernels around one or two GEMMs. Called one by one from Python,
each call is a GIL hand-off on hat.threads' pool and a numba dispatch (argument typing):
about 90 us a chunk, a fifth of the 16->32 5x5 layer's time on one thread, and worse on two,
where the threads queue for the GIL. With the GEMM callable from numba, a thread runs all its
chunks in one call.

The GEMM is the very library numpy calls (its bundled OpenBLAS, found among the loaded
libraries), so results are the same bits as np.matmul's. It reaches numba as a first-class
function argument (numba's Wrapper Address Protocol): the address is a run-time value, so the
kernels that take it stay cacheable. `gemm_for(dtype)` is None where numpy's BLAS is not a
recognised OpenBLAS; layers then fall back to calling np.matmul from Python.
"""

import ctypes
import functools

import numpy as np
from numba import types
from numba.experimental import function_type  # noqa: F401  (registers typeof for WAP objects)

from hat.kernels.jit import jit

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112


class _Gemm(types.WrapperAddressProtocol):
    """cblas_?gemm(order, transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)."""

    def __init__(self, address: int, scalar, int_type):
        self._address = address
        # For NUMBA_DISABLE_JIT, where the kernels run as Python and call this object.
        c_scalar = ctypes.c_float if scalar == types.float32 else ctypes.c_double
        c_int, c_ptr = ctypes.c_int64, ctypes.c_size_t
        self._python = ctypes.CFUNCTYPE(
            None, ctypes.c_int, ctypes.c_int, ctypes.c_int, c_int, c_int, c_int, c_scalar,
            c_ptr, c_int, c_ptr, c_int, c_scalar, c_ptr, c_int,
        )(address)  # fmt: skip
        ptr = types.uintp  # pointers travel as integers: the same register in the C ABI
        self._signature = types.void(
            types.int32, types.int32, types.int32, int_type, int_type, int_type, scalar, ptr,
            int_type, ptr, int_type, scalar, ptr, int_type,
        )  # fmt: skip

    def __wrapper_address__(self) -> int:
        return self._address

    def signature(self):
        return self._signature

    def __call__(self, *args):
        self._python(*(int(a) if isinstance(a, np.integer) else a for a in args))


def _loaded_openblas() -> list[str]:
    import numpy  # noqa: F401  (loads numpy's BLAS)

    try:
        with open("/proc/self/maps") as maps:
            return sorted({ln.split()[-1] for ln in maps if "openblas" in ln.lower()})
    except OSError:
        return []


@functools.cache
def _gemms() -> dict:
    """{dtype: _Gemm} for float32 and float64, or {} when no known symbol is found."""
    names = {  # symbol stem -> integer width (numpy's wheels ship an ILP64 scipy-openblas)
        "scipy_cblas_{}gemm64_": types.int64,
        "cblas_{}gemm64_": types.int64,
    }
    for path in _loaded_openblas():
        lib = ctypes.CDLL(path)
        for stem, int_type in names.items():
            found = {}
            for letter, dtype, scalar in (("s", np.float32, types.float32),
                                          ("d", np.float64, types.float64)):  # fmt: skip
                fn = getattr(lib, stem.format(letter), None)
                if fn is not None:
                    address = ctypes.cast(fn, ctypes.c_void_p).value
                    found[np.dtype(dtype)] = _Gemm(address, scalar, int_type)
            if len(found) == 2:
                return found
    return {}


def gemm_for(dtype) -> "_Gemm | None":
    """The GEMM for float32 or float64 arrays, or None (no usable BLAS found)."""
    return _gemms().get(np.dtype(dtype))


@jit
def gemm(fn, a, trans_a, b, trans_b, c):
    """c = op(a) @ op(b), op = transpose when trans_*; a, b, c 2-D with unit column stride
    (rows may be spaced, as in a slice of columns)."""
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    size = a.itemsize
    fn(
        np.int32(ROW_MAJOR), np.int32(TRANS if trans_a else NO_TRANS),
        np.int32(TRANS if trans_b else NO_TRANS), m, n, k, a.dtype.type(1.0), a.ctypes.data,
        a.strides[0] // size, b.ctypes.data, b.strides[0] // size, a.dtype.type(0.0),
        c.ctypes.data, c.strides[0] // size,
    )  # fmt: skip
