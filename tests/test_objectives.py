"""hat.objectives takes Hat's order (y_pred, y_gt): values against hand-written numpy, the
regression of the swapped order, and gradients on the tape."""

import numpy as np
import pytest

import hat.backend as K
import hat.losses
import hat.objectives as obj
from hat.backend import tape as T
from tests.helpers.gradcheck import numeric_grad

RNG = np.random.default_rng(3)
P = RNG.dirichlet(np.ones(5), size=8)  # (8, 5) probabilities
LABELS = RNG.integers(0, 5, 8)
Y = np.eye(5)[LABELS]
A = RNG.uniform(0.1, 2.0, (8, 5))
B = RNG.uniform(0.1, 2.0, (8, 5))
EPS = 1e-7


def _by_hand(name):
    """Each objective written out in numpy, (y_pred, y_gt) as Hat's."""
    p = np.clip(P, EPS, 1 - EPS)
    beta = 0.5
    return {
        "categorical_crossentropy": -(Y * np.log(p)).sum(-1).mean(),
        "sparse_categorical_crossentropy": -np.log(p[np.arange(8), LABELS]).mean(),
        "binary_crossentropy": -(Y * np.log(p) + (1 - Y) * np.log(1 - p)).sum(-1).mean(),
        "mse": ((A - B) ** 2).sum(-1).mean(),
        "norm_lp": (np.abs(A - B) ** 3).sum(-1).mean(),
        "norm_l1": np.abs(A - B).sum(-1).mean(),
        "kl_divergence": (B * np.log(B / A) - B + A).sum(-1).mean(),
        "is_divergence": (B / A - np.log(B / A) - 1).sum(-1).mean(),
        "beta_divergence": (
            (B**beta + (beta - 1) * A**beta - beta * B * A ** (beta - 1)) / (beta * (beta - 1))
        )
        .sum(-1)
        .mean(),
        "categorical_error": (P.argmax(-1) != LABELS).mean(),
    }[name]


CALLS = {
    "categorical_crossentropy": lambda f, a, b: f(a, Y),
    "sparse_categorical_crossentropy": lambda f, a, b: f(a, LABELS),
    "binary_crossentropy": lambda f, a, b: f(a, Y),
    "mse": lambda f, a, b: f(a, b),
    "norm_lp": lambda f, a, b: f(a, b, 3),
    "norm_l1": lambda f, a, b: f(a, b),
    "kl_divergence": lambda f, a, b: f(a, b),
    "is_divergence": lambda f, a, b: f(a, b),
    "beta_divergence": lambda f, a, b: f(a, b, 0.5),
    "categorical_error": lambda f, a, b: f(a, Y),
}
PROBABILITY_INPUT = {
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "categorical_error",
}


def _first_argument(name):
    return P if name in PROBABILITY_INPUT else A


@pytest.mark.parametrize("name", sorted(CALLS))
def test_objective_on_arrays_is_the_hand_written_value(name):
    value = CALLS[name](obj.get(name), _first_argument(name).copy(), B)
    assert isinstance(value, float)
    np.testing.assert_allclose(value, _by_hand(name), rtol=1e-12)


def test_categorical_crossentropy_takes_the_prediction_first():
    # The issue's case: Keras' order (y_true, y_pred) given to a Hat script silently computed
    # -sum(p log y), huge; Hat's order gives the real crossentropy.
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.5, 0.4]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    right = -(np.log(0.7) + np.log(0.4)) / 2
    assert obj.categorical_crossentropy(p, y) == pytest.approx(right)
    assert obj.categorical_crossentropy(y, p) > 5 * right  # the swapped order is far off
    assert obj.categorical_crossentropy(p, y) == pytest.approx(
        hat.losses.categorical_crossentropy(y, p)
    )


@pytest.mark.parametrize(
    "name", ["categorical_crossentropy", "binary_crossentropy", "sparse_categorical_crossentropy"]
)
def test_objectives_equal_hat_losses_with_the_arguments_swapped(name):
    target = LABELS if name.startswith("sparse") else Y
    assert obj.get(name)(P, target) == pytest.approx(getattr(hat.losses, name)(target, P))
    assert obj.mse(A, B) == pytest.approx(hat.losses.mse(B, A))


