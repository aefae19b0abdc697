"""hat.kernels.blas: numpy's own GEMM called from numba gives np.matmul's numbers."""

import numpy as np
import pytest

from hat.kernels import blas


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True)])
def test_gemm_matches_matmul(trans_a, trans_b, dtype):
    fn = blas.gemm_for(dtype)
    assert fn is not None, "numpy's OpenBLAS GEMM was not found"
    rng = np.random.default_rng(0)
    m, n, k = 7, 5, 9
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    wide = rng.standard_normal((n + 3, k + 4) if trans_b else (k, n + 3)).astype(dtype)
    b = wide[:n, 2 : 2 + k] if trans_b else wide[:, 1 : 1 + n]  # rows spaced wider than used
    c = np.full((m, n), np.nan, dtype)
    blas.gemm(fn, a, trans_a, b, trans_b, c)
    expected = (a.T if trans_a else a) @ (b.T if trans_b else b)
    np.testing.assert_array_equal(c, expected)


def test_no_gemm_for_other_dtypes():
    assert blas.gemm_for(np.int32) is None
