"""hat.kernels.sgemm: hat's own float32 GEMM against float64 products, on every edge of its
tiles (12 x 32, then 4 and 1 rows; masked columns; blocks of k's), with a as rows or a
transpose, and its promise that a row of c has the same bits however the product is split."""

import os
import subprocess
import sys

import numpy as np
import pytest

from hat.kernels import blas, sgemm

pytestmark = [
    pytest.mark.jit,
    pytest.mark.skipif(not sgemm.available(), reason="needs AVX-512 and numba (CI has both)"),
]

RNG = np.random.default_rng(0)
# (m, k, n): whole tiles, every row edge (12 + 4 + 1 rows), column edges below one vector,
# between one and two, a k longer than one block, and the shapes hat's models use.
SHAPES = [
    (12, 8, 32),
    (17, 5, 33),
    (3, 1, 1),
    (1, 7, 15),
    (29, 400, 47),
    (64, 128, 512),
    (50, 784, 500),
    (13, 2 * sgemm.K_BLOCK + 3, 20),
    (57, 30, 10),
    (33, 9, 16),
]  # fmt: skip


def _close(got, a, b, extra=None):
    want = a.astype(np.float64) @ b.astype(np.float64) + (0 if extra is None else extra)
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64) + 1
    assert np.all(np.abs(got - want) <= 1e-6 * scale * np.sqrt(a.shape[1] + 1))


@pytest.mark.parametrize("m, k, n", SHAPES)
@pytest.mark.parametrize("transposed", [False, True])
def test_products_match_float64(m, k, n, transposed):
    a = RNG.standard_normal((k, m) if transposed else (m, k)).astype(np.float32)
    a = a.T if transposed else a
    b = RNG.standard_normal((k, n)).astype(np.float32)
    c = np.full((m, n), np.nan, np.float32)
    assert sgemm.gemm_fits(a, b, c)
    sgemm.sgemm(a, b, c)
    _close(c, a, b)
    before = c.copy()
    sgemm.sgemm(a, b, c, True)  # c += a @ b
    _close(c, a, b, before.astype(np.float64))


def test_writes_only_its_block_of_a_larger_array():
    a = RNG.standard_normal((5, 9)).astype(np.float32)
    b = RNG.standard_normal((20, 40)).astype(np.float32)[3:12, 4:37]  # strided rows
    big = RNG.standard_normal((9, 50)).astype(np.float32)
    before = big.copy()
    sgemm.sgemm(a, b, big[2:7, 5:38])
    _close(big[2:7, 5:38], a, b)
    inside = np.zeros(big.shape, bool)
    inside[2:7, 5:38] = True
    np.testing.assert_array_equal(big[~inside], before[~inside])  # masked stores stop at edges


def test_a_row_has_the_same_bits_in_any_split():
    """The split on hat's pool (rows or columns in halves), a batch's chunks and distributed
    shards all rely on it."""
    a = RNG.standard_normal((37, 300)).astype(np.float32)
    b = RNG.standard_normal((300, 70)).astype(np.float32)
    whole = np.empty((37, 70), np.float32)
    sgemm.sgemm(a, b, whole)
    for r0, r1 in [(0, 1), (5, 18), (13, 37)]:
        part = np.empty((r1 - r0, 70), np.float32)
        sgemm.sgemm(a[r0:r1], b, part)
        np.testing.assert_array_equal(part, whole[r0:r1])
    cols = np.empty((37, 41), np.float32)
    sgemm.sgemm(a, b[:, 29:], cols)
    np.testing.assert_array_equal(cols, whole[:, 29:])


def test_empty_and_zero_length_products():
    c = np.ones((3, 4), np.float32)
    sgemm.sgemm(np.ones((3, 0), np.float32), np.ones((0, 4), np.float32), c)
    np.testing.assert_array_equal(c, 0)  # a sum of nothing
    sgemm.sgemm(
        np.ones((0, 2), np.float32), np.ones((2, 4), np.float32), np.ones((0, 4), np.float32)
    )


