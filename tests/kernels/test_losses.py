"""hat.kernels.losses against the numpy references: the value and the gradient it writes."""

import numpy as np
import pytest

from hat.kernels import losses as K
from tests.helpers import reference as ref

EPS = 1e-7
DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-7), np.float64: dict(rtol=1e-12, atol=1e-15)}


def _batch(dtype, n=6, k=4, seed=0):
    """(softmax probabilities, one-hot targets, labels, sigmoid probabilities, 0/1 targets)."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, k))
    labels = rng.integers(0, k, n)
    onehot = np.eye(k)[labels]
    probs = ref.softmax(logits)
    sig = 1 / (1 + np.exp(-logits))
    bits = (rng.random((n, k)) < 0.5).astype(np.float64)
    cast = [a.astype(dtype) for a in (probs, onehot)]
    return cast[0], cast[1], labels.astype(np.int64), sig.astype(dtype), bits.astype(dtype)


def _check(value, grad, expected_value, expected_grad, dtype):
    assert isinstance(value, float)
    assert grad.dtype == dtype
    assert value == pytest.approx(expected_value, rel=TOL[dtype]["rtol"])
    np.testing.assert_allclose(grad, expected_grad, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_categorical_crossentropy(dtype):
    p, y, _, _, _ = _batch(dtype)
    y = y * 0.7 + 0.3 / y.shape[1]  # soft targets exercise every term
    y = y.astype(dtype)
    dp = np.full_like(p, np.nan)
    value = K.categorical_crossentropy(p, y, EPS, dp)
    _check(value, dp, *ref.categorical_crossentropy(p, y, EPS), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_categorical_crossentropy_clips_and_zeroes_the_gradient_there(dtype):
    p = np.array([[0.0, 1.0, 0.0], [0.5, 0.25, 0.25]], dtype=dtype)
    y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=dtype)
    dp = np.full_like(p, np.nan)
    value = K.categorical_crossentropy(p, y, EPS, dp)
    assert np.isfinite(value)
    expected_value, expected_grad = ref.categorical_crossentropy(p, y, EPS)
    assert value == pytest.approx(expected_value, rel=1e-5)
    assert dp[0, 0] == 0 and dp[0, 1] == 0
    np.testing.assert_allclose(dp, expected_grad, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_categorical_crossentropy(dtype):
    p, _, labels, _, _ = _batch(dtype)
    dp = np.full_like(p, np.nan)
    value = K.sparse_categorical_crossentropy(p, labels, EPS, dp)
    _check(value, dp, *ref.sparse_categorical_crossentropy(p, labels, EPS), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_crossentropy(dtype):
    _, _, _, p, y = _batch(dtype)
    dp = np.full_like(p, np.nan)
    value = K.binary_crossentropy(p, y, EPS, dp)
    _check(value, dp, *ref.binary_crossentropy(p, y, EPS), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_crossentropy_clipped_entries_have_zero_gradient(dtype):
    p = np.array([[0.0, 1.0, 0.5]], dtype=dtype)
    y = np.array([[1.0, 0.0, 1.0]], dtype=dtype)
    dp = np.full_like(p, np.nan)
    value = K.binary_crossentropy(p, y, EPS, dp)
    expected_value, expected_grad = ref.binary_crossentropy(p, y, EPS)
    assert np.isfinite(value) and value == pytest.approx(expected_value, rel=1e-5)
    np.testing.assert_allclose(dp, expected_grad, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_mean_squared_error(dtype):
    rng = np.random.default_rng(5)
    p, y = (rng.standard_normal((5, 3)).astype(dtype) for _ in range(2))
    dp = np.full_like(p, np.nan)
    value = K.mean_squared_error(p, y, dp)
    _check(value, dp, *ref.mean_squared_error(p, y), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mean_absolute_error(dtype):
    rng = np.random.default_rng(6)
    p, y = (rng.standard_normal((5, 3)).astype(dtype) for _ in range(2))
    dp = np.full_like(p, np.nan)
    value = K.mean_absolute_error(p, y, dp)
    _check(value, dp, *ref.mean_absolute_error(p, y), dtype)


# -- fused kernels: dz must equal the chain rule through the output activation, in float64 ------


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_crossentropy_value_and_chain_rule(dtype):
    p, y, _, _, _ = _batch(dtype, seed=7)
    y = (y * 0.6 + 0.4 / y.shape[1]).astype(dtype)
    dz = np.full_like(p, np.nan)
    value = K.softmax_crossentropy(p, y, EPS, dz)
    expected_value, dp = ref.categorical_crossentropy(p, y, EPS)
    expected_dz = ref.softmax_backward(p.astype(np.float64), dp)
    assert value == pytest.approx(expected_value, rel=TOL[dtype]["rtol"])
    np.testing.assert_allclose(dz, expected_dz, rtol=TOL[dtype]["rtol"], atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_softmax_crossentropy_value_and_chain_rule(dtype):
    p, _, labels, _, _ = _batch(dtype, seed=8)
    dz = np.full_like(p, np.nan)
    value = K.sparse_softmax_crossentropy(p, labels, EPS, dz)
    expected_value, dp = ref.sparse_categorical_crossentropy(p, labels, EPS)
    expected_dz = ref.softmax_backward(p.astype(np.float64), dp)
    assert value == pytest.approx(expected_value, rel=TOL[dtype]["rtol"])
    np.testing.assert_allclose(dz, expected_dz, rtol=TOL[dtype]["rtol"], atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_binary_crossentropy_value_and_chain_rule(dtype):
    _, _, _, p, y = _batch(dtype, seed=9)
    dz = np.full_like(p, np.nan)
    value = K.sigmoid_binary_crossentropy(p, y, EPS, dz)
    expected_value, dp = ref.binary_crossentropy(p, y, EPS)
    expected_dz = ref.sigmoid_backward(p, dp)
    assert value == pytest.approx(expected_value, rel=TOL[dtype]["rtol"])
    np.testing.assert_allclose(dz, expected_dz, rtol=TOL[dtype]["rtol"], atol=1e-7)


def test_fused_gradient_matches_finite_differences_through_softmax():
    """End to end in float64: dL/dlogits of CE(softmax(logits)) by central differences."""
    from tests.helpers.gradcheck import numeric_grad

    rng = np.random.default_rng(10)
    logits = rng.standard_normal((4, 5))
    y = np.eye(5)[rng.integers(0, 5, 4)]
    dz = np.empty_like(logits)
    K.softmax_crossentropy(ref.softmax(logits), y, EPS, dz)
    numeric = numeric_grad(
        lambda z: ref.categorical_crossentropy(ref.softmax(z), y, EPS)[0], logits
    )
    np.testing.assert_allclose(dz, numeric, rtol=1e-6, atol=1e-9)
