"""hat.layers.conv: Conv2D and ZeroPadding2D against the references, finite differences,
PyTorch, configs, errors; and a small CNN that trains."""

import json

import numpy as np
import pytest

from hat import regularizations
from hat.layers import (
    BN,
    Conv2D,
    Convolution2D,
    Dense,
    Flatten,
    InputLayer,
    MaxPool2D,
    ZeroPadding2D,
)
from hat.layers.base import Layer
from hat.models import Sequential
from tests.helpers import reference as ref
from tests.helpers.gradcheck import check_layer_gradients
from tests.helpers.optional import require

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _torch():
    return require("torch")


def _built(layer, input_shape, dtype=np.float32, seed=0):
    layer.setup(tuple(input_shape), np.random.default_rng(seed), dtype)
    return layer


def _x(shape, dtype=np.float32, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# (border_mode, strides, kernel, input (C, H, W), expected (top, bottom, left, right) pads)
GEOMETRIES = [
    ("valid", (1, 1), (3, 3), (2, 6, 7), (0, 0, 0, 0)),
    ("same", (1, 1), (3, 3), (2, 6, 7), (1, 1, 1, 1)),
    ("same", (1, 1), (5, 5), (1, 7, 7), (2, 2, 2, 2)),
    ("same", (2, 2), (3, 3), (2, 7, 6), (1, 1, 0, 1)),
    ("same", (1, 1), (2, 4), (2, 5, 6), (0, 1, 1, 2)),
    ("full", (1, 1), (3, 2), (2, 5, 6), (2, 2, 1, 1)),
    ((2, 1), (2, 1), (3, 3), (3, 5, 6), (2, 2, 1, 1)),
    ("valid", (2, 3), (2, 2), (1, 7, 8), (0, 0, 0, 0)),
]
IDS = [f"{g[0]}-s{g[1][0]}{g[1][1]}-k{g[2][0]}{g[2][1]}" for g in GEOMETRIES]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode, strides, kernel, in_shape, pads", GEOMETRIES, ids=IDS)
def test_conv2d_forward_against_reference(mode, strides, kernel, in_shape, pads, dtype):
    rng = np.random.default_rng(2)
    W, b = rng.standard_normal((3, in_shape[0]) + kernel), rng.standard_normal(3)
    layer = Conv2D(3, *kernel, act="relu", border_mode=mode, strides=strides, W_init=W, b_init=b)
    _built(layer, in_shape, dtype)
    assert layer.pads == pads
    x = _x((2,) + in_shape, dtype)
    y = layer.forward(x, training=True)
    expected = ref.activation(
        "relu", ref.conv2d_forward(x, W.astype(dtype), b.astype(dtype), strides, pads)
    )
    assert y.shape == (2,) + layer.output_shape and y.dtype == dtype
    np.testing.assert_allclose(y, expected, **TOL[dtype])


def test_same_padding_keeps_the_size_at_stride_1_and_gives_ceil_at_stride_2():
    assert _built(Conv2D(4, 3, 3, border_mode="same"), (1, 28, 28)).output_shape == (4, 28, 28)
    assert _built(Conv2D(4, 2, 2, border_mode="same"), (1, 9, 8)).output_shape == (4, 9, 8)
    assert _built(Conv2D(4, 3, 3, border_mode="same", strides=2), (1, 9, 8)).output_shape == (
        4,
        5,
        4,
    )
    assert _built(Conv2D(4, 5, 5, border_mode="full"), (1, 8, 8)).output_shape == (4, 12, 12)
    assert _built(Conv2D(4, 5, 5, border_mode=(2, 2)), (1, 28, 28)).output_shape == (4, 28, 28)


@pytest.mark.parametrize("mode, strides, kernel, in_shape, pads", GEOMETRIES, ids=IDS)
def test_conv2d_gradients(mode, strides, kernel, in_shape, pads):
    b = np.array([0.3, -0.2, 0.1])
    layer = Conv2D(3, *kernel, act="tanh", border_mode=mode, strides=strides, b_init=b)
    check_layer_gradients(layer, in_shape, batch=2)


@pytest.mark.parametrize("act", ["linear", "relu", "sigmoid"])
def test_conv2d_gradients_batch_one_and_preactivation(act):
    b = np.array([0.2, -0.1])
    check_layer_gradients(Conv2D(2, 3, 2, act=act, b_init=b), (3, 5, 4), batch=1)
    check_layer_gradients(
        Conv2D(2, 3, 3, act=act, border_mode="same", b_init=b), (1, 5, 5), preactivation=True
    )


def test_conv2d_backward_matches_the_reference_and_skips_what_is_not_needed():
    layer = _built(Conv2D(3, 3, 3, border_mode=(1, 1), strides=2), (2, 7, 6), np.float64)
    x, dy = _x((2, 2, 7, 6), np.float64), _x((2, 3, 4, 3), np.float64, seed=3)
    layer.forward(x, training=True)
    dx = layer.backward(dy).copy()
    rdx, rdW, rdb = ref.conv2d_backward(x, layer.W_, dy, (2, 2), (1, 1, 1, 1))
    np.testing.assert_allclose(dx, rdx, rtol=1e-10)
    np.testing.assert_allclose(layer.grads["W"], rdW, rtol=1e-10)
    np.testing.assert_allclose(layer.grads["b"], rdb, rtol=1e-10)
    layer.needs_input_grad = False
    layer.forward(x, training=True)
    assert layer.backward(dy) is None
    np.testing.assert_allclose(layer.grads["W"], rdW, rtol=1e-10)


@pytest.mark.parametrize("keep", [["W"], ["b"]])
def test_conv2d_frozen_params_keep_their_grads_untouched(keep):
    layer = _built(Conv2D(2, 2, 2, trainable_params=keep), (1, 4, 4), np.float64)
    assert layer.trainable == keep
    frozen = ({"W", "b"} - set(keep)).pop()
    layer.grads[frozen][...] = 7.0
    layer.forward(_x((2, 1, 4, 4), np.float64), training=True)
    dy = _x((2, 2, 3, 3), np.float64, seed=3)
    layer.backward(dy)
    np.testing.assert_array_equal(layer.grads[frozen], 7.0)
    if keep == ["b"]:
        np.testing.assert_allclose(layer.grads["b"], dy.sum(axis=(0, 2, 3)))


@pytest.mark.parametrize(
    "mode, strides, padding",
    [("valid", 1, 0), ((2, 2), 1, 2), ((1, 0), 2, (1, 0)), ("same", 1, 1)],
)
def test_conv2d_matches_torch(mode, strides, padding):
    torch = _torch()
    x, W, b = _x((3, 4, 9, 8)), _x((5, 4, 3, 3), seed=2) * 0.3, _x((5,), seed=3)
    layer = _built(
        Conv2D(5, 3, 3, border_mode=mode, strides=strides, W_init=W, b_init=b), x.shape[1:]
    )
    tx = torch.tensor(x, requires_grad=True)
    tW, tb = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tW, tb, stride=strides, padding=padding)
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    dy = _x(y.shape, seed=4)
    ty.backward(torch.tensor(dy))
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.grads["W"], tW.grad.numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(layer.grads["b"], tb.grad.numpy(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "k, mode, act", [(5, (2, 2), "relu"), (3, "valid", "linear"), (3, (1, 1), "relu")]
)
def test_one_channel_first_conv_matches_torch(k, mode, act):
    """One input channel and no input gradient (a model's first layer): the forward and the
    weights' gradient read the image directly (hat/kernels/conv_direct.py) where numba runs,
    and match PyTorch's either way."""
    torch = _torch()
    x, W, b = _x((4, 1, 28, 28)), _x((16, 1, k, k), seed=2) * 0.3, _x((16,), seed=3)
    layer = _built(Conv2D(16, k, k, act=act, border_mode=mode, W_init=W, b_init=b), (1, 28, 28))
    layer.needs_input_grad = False
    tW, tb = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    pad = 0 if mode == "valid" else mode[0]
    ty = torch.nn.functional.conv2d(torch.tensor(x), tW, tb, padding=pad)
    if act == "relu":
        ty = torch.relu(ty)
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    dy = _x(y.shape, seed=4)
    ty.backward(torch.tensor(dy))
    assert layer.backward(dy) is None
    np.testing.assert_allclose(layer.grads["W"], tW.grad.numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(layer.grads["b"], tb.grad.numpy(), rtol=1e-5, atol=1e-4)


def test_conv2d_params_and_properties():
    layer = _built(Conv2D(6, 5, 3), (2, 9, 9))
    assert layer.W_.shape == (6, 2, 5, 3) and layer.b_.shape == (6,)
    assert layer.W_.dtype == np.float32 and not layer.b_.any()
    assert layer.count_params() == 6 * 2 * 5 * 3 + 6
    assert Convolution2D is Conv2D and Layer.registry["Conv2D"] is Conv2D
    from hat.layers import cnn, conv

    assert cnn.Convolution2D is conv.Conv2D and cnn.ZeroPadding2D is ZeroPadding2D


CONFIGURED = [
    Conv2D(4, 3, 3),
    Conv2D(
        8,
        5,
        3,
        act="relu",
        init_type="he_normal",
        border_mode=(2, 1),
        strides=(2, 1),
        W_reg=regularizations.L2(0.1),
        trainable_params=["W"],
        name="c",
    ),
    Conv2D(2, 2, 2, border_mode="same", strides=3),
    ZeroPadding2D((1, 2), name="zp"),
]


@pytest.mark.parametrize("layer", CONFIGURED, ids=repr)
def test_get_config_round_trip_also_through_json(layer):
    config = layer.get_config()
    rebuilt = type(layer)(**config)
    assert rebuilt.get_config() == config
    from_json = type(layer)(**json.loads(json.dumps(config)))  # tuples come back as lists
    assert from_json.get_config() == config


def _model(*layers, in_shape=(1, 8, 8)):
    seq = Sequential()
    seq.add(InputLayer(in_shape))
    for layer in layers:
        seq.add(layer)
    return seq.combine(seed=0)


def test_conv2d_on_a_2d_input_fails_at_combine_naming_the_shape():
    with pytest.raises(ValueError) as err:
        _model(Conv2D(4, 3, 3), in_shape=784)
    message = str(err.value)
    assert "Conv2D expects a 4-D input (batch, channels, height, width)" in message
    assert "(None, 784)" in message


@pytest.mark.parametrize(
    "layer, in_shape",
    [
        (Conv2D(4, 5, 5), (1, 4, 8)),
        (Conv2D(4, 1, 9, border_mode=(0, 0)), (1, 8, 8)),
        (Conv2D(4, 3, 3, strides=2), (1, 2, 2)),
    ],
)
def test_kernel_larger_than_the_padded_input_fails_at_combine(layer, in_shape):
    with pytest.raises(ValueError, match="larger than its padded input") as err:
        _model(layer, in_shape=in_shape)
    assert str((None,) + in_shape) in str(err.value)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_outfmaps=0, n_row=3, n_col=3), "n_outfmaps"),
        (dict(n_outfmaps=4, n_row=-1, n_col=3), "n_row"),
        (dict(n_outfmaps=4, n_row=3, n_col=0), "n_col"),
        (dict(n_outfmaps=4, n_row=3, n_col=3, strides=0), "strides"),
        (dict(n_outfmaps=4, n_row=3, n_col=3, strides=(1, 2, 3)), "strides"),
        (dict(n_outfmaps=4, n_row=3, n_col=3, border_mode="half"), "border_mode"),
        (dict(n_outfmaps=4, n_row=3, n_col=3, border_mode=(-1, 0)), "border_mode"),
        (dict(n_outfmaps=4, n_row=3, n_col=3, trainable_params=["W", "gamma"]), "trainable"),
    ],
)
def test_conv2d_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Conv2D(**kwargs)


