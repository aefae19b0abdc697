"""hat/kernels/conv_direct.py: the one-channel convolution, with its 2x2 max pooling bit for
bit the pooled im2col path on hat's GEMM that it replaces (columns, sgemm, bias_act_max4),
without it bit for bit the plain im2col path on hat's GEMM, on every edge of its tiles
(filters, 32 columns, taps) and NaN; its weight gradient against float64 sums."""

import numpy as np
import pytest

from hat.kernels import conv, conv_direct, conv_pool, sgemm
from hat.kernels.activations import LINEAR, RELU, TANH

pytestmark = [
    pytest.mark.jit,
    pytest.mark.skipif(not sgemm.available(), reason="needs AVX-512 and numba (CI has both)"),
]

RNG = np.random.default_rng(11)


def _pooled_columns(xp, W, b, act):
    """The im2col path's folded pooling: columns by window position, one GEMM, the maxima."""
    n, f, (kh, kw) = xp.shape[0], W.shape[0], W.shape[2:]
    ph, pw = (xp.shape[2] - kh + 1) // 2, (xp.shape[3] - kw + 1) // 2
    cols = np.empty((kh * kw, n * 4 * ph * pw), np.float32)
    conv_pool.im2col_pooled(xp, kh, kw, ph, pw, cols)
    z = np.empty((f, cols.shape[1]), np.float32)
    sgemm.matmul(W.reshape(f, -1), cols, out=z, short_k=True)
    y = np.empty((n, f, ph * pw), np.float32)
    conv_pool.bias_act_max4(z, b, act, 0.0, y)
    return y.reshape(n, f, ph, pw)


# (samples, filters, kernel, padded height, padded width): cnn_bn's and cnn_scratch's first
# layers, filters past a multiple of 4, odd outputs (the last row and column unpooled), more
# than 32 output columns, a 2x2 kernel.
SHAPES = [
    (3, 32, 3, 28, 28),
    (2, 16, 5, 32, 32),
    (2, 7, 3, 29, 27),
    (1, 5, 3, 40, 75),
    (2, 3, 2, 9, 9),
]


@pytest.mark.parametrize("n, f, k, hp, wp", SHAPES)
@pytest.mark.parametrize("act", [RELU, LINEAR])
@pytest.mark.parametrize("with_bias", [True, False])
def test_direct_pooled_conv_is_the_pooled_columns_bit_for_bit(n, f, k, hp, wp, act, with_bias):
    xp = RNG.standard_normal((n, 1, hp, wp)).astype(np.float32)
    xp[0, 0, 3, 4] = np.nan  # every window that reads it is NaN, as in the separate layers
    W = RNG.standard_normal((f, 1, k, k)).astype(np.float32)
    b = RNG.standard_normal(f).astype(np.float32) if with_bias else np.empty(0, np.float32)
    want = _pooled_columns(xp, W, b, act)
    got = np.full(want.shape, 7.0, np.float32)
    conv_direct.conv1_pooled(xp, W, b, act, got)
    assert np.isnan(got).any()
    np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))


def test_direct_pooled_conv_writes_only_its_output_slice():
    """y a slice of a larger buffer (one chunk's samples): its neighbours stay untouched."""
    xp = RNG.standard_normal((4, 1, 12, 12)).astype(np.float32)
    W = RNG.standard_normal((5, 1, 3, 3)).astype(np.float32)
    b = RNG.standard_normal(5).astype(np.float32)
    y = np.full((4, 5, 5, 5), -3.0, np.float32)
    conv_direct.conv1_pooled(xp[1:3], W, b, RELU, y[1:3])
    assert (y[0] == -3.0).all() and (y[3] == -3.0).all()
    np.testing.assert_array_equal(y[1:3], _pooled_columns(xp[1:3], W, b, RELU))


def test_direct_pooled_conv_applies_to_one_channel_relu_or_linear_float32_only():
    assert conv_direct.applies(np.float32, 1, (1, 1), RELU)
    assert conv_direct.applies(np.float32, 1, (1, 1), LINEAR)
    assert not conv_direct.applies(np.float32, 2, (1, 1), RELU)
    assert not conv_direct.applies(np.float32, 1, (2, 2), RELU)
    assert not conv_direct.applies(np.float32, 1, (1, 1), TANH)
    assert not conv_direct.applies(np.float64, 1, (1, 1), RELU)


