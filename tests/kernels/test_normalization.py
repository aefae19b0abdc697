"""hat.kernels.normalization against the batch-norm formulas, dense and conv layouts."""

import numpy as np
import pytest

from hat.kernels import normalization as K
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
        x, gamma, beta, 1e-3, 0.9, mean, var, True, xhat, inv_std, y, np.empty((2, c))
    )
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
    K.batchnorm_forward_infer(x, gamma, beta, 1e-3, mean, var, xhat, np.empty(c), y)
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
                x, gamma, beta, 1e-3, 0.9, mean, var, False, xhat, inv_std, y, np.empty((2, c))
            )
        else:
            K.batchnorm_forward_infer(x, gamma, beta, 1e-3, mean, var, xhat, inv_std, y)
        return np.sum(y * g)

    forward()
    dgamma, dbeta, dx = np.empty(c), np.empty(c), np.empty_like(x)
    K.batchnorm_backward(g, xhat, gamma, inv_std, batch_stats, dgamma, dbeta, dx)
    np.testing.assert_allclose(dx, numeric_grad(forward, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dgamma, numeric_grad(forward, gamma), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dbeta, numeric_grad(forward, beta), rtol=1e-6, atol=1e-8)
    # An empty dx skips the input gradient but still gives the parameter sums.
    dgamma2 = np.empty(c)
    K.batchnorm_backward(
        g, xhat, gamma, inv_std, batch_stats, dgamma2, dbeta, np.empty((0, c, shape[2]))
    )
    np.testing.assert_array_equal(dgamma2, dgamma)
