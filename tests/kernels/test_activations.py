"""hat.kernels.activations against the numpy references, every code, float32 and float64."""

import numpy as np
import pytest

from hat.kernels import activations as K
from tests.helpers import reference as ref

CODES = {
    "linear": K.LINEAR,
    "relu": K.RELU,
    "leaky_relu": K.LEAKY_RELU,
    "sigmoid": K.SIGMOID,
    "hard_sigmoid": K.HARD_SIGMOID,
    "tanh": K.TANH,
    "softmax": K.SOFTMAX,
}
ALPHA = {"leaky_relu": ref.LEAKY_ALPHA}
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _inputs(dtype, bias: bool, n=7, f=5, seed=0):
    rng = np.random.default_rng(seed)
    z = (3 * rng.standard_normal((n, f))).astype(dtype)
    b = (rng.standard_normal(f) if bias else np.empty(0)).astype(dtype)
    return z, b


def test_codes_cover_every_reference_activation():
    assert sorted(CODES) == sorted(ref.ACTIVATION_NAMES)
    assert len(set(CODES.values())) == len(CODES)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("name", ref.ACTIVATION_NAMES)
def test_bias_activation_forward(name, bias, dtype):
    z, b = _inputs(dtype, bias)
    expected = ref.activation(name, z.astype(np.float64) + (b if bias else 0.0))
    out = z.copy()
    K.bias_activation_forward(out, b, CODES[name], ALPHA.get(name, 0.0))
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False], ids=["db", "no_db"])
@pytest.mark.parametrize("name", ref.ACTIVATION_NAMES)
def test_activation_backward(name, bias, dtype):
    z, _ = _inputs(dtype, bias=False, seed=1)
    y = ref.activation(name, z).astype(dtype)
    dy = np.random.default_rng(2).standard_normal(z.shape).astype(dtype)
    expected = ref.activation_grad(name, z, dy)
    dz = np.full_like(z, np.nan)
    db = np.full(z.shape[1] if bias else 0, 123.0, dtype=dtype)  # stale values must go
    K.activation_backward(dy, y, CODES[name], ALPHA.get(name, 0.0), dz, db)
    np.testing.assert_allclose(dz, expected, **TOL[dtype])
    if bias:
        np.testing.assert_allclose(db, expected.sum(axis=0), **TOL[dtype])
    else:
        assert db.shape == (0,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_forward_is_stable_for_large_logits(dtype):
    z = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1000.0, -1000.0]], dtype=dtype)
    expected = ref.softmax(z.astype(np.float64))
    K.bias_activation_forward(z, np.empty(0, dtype), K.SOFTMAX, 0.0)
    assert np.all(np.isfinite(z))
    np.testing.assert_allclose(z, expected, **TOL[dtype])
    np.testing.assert_allclose(z.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_saturates_without_nan(dtype):
    z = np.array([[-200.0, 0.0, 200.0]], dtype=dtype)
    K.bias_activation_forward(z, np.empty(0, dtype), K.SIGMOID, 0.0)
    np.testing.assert_allclose(z, [[0.0, 0.5, 1.0]], atol=1e-12)


def test_nan_propagates_through_forward():
    # fastmath must leave out the no-NaN assumption, so NaN checks keep working.
    z = np.array([[np.nan, 1.0]], dtype=np.float32)
    K.bias_activation_forward(z, np.empty(0, np.float32), K.TANH, 0.0)
    assert np.isnan(z[0, 0]) and z[0, 1] == pytest.approx(np.tanh(1.0), rel=1e-6)


@pytest.mark.parametrize("act", [K.RELU, K.LEAKY_RELU], ids=["relu", "leaky_relu"])
def test_relus_keep_non_finite_values_non_finite(act):
    # A NaN weight must not be zeroed by the activation, or training would go on silently.
    z = np.array([[np.nan, np.inf, -np.inf, -2.0, 3.0]], dtype=np.float32)
    K.bias_activation_forward(z, np.empty(0, np.float32), act, 0.1)
    assert np.isnan(z[0, 0]) and z[0, 1] == np.inf and not np.isfinite(z[0, 2])
    assert z[0, 3] == (0.0 if act == K.RELU else np.float32(-0.2)) and z[0, 4] == 3.0
