"""hat.kernels.normalization against the batch-norm formulas, dense and conv layouts."""

import numpy as np
import pytest

from hat import activations
from hat.kernels import activations as A
from hat.kernels import normalization as K
from hat.kernels.activations import LINEAR
from tests.helpers import reference as ref

DTYPES = [np.float32, np.float64]
SHAPES = [(6, 4, 1), (3, 2, 5), (2, 3, 12)]  # (A, C, B): dense, small conv, conv


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)


def _inputs(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = (2 + 3 * rng.standard_normal(shape)).astype(dtype)
    gamma, beta = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    return x, gamma, beta


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_train_and_running_statistics(shape, dtype):
    x, gamma, beta = _inputs(shape, dtype)
    c = shape[1]
    mean0, var0 = np.linspace(-1, 1, c).astype(dtype), np.linspace(0.5, 2, c).astype(dtype)
    mean, var = mean0.copy(), var0.copy()
    xhat, y = np.empty_like(x), np.empty_like(x)
    inv_std = np.empty(c)
    K.batchnorm_forward_train(
        x, gamma, beta, 1e-3, 0.9, mean, var, True, LINEAR, 0.0, xhat, inv_std, y,
        np.empty((2, c)), 0, c,
    )  # fmt: skip
    np.testing.assert_allclose(
        y, ref.batchnorm_forward(x, gamma, beta, 1e-3, (0, 2)), **_tol(dtype)
    )
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(inv_std, 1 / np.sqrt(x64.var(axis=(0, 2)) + 1e-3), rtol=1e-6)
    np.testing.assert_allclose(mean, 0.9 * mean0 + 0.1 * x64.mean(axis=(0, 2)), **_tol(dtype))
    unbiased = x64.var(axis=(0, 2), ddof=1)
    np.testing.assert_allclose(var, 0.9 * var0 + 0.1 * unbiased, **_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_infer_uses_the_running_statistics(shape, dtype):
    x, gamma, beta = _inputs(shape, dtype)
    c = shape[1]
    mean, var = np.linspace(-1, 1, c).astype(dtype), np.linspace(0.5, 2, c).astype(dtype)
    xhat, y = np.empty_like(x), np.empty_like(x)
    K.batchnorm_forward_infer(
        x, gamma, beta, 1e-3, mean, var, LINEAR, 0.0, xhat, np.empty(c), y, 0, c
    )
    expected = ref.batchnorm_forward(x, gamma, beta, 1e-3, (0, 2), mean, var)
    np.testing.assert_allclose(y, expected, **_tol(dtype))


@pytest.mark.parametrize("batch_stats", [True, False], ids=["train", "infer"])
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_against_finite_differences(shape, batch_stats):
    from tests.helpers.gradcheck import numeric_grad

    x, gamma, beta = _inputs(shape, np.float64)
    c = shape[1]
    mean, var = np.full(c, 0.3), np.full(c, 1.7)
    g = np.random.default_rng(5).standard_normal(shape)
    xhat, y, inv_std = np.empty_like(x), np.empty_like(x), np.empty(c)

    def forward(_=None):
        if batch_stats:
            K.batchnorm_forward_train(
                x, gamma, beta, 1e-3, 0.9, mean, var, False, LINEAR, 0.0, xhat, inv_std, y,
                np.empty((2, c)), 0, c,
            )  # fmt: skip
        else:
            K.batchnorm_forward_infer(
                x, gamma, beta, 1e-3, mean, var, LINEAR, 0.0, xhat, inv_std, y, 0, c
            )
        return np.sum(y * g)

    forward()
    dgamma, dbeta, dx = np.empty(c), np.empty(c), np.empty_like(x)
    none = np.empty((0, c, shape[2]))
    K.batchnorm_backward(
        g, y, LINEAR, 0.0, xhat, gamma, inv_std, batch_stats, dgamma, dbeta, none, dx,
        np.empty((2, c)), 0, c,
    )  # fmt: skip
    np.testing.assert_allclose(dx, numeric_grad(forward, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dgamma, numeric_grad(forward, gamma), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dbeta, numeric_grad(forward, beta), rtol=1e-6, atol=1e-8)
    # An empty dx skips the input gradient but still gives the parameter sums.
    dgamma2 = np.empty(c)
    K.batchnorm_backward(
        g, y, LINEAR, 0.0, xhat, gamma, inv_std, batch_stats, dgamma2, dbeta, none, none,
        np.empty((2, c)), 0, c,
    )  # fmt: skip
    np.testing.assert_array_equal(dgamma2, dgamma)


def _train_pass(x, gamma, beta, act, split, dtype):
    """Forward (training) and backward over the channel ranges in split, activation fused."""
    c = x.shape[1]
    spec = activations.get(act)
    mean, var = np.zeros(c, dtype), np.ones(c, dtype)
    xhat, y, inv_std, work = np.empty_like(x), np.empty_like(x), np.empty(c), np.empty((2, c))
    for c0, c1 in split:
        K.batchnorm_forward_train(
            x, gamma, beta, 1e-3, 0.9, mean, var, True, spec.code, spec.alpha, xhat, inv_std,
            y, work, c0, c1,
        )  # fmt: skip
    dy = np.random.default_rng(3).standard_normal(x.shape).astype(dtype)
    dgamma, dbeta = np.empty(c, dtype), np.empty(c, dtype)
    dz, dx = np.empty_like(x), np.empty_like(x)
    for c0, c1 in split:
        K.batchnorm_backward(
            dy, y, spec.code, spec.alpha, xhat, gamma, inv_std, True, dgamma, dbeta, dz, dx,
            work, c0, c1,
        )  # fmt: skip
    return y, dx, dgamma, dbeta, mean, var, dy


@pytest.mark.parametrize("act", ["relu", "tanh", "leaky_relu"])
@pytest.mark.parametrize("shape", SHAPES)
def test_a_fused_activation_gives_the_same_bits_as_a_separate_one(shape, act):
    x, gamma, beta = _inputs(shape, np.float32)
    y, dx, dgamma, dbeta, *_ = _train_pass(x, gamma, beta, act, [(0, shape[1])], np.float32)
    y0, _, _, _, _, _, dy = _train_pass(x, gamma, beta, "linear", [(0, shape[1])], np.float32)
    spec = activations.get(act)
    expected = y0.copy()  # the separate Activation layer's kernel on BatchNorm's output
    A.bias_activation_forward(
        expected.reshape(1, -1), np.empty(0, np.float32), spec.code, spec.alpha
    )
    np.testing.assert_array_equal(y, expected)
    dz = np.empty_like(dy)
    A.activation_backward(
        dy.reshape(1, -1), y.reshape(1, -1), spec.code, spec.alpha, dz.reshape(1, -1),
        np.empty(0, np.float32),
    )  # fmt: skip
    c = shape[1]
    xhat, inv_std = np.empty_like(x), np.empty(c)
    K.batchnorm_forward_train(
        x, gamma, beta, 1e-3, 0.9, np.zeros(c, np.float32), np.ones(c, np.float32), False,
        LINEAR, 0.0, xhat, inv_std, np.empty_like(x), np.empty((2, c)), 0, c,
    )  # fmt: skip
    dgamma0, dbeta0, dx0 = np.empty_like(gamma), np.empty_like(gamma), np.empty_like(x)
    K.batchnorm_backward(
        dz, y, LINEAR, 0.0, xhat, gamma, inv_std, True, dgamma0, dbeta0,
        np.empty((0,) + shape[1:], np.float32), dx0, np.empty((2, c)), 0, c,
    )  # fmt: skip
    for got, want in ((dx, dx0), (dgamma, dgamma0), (dbeta, dbeta0)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape", [(4, 5, 3), (6, 7, 1)])
def test_channel_ranges_give_the_same_bits_as_one_range(shape):
    x, gamma, beta = _inputs(shape, np.float32)
    whole = _train_pass(x, gamma, beta, "relu", [(0, shape[1])], np.float32)
    split = _train_pass(x, gamma, beta, "relu", [(0, 2), (2, 3), (3, shape[1])], np.float32)
    for a, b in zip(whole, split, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_input_grad_with_given_means_is_backwards_dx(shape, dtype):
    # hat.distributed's BatchNorm passes the means of the global batch; given this batch's
    # own, batchnorm_input_grad gives batchnorm_backward's dx.
    x, gamma, beta = _inputs(shape, dtype)
    y, dx, _, _, _, _, dy = _train_pass(x, gamma, beta, "linear", [(0, shape[1])], dtype)
    c = shape[1]
    xhat, inv_std = np.empty_like(x), np.empty(c)
    K.batchnorm_forward_train(
        x, gamma, beta, 1e-3, 0.9, np.zeros(c, dtype), np.ones(c, dtype), False, LINEAR, 0.0,
        xhat, inv_std, np.empty_like(x), np.empty((2, c)), 0, c,
    )  # fmt: skip
    count = shape[0] * shape[2]
    mean_g = dy.astype(np.float64).sum(axis=(0, 2)) / count
    mean_g_xhat = (dy.astype(np.float64) * xhat).sum(axis=(0, 2)) / count
    got = np.full_like(x, np.nan)
    for c0, c1 in [(0, 1), (1, c)]:  # channel ranges, as the layer's threads split them
        K.batchnorm_input_grad(dy, xhat, gamma, inv_std, mean_g, mean_g_xhat, got, c0, c1)
    np.testing.assert_allclose(got, dx, **_tol(dtype))
