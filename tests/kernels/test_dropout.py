"""hat.kernels.dropout against the numpy reference, and the statistics of its masks."""

import numpy as np
import pytest

from hat.kernels.dropout import dropout_forward, multiply
from tests.helpers import reference as ref

KEY = np.uint64(0xF234_5678_9ABC_DEF0)  # above 2**63: keys are uint64


def _run(x, key, p_drop):
    y, mask = np.full_like(x, np.nan), np.full_like(x, np.nan)
    dropout_forward(x, key, p_drop, y, mask)
    return y, mask


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p_drop", [0.0, 0.1, 0.5, 0.9])
def test_dropout_forward_against_reference(p_drop, dtype):
    x = np.random.default_rng(3).standard_normal(1000).astype(dtype)
    y, mask = _run(x, KEY, p_drop)
    y_ref, mask_ref = ref.dropout_forward(x, KEY, p_drop)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(mask, mask_ref, rtol=rtol)
    np.testing.assert_allclose(y, y_ref, rtol=rtol)
    assert y.dtype == dtype and mask.dtype == dtype


def test_a_unit_whose_uniform_equals_p_is_kept_and_one_just_below_is_dropped():
    u = ref.dropout_uniform(KEY, 8)
    i = int(np.argmax(u > 0.1))  # a unit with a uniform well inside (0, 1)
    x = np.ones(8)
    assert _run(x, KEY, float(u[i]))[1][i] == pytest.approx(1 / (1 - u[i]))
    assert _run(x, KEY, float(u[i]) + 2.0**-25)[1][i] == 0.0


def test_p_zero_keeps_everything_unscaled():
    x = np.random.default_rng(0).standard_normal(50).astype(np.float32)
    y, mask = _run(x, KEY, 0.0)
    np.testing.assert_array_equal(mask, 1.0)
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("p_drop", [0.1, 0.5, 0.8])
def test_masks_keep_one_minus_p_independently_of_neighbours_and_of_the_key(p_drop):
    """On the reference, which the kernel matches bit for bit (above; 200,000 units as plain
    Python would take seconds in CI's numba-free pass)."""
    n, q = 200_000, 1 - p_drop  # the kept share's standard deviation is at most 0.0011
    keep = ref.dropout_uniform(KEY, n) >= p_drop
    assert abs(keep.mean() - q) < 0.006
    assert abs((keep[1:] & keep[:-1]).mean() - q * q) < 0.006, "neighbours are independent"
    other = ref.dropout_uniform(KEY + np.uint64(1), n) >= p_drop
    assert abs((keep & other).mean() - q * q) < 0.006, "consecutive keys are independent"
    kernel = _run(np.ones(3000), KEY, p_drop)[1] > 0
    np.testing.assert_array_equal(kernel, keep[:3000])


def test_multiply():
    a, b = np.arange(5.0), np.array([0.0, 2.0, 0.0, 2.0, 2.0])
    out = np.empty(5)
    multiply(a, b, out)
    np.testing.assert_array_equal(out, a * b)
