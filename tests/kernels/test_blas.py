"""hat.kernels.blas: numpy's own cblas GEMM called from numba gives np.matmul's bits, on the
views the recurrent kernels pass (row blocks of larger arrays, transposes); float32 takes hat's
own sgemm where it is available (tests/kernels/test_sgemm.py), with that kernel's bits."""

import numpy as np
import pytest

from hat.kernels import blas, sgemm

pytestmark = pytest.mark.jit


def _views(dtype):
    rng = np.random.default_rng(0)
    seq = rng.standard_normal((6, 5, 7)).astype(dtype)  # (batch, time, features)
    W = rng.standard_normal((7, 9)).astype(dtype)
    tall = rng.standard_normal((11, 6)).astype(dtype)
    return [
        (seq[1:5, 2], W),  # one step of a chunk: rows strided by time * features
        (seq[:, 3], W[:, 2:8]),  # b's rows strided too
        (W.T[:4], W[:, :3]),  # a transposed
        (seq[:, 1], W.T.T),
        (tall.T, rng.standard_normal((11, 4)).astype(dtype)),
        (W[:, :4], W[:4].T.copy().T),  # b transposed view of a copy
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_gives_matmuls_bits(dtype):
    handle = blas.handle()
    assert handle is not None  # numpy's OpenBLAS exports cblas
    for a, b in _views(dtype):
        out = np.full((a.shape[0], b.shape[1]), np.nan, dtype)
        blas.gemm(a, b, out, handle)
        want = a @ b
        if dtype == np.float32 and handle[2] and sgemm.gemm_fits(a, b, out):
            sgemm.sgemm(a, b, want)
        np.testing.assert_array_equal(out, want)


def test_a_single_row_is_a_product_too():
    """numpy takes gemv for one row (other bits); gemm stays gemm."""
    seq, W = _views(np.float32)[0][0], _views(np.float32)[0][1]
    out = np.zeros((1, W.shape[1]), np.float32)
    blas.gemm(seq[:1], W, out, blas.handle())
    np.testing.assert_allclose(out, seq[:1].astype(np.float64) @ W, rtol=1e-5, atol=1e-6)


def test_gemm_accumulates_and_writes_row_blocks():
    handle = blas.handle()
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal((3, 5)).astype(np.float32)
    big = rng.standard_normal((4, 2, 5)).astype(np.float32)
    before = big.copy()
    blas.gemm(a, b, big[:, 1], handle, True)
    np.testing.assert_allclose(big[:, 1], before[:, 1] + a @ b, rtol=1e-6)
    np.testing.assert_array_equal(big[:, 0], before[:, 0])  # the other rows untouched


def test_empty_products_write_nothing():
    handle = blas.handle()
    out = np.ones((0, 3), np.float32)
    blas.gemm(np.ones((0, 2), np.float32), np.ones((2, 3), np.float32), out, handle)
    assert out.shape == (0, 3)
