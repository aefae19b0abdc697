"""hat.kernels.pooling against the references; max-pool inputs without ties unless stated."""

import numpy as np
import pytest

from hat.kernels import pooling as K
from tests.helpers import reference as ref

DTYPES = [np.float32, np.float64]
CASES = [((2, 2), (2, 2)), ((3, 3), (2, 2)), ((2, 3), (1, 2)), ((3, 2), (3, 1))]


def _distinct(shape, dtype, seed=0):
    """Values without ties: a shuffled range, scaled."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0 - 3.0).astype(dtype)


def _out_shape(shape, pool, stride):
    return shape[:2] + tuple((shape[2 + a] - pool[a]) // stride[a] + 1 for a in range(2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pool, stride", CASES)
def test_maxpool_forward_and_backward(pool, stride, dtype):
    x = _distinct((2, 3, 7, 8), dtype)
    y = np.empty(_out_shape(x.shape, pool, stride), dtype)
    argmax = np.empty(y.shape, np.int32)
    K.maxpool_forward(x, *pool, *stride, y, argmax)
    np.testing.assert_array_equal(y, ref.maxpool2d_forward(x, pool, stride).astype(dtype))
    np.testing.assert_array_equal(
        np.take_along_axis(x.reshape(2, 3, -1), argmax.reshape(2, 3, -1), 2), y.reshape(2, 3, -1)
    )
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    dx = np.full(x.shape, np.nan, dtype)
    K.maxpool_backward(dy, argmax, dx)
    expected = ref.maxpool2d_backward(x, dy, pool, stride)
    np.testing.assert_allclose(dx, expected, rtol=1e-6)


def test_maxpool_ties_send_the_gradient_to_the_first_maximum():
    x = np.zeros((1, 1, 4, 4), np.float32)  # every window tied, like MNIST's background
    x[0, 0, 2:, 2:] = [[1.0, 1.0], [0.5, 1.0]]
    y = np.empty((1, 1, 2, 2), np.float32)
    argmax = np.empty(y.shape, np.int32)
    K.maxpool_forward(x, 2, 2, 2, 2, y, argmax)
    np.testing.assert_array_equal(argmax.ravel(), [0, 2, 8, 10])
    dx = np.empty_like(x)
    K.maxpool_backward(np.ones_like(y), argmax, dx)
    expected = np.zeros_like(x)
    expected[0, 0, [0, 0, 2, 2], [0, 2, 0, 2]] = 1.0
    np.testing.assert_array_equal(dx, expected)
    np.testing.assert_array_equal(dx, ref.maxpool2d_backward(x, np.ones_like(y)))


def test_maxpool_overlapping_windows_add_their_gradients():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0  # the maximum of all four 2x2 windows at stride 1
    y = np.empty((1, 1, 2, 2))
    argmax = np.empty(y.shape, np.int32)
    K.maxpool_forward(x, 2, 2, 1, 1, y, argmax)
    dx = np.empty_like(x)
    K.maxpool_backward(np.full(y.shape, 2.0), argmax, dx)
    assert dx[0, 0, 1, 1] == 8.0 and dx.sum() == 8.0


def test_maxpool_propagates_nan():
    x = _distinct((1, 1, 4, 4), np.float32)
    x[0, 0, 0, 1] = np.nan
    y = np.empty((1, 1, 2, 2), np.float32)
    K.maxpool_forward(x, 2, 2, 2, 2, y, np.empty(y.shape, np.int32))
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 0, 1:]).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pool, stride", CASES)
def test_avgpool_forward_and_backward(pool, stride, dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 8)).astype(dtype)
    y = np.empty(_out_shape(x.shape, pool, stride), dtype)
    K.avgpool_forward(x, *pool, *stride, y)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12)
    np.testing.assert_allclose(y, ref.avgpool2d_forward(x, pool, stride), **tol)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    dx = np.full(x.shape, np.nan, dtype)
    K.avgpool_backward(dy, *pool, *stride, dx)
    np.testing.assert_allclose(dx, ref.avgpool2d_backward(x.shape, dy, pool, stride), **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_avgpool(dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 20)).astype(dtype)
    y = np.empty((2, 3), dtype)
    K.global_avgpool_forward(x, y)
    np.testing.assert_allclose(y, x.astype(np.float64).mean(axis=2), rtol=1e-5, atol=1e-7)
    dy = np.random.default_rng(1).standard_normal((2, 3)).astype(dtype)
    dx = np.empty_like(x)
    K.global_avgpool_backward(dy, dx)
    np.testing.assert_allclose(dx, np.repeat(dy[:, :, None] / 20, 20, axis=2), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (2, 3, 8, 9), (1, 2, 6, 6)])
def test_maxpool2x2_gives_the_generic_kernels_bits(shape, dtype):
    """Ties (zeros on every third row), a NaN, and odd sizes (floor mode) included."""
    x = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    x[..., ::3, :] = 0.0
    x[0, 0, 1, 2] = np.nan
    y = np.empty(_out_shape(shape, (2, 2), (2, 2)), dtype)
    argmax = np.empty(y.shape, np.int32)
    K.maxpool_forward(x, 2, 2, 2, 2, y, argmax)
    y2, argmax2 = np.full_like(y, 7.0), np.full_like(argmax, -1)
    K.maxpool2x2_forward(x, y2, argmax2)
    np.testing.assert_array_equal(y2, y)  # NaN where y has NaN
    np.testing.assert_array_equal(argmax2, argmax)
    y3 = np.full_like(y, 7.0)
    K.maxpool2x2_values(x, y3)  # inference's: the values alone
    np.testing.assert_array_equal(y3, y)
    ok = ~np.isnan(y)
    expected = ref.maxpool2d_forward(x, (2, 2), (2, 2)).astype(dtype)
    np.testing.assert_array_equal(y2[ok], expected[ok])
