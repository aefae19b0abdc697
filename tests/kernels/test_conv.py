"""hat.kernels.conv against the definitions: im2col, its adjoint col2im, and the layout moves."""

import numpy as np
import pytest

from hat import activations
from hat.kernels import conv as K
from hat.kernels.activations import LINEAR
from tests.helpers import reference as ref

DTYPES = [np.float32, np.float64]


def _x(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _out(size, k, s):
    return (size - k) // s + 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kh, kw, sh, sw", [(3, 3, 1, 1), (2, 3, 2, 1), (3, 2, 1, 2), (1, 1, 2, 2)])
def test_im2col_matches_its_definition(kh, kw, sh, sw, dtype):
    xp = _x((2, 3, 7, 6), dtype)
    oh, ow = _out(7, kh, sh), _out(6, kw, sw)
    cols = np.full((3 * kh * kw, 2 * oh * ow), np.nan, dtype)
    K.im2col(xp, kh, kw, sh, sw, oh, ow, cols)
    expected = np.empty_like(cols)
    for c in range(3):
        for i in range(kh):
            for j in range(kw):
                for s in range(2):
                    for p in range(oh):
                        for q in range(ow):
                            expected[(c * kh + i) * kw + j, (s * oh + p) * ow + q] = xp[
                                s, c, p * sh + i, q * sw + j
                            ]
    np.testing.assert_array_equal(cols, expected)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kh, kw, sh, sw", [(3, 3, 1, 1), (2, 3, 2, 1), (3, 3, 2, 2)])
def test_col2im_is_the_adjoint_of_im2col(kh, kw, sh, sw, dtype):
    shape = (2, 3, 7, 8)
    oh, ow = _out(7, kh, sh), _out(8, kw, sw)
    x = _x(shape, np.float64)
    dcols = _x((3 * kh * kw, 2 * oh * ow), np.float64, seed=1)
    cols = np.empty_like(dcols)
    K.im2col(x, kh, kw, sh, sw, oh, ow, cols)
    dx = np.full(shape, np.nan)  # stale values must go
    K.col2im(dcols, kh, kw, sh, sw, oh, ow, dx)
    np.testing.assert_allclose(np.sum(cols * dcols), np.sum(x * dx), rtol=1e-12)
    dx32 = np.empty(shape, dtype)
    K.col2im(dcols.astype(dtype), kh, kw, sh, sw, oh, ow, dx32)
    np.testing.assert_allclose(dx32, dx, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_im2col_gemm_col2im_give_the_reference_convolution(dtype):
    x, W = _x((2, 3, 6, 7), dtype), _x((4, 3, 3, 3), dtype, seed=1)
    b = _x((4,), dtype, seed=2)
    oh, ow = 4, 5
    cols = np.empty((27, 2 * oh * ow), dtype)
    K.im2col(x, 3, 3, 1, 1, oh, ow, cols)
    y = W.reshape(4, -1) @ cols.reshape(27, 2, oh * ow).transpose(1, 0, 2)  # per sample, NCHW
    K.bias_activate_nchw(y, b, LINEAR, 0.0)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12)
    np.testing.assert_allclose(y.reshape(2, 4, oh, ow), ref.conv2d_forward(x, W, b), **tol)
    dy = _x((2, 4, oh * ow), dtype, seed=3)
    dzt = np.empty((4, 2 * oh * ow), dtype)
    db = np.full(4, 99.0, dtype)
    K.nchw_to_rows(dy, dy, LINEAR, 0.0, dzt, db)
    dcols = W.reshape(4, -1).T @ dzt
    dx = np.empty(x.shape, dtype)
    K.col2im(dcols, 3, 3, 1, 1, oh, ow, dx)
    rdx, rdW, rdb = ref.conv2d_backward(x, W, dy.reshape(2, 4, oh, ow))
    np.testing.assert_allclose(dx, rdx, **tol)
    np.testing.assert_allclose((dzt @ cols.T).reshape(W.shape), rdW, **tol)
    np.testing.assert_allclose(db, rdb, **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layout_move_and_bias_without_bias(dtype):
    z = _x((3, 2 * 5), dtype)
    y = z.reshape(3, 2, 5).transpose(1, 0, 2).copy()
    K.bias_activate_nchw(y, np.empty(0, dtype), LINEAR, 0.0)
    np.testing.assert_array_equal(y, z.reshape(3, 2, 5).transpose(1, 0, 2))
    back = np.empty_like(z)
    K.nchw_to_rows(y, y, LINEAR, 0.0, back, np.empty(0, dtype))
    np.testing.assert_array_equal(back, z)


ELEMENTWISE = ["relu", "leaky_relu", "sigmoid", "hard_sigmoid", "tanh"]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_bias_activation_and_the_layout_move_back_through_its_gradient(name):
    spec = activations.get(name)
    z, b = _x((3, 2 * 5), np.float64), _x((3,), np.float64, seed=1)
    y = z.reshape(3, 2, 5).transpose(1, 0, 2).copy()
    K.bias_activate_nchw(y, b, spec.code, spec.alpha)
    pre = z.reshape(3, 2, 5).transpose(1, 0, 2) + b[:, None]
    np.testing.assert_allclose(y, ref.activation(name, pre), rtol=1e-12)
    dy = _x((2, 3, 5), np.float64, seed=2)
    dzt, db = np.empty_like(z), np.empty(3)
    K.nchw_to_rows(dy, y, spec.code, spec.alpha, dzt, db)
    expected = ref.activation_grad(name, pre, dy)
    np.testing.assert_allclose(dzt, expected.transpose(1, 0, 2).reshape(3, -1), rtol=1e-12)
    np.testing.assert_allclose(db, expected.sum(axis=(0, 2)), rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pad_into_and_crop_from(dtype):
    x = _x((2, 3, 4, 5), dtype)
    xp = np.zeros((2, 3, 4 + 3, 5 + 1), dtype)
    K.pad_into(x, xp, 1, 0)
    np.testing.assert_array_equal(xp, ref.pad2d(x, 1, 2, 0, 1).astype(dtype))
    back = np.empty_like(x)
    K.crop_from(xp, back, 1, 0)
    np.testing.assert_array_equal(back, x)
