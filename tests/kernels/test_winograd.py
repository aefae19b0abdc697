"""hat.kernels.winograd: the transforms, and each kernel against a plain numpy statement of
what it computes (float64: the identities are exact up to rounding)."""

import numpy as np
import pytest

from hat.kernels import winograd as wg
from hat.kernels.activations import LINEAR, RELU

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("r", [3, 5])
def test_the_transforms_compute_a_1d_correlation_exactly(r):
    AT, G, BT = wg.transforms(r)
    m = 7 - r
    assert AT.shape == (m, 6) and G.shape == (6, r) and BT.shape == (6, 6)
    assert np.array_equal(BT, np.round(BT)), "BT's entries are small integers"
    g, d = RNG.standard_normal(r), RNG.standard_normal(6)
    direct = np.array([g @ d[i : i + r] for i in range(m)])
    np.testing.assert_allclose(AT @ ((G @ g) * (BT @ d)), direct, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("r", [2, 4, 6])
def test_transforms_reject_kernel_sizes_the_kernels_do_not_have(r):
    with pytest.raises(ValueError, match=f"got {r}"):
        wg.transforms(r)


def _geometry(r, oh, ow):
    m = 7 - r
    th, tw = -(-oh // m), -(-ow // m)
    return m, th, tw, ((th - 1) * m + 6, (tw - 1) * m + 6)


def _tiles(xp, m, th, tw):
    """(S, C, th, tw, 6, 6): the 6 x 6 input tile under each m x m output block."""
    s, c = xp.shape[:2]
    out = np.empty((s, c, th, tw, 6, 6))
    for i in range(th):
        for j in range(tw):
            out[:, :, i, j] = xp[:, :, i * m : i * m + 6, j * m : j * m + 6]
    return out


def _to_rows(a):
    """(S, C, th, tw, 6, 6) -> (36, C, S * th * tw), the kernels' layout."""
    s, c, th, tw = a.shape[:4]
    return a.transpose(4, 5, 1, 0, 2, 3).reshape(36, c, s * th * tw)


@pytest.mark.parametrize("r, oh, ow", [(3, 5, 7), (5, 14, 14), (5, 3, 4), (3, 11, 11)])
def test_input_tiles_is_bt_d_bt_transposed_per_tile(r, oh, ow):
    m, th, tw, (hp, wp) = _geometry(r, oh, ow)
    _, _, BT = wg.transforms(r)
    xp = RNG.standard_normal((2, 3, hp, wp))
    V = np.empty((36, 3, 2 * th * tw))
    wg.input_tiles(xp, m, th, tw, V)
    expected = np.einsum("al,scijlk,bk->scijab", BT, _tiles(xp, m, th, tw), BT)
    np.testing.assert_allclose(V, _to_rows(expected), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("r, oh, ow", [(3, 5, 7), (5, 14, 14), (5, 3, 4)])
def test_input_grad_tiles_is_the_adjoint_of_input_tiles(r, oh, ow):
    """<input_tiles(x), V> == <x, input_grad_tiles(V)> for any x and V."""
    m, th, tw, (hp, wp) = _geometry(r, oh, ow)
    xp = RNG.standard_normal((2, 3, hp, wp))
    dV = RNG.standard_normal((36, 3, 2 * th * tw))
    V, dxp = np.empty_like(dV), np.full_like(xp, np.nan)  # NaN: every cell must be written
    wg.input_tiles(xp, m, th, tw, V)
    wg.input_grad_tiles(dV, m, th, tw, dxp)
    np.testing.assert_allclose(np.sum(V * dV), np.sum(xp * dxp), rtol=1e-12)


@pytest.mark.parametrize("act", [LINEAR, RELU])
@pytest.mark.parametrize("r, oh, ow", [(3, 5, 7), (5, 14, 14), (5, 3, 4), (3, 11, 11)])
def test_output_tiles_is_at_m_at_transposed_cropped_plus_bias(r, oh, ow, act):
    m, th, tw, _ = _geometry(r, oh, ow)
    AT = wg.transforms(r)[0]
    M = RNG.standard_normal((36, 4, 2 * th * tw))
    bias = RNG.standard_normal(4)
    y = np.empty((2, 4, oh * ow))
    wg.output_tiles(M, m, bias, act, 0.0, th, tw, ow, y)
    blocks = M.reshape(6, 6, 4, 2, th, tw).transpose(3, 2, 4, 5, 0, 1)  # (S, F, th, tw, 6, 6)
    out = np.einsum("ia,sfxyab,jb->sfxiyj", AT, blocks, AT).reshape(2, 4, th * m, tw * m)
    expected = out[:, :, :oh, :ow] + bias[None, :, None, None]
    if act == RELU:
        expected = np.maximum(expected, 0)
    np.testing.assert_allclose(y.reshape(2, 4, oh, ow), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("r, oh, ow", [(3, 5, 7), (5, 14, 14), (5, 3, 4)])
def test_grad_tiles_is_the_adjoint_of_output_tiles_and_sums_the_bias(r, oh, ow):
    """With a linear activation, <output_tiles(M), dy> == <M, grad_tiles(dy)> (no bias), and
    db is the sum of dy per channel."""
    m, th, tw, _ = _geometry(r, oh, ow)
    M = RNG.standard_normal((36, 3, 2 * th * tw))
    dy = RNG.standard_normal((2, 3, oh * ow))
    y, Mg, db = np.empty((2, 3, oh * ow)), np.empty_like(M), np.empty(3)
    wg.output_tiles(M, m, np.empty(0), LINEAR, 0.0, th, tw, ow, y)
    wg.grad_tiles(dy, y, LINEAR, 0.0, m, th, tw, ow, Mg, db)
    np.testing.assert_allclose(np.sum(y * dy), np.sum(M * Mg), rtol=1e-12)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 2)), rtol=1e-12)


def test_grad_tiles_applies_the_activation_gradient_from_the_output():
    m, th, tw, _ = _geometry(5, 4, 4)
    y = RNG.standard_normal((1, 2, 16))
    dy = RNG.standard_normal((1, 2, 16))
    masked, plain = np.empty((36, 2, th * tw)), np.empty((36, 2, th * tw))
    db = np.empty(2)
    wg.grad_tiles(dy, y, RELU, 0.0, m, th, tw, 4, masked, db)
    wg.grad_tiles(dy * (y > 0), y, LINEAR, 0.0, m, th, tw, 4, plain, np.empty(0))
    np.testing.assert_array_equal(masked, plain)
    np.testing.assert_allclose(db, (dy * (y > 0)).sum(axis=(0, 2)))
