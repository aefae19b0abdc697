"""hat.kernels.winograd (F(4x4, 3x3), 6 x 6 tiles) and winograd8 (F(4x4, 5x5), 8 x 8 tiles):
the transforms, and each kernel against a plain numpy statement of what it computes (float64:
the identities are exact up to rounding)."""

import numpy as np
import pytest

from hat.kernels import pooling
from hat.kernels import winograd as wg
from hat.kernels import winograd8 as wg8
from hat.kernels.activations import LINEAR, RELU, TANH

RNG = np.random.default_rng(7)
MODULES = {3: wg, 5: wg8}  # the kernels for each kernel size


@pytest.mark.parametrize("r", [3, 5])
def test_the_transforms_compute_a_1d_correlation_exactly(r):
    AT, G, BT = wg.transforms(r)
    n = MODULES[r].TILE
    assert AT.shape == (4, n) and G.shape == (n, r) and BT.shape == (n, n)
    assert np.array_equal(BT, np.round(BT * 16) / 16), "BT's entries are in sixteenths"
    g, d = RNG.standard_normal(r), RNG.standard_normal(n)
    direct = np.array([g @ d[i : i + r] for i in range(4)])
    np.testing.assert_allclose(AT @ ((G @ g) * (BT @ d)), direct, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("r", [2, 4, 6])
def test_transforms_reject_kernel_sizes_the_kernels_do_not_have(r):
    with pytest.raises(ValueError, match=f"got {r}x{r}"):
        wg.transforms(r)


def test_float32_rounding_of_8x8_tiles_stays_near_the_6x6_ones():
    """F(4x4, 5x5)'s larger points (1/2, 2) cost precision: one tile, 16 channels, float32
    against the float64 direct sum, relative to the output's scale."""
    AT, G, BT = (a.astype(np.float32) for a in wg.transforms(5))
    d = RNG.standard_normal((16, 8, 8))
    g = RNG.standard_normal((16, 5, 5)) * 0.1
    direct = np.array(
        [[np.sum(d[:, i : i + 5, j : j + 5] * g) for j in range(4)] for i in range(4)]
    )
    U = np.einsum("ak,ckl,bl->cab", G, g.astype(np.float32), G)
    V = np.einsum("ak,ckl,bl->cab", BT, d.astype(np.float32), BT)
    y = AT @ np.sum(U * V, axis=0) @ AT.T
    assert np.abs(y - direct).max() <= 5e-6 * np.abs(direct).max()


def _geometry(r, oh, ow):
    """(kernels module, n, m, th, tw, padded (hp, wp))."""
    mod, m = MODULES[r], 4
    n, th, tw = mod.TILE, -(-oh // m), -(-ow // m)
    return mod, n, m, th, tw, ((th - 1) * m + n, (tw - 1) * m + n)


def _tiles(xp, n, m, th, tw):
    """(S, C, th, tw, n, n): the n x n input tile under each m x m output block."""
    s, c = xp.shape[:2]
    out = np.empty((s, c, th, tw, n, n))
    for i in range(th):
        for j in range(tw):
            out[:, :, i, j] = xp[:, :, i * m : i * m + n, j * m : j * m + n]
    return out


def _to_rows(a):
    """(S, C, th, tw, n, n) -> (n * n, C, S * th * tw), the kernels' layout."""
    s, c, th, tw, n = a.shape[:5]
    return a.transpose(4, 5, 1, 0, 2, 3).reshape(n * n, c, s * th * tw)


SHAPES = [(3, 5, 7), (5, 14, 14), (5, 3, 4), (3, 11, 11), (5, 9, 6)]  # (r, oh, ow)


@pytest.mark.parametrize("r, oh, ow", SHAPES)
def test_input_tiles_is_bt_d_bt_transposed_per_tile(r, oh, ow):
    mod, n, m, th, tw, (hp, wp) = _geometry(r, oh, ow)
    _, _, BT = wg.transforms(r)
    xp = RNG.standard_normal((2, 3, hp, wp))
    V = np.empty((n * n, 3, 2 * th * tw))
    mod.input_tiles(xp, 0, m, th, tw, V)
    expected = np.einsum("al,scijlk,bk->scijab", BT, _tiles(xp, n, m, th, tw), BT)
    np.testing.assert_allclose(V, _to_rows(expected), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("top, left, bottom, right", [(1, 2, 0, 0), (2, 0, 1, 3), (0, 0, 2, 1)])
@pytest.mark.parametrize("r, oh, ow", SHAPES[:3])
def test_input_tiles_reads_the_padding_columns_without_a_copy(r, oh, ow, top, left, bottom, right):
    """The rows padded by pad_rows_into and the columns implied (left ones, the rest as far as
    the tiles reach) give the same V, bit for bit, as a fully padded copy."""
    mod, n, m, th, tw, (hp, wp) = _geometry(r, oh, ow)
    x = RNG.standard_normal((2, 3, hp - top - bottom, wp - left - right)).astype(np.float32)
    xp = np.zeros((2, 3, hp, wp), np.float32)
    xp[:, :, top : hp - bottom, left : wp - right] = x
    rows_only = np.zeros((2, 3, hp, x.shape[3]), np.float32)
    wg.pad_rows_into(x, rows_only, top)
    np.testing.assert_array_equal(rows_only, xp[:, :, :, left : wp - right])
    V, expected = (np.full((n * n, 3, 2 * th * tw), np.nan, np.float32) for _ in range(2))
    mod.input_tiles(rows_only, left, m, th, tw, V)
    mod.input_tiles(xp, 0, m, th, tw, expected)
    np.testing.assert_array_equal(V, expected)


@pytest.mark.parametrize("r, oh, ow", SHAPES)
def test_input_grad_tiles_is_the_adjoint_of_input_tiles(r, oh, ow):
    """<input_tiles(x), V> == <x, input_grad_tiles(V)> for any x and V."""
    mod, n, m, th, tw, (hp, wp) = _geometry(r, oh, ow)
    xp = RNG.standard_normal((2, 3, hp, wp))
    dV = RNG.standard_normal((n * n, 3, 2 * th * tw))
    V, dxp = np.empty_like(dV), np.full_like(xp, np.nan)  # NaN: every cell must be written
    mod.input_tiles(xp, 0, m, th, tw, V)
    mod.input_grad_tiles(dV, m, th, tw, dxp)
    np.testing.assert_allclose(np.sum(V * dV), np.sum(xp * dxp), rtol=1e-12)


@pytest.mark.parametrize("act", [LINEAR, RELU])
@pytest.mark.parametrize("r, oh, ow", SHAPES)
def test_output_tiles_is_at_m_at_transposed_cropped_plus_bias(r, oh, ow, act):
    mod, n, m, th, tw, _ = _geometry(r, oh, ow)
    AT = wg.transforms(r)[0]
    M = RNG.standard_normal((n * n, 4, 2 * th * tw))
    bias = RNG.standard_normal(4)
    y = np.empty((2, 4, oh * ow))
    mod.output_tiles(M, m, bias, act, 0.0, th, tw, ow, y)
    blocks = M.reshape(n, n, 4, 2, th, tw).transpose(3, 2, 4, 5, 0, 1)  # (S, F, th, tw, n, n)
    out = np.einsum("ia,sfxyab,jb->sfxiyj", AT, blocks, AT).reshape(2, 4, th * m, tw * m)
    expected = out[:, :, :oh, :ow] + bias[None, :, None, None]
    if act == RELU:
        expected = np.maximum(expected, 0)
    np.testing.assert_allclose(y.reshape(2, 4, oh, ow), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("r, oh, ow", SHAPES)
def test_grad_tiles_is_the_adjoint_of_output_tiles_and_sums_the_bias(r, oh, ow):
    """With a linear activation, <output_tiles(M), dy> == <M, grad_tiles(dy)> (no bias), and
    db is the sum of dy per channel."""
    mod, n, m, th, tw, _ = _geometry(r, oh, ow)
    M = RNG.standard_normal((n * n, 3, 2 * th * tw))
    dy = RNG.standard_normal((2, 3, oh * ow))
    y, Mg, db = np.empty((2, 3, oh * ow)), np.full_like(M, np.nan), np.empty(3)
    mod.output_tiles(M, m, np.empty(0), LINEAR, 0.0, th, tw, ow, y)
    mod.grad_tiles(dy, y, LINEAR, 0.0, m, th, tw, ow, Mg, db)
    np.testing.assert_allclose(np.sum(y * dy), np.sum(M * Mg), rtol=1e-12)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 2)), rtol=1e-12)


@pytest.mark.parametrize("r", [3, 5])
def test_grad_tiles_applies_the_activation_gradient_from_the_output(r):
    mod, n, m, th, tw, _ = _geometry(r, 4, 4)
    y = RNG.standard_normal((1, 2, 16))
    dy = RNG.standard_normal((1, 2, 16))
    masked, plain = np.empty((n * n, 2, th * tw)), np.empty((n * n, 2, th * tw))
    db = np.empty(2)
    mod.grad_tiles(dy, y, RELU, 0.0, m, th, tw, 4, masked, db)
    mod.grad_tiles(dy * (y > 0), y, LINEAR, 0.0, m, th, tw, 4, plain, np.empty(0))
    np.testing.assert_array_equal(masked, plain)
    np.testing.assert_allclose(db, (dy * (y > 0)).sum(axis=(0, 2)))


@pytest.mark.parametrize("act", [LINEAR, RELU, TANH])
@pytest.mark.parametrize("r, oh, ow", SHAPES)
def test_output_tiles_pooled_is_the_plain_blocks_then_max_pooling_bit_for_bit(r, oh, ow, act):
    """output_tiles_pooled: the 2x2 max pooling of what output_tiles writes, as
    pooling.maxpool2x2_values computes it, NaN included."""
    mod, n, m, th, tw, _ = _geometry(r, oh, ow)
    M = RNG.standard_normal((n * n, 4, 2 * th * tw)).astype(np.float32)
    M[0, 1, 0] = np.nan
    bias = RNG.standard_normal(4).astype(np.float32)
    y = np.empty((2, 4, oh * ow), np.float32)
    mod.output_tiles(M, m, bias, act, 0.0, th, tw, ow, y)
    expected = np.empty((2, 4, oh // 2, ow // 2), np.float32)
    pooling.maxpool2x2_values(y.reshape(2, 4, oh, ow), expected)
    pooled = np.full((2, 4, (oh // 2) * (ow // 2)), 7.0, np.float32)
    mod.output_tiles_pooled(M, bias, act, 0.0, th, tw, ow // 2, pooled)
    np.testing.assert_array_equal(pooled.reshape(expected.shape), expected)
    assert np.isnan(pooled).any()