# -- ZeroPadding2D ------------------------------------------------------------------------------


def test_zero_padding_forward_backward_and_hat_argument_order():
    layer = _built(ZeroPadding2D(padding=(1, 2)), (2, 3, 4), np.float64)
    assert layer.output_shape == (2, 5, 8)
    x = _x((2, 2, 3, 4), np.float64)
    np.testing.assert_array_equal(layer.forward(x, True), ref.pad2d(x, 1, 1, 2, 2))
    check_layer_gradients(ZeroPadding2D((2, 1)), (2, 3, 4), batch=2)
    assert ZeroPadding2D(name="zp", padding=(1, 1)).name == "zp"
    hat_order = ZeroPadding2D("zp", (3, 1))
    assert hat_order.name == "zp" and hat_order.padding == (3, 1)
    with pytest.raises(ValueError, match="padding"):
        ZeroPadding2D((-1, 0))
    with pytest.raises(ValueError, match="4-D input"):
        _model(ZeroPadding2D(), in_shape=10)


# -- end to end ---------------------------------------------------------------------------------


def _cnn(dtype):
    seq = Sequential()
    seq.add(InputLayer((1, 8, 8)))
    seq.add(Conv2D(4, 3, 3, border_mode="same"))
    seq.add(BN())
    seq.add(MaxPool2D())
    seq.add(Flatten())
    seq.add(Dense(3, act="softmax"))
    return seq.combine(seed=3, dtype=dtype)


def _data():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    x = rng.standard_normal((60, 1, 8, 8)) * 0.3
    for k in range(3):  # each class lights a different corner
        x[labels == k, 0, 4 * (k % 2) : 4 * (k % 2) + 4, 4 * (k // 2) : 4 * (k // 2) + 4] += 1.0
    return x, np.eye(3)[labels]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_cnn_trains_and_repeats_bit_for_bit(dtype):
    from hat.optimizers import Adam

    x, y = _data()
    runs = []
    for _ in range(2):
        md = _cnn(dtype)
        history = md.fit(
            x, y, batch_size=20, n_epochs=4, optimizer=Adam(0.01), verbose=0, shuffle=True
        )
        runs.append((history.history["loss"], md.get_weights(), md.predict(x)))
    losses = runs[0][0]
    assert losses[-1] < 0.6 * losses[0]
    assert runs[0][2].dtype == dtype
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1], runs[1][1], strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(runs[0][2], runs[1][2])
