"""K ops on plain arrays are numpy (same values, same dtypes); the documented choices at ties
and zeros; the errors at the boundary."""

import numpy as np
import pytest

import hat.backend as K
from hat.backend import tape as T

X = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
Y = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
POS = np.abs(X) + 0.5

# (K expression, numpy expression) on float32 arrays: equal values and dtypes
PLAIN = [
    (lambda: K.add(X, Y), lambda: X + Y),
    (lambda: K.subtract(X, 2.0), lambda: X - 2.0),
    (lambda: K.multiply(X, Y), lambda: X * Y),
    (lambda: K.divide(X, POS), lambda: X / POS),
    (lambda: K.power(POS, 0.5), lambda: POS**0.5),
    (lambda: K.negative(X), lambda: -X),
    (lambda: K.maximum(X, Y), lambda: np.maximum(X, Y)),
    (lambda: K.minimum(X, 0.0), lambda: np.minimum(X, 0.0)),
    (lambda: K.exp(X), lambda: np.exp(X)),
    (lambda: K.log(POS), lambda: np.log(POS)),
    (lambda: K.sqrt(POS), lambda: np.sqrt(POS)),
    (lambda: K.sqr(X), lambda: np.square(X)),
    (lambda: K.abs(X), lambda: np.abs(X)),
    (lambda: K.clip(X, -0.5, 0.5), lambda: np.clip(X, -0.5, 0.5)),
    (lambda: K.switch(X > 0, X, Y), lambda: np.where(X > 0, X, Y)),
    (lambda: K.sum(X, axis=(0, 2)), lambda: X.sum(axis=(0, 2))),
    (lambda: K.mean(X, axis=-1, keepdims=True), lambda: X.mean(axis=-1, keepdims=True)),
    (lambda: K.mean(X), lambda: X.mean()),
    (lambda: K.max(X, axis=1), lambda: X.max(axis=1)),
    (lambda: K.min(X, axis=(1, 2)), lambda: X.min(axis=(1, 2))),
    (lambda: K.prod(X, axis=0), lambda: X.prod(axis=0)),
    (lambda: K.var(X, axis=(0, 1)), lambda: X.var(axis=(0, 1))),
    (lambda: K.std(X), lambda: X.std()),
    (lambda: K.argmax(X, axis=-1), lambda: X.argmax(axis=-1)),
    (lambda: K.argmin(X), lambda: X.argmin()),
    (lambda: K.dot(X, Y.T), lambda: np.dot(X, Y.T)),
    (
        lambda: K.dot(X, np.ones((2, 4, 5), np.float32)),
        lambda: np.dot(X, np.ones((2, 4, 5), np.float32)),
    ),
    (lambda: K.reshape(X, (6, -1)), lambda: X.reshape(6, -1)),
    (lambda: K.flatten(X), lambda: X.reshape(-1)),
    (lambda: K.flatten(X, 2), lambda: X.reshape(2, -1)),
    (lambda: K.transpose(X, (2, 0, 1)), lambda: X.transpose(2, 0, 1)),
    (lambda: K.transpose(X), lambda: X.T),
    (lambda: K.swapaxes(X, 0, 1), lambda: X.swapaxes(0, 1)),
    (lambda: K.expand_dims(Y, 0), lambda: Y[None]),
    (lambda: K.squeeze(X[:, :1], 1), lambda: X[:, 0]),
    (lambda: K.tile(Y, (2, 1, 2)), lambda: np.tile(Y, (2, 1, 2))),
    (lambda: K.repeat(Y, 2, axis=0), lambda: np.repeat(Y, 2, axis=0)),
    (lambda: K.concatenate([X[0], Y], axis=0), lambda: np.concatenate([X[0], Y])),
    (lambda: K.stack([Y, Y], axis=1), lambda: np.stack([Y, Y], axis=1)),
    (lambda: K.getitem(X, (Ellipsis, [0, 2])), lambda: X[..., [0, 2]]),
    (lambda: K.softmax(Y), lambda: np.exp(Y) / np.exp(Y).sum(-1, keepdims=True)),
    (lambda: K.tanh(X), lambda: np.tanh(X)),
    (lambda: K.relu(X), lambda: np.maximum(X, 0)),
    (lambda: K.relu(X, 0.1), lambda: np.where(X > 0, X, np.float32(0.1) * X)),
    (lambda: K.hard_sigmoid(X), lambda: np.clip(0.2 * X + 0.5, 0, 1)),
    (lambda: K.cast(X, "float64"), lambda: X.astype(np.float64)),
    (lambda: K.zeros_like(X), lambda: np.zeros_like(X)),
    (lambda: K.ones_like(X), lambda: np.ones_like(X)),
]