def _columns_forward(xp, W, b, act):
    """The im2col path's forward on hat's GEMM: columns, one product per sample, the bias
    and activation after."""
    n, f, (kh, kw) = xp.shape[0], W.shape[0], W.shape[2:]
    oh, ow = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    cols = np.empty((kh * kw, n * oh * ow), np.float32)
    conv.im2col(xp, kh, kw, 1, 1, oh, ow, cols)
    z = np.empty((n, f, oh * ow), np.float32)
    per_sample = cols.reshape(kh * kw, n, oh * ow).transpose(1, 0, 2)
    sgemm.matmul(W.reshape(f, -1), per_sample, out=z, short_k=True)
    conv.bias_activate_nchw(z, b, act, 0.0)
    return z.reshape(n, f, oh, ow)


# Full outputs: the models' first layers, filters past a multiple of 8, more than 32 columns,
# kernel rows of 2, 4 and 7 taps (gradient tiles of 5, 3 and 1 taps in every mix).
FULL_SHAPES = [
    (3, 16, 5, 32, 32),
    (2, 32, 3, 28, 28),
    (2, 6, 5, 32, 32),
    (2, 9, 4, 12, 40),
    (1, 5, 3, 40, 75),
    (2, 3, 2, 9, 9),
    (1, 2, 7, 20, 20),
]


@pytest.mark.parametrize("n, f, k, hp, wp", FULL_SHAPES)
@pytest.mark.parametrize("act", [RELU, LINEAR])
@pytest.mark.parametrize("with_bias", [True, False])
def test_direct_forward_is_the_columns_forward_bit_for_bit(n, f, k, hp, wp, act, with_bias):
    xp = RNG.standard_normal((n, 1, hp, wp)).astype(np.float32)
    xp[-1, 0, 5, 1] = np.nan
    W = RNG.standard_normal((f, 1, k, k)).astype(np.float32)
    b = RNG.standard_normal(f).astype(np.float32) if with_bias else np.empty(0, np.float32)
    want = _columns_forward(xp, W, b, act)
    got = np.full(want.shape, 7.0, np.float32)
    conv_direct.conv1_forward(xp, W, b, act, got)
    np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))


@pytest.mark.parametrize("n, f, k, hp, wp", FULL_SHAPES)
@pytest.mark.parametrize("act", [RELU, LINEAR])
def test_direct_weight_gradient_against_float64(n, f, k, hp, wp, act):
    """dW and db within float32 rounding of float64 sums, every tap and filter written (the
    buffers start as garbage), the same bits on a second call; dz through ReLU's slope (zeros
    where y <= 0) or a linear one."""
    xp = RNG.standard_normal((n, 1, hp, wp)).astype(np.float32)
    W = RNG.standard_normal((f, 1, k, k)).astype(np.float32)
    y = _columns_forward(xp, W, np.empty(0, np.float32), act)
    dy = RNG.standard_normal(y.shape).astype(np.float32)
    dz32 = np.where(y > 0, dy, np.float32(0)) if act == RELU else dy  # as Conv2D passes it
    dz = dz32.astype(np.float64)
    oh, ow = y.shape[2:]
    windows = np.lib.stride_tricks.sliding_window_view(
        xp[:, 0].astype(np.float64), (oh, ow), (1, 2)
    )
    want = np.einsum("sfpq,sijpq->fij", dz, windows).reshape(f, k * k)
    scale = np.einsum("sfpq,sijpq->fij", np.abs(dz), np.abs(windows)).reshape(f, k * k) + 1
    dW, db = np.full((f, k * k), np.nan, np.float32), np.full(f, np.nan, np.float32)
    conv_direct.conv1_weight_grad(xp, dz32, dW, db)
    assert np.all(np.abs(dW - want) <= 1e-6 * scale)
    assert np.all(
        np.abs(db - dz.sum(axis=(0, 2, 3))) <= 1e-6 * (np.abs(dz).sum(axis=(0, 2, 3)) + 1)
    )
    again_W, again_b = np.empty_like(dW), np.empty_like(db)
    conv_direct.conv1_weight_grad(xp, dz32, again_W, again_b)
    np.testing.assert_array_equal(again_W, dW)
    np.testing.assert_array_equal(again_b, db)
