"""hat.regularizations: values, gradients by finite differences, configs."""

import numpy as np
import pytest

from hat import regularizations as regs
from tests.helpers.gradcheck import numeric_grad


def _w(seed=0):
    w = np.random.default_rng(seed).standard_normal((4, 3))
    w[np.abs(w) < 0.05] = 0.3  # keep |w| away from the kink of L1
    return w


@pytest.mark.parametrize(
    "reg, l1, l2",
    [(regs.L1(0.3), 0.3, 0.0), (regs.L2(0.2), 0.0, 0.2), (regs.L1L2(0.1, 0.05), 0.1, 0.05)],
    ids=["L1", "L2", "L1L2"],
)
def test_value_and_gradient(reg, l1, l2):
    w = _w()
    expected = l1 * np.sum(np.abs(w)) + l2 * np.sum(w**2)
    assert reg.value(w) == pytest.approx(expected, rel=1e-12)
    dw = np.full_like(w, 0.5)
    reg.add_gradient(w, dw)
    numeric = numeric_grad(reg.value, w)
    np.testing.assert_allclose(dw - 0.5, numeric, rtol=1e-6, atol=1e-9)  # added, not assigned


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "reg", [regs.L1(0.3), regs.L2(0.2), regs.L1L2(0.1, 0.05)], ids=["L1", "L2", "L1L2"]
)
def test_penalize_is_value_plus_add_gradient_in_one_pass(reg, dtype):
    w = _w(2).astype(dtype)
    dw, expected_dw = np.full_like(w, 0.5), np.full_like(w, 0.5)
    value = reg.penalize(w, dw)
    reg.add_gradient(w, expected_dw)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    assert value == pytest.approx(reg.value(w.astype(np.float64)), rel=tol)
    np.testing.assert_allclose(dw, expected_dw, rtol=tol)
    untouched = w.copy()
    assert reg.penalize(w, None) == value  # no gradient wanted: the value only
    np.testing.assert_array_equal(w, untouched)


def test_add_gradient_keeps_the_dtype_of_float32_grads():
    w = _w().astype(np.float32)
    dw = np.zeros_like(w)
    regs.L1L2(0.1, 0.2).add_gradient(w, dw)
    assert dw.dtype == np.float32
    np.testing.assert_allclose(dw, 0.1 * np.sign(w) + 0.4 * w, rtol=1e-6)


def test_defaults():
    assert regs.L1().l1 == 0.01 and regs.L1().l2 == 0.0
    assert regs.L2().l2 == 0.01 and regs.L2().l1 == 0.0
    assert (regs.L1L2().l1, regs.L1L2().l2) == (0.01, 0.01)


@pytest.mark.parametrize(
    "reg", [regs.L1(0.3), regs.L2(0.2), regs.L1L2(0.1, 0.05)], ids=["L1", "L2", "L1L2"]
)
def test_config_round_trip(reg):
    config = reg.get_config()
    assert config["class_name"] == type(reg).__name__
    rebuilt = regs.get(config)
    assert type(rebuilt) is type(reg)
    assert rebuilt.get_config() == config
    w = _w(1)
    assert rebuilt.value(w) == reg.value(w)


def test_get_none_and_instances():
    assert regs.get(None) is None
    reg = regs.L2(0.1)
    assert regs.get(reg) is reg


@pytest.mark.parametrize("bad", ["l2", 0.01, {"class_name": "L3"}, {"l2": 0.1}])
def test_get_rejects_anything_else(bad):
    with pytest.raises(TypeError, match="regularizer"):
        regs.get(bad)


@pytest.mark.parametrize("factor", [-0.1, float("nan"), float("inf"), "0.1", None])
def test_factors_must_be_finite_and_non_negative(factor):
    with pytest.raises(ValueError, match="finite number >= 0"):
        regs.L2(factor)
    with pytest.raises(ValueError, match="finite number >= 0"):
        regs.L1L2(l1=factor)
