"""hat.kernels.dropout against the numpy reference."""

import numpy as np
import pytest

from hat.kernels.dropout import dropout_forward, multiply
from tests.helpers import reference as ref


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p_drop", [0.0, 0.1, 0.5, 0.9])
def test_dropout_forward_against_reference(p_drop, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(1000).astype(dtype)
    uniform = rng.random(1000, dtype=dtype)
    y = np.full_like(x, np.nan)
    mask = np.full_like(x, np.nan)
    dropout_forward(x, uniform, p_drop, y, mask)
    y_ref, mask_ref = ref.dropout_forward(x, uniform, p_drop)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(mask, mask_ref, rtol=rtol)
    np.testing.assert_allclose(y, y_ref, rtol=rtol)
    assert y.dtype == dtype and mask.dtype == dtype


def test_dropout_forward_keeps_a_unit_whose_draw_equals_p():
    x = np.ones(3)
    y, mask = np.empty(3), np.empty(3)
    dropout_forward(x, np.array([0.25, 0.2499, 0.9]), 0.25, y, mask)
    np.testing.assert_allclose(mask, [1 / 0.75, 0.0, 1 / 0.75])
    np.testing.assert_allclose(y, mask)


def test_dropout_forward_with_p_zero_is_identity():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(50).astype(np.float32)
    y, mask = np.empty_like(x), np.empty_like(x)
    dropout_forward(x, rng.random(50, dtype=np.float32), 0.0, y, mask)
    np.testing.assert_array_equal(mask, 1.0)
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multiply(dtype):
    rng = np.random.default_rng(4)
    a = rng.standard_normal(20).astype(dtype)
    b = rng.standard_normal(20).astype(dtype)
    out = np.empty_like(a)
    multiply(a, b, out)
    np.testing.assert_array_equal(out, a * b)