@pytest.mark.parametrize("k_expr, np_expr", PLAIN, ids=[f"case{i}" for i in range(len(PLAIN))])
def test_ops_on_plain_arrays_are_numpy(k_expr, np_expr):
    got, expected = k_expr(), np_expr()
    assert not T.is_symbolic(got)
    assert np.asarray(got).dtype == np.asarray(expected).dtype
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_sigmoid_is_the_logistic_without_overflow():
    x = np.array([-1000.0, -3.0, 0.0, 2.0, 1000.0])
    with np.errstate(over="raise"):
        y = K.sigmoid(x)
    np.testing.assert_allclose(y, [0.0, 1 / (1 + np.exp(3)), 0.5, 1 / (1 + np.exp(-2)), 1.0])
    assert K.sigmoid(X).dtype == np.float32


@pytest.mark.parametrize("op", [K.eq, K.neq, K.gt, K.lt, K.ge, K.le])
def test_comparisons_give_0_1_floats(op):
    a, b = np.array([1, 2, 3]), np.array([3, 2, 1])
    expected = {K.eq: [0, 1, 0], K.neq: [1, 0, 1], K.gt: [0, 0, 1], K.lt: [1, 0, 0]}
    expected.update({K.ge: [0, 1, 1], K.le: [1, 1, 0]})
    result = op(a, b)
    assert result.dtype == np.float32  # ints in: floatx out, as Theano's floatX
    np.testing.assert_array_equal(result, expected[op])
    assert op(X, 0.0).dtype == np.float32 and op(X.astype(np.float64), 0).dtype == np.float64


def _grad(fn, x):
    with T.Tape() as t:
        v = t.watch(np.asarray(x, dtype=np.float64))
        out = fn(v)
    return t.gradient(out, [v], seed=np.ones(np.shape(out.value)))[0]