@pytest.mark.parametrize("name", sorted(CALLS.keys() - {"categorical_error"}))
def test_objective_gradient_on_the_tape(name):
    first = _first_argument(name).copy()
    second = B.copy()
    with T.Tape() as t:
        v = t.watch(first)
        w = t.watch(second)
        loss = CALLS[name](obj.get(name), v, w)
    assert T.is_symbolic(loss) and loss.shape == ()
    np.testing.assert_allclose(loss.value, _by_hand(name), rtol=1e-12)
    gv, gw = t.gradient(loss, [v, w])
    f = CALLS[name]
    # rtol 1e-5: central differences of log p lose digits where p is small
    np.testing.assert_allclose(
        gv, numeric_grad(lambda _: f(obj.get(name), first, second), first), rtol=1e-5
    )
    np.testing.assert_allclose(
        gw, numeric_grad(lambda _: f(obj.get(name), first, second), second), atol=1e-9
    )


def test_the_sparse_autoencoder_loss_of_hat_differentiates():
    h = RNG.uniform(0.01, 0.3, (6, 4))  # hidden activations
    x = RNG.uniform(0, 1, (6, 4))

    def total(hidden, recon):
        return obj.mse(recon, x) + obj.kl_divergence(K.mean(hidden, axis=0), 0.05 * np.ones(4))

    recon = h @ np.ones((4, 4))
    with T.Tape() as t:
        v = t.watch(h)
        loss = total(v, v @ np.ones((4, 4)))
    (g,) = t.gradient(loss, [v])
    assert loss.value == pytest.approx(total(h, recon))
    np.testing.assert_allclose(g, numeric_grad(lambda _: total(h, h @ np.ones((4, 4))), h))


def test_float32_predictions_keep_float32_gradients():
    with T.Tape() as t:
        v = t.watch(P.astype(np.float32))
        loss = obj.categorical_crossentropy(v, Y.astype(np.float32))
    (g,) = t.gradient(loss, [v])
    assert loss.dtype == np.float32 and g.dtype == np.float32


def test_categorical_error_takes_one_hot_rows_or_labels_and_has_no_gradient():
    expected = (P.argmax(-1) != LABELS).mean()
    assert obj.categorical_error(P, Y) == obj.categorical_error(P, LABELS[:, None]) == expected
    with T.Tape() as t:
        v = t.watch(P)
        error = obj.categorical_error(v, Y)
    assert error.value == expected
    assert not t.gradient(error, [v])[0].any()


def test_kl_divergence_of_a_1d_mean_is_one_sample():
    rho = np.full(4, 0.05)
    mean = np.array([0.1, 0.05, 0.2, 0.01])
    expected = (rho * np.log(rho / mean) - rho + mean).sum()
    assert obj.kl_divergence(mean, rho) == pytest.approx(expected)


def test_get_and_the_bad_inputs():
    assert obj.get("mse") is obj.mse and obj.get(obj.mse) is obj.mse
    assert "beta_divergence" in obj.names() and "categorical_error" in obj.names()
    with pytest.raises(ValueError, match="unknown objective 'msee'; expected one of: "):
        obj.get("msee")
    with pytest.raises(TypeError, match="get expects an objective's name; got int 3"):
        obj.get(3)
    with pytest.raises(ValueError, match="beta must not be 0 or 1"):
        obj.beta_divergence(A, B, 1)
    with pytest.raises(TypeError, match="norm_lp: norm must be a number; got str"):
        obj.norm_lp(A, B, "2")
    with pytest.raises(ValueError, match=r"one integer label in \[0, 5\) per sample"):
        obj.sparse_categorical_crossentropy(P, LABELS + 3)
    with pytest.raises(TypeError, match="K.subtract: x must be a numeric array"):
        obj.mse("abc", B)
