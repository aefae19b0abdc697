"""hat.layers.core: forward against the references, backward by finite differences, configs."""

import numpy as np
import pytest

from hat import activations, regularizations
from hat.layers.base import Layer
from hat.layers.core import Activation, Dense, Dropout, Flatten, InputLayer, Reshape
from tests.helpers import reference as ref
from tests.helpers.gradcheck import check_layer_gradients

ACTS = ref.ACTIVATION_NAMES
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _built(layer, input_shape, dtype=np.float32, seed=0):
    layer.setup(tuple(input_shape), np.random.default_rng(seed), dtype)
    return layer


def _x(shape, dtype=np.float32, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _softplus(x):
    return np.log1p(np.exp(x))


def _softplus_grad(x, y, dy):
    return dy / (1 + np.exp(-x))


activations.register(_softplus, _softplus_grad, name="test_core_softplus")


# -- the contract, for every layer --------------------------------------------------------------

CONFIGURED = [
    InputLayer((1, 28, 28), name="in"),
    InputLayer(784),
    Dense(7),
    Dense(
        3,
        act="tanh",
        init_type="he_normal",
        W_reg=regularizations.L2(0.5),
        b_reg=regularizations.L1L2(0.1, 0.2),
        trainable_params=["W"],
        name="d",
    ),
    Dense(4, act="test_core_softplus"),
    Dropout(0.3, name="drop"),
    Activation("softmax"),
    Activation(activations.leaky_relu),
    Flatten(),
    Reshape((2, -1), name="r"),
]


@pytest.mark.parametrize("layer", CONFIGURED, ids=repr)
def test_get_config_round_trip(layer):
    config = layer.get_config()
    rebuilt = type(layer)(**config)
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == config
    assert repr(rebuilt) == repr(layer)


def test_every_core_layer_is_registered_by_class_name():
    for cls in (InputLayer, Dense, Dropout, Activation, Flatten, Reshape):
        assert Layer.registry[cls.__name__] is cls


def test_name_must_be_a_string():
    with pytest.raises(TypeError, match="name"):
        Dense(3, name=5)
    assert Dense(3, name="fc").name_ == "fc"


# -- InputLayer ---------------------------------------------------------------------------------


def test_input_layer_shapes_and_identity():
    assert _built(InputLayer(784), (784,)).output_shape == (784,)
    layer = _built(InputLayer((1, 28, 28)), (1, 28, 28))
    assert layer.output_shape == (1, 28, 28) and layer.out_shape_ == (None, 1, 28, 28)
    x = _x((2, 1, 28, 28))
    np.testing.assert_array_equal(layer.forward(x, training=True), x)
    np.testing.assert_array_equal(layer.backward(x), x)
    assert layer.count_params() == 0


def test_input_layer_gradients():
    check_layer_gradients(InputLayer((2, 3)), (2, 3))


@pytest.mark.parametrize(
    "in_shape, error",
    [
        (0, ValueError),
        ((3, 0), ValueError),
        ("784", TypeError),
        (True, TypeError),
        ((), TypeError),
        ((2.0, 3), TypeError),
        (None, TypeError),
    ],
)
def test_input_layer_rejects_bad_shapes(in_shape, error):
    with pytest.raises(error, match="in_shape"):
        InputLayer(in_shape)


# -- Dense --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTS)
def test_dense_forward_against_reference(act, dtype):
    rng = np.random.default_rng(2)
    W, b = rng.standard_normal((5, 4)), rng.standard_normal(4)
    layer = _built(Dense(4, act=act, W_init=W, b_init=b), (5,), dtype)
    x = _x((6, 5), dtype)
    y = layer.forward(x, training=False)
    assert y.shape == (6, 4) and y.dtype == dtype
    np.testing.assert_allclose(
        y, ref.dense_forward(x, W.astype(dtype), b.astype(dtype), act), **TOL[dtype]
    )


@pytest.mark.parametrize("act", ACTS)
def test_dense_gradients(act):
    # A non-zero bias, so the check covers db and the activation away from the origin.
    layer = Dense(4, act=act, b_init=np.array([0.3, -0.2, 0.1, 0.5]))
    check_layer_gradients(layer, (5,), batch=4)


@pytest.mark.parametrize("act", ACTS)
def test_dense_preactivation_backward(act):
    layer = Dense(4, act=act, b_init=np.array([0.3, -0.2, 0.1, 0.5]))
    check_layer_gradients(layer, (5,), batch=4, preactivation=True)


def test_dense_preactivation_skips_the_activation():
    layer = _built(Dense(3, act="sigmoid"), (4,), np.float64)
    x, dz = _x((2, 4), np.float64), _x((2, 3), np.float64, seed=5)
    layer.forward(x, training=True)
    dx = layer.backward(dz, preactivation=True).copy()
    np.testing.assert_allclose(layer.grads["b"], dz.sum(axis=0))
    np.testing.assert_allclose(layer.grads["W"], x.T @ dz)
    np.testing.assert_allclose(dx, dz @ layer.params["W"].T)


def test_dense_with_only_W_trainable_leaves_grads_b_untouched():
    layer = Dense(3, act="relu", trainable_params=["W"])
    analytic = check_layer_gradients(layer, (4,))  # dW and dx still exact
    assert layer.trainable == ["W"]
    layer.grads["b"][...] = 7.0
    layer.forward(_x((2, 4), np.float64), training=True)
    layer.backward(_x((2, 3), np.float64, seed=3))
    np.testing.assert_array_equal(layer.grads["b"], 7.0)
    assert np.any(analytic["W"] != 0)


def test_dense_with_only_b_trainable_leaves_grads_W_untouched():
    layer = _built(Dense(3, trainable_params=["b"]), (4,), np.float64)
    layer.grads["W"][...] = -1.0
    layer.forward(_x((2, 4), np.float64), training=True)
    dy = _x((2, 3), np.float64, seed=3)
    layer.backward(dy)
    np.testing.assert_array_equal(layer.grads["W"], -1.0)
    np.testing.assert_allclose(layer.grads["b"], dy.sum(axis=0))


def test_dense_without_input_grad_returns_none_but_fills_grads():
    layer = _built(Dense(3), (4,), np.float64)
    layer.needs_input_grad = False
    x, dy = _x((2, 4), np.float64), _x((2, 3), np.float64, seed=3)
    layer.forward(x, training=True)
    assert layer.backward(dy) is None
    np.testing.assert_allclose(layer.grads["W"], x.T @ dy)


def test_dense_params_names_shapes_and_dtype():
    layer = _built(Dense(3), (5,))
    assert set(layer.params) == {"W", "b"} and set(layer.grads) == {"W", "b"}
    assert layer.W_.shape == (5, 3) and layer.b_.shape == (3,)
    assert layer.W_.dtype == np.float32 and layer.b_.dtype == np.float32
    np.testing.assert_array_equal(layer.b_, 0.0)
    assert layer.count_params() == 18
    assert layer.params_[0] is layer.params["W"]
    assert _built(Dense(3), (5,), np.float64).W_.dtype == np.float64


def test_dense_init_type_is_used():
    assert np.all(_built(Dense(3, init_type="zeros"), (5,)).W_ == 0)
    assert np.all(_built(Dense(3, init_type="ones"), (5,)).W_ == 1)
    limit = np.sqrt(6 / (50 + 30))
    W = _built(Dense(30, init_type="glorot_uniform"), (50,)).W_
    assert np.abs(W).max() <= limit and np.abs(W).max() > 0.9 * limit


def test_dense_W_init_and_b_init_are_used_as_given():
    W = np.arange(12, dtype=np.float64).reshape(4, 3)
    b = np.array([1, 2, 3])
    layer = _built(Dense(3, W_init=W, b_init=b), (4,))
    np.testing.assert_array_equal(layer.W_, W)
    np.testing.assert_array_equal(layer.b_, b)
    assert layer.W_.dtype == np.float32 and layer.b_.dtype == np.float32
    W[0, 0] = 100.0  # the layer holds a copy
    assert layer.W_[0, 0] == 0.0


@pytest.mark.parametrize(
    "kwargs, what",
    [
        (dict(W_init=np.zeros((3, 4))), "W_init"),
        (dict(W_init=np.zeros(12)), "W_init"),
        (dict(b_init=np.zeros(4)), "b_init"),
        (dict(b_init=np.zeros((1, 3))), "b_init"),
    ],
)
def test_dense_initial_arrays_of_the_wrong_shape_are_rejected(kwargs, what):
    with pytest.raises(ValueError, match=rf"{what} must have shape \((4, 3|3,)\)"):
        _built(Dense(3, **kwargs), (4,))


def test_dense_after_a_4d_input_is_rejected_naming_the_shape():
    with pytest.raises(ValueError) as err:
        _built(Dense(10), (1, 28, 28))
    message = str(err.value)
    assert "(None, 1, 28, 28)" in message and "Flatten" in message and "2-D" in message


def test_dense_without_an_input_shape_is_rejected():
    with pytest.raises(ValueError, match="got nothing"):
        Dense(3).setup(None, np.random.default_rng(0))


@pytest.mark.parametrize("n_out", [0, -3, 2.5, True, "10", None])
def test_dense_rejects_bad_n_out(n_out):
    with pytest.raises(ValueError, match="n_out must be a positive int"):
        Dense(n_out)


def test_dense_rejects_unknown_trainable_params():
    with pytest.raises(ValueError, match="trainable_params"):
        Dense(3, trainable_params=["W", "gamma"])


def test_unknown_activation_name_lists_the_valid_names():
    with pytest.raises(ValueError) as err:
        Dense(3, act="relu6")
    message = str(err.value)
    assert "'relu6'" in message
    for name in ACTS:
        assert name in message


def test_unregistered_callable_activation_is_rejected():
    def swish(x):
        return x / (1 + np.exp(-x))

    with pytest.raises(TypeError, match="register"):
        Dense(3, act=swish)
    with pytest.raises(TypeError, match="register"):
        Activation(swish)


def test_activation_of_the_wrong_type_is_rejected():
    with pytest.raises(TypeError, match="act must be a name or a callable"):
        Dense(3, act=3)


def test_dense_unknown_init_type_is_rejected():
    with pytest.raises(ValueError, match="init_type"):
        Dense(3, init_type="lecun_magic")


def test_dense_rejects_bad_regularizers():
    with pytest.raises(TypeError, match="regularizer"):
        Dense(3, W_reg="l2")
    layer = Dense(3, W_reg={"class_name": "L2", "l2": 0.1})
    assert isinstance(layer.regularizers["W"], regularizations.L2)
    assert "b" not in layer.regularizers


# -- a user's registered activation -------------------------------------------------------------


def test_registered_activation_in_dense_forward_and_gradients():
    rng = np.random.default_rng(3)
    W, b = rng.standard_normal((5, 4)), rng.standard_normal(4)
    layer = _built(Dense(4, act=_softplus, W_init=W, b_init=b), (5,), np.float64)
    x = _x((3, 5), np.float64)
    expected = _softplus(ref.dense_forward(x, W, b))
    np.testing.assert_allclose(layer.forward(x, training=True), expected, rtol=1e-12)
    check_layer_gradients(Dense(4, act=_softplus, b_init=b), (5,))
    check_layer_gradients(Dense(4, act="test_core_softplus"), (5,), preactivation=True)


def test_registered_activation_in_activation_layer():
    layer = _built(Activation("test_core_softplus"), (2, 3), np.float64)
    x = _x((2, 2, 3), np.float64)
    np.testing.assert_allclose(layer.forward(x, training=True), _softplus(x), rtol=1e-12)
    check_layer_gradients(Activation(_softplus), (2, 3))


# -- Dropout ------------------------------------------------------------------------------------


@pytest.mark.parametrize("p_drop", [1.0, 1.5, -0.1, True, "0.5", None, float("nan")])
def test_dropout_rejects_bad_p_drop(p_drop):
    with pytest.raises(ValueError, match="p_drop must be a number in"):
        Dropout(p_drop)


def test_dropout_is_identity_in_inference():
    layer = _built(Dropout(0.5), (20,))
    x = _x((4, 20))
    np.testing.assert_array_equal(layer.forward(x, training=False), x)
    dy = _x((4, 20), seed=2)
    np.testing.assert_array_equal(layer.backward(dy), dy)


def test_dropout_with_p_zero_is_identity_in_training():
    layer = _built(Dropout(0.0), (20,))
    x = _x((4, 20))
    np.testing.assert_array_equal(layer.forward(x, training=True), x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p_drop", [0.2, 0.5])
def test_dropout_keeps_about_one_minus_p_and_scales_kept_units(p_drop, dtype):
    layer = _built(Dropout(p_drop), (500,), dtype)
    x = np.ones((200, 500), dtype)
    y = layer.forward(x, training=True)
    kept = y != 0
    # 100,000 units: the kept share's standard deviation is about 0.0016.
    assert abs(kept.mean() - (1 - p_drop)) < 0.01
    np.testing.assert_allclose(y[kept], 1 / (1 - p_drop), rtol=1e-6)
    dx = layer.backward(np.full_like(x, 2.0))
    np.testing.assert_allclose(dx, 2.0 * y, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_forward_against_reference(dtype):
    seed = 11
    layer = _built(Dropout(0.3), (3, 4), dtype, seed=seed)
    x = _x((5, 3, 4), dtype)
    y = layer.forward(x, training=True)
    key = np.random.default_rng(seed).bit_generator.random_raw()  # the call's one draw
    y_ref, _ = ref.dropout_forward(x, key, 0.3)
    assert y.shape == x.shape and y.dtype == dtype
    np.testing.assert_allclose(y, y_ref, **TOL[dtype])


def test_dropout_draws_a_new_mask_each_call_from_its_generator():
    layer = _built(Dropout(0.5), (100,))
    x = np.ones((10, 100), np.float32)
    first = layer.forward(x, training=True).copy()
    second = layer.forward(x, training=True)
    assert not np.array_equal(first, second)
    again = _built(Dropout(0.5), (100,)).forward(x, training=True)
    np.testing.assert_array_equal(first, again)  # the same seed gives the same mask


def test_dropout_gradients():
    check_layer_gradients(Dropout(0.4), (3, 5), batch=4)


# -- Activation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("act", ACTS)
def test_activation_forward_against_reference(act, dtype):
    layer = _built(Activation(act), (6,), dtype)
    x = 3 * _x((4, 6), dtype)
    x_before = x.copy()
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y, ref.activation(act, x), **TOL[dtype])
    np.testing.assert_array_equal(x, x_before)  # the input is not overwritten


@pytest.mark.parametrize("act", ACTS)
def test_activation_gradients(act):
    check_layer_gradients(Activation(act), (6,), batch=4)


def test_softmax_activation_on_a_3d_input_runs_along_the_last_axis():
    layer = _built(Activation("softmax"), (3, 4), np.float64)
    x = _x((2, 3, 4), np.float64)
    y = layer.forward(x, training=True)
    assert y.shape == (2, 3, 4)
    np.testing.assert_allclose(y, ref.softmax(x), rtol=1e-12)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0)
    check_layer_gradients(Activation("softmax"), (3, 4), batch=2)


def test_activation_preactivation_passes_the_gradient_through():
    layer = _built(Activation("sigmoid"), (3,), np.float64)
    layer.forward(_x((2, 3), np.float64), training=True)
    dz = _x((2, 3), np.float64, seed=4)
    np.testing.assert_array_equal(layer.backward(dz, preactivation=True), dz)


def test_activation_accepts_hat_functions():
    assert Activation(activations.tanh).get_config()["act_func"] == "tanh"
    assert Activation().get_config()["act_func"] == "linear"


# -- Flatten and Reshape ------------------------------------------------------------------------


def test_flatten_forward_backward():
    layer = _built(Flatten(), (2, 3, 4))
    assert layer.output_shape == (24,)
    x = _x((5, 2, 3, 4))
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, x.reshape(5, 24))
    np.testing.assert_array_equal(layer.backward(y), x)
    check_layer_gradients(Flatten(), (2, 3, 4))


