"""hat.kernels.sgemm_nt: c = a @ b.T with both operands along k, against float64 products on
every edge of its 4 x 4 tiles and 16-lane vectors, its promise that an element has the same
bits whichever tile computed it, and numpy's product where it does not apply."""

import numpy as np
import pytest

from hat.kernels import sgemm, sgemm_nt

pytestmark = [
    pytest.mark.jit,
    pytest.mark.skipif(not sgemm.available(), reason="needs AVX-512 and numba (CI has both)"),
]

RNG = np.random.default_rng(3)
# (batch, m, n, k): whole tiles, row and column edges, k below, at and past one vector, the
# convolutions' weight gradients (cnn_scratch's Winograd dU, a one-channel im2col dW).
SHAPES = [
    (1, 4, 4, 16),
    (2, 5, 7, 17),
    (3, 1, 1, 1),
    (1, 3, 2, 40),
    (64, 32, 16, 208),
    (36, 64, 32, 288),
    (1, 16, 25, 3000),
]


def _close(got, a, b):
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    want = np.matmul(a64, np.swapaxes(b64, -1, -2))
    scale = np.matmul(np.abs(a64), np.swapaxes(np.abs(b64), -1, -2)) + 1
    assert np.all(np.abs(got - want) <= 1e-6 * scale)


@pytest.mark.parametrize("e, m, n, k", SHAPES)
def test_matmul_nt_against_float64(e, m, n, k):
    a = RNG.standard_normal((e, m, k)).astype(np.float32)
    b = RNG.standard_normal((e, n, k)).astype(np.float32)
    out = np.full((e, m, n), np.nan, np.float32)
    assert sgemm_nt.fits(a, b, out)
    assert sgemm_nt.matmul_nt(a, b, out) is out
    _close(out, a, b)
    flat = np.full((m, n), np.nan, np.float32)
    sgemm_nt.matmul_nt(a[0], b[0], flat)
    np.testing.assert_array_equal(flat, out[0])


def test_an_element_has_the_same_bits_in_any_tile():
    """Rows and columns shifted against the tiles' grid (offsets 1-3, other counts): each
    element is the same sum, so the same bits."""
    a = RNG.standard_normal((13, 70)).astype(np.float32)
    b = RNG.standard_normal((11, 70)).astype(np.float32)
    whole = np.empty((13, 11), np.float32)
    sgemm_nt.matmul_nt(a, b, whole)
    for r0, c0 in [(1, 0), (2, 3), (3, 1), (5, 6)]:
        part = np.empty((13 - r0, 11 - c0), np.float32)
        sgemm_nt.matmul_nt(a[r0:], b[c0:], part)
        np.testing.assert_array_equal(part, whole[r0:, c0:])


def test_operands_it_does_not_take_go_to_numpy():
    """Strided k (a transpose's view), float64, mismatched shapes: numpy's product, or its
    error."""
    a = RNG.standard_normal((20, 6)).astype(np.float32)
    b = RNG.standard_normal((20, 5)).astype(np.float32)
    out = np.empty((6, 5), np.float32)
    assert not sgemm_nt.fits(a.T, b.T, out)
    sgemm_nt.matmul_nt(a.T, b.T, out)
    np.testing.assert_allclose(out, a.T @ b, rtol=1e-5, atol=1e-5)
    a64, b64 = a.T.astype(np.float64).copy(), b.T.astype(np.float64).copy()
    out64 = np.empty((6, 5))
    assert not sgemm_nt.fits(a64, b64, out64)
    np.testing.assert_allclose(sgemm_nt.matmul_nt(a64, b64, out64), a64 @ b64.T)
    with pytest.raises(ValueError):
        sgemm_nt.matmul_nt(a.T.copy(), b.copy(), np.empty((6, 20), np.float32))


def test_an_element_is_its_lanes_added_halves_by_halves():
    """For k <= 16 each lane holds one rounded product; the lanes are then added 8 + 8,
    4 + 4, 2 + 2, 1 + 1 (Emit.lane_sums, the order its docstring promises): emulated in
    float32, the same bits."""
    for k in (16, 11, 1):
        a = RNG.standard_normal((5, k)).astype(np.float32)
        b = RNG.standard_normal((6, k)).astype(np.float32)
        got = np.empty((5, 6), np.float32)
        sgemm_nt.matmul_nt(a, b, got)
        lanes = np.zeros((5, 6, 16), np.float32)
        lanes[:, :, :k] = a[:, None, :] * b[None, :, :]  # float32 products, rounded once
        width = 8
        while width:
            lanes = lanes[..., :width] + lanes[..., width : 2 * width]
            width //= 2
        np.testing.assert_array_equal(got, lanes[..., 0])
