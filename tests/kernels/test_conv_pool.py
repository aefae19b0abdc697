"""hat/kernels/conv_pool.py: columns grouped by pooling-window position, and the bias,
activation and 2x2 maximum taken from one GEMM's output, against numpy and the plain kernels."""

import numpy as np
import pytest

from hat.kernels import conv, conv_pool, pooling
from hat.kernels.activations import LINEAR, RELU, SIGMOID, TANH

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("h, w, k", [(10, 10, 3), (11, 9, 3), (14, 13, 5), (5, 6, 2)])
def test_im2col_pooled_groups_the_columns_by_window_position(h, w, k):
    xp = RNG.standard_normal((2, 3, h, w)).astype(np.float32)
    ph, pw = (h - k + 1) // 2, (w - k + 1) // 2
    cols = np.full((3 * k * k, 2 * 4 * ph * pw), np.nan, np.float32)
    conv_pool.im2col_pooled(xp, k, k, ph, pw, cols)
    got = cols.reshape(3, k, k, 2, 2, 2, ph, pw)  # (c, i, j, s, dy, dx, pi, pj)
    for dy in range(2):
        for dx in range(2):
            for i in range(k):
                for j in range(k):
                    rows = slice(dy + i, dy + i + 2 * ph, 2)
                    cols_ = slice(dx + j, dx + j + 2 * pw, 2)
                    expected = xp[:, :, rows, cols_].transpose(1, 0, 2, 3)  # (c, s, pi, pj)
                    np.testing.assert_array_equal(got[:, i, j, :, dy, dx], expected)


@pytest.mark.filterwarnings("ignore:invalid value")  # -inf * 0 without numba
@pytest.mark.parametrize("act", [LINEAR, RELU, TANH, SIGMOID])
@pytest.mark.parametrize("with_bias", [True, False])
def test_bias_act_max4_is_the_plain_kernels_bit_for_bit(act, with_bias):
    """The same bits as bias_activate_nchw then maxpool2x2_values on the same outputs laid
    out as an image, NaN included."""
    n, f, ph, pw = 3, 4, 5, 3
    z = RNG.standard_normal((f, n * 4 * ph * pw)).astype(np.float32)
    z[0, 7], z[2, 40] = np.nan, -np.inf
    b = RNG.standard_normal(f).astype(np.float32) if with_bias else np.empty(0, np.float32)
    image = np.empty((n, f, 2 * ph, 2 * pw), np.float32)  # the same values as an image
    blocks = z.reshape(f, n, 2, 2, ph, pw)  # (f, s, dy, dx, pi, pj)
    image.reshape(n, f, ph, 2, pw, 2)[...] = blocks.transpose(1, 0, 4, 2, 5, 3)
    conv.bias_activate_nchw(image.reshape(n, f, -1), b, act, 0.0)
    expected = np.empty((n, f, ph, pw), np.float32)
    pooling.maxpool2x2_values(image, expected)
    y = np.full((n, f, ph * pw), 5.0, np.float32)
    conv_pool.bias_act_max4(z, b, act, 0.0, y)
    np.testing.assert_array_equal(y.reshape(expected.shape), expected)
    assert np.isnan(y).any()