@pytest.mark.parametrize("ndim", [1, 3, 4])
def test_flatten_supports_ndim_2_only(ndim):
    with pytest.raises(ValueError, match=f"got {ndim}"):
        Flatten(ndim=ndim)


@pytest.mark.parametrize(
    "out_shape, expected",
    [((4, 6), (4, 6)), ((2, -1), (2, 12)), (24, (24,)), ((-1, 2, 3), (4, 2, 3))],
)
def test_reshape_forward_backward(out_shape, expected):
    layer = _built(Reshape(out_shape), (2, 3, 4))
    assert layer.output_shape == expected
    x = _x((5, 2, 3, 4))
    y = layer.forward(x, training=True)
    np.testing.assert_array_equal(y, x.reshape((5,) + expected))
    np.testing.assert_array_equal(layer.backward(y), x)


def test_reshape_gradients():
    check_layer_gradients(Reshape((3, -1)), (2, 3))


def test_reshape_size_mismatch_names_both_shapes():
    with pytest.raises(ValueError) as err:
        _built(Reshape((5, -1)), (2, 3, 4))
    assert "(None, 2, 3, 4)" in str(err.value) and "(None, 5, -1)" in str(err.value)
    with pytest.raises(ValueError, match="24 values"):
        _built(Reshape((5, 5)), (2, 3, 4))


@pytest.mark.parametrize(
    "out_shape, error",
    [((-1, -1), ValueError), ((0, 3), ValueError), ((-2, 3), ValueError), ("12", TypeError)],
)
def test_reshape_rejects_bad_shapes(out_shape, error):
    with pytest.raises(error, match="out_shape"):
        Reshape(out_shape)