def test_max_and_min_send_the_gradient_to_the_first_extremum():
    np.testing.assert_array_equal(_grad(K.max, [1.0, 3.0, 3.0]), [0, 1, 0])
    np.testing.assert_array_equal(_grad(K.min, [2.0, 1.0, 1.0]), [0, 1, 0])
    ties = [[1.0, 5.0], [5.0, 5.0]]
    np.testing.assert_array_equal(_grad(lambda v: K.max(v, axis=0), ties), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(_grad(lambda v: K.max(v, axis=(0, 1)), ties), [[0, 1], [0, 0]])
    np.testing.assert_array_equal(_grad(lambda v: K.maximum(v, 3.0), [3.0, 4.0, 1.0]), [1, 1, 0])


def test_prod_gradient_is_exact_at_zeros():
    np.testing.assert_array_equal(_grad(K.prod, [2.0, 0.0, 3.0]), [0, 6, 0])
    np.testing.assert_array_equal(_grad(K.prod, [2.0, 0.0, 0.0]), [0, 0, 0])


def test_clip_and_abs_at_their_kinks():
    np.testing.assert_array_equal(_grad(lambda v: K.clip(v, 0.0, 1.0), [0.0, 1.0, 2.0]), [1, 1, 0])
    np.testing.assert_array_equal(_grad(K.abs, [0.0, -2.0]), [0, -1])


def test_cast_to_int_and_argmax_have_no_gradient():
    with T.Tape() as t:
        v = t.watch(np.array([0.5, 2.5, 1.0]))
        index = K.argmax(v)
        as_int = K.cast(v, "int64")
        picked = v[index]
    assert index.value == 1 and as_int.dtype == np.int64 and picked.value == 2.5
    np.testing.assert_array_equal(t.gradient(picked, [v])[0], [0, 1, 0])


def test_hat_helpers():
    assert K.ifelse(True, "a", "b") == "a" and K.ifelse(np.array(0.0), "a", "b") == "b"
    assert K.zeros((2, 3)).dtype == np.float32 and K.ones(2).sum() == 2
    assert K.ndim(X) == 3 and K.format_data([1, 2]).dtype == np.float32
    assert K.get_value(X) is X and K.cast_to_floatx([1]).dtype == np.float32
    assert K.floatx() == "float32" and K.epsilon() == 1e-7
    assert K.broadcast(np.ones(3), 1, (0, 2, 3)).shape == (1, 3, 1, 1)
    np.testing.assert_allclose(K.moving_average(1.0, 3.0, 0.9), 1.2)
    bn = K.batch_normalization(X, 2.0, 1.0, 0.5, 4.0, 0.0)
    np.testing.assert_allclose(bn, (X - 0.5) / 2 * 2 + 1, rtol=1e-6)
    labels = np.array([2, 0])
    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    np.testing.assert_allclose(K.categorical_crossentropy(p, labels), -np.log([0.5, 0.6]))


BAD = ["abc", None, {"a": 1}, object(), np.array(["x"]), [1, "a"]]


@pytest.mark.parametrize("bad", BAD, ids=[type(b).__name__ for b in BAD])
@pytest.mark.parametrize(
    "op, call",
    [
        ("exp", lambda b: K.exp(b)),
        ("add", lambda b: K.add(X, b)),
        ("mean", lambda b: K.mean(b, axis=0)),
        ("dot", lambda b: K.dot(b, Y)),
        ("concatenate", lambda b: K.concatenate([X, b])),
        ("softmax", lambda b: K.softmax(b)),
        ("clip", lambda b: K.clip(b, 0.0, 1.0)),
        ("reshape", lambda b: K.reshape(b, (-1,))),
    ],
)
def test_non_numeric_arguments_raise_a_type_error_naming_the_op(op, call, bad):
    with pytest.raises(TypeError, match=rf"K\.{op}: .* must be a numeric array, a number or a"):
        call(bad)


def test_a_variable_plus_a_string_names_the_op_and_the_value():
    with T.Tape() as t:
        v = t.watch(np.ones(3))
        with pytest.raises(TypeError, match="K.add: y must be .* got str 'abc'"):
            v + "abc"


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: K.sum(X, axis="0"), TypeError, "axis must be None, an int or a tuple"),
        (lambda: K.mean(X, axis=3), ValueError, "axis 3 is out of range"),
        (lambda: K.max(X, axis=(0, -3)), ValueError, "repeats an axis"),
        (lambda: K.concatenate(X), TypeError, "must be a non-empty list"),
        (lambda: K.flatten(X, 4), ValueError, "ndim must be an int in"),
        (lambda: K.cast(X, "floaty"), TypeError, "type must be a numpy dtype"),
        (lambda: K.relu(X, alpha="a"), TypeError, "alpha must be a number"),
        (lambda: K.tile(X, (2, 2), ndim=2), ValueError, "ndim=2 is below"),
        (lambda: K.repeat(X, 1.5), TypeError, "n_repeats must be ints"),
        (lambda: K.reshape(X, (2.0, -1)), TypeError, "shape must be an int or a tuple"),
        (lambda: K.broadcast(X, 2, (0,)), ValueError, "x has 3 axes, not x_ndim=2"),
        (lambda: K.ifelse(X, 1, 2), ValueError, "condition must be a scalar"),
        (lambda: K.getitem(X, np.array([0.5])), TypeError, "index array must hold ints"),
        (lambda: K.categorical_crossentropy(Y, X), ValueError, "fits neither one-hot"),
    ],
)
def test_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_dot_on_variables_takes_a_right_operand_of_at_most_two_axes():
    with T.Tape() as t:
        v = t.watch(X.astype(np.float64))
        with pytest.raises(ValueError, match="Y must have 1 or 2 axes"):
            K.dot(v, np.ones((2, 4, 5)))