def test_a_short_k_is_left_to_numpy(monkeypatch):
    calls = []
    monkeypatch.setattr(sgemm, "product", lambda *args: calls.append(args))
    for k in (sgemm.MIN_K - 1, sgemm.MIN_K):
        a = RNG.standard_normal((40, k)).astype(np.float32)
        b = RNG.standard_normal((k, 30)).astype(np.float32)
        out = np.full((40, 30), np.nan, np.float32)
        sgemm.matmul(a, b, out)
        if k < sgemm.MIN_K:
            np.testing.assert_array_equal(out, a @ b)  # numpy's product
    assert len(calls) == 1 and calls[0][0].shape[1] == sgemm.MIN_K  # only k = MIN_K took sgemm


def test_matmul_takes_what_fits_and_leaves_the_rest_to_numpy():
    a = RNG.standard_normal((70, 30)).astype(np.float32)
    b = RNG.standard_normal((30, 40)).astype(np.float32)
    out = np.empty((70, 40), np.float32)
    own = np.empty((70, 40), np.float32)
    sgemm.sgemm(a, b, own)
    np.testing.assert_array_equal(sgemm.matmul(a, b, out), own)
    # b as a transpose's view (strided rows): copied for COPY_MIN_ROWS rows of a or more, the
    # copy's bits; left to numpy below
    bt = np.ascontiguousarray(b.T).T
    assert a.shape[0] >= sgemm.COPY_MIN_ROWS > 10
    np.testing.assert_array_equal(sgemm.matmul(a, bt, out), own)
    np.testing.assert_array_equal(sgemm.matmul(a[:10], bt, out[:10]), a[:10] @ bt)
    assert sgemm.rows_contiguous(a[:10], bt) is bt and sgemm.rows_contiguous(a, b) is b
    # stacks, and a 2-D a broadcast over them, as the convolutions call it
    a3, b3 = (
        RNG.standard_normal((3, 7, 30)).astype(np.float32),
        RNG.standard_normal((3, 30, 9)).astype(np.float32),
    )
    out3 = np.empty((3, 7, 9), np.float32)
    sgemm.matmul(a3, b3, out3)
    for i in range(3):
        _close(out3[i], a3[i], b3[i])
    sgemm.matmul(a3[0], b3, out3)
    for i in range(3):
        _close(out3[i], a3[0], b3[i])
    # a stack of transposes' views, as Winograd's weight gradient passes them
    a_tall = RNG.standard_normal((3, 64, 30)).astype(np.float32)
    out_tall, expected = np.empty((3, 64, 9), np.float32), np.empty((3, 64, 9), np.float32)
    sgemm.matmul(a_tall, np.ascontiguousarray(b3.transpose(0, 2, 1)).transpose(0, 2, 1), out_tall)
    sgemm.matmul(a_tall, b3, expected)
    np.testing.assert_array_equal(out_tall, expected)
    # float64 is numpy's
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    np.testing.assert_array_equal(sgemm.matmul(a64, b64, np.empty((70, 40))), a64 @ b64)


def test_blas_gemm_takes_sgemm_for_float32_inside_kernels():
    handle = blas.handle()
    assert handle[2] == 1
    a = RNG.standard_normal((6, 5, 7)).astype(np.float32)[:, 2]  # a step of a sequence
    b = RNG.standard_normal((7, 9)).astype(np.float32)
    out, own = np.empty((6, 9), np.float32), np.empty((6, 9), np.float32)
    blas.gemm(a, b, out, handle)
    sgemm.sgemm(a, b, own)
    np.testing.assert_array_equal(out, own)


def test_hat_own_sgemm_0_turns_it_off():
    env = dict(os.environ, HAT_OWN_SGEMM="0")
    code = "from hat.kernels import blas, sgemm; print(sgemm.available(), blas.handle()[2])"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["False", "0"], out.stderr
