"""The shared finite-difference checker must catch a wrong gradient, or its passes mean nothing."""

import numpy as np
import pytest

from hat.layers.core import Dense, Dropout
from tests.helpers.gradcheck import check_layer_gradients, numeric_grad


class _WrongDx(Dense):
    def backward(self, dy, preactivation=False):
        dx = super().backward(dy, preactivation)
        return dx * 1.01


class _WrongDb(Dense):
    def backward(self, dy, preactivation=False):
        dx = super().backward(dy, preactivation)
        self.grads["b"] *= 0.5
        return dx


class _FreshMaskDropout(Dropout):
    """Draws from a generator the checker does not reset: its check must fail."""

    def forward(self, x, training):
        self.rng = np.random.default_rng()
        return super().forward(x, training)


@pytest.mark.parametrize("layer", [_WrongDx(3, act="tanh"), _WrongDb(3, act="tanh")])
def test_checker_catches_wrong_gradients(layer):
    with pytest.raises(AssertionError):
        check_layer_gradients(layer, (4,))


def test_checker_fixes_the_dropout_mask_and_would_fail_without():
    check_layer_gradients(Dropout(0.5), (8,))
    with pytest.raises(AssertionError):
        check_layer_gradients(_FreshMaskDropout(0.5), (8,))


def test_numeric_grad_of_a_known_function_restores_the_array():
    a = np.array([[1.0, -2.0], [0.5, 3.0]])
    before = a.copy()
    grad = numeric_grad(lambda w: np.sum(w**3), a)
    np.testing.assert_allclose(grad, 3 * before**2, rtol=1e-8)
    np.testing.assert_array_equal(a, before)
