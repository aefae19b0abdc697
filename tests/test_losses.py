"""hat.losses: resolution by name, function and object; values and gradients of every Loss."""

import numpy as np
import pytest

from hat import losses
from tests.helpers import reference as ref
from tests.helpers.gradcheck import numeric_grad

EPS = 1e-7
NAMES = {
    "categorical_crossentropy": losses.CategoricalCrossentropy,
    "sparse_categorical_crossentropy": losses.SparseCategoricalCrossentropy,
    "binary_crossentropy": losses.BinaryCrossentropy,
    "mse": losses.MeanSquaredError,
    "mean_squared_error": losses.MeanSquaredError,
    "mae": losses.MeanAbsoluteError,
    "mean_absolute_error": losses.MeanAbsoluteError,
}


def _data(name, dtype=np.float64, n=5, k=4, seed=0):
    """(y_true, y_pred) suited to the loss: probabilities for the cross-entropies."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, k))
    labels = rng.integers(0, k, n)
    if name == "categorical_crossentropy":
        return np.eye(k)[labels].astype(dtype), ref.softmax(logits).astype(dtype)
    if name == "sparse_categorical_crossentropy":
        return labels, ref.softmax(logits).astype(dtype)
    if name == "binary_crossentropy":
        bits = (rng.random((n, k)) < 0.5).astype(dtype)
        return bits, (1 / (1 + np.exp(-logits))).astype(dtype)
    return rng.standard_normal((n, k)).astype(dtype), logits.astype(dtype)


def _reference(name, y_true, y_pred):
    fn = {
        "categorical_crossentropy": ref.categorical_crossentropy,
        "sparse_categorical_crossentropy": ref.sparse_categorical_crossentropy,
        "binary_crossentropy": ref.binary_crossentropy,
        "mse": ref.mean_squared_error,
        "mae": ref.mean_absolute_error,
    }[NAMES[name].name]
    return fn(y_pred, y_true, EPS) if "entropy" in name else fn(y_pred, y_true)


@pytest.mark.parametrize("name", NAMES)
def test_get_by_name(name):
    loss = losses.get(name)
    assert type(loss) is NAMES[name]
    assert name in losses.names()


@pytest.mark.parametrize(
    "fn, cls",
    [
        (losses.categorical_crossentropy, losses.CategoricalCrossentropy),
        (losses.sparse_categorical_crossentropy, losses.SparseCategoricalCrossentropy),
        (losses.binary_crossentropy, losses.BinaryCrossentropy),
        (losses.mse, losses.MeanSquaredError),
        (losses.mae, losses.MeanAbsoluteError),
    ],
)
def test_get_by_function_and_class(fn, cls):
    assert type(losses.get(fn)) is cls
    assert type(losses.get(cls)) is cls


def test_get_returns_an_instance_as_is():
    loss = losses.MeanSquaredError()
    assert losses.get(loss) is loss


def test_unknown_name_lists_the_names():
    with pytest.raises(ValueError) as err:
        losses.get("hinge")
    assert "'hinge'" in str(err.value)
    for name in NAMES:
        assert name in str(err.value)


def test_plain_callable_and_wrong_type_are_rejected():
    with pytest.raises(TypeError, match="subclass"):
        losses.get(lambda y_true, y_pred: 0.0)
    with pytest.raises(TypeError, match="loss_func must be a name or a Loss"):
        losses.get(3)


@pytest.mark.parametrize("name", NAMES)
def test_value_matches_the_reference(name):
    y_true, y_pred = _data(name)
    loss = losses.get(name)
    expected, _ = _reference(name, y_true, y_pred)
    assert loss.value(y_true, y_pred) == pytest.approx(expected, rel=1e-12)
    assert loss(y_true, y_pred) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_value_and_grad_matches_the_reference(name, dtype):
    y_true, y_pred = _data(name, dtype)
    dy = np.full_like(y_pred, np.nan)
    value = losses.get(name).value_and_grad(y_true, y_pred, dy)
    expected_value, expected_grad = _reference(name, y_true, y_pred)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert value == pytest.approx(expected_value, rel=rtol)
    np.testing.assert_allclose(dy, expected_grad, rtol=rtol, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_matches_finite_differences_of_the_value(name):
    y_true, y_pred = _data(name, seed=3)
    loss = losses.get(name)
    dy = np.empty_like(y_pred)
    loss.value_and_grad(y_true, y_pred, dy)
    numeric = numeric_grad(lambda p: loss.value(y_true, p), y_pred)
    np.testing.assert_allclose(dy, numeric, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(
    "name, activation",
    [
        ("categorical_crossentropy", "softmax"),
        ("sparse_categorical_crossentropy", "softmax"),
        ("binary_crossentropy", "sigmoid"),
    ],
)
def test_fused_gradient_is_the_chain_rule_through_the_activation(name, activation):
    loss = losses.get(name)
    assert loss.fused_activation == activation
    rng = np.random.default_rng(4)
    z = rng.standard_normal((5, 4))
    y_true, _ = _data(name, seed=4)
    dz = np.empty_like(z)
    value = loss.fused_value_and_grad(y_true, ref.activation(activation, z), dz)
    assert value == pytest.approx(loss.value(y_true, ref.activation(activation, z)), rel=1e-12)
    numeric = numeric_grad(lambda zz: loss.value(y_true, ref.activation(activation, zz)), z)
    np.testing.assert_allclose(dz, numeric, rtol=1e-6, atol=1e-9)


def test_sparse_loss_accepts_a_column_of_labels():
    labels, p = _data("sparse_categorical_crossentropy")
    loss = losses.get("sparse_categorical_crossentropy")
    assert loss.sparse_targets
    assert loss.value(labels[:, None], p) == pytest.approx(loss.value(labels, p))


@pytest.mark.parametrize("form", ["column", "float"])
def test_sparse_value_and_grad_accepts_the_labels_that_value_accepts(form):
    labels, p = _data("sparse_categorical_crossentropy")
    given = labels[:, None] if form == "column" else labels.astype(np.float64)
    loss = losses.get("sparse_categorical_crossentropy")
    for method in ("value_and_grad", "fused_value_and_grad"):
        expected = np.empty_like(p)
        expected_value = getattr(loss, method)(labels, p, expected)
        dy = np.full_like(p, np.nan)
        value = getattr(loss, method)(given, p, dy)
        assert value == pytest.approx(expected_value)
        np.testing.assert_allclose(dy, expected)


class _Cubic(losses.Loss):
    """A user's loss: sum((p - y)^3) / N."""

    name = "cubic"

    def value(self, y_true, y_pred):
        return float(np.sum((y_pred - y_true) ** 3) / len(y_pred))

    def gradient(self, y_true, y_pred):
        return 3 * (y_pred - y_true) ** 2 / len(y_pred)


def test_a_loss_subclass_works_through_value_and_grad():
    loss = losses.get(_Cubic)
    assert isinstance(loss, _Cubic) and losses.get(loss) is loss
    y_true, y_pred = _data("mse", seed=5)
    dy = np.full_like(y_pred, np.nan)
    value = loss.value_and_grad(y_true, y_pred, dy)
    assert value == pytest.approx(loss(y_true, y_pred))
    numeric = numeric_grad(lambda p: loss.value(y_true, p), y_pred)
    np.testing.assert_allclose(dy, numeric, rtol=1e-6, atol=1e-9)
    assert loss.fused_activation is None
    with pytest.raises(NotImplementedError):
        loss.fused_value_and_grad(y_true, y_pred, dy)


def test_the_base_loss_is_abstract():
    with pytest.raises(NotImplementedError):
        losses.Loss().value(np.zeros((1, 1)), np.zeros((1, 1)))
