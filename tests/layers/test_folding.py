"""BatchNorm folded into the Dense or Conv2D before it, and a 2x2 MaxPool2D into the Conv2D
before it, at inference: the same outputs as the separate layers (within float32 rounding, or
bit for bit), training untouched bit for bit, never stale."""

import numpy as np
import pytest

import hat.models
from hat import threads
from hat.layers.conv import Conv2D
from hat.layers.core import Activation, Dense, Flatten, InputLayer
from hat.layers.normalization import BatchNorm, fold_batchnorms
from hat.layers.pooling import AvgPool2D, MaxPool2D, fold_pools
from hat.models import Sequential
from hat.optimizers import Adam


def _model(in_channels=2, conv_act="linear", algorithm="auto"):
    seq = Sequential()
    for layer in (
        InputLayer((in_channels, 8, 8)),
        Conv2D(6, 3, 3, act=conv_act, border_mode="same", algorithm=algorithm),
        BatchNorm(momentum=0.5),
        Activation("relu"),
        MaxPool2D(),
        Flatten(),
        Dense(12, trainable_params=["W"]),
        BatchNorm(momentum=0.5),
        Activation("tanh"),
        Dense(3, act="softmax"),
    ):
        seq.add(layer)
    return seq.combine(seed=4)


def _data(in_channels=2):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, in_channels, 8, 8)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    return x, y


def _train(model, x, y, steps=4):
    opt = Adam(1e-2)  # running statistics move away from (0, 1) with momentum 0.5
    return [model.train_on_batch(x, y, "categorical_crossentropy", opt) for _ in range(steps)]


def test_fold_pairs_linear_layers_with_the_batchnorm_after_them():
    model = _model()
    conv, dense = model.layers[1], model.layers[6]
    assert conv.folded_batchnorm is model.layers[2]
    assert dense.folded_batchnorm is model.layers[7]
    assert model.layers[9].folded_batchnorm is None  # no BatchNorm after it
    assert model.layers[2].folded_into is conv and model.layers[2].inference_kernels() == []
    assert _model(conv_act="relu").layers[1].folded_batchnorm is None  # BN after an activation


def test_fold_leaves_a_batchnorm_over_other_axes_alone():
    model = Sequential([InputLayer((4, 5, 5)), Conv2D(4, 3, 3), BatchNorm(axis=(0, 1))]).combine(
        seed=0
    )
    assert model.layers[1].folded_batchnorm is None
    assert fold_batchnorms(model.nodes, model.out_nodes) == 0


def test_fold_leaves_an_output_read_twice_alone():
    """In a graph, a Dense whose output also feeds another layer keeps its own output."""
    from hat.graph import Input
    from hat.layers import Add
    from hat.models import Model

    x = Input(6)
    dense = Dense(6)
    h = dense(x)
    out = Dense(2, act="softmax")(Add()([BatchNorm()(h), h]))
    model = Model(inputs=[x], outputs=[out])
    assert dense.folded_batchnorm is None
    single = Input(6)
    dense2, bn2 = Dense(6), BatchNorm()
    chain = Model(inputs=[single], outputs=[Dense(2, act="softmax")(bn2(dense2(single)))])
    assert dense2.folded_batchnorm is bn2
    data = np.random.default_rng(1).standard_normal((8, 6)).astype(np.float32)
    assert np.isfinite(model.predict(data)).all() and np.isfinite(chain.predict(data)).all()


@pytest.mark.parametrize("in_channels, algorithm", [(2, "im2col"), (8, "winograd")])
def test_folded_predict_matches_the_separate_layers(monkeypatch, in_channels, algorithm):
    x, y = _data(in_channels)
    folded = _model(in_channels, algorithm=algorithm)
    losses = _train(folded, x, y)
    monkeypatch.setattr(hat.models, "fold_batchnorms", lambda *args: 0)
    apart = _model(in_channels, algorithm=algorithm)
    assert apart.layers[1].folded_batchnorm is None
    assert _train(apart, x, y) == losses, "training does not fold: the same bits"
    for one, two in zip(folded.get_weights(), apart.get_weights(), strict=True):
        assert np.array_equal(one, two)
    p_folded, p_apart = folded.predict(x), apart.predict(x)
    assert not np.array_equal(folded.layers[2].state["running_var"], np.ones(6, np.float32))
    np.testing.assert_allclose(p_folded, p_apart, rtol=1e-5, atol=1e-6)
    assert "no_xhat" not in folded.layers[2]._buffers, "the folded BatchNorm ran no kernel"
    assert "no_xhat" in apart.layers[2]._buffers


def test_folded_predict_sees_weights_set_in_place(monkeypatch):
    x, y = _data()
    folded = _model()
    _train(folded, x, y)
    folded.predict(x)
    weights = [w * np.float32(1.5) + np.float32(0.1) for w in folded.get_weights()]
    folded.set_weights(weights)
    monkeypatch.setattr(hat.models, "fold_batchnorms", lambda *args: 0)
    apart = _model()
    apart.set_weights(weights)
    np.testing.assert_allclose(folded.predict(x), apart.predict(x), rtol=1e-5, atol=1e-6)


def test_layers_called_on_their_own_do_not_fold():
    model = _model()
    dense, bn = model.layers[6], model.layers[7]
    x = np.random.default_rng(5).standard_normal((16, 96)).astype(np.float32)  # 6 x 4 x 4
    np.testing.assert_allclose(dense.forward(x, training=False), x @ dense.W_ + dense.b_, 1e-5)
    assert bn.forward(dense._y, training=False) is not dense._y


def test_a_batchnorm_called_on_another_array_still_normalizes():
    model = _model()
    conv, bn = model.layers[1], model.layers[2]
    x = _data()[0]
    with threads.single_threaded_blas():  # as inside a model's passes
        conv.forward(x, training=False)  # marks its output as normalized already
    other = np.ones((16, 6, 8, 8), np.float32)
    out = bn.forward(other, training=False)
    expected = (1.0 - 0.0) / np.sqrt(1.0 + bn.eps)  # running mean 0, var 1, gamma 1, beta 0
    np.testing.assert_allclose(out, expected, rtol=1e-6)


# -- MaxPool2D folded into the Conv2D before it (hat.layers.pooling.fold_pools) -------------


def test_fold_pools_pairs_a_conv_with_the_2x2_max_pool_it_feeds():
    model = _model()
    conv, pool = model.layers[1], model.layers[4]
    assert conv.folded_pool is pool and pool.folded_into is conv  # through BatchNorm + ReLU
    direct = Sequential([InputLayer((2, 8, 8)), Conv2D(4, 3, 3, act="relu"), MaxPool2D()])
    assert direct.combine(seed=0).layers[1].folded_pool is not None
    for pool_layer, conv_layer in [
        (AvgPool2D(), Conv2D(4, 3, 3, act="relu")),
        (MaxPool2D((3, 3)), Conv2D(4, 3, 3, act="relu")),
        (MaxPool2D(strides=(1, 1)), Conv2D(4, 3, 3, act="relu")),
        (MaxPool2D(), Conv2D(4, 3, 3, act="relu", strides=(2, 2))),
        (MaxPool2D(), Conv2D(4, 3, 3, act="softmax")),
    ]:
        seq = Sequential([InputLayer((2, 9, 9)), conv_layer, pool_layer, Flatten(), Dense(2)])
        assert seq.combine(seed=0).layers[1].folded_pool is None, (pool_layer, conv_layer)
    # An Activation of its own (no BatchNorm to fuse into) is a pass of its own: no fold.
    apart = Sequential([InputLayer((2, 8, 8)), Conv2D(4, 3, 3), Activation("relu"), MaxPool2D()])
    assert apart.combine(seed=0).layers[1].folded_pool is None
    assert fold_pools(model.nodes, model.out_nodes) == 1


def test_fold_pools_leaves_a_conv_output_read_elsewhere_alone():
    from hat.graph import Input
    from hat.models import Model

    x = Input((2, 8, 8))
    conv = Conv2D(4, 3, 3, act="relu")
    h = conv(x)
    model = Model(inputs=[x], outputs=[Flatten()(MaxPool2D()(h)), Flatten()(h)])
    assert conv.folded_pool is None
    pooled, full = model.predict(_data()[0])
    assert pooled.shape == (16, 36) and full.shape == (16, 144)


@pytest.mark.parametrize(
    "channels, algorithm, exact", [(8, "winograd", True), (2, "im2col", True), (1, "im2col", False)]
)
def test_folded_pool_predict_matches_the_separate_layers(monkeypatch, channels, algorithm, exact):
    """Bit for bit where both run hat's GEMM (Winograd; 2 x 3 x 3 = 18 column rows); within
    rounding for 9 column rows, which run on numpy's GEMM unfolded."""
    x, y = _data(channels)
    folded = _model(channels, algorithm=algorithm)
    losses = _train(folded, x, y)
    p_folded = folded.predict(x)
    assert "argmax_scratch" not in folded.layers[4]._buffers, "the folded pool ran no kernel"
    monkeypatch.setattr(hat.models, "fold_pools", lambda *args: 0)
    apart = _model(channels, algorithm=algorithm)
    assert apart.layers[1].folded_pool is None
    assert _train(apart, x, y) == losses, "training does not fold: the same bits"
    p_apart = apart.predict(x)
    assert "argmax_scratch" in apart.layers[4]._buffers
    if exact:
        np.testing.assert_array_equal(p_folded, p_apart)
    else:
        np.testing.assert_allclose(p_folded, p_apart, rtol=1e-5, atol=1e-6)
    assert _train(folded, x, y, 1) == _train(apart, x, y, 1), "training after a folded predict"


def test_backward_after_a_folded_inference_forward_says_to_train_first():
    model = _model()
    x, _ = _data()
    out = model.forward(x, training=False)
    with pytest.raises(RuntimeError, match=r"training=False.*run forward with training=True"):
        model.backward(np.ones_like(out))
    pool = model.layers[4]
    with pytest.raises(RuntimeError, match=r"folded into Conv2D_1 at inference"):
        pool.backward(np.ones((16, 6, 4, 4), np.float32))
    model.forward(x, training=True)
    model.backward(np.ones_like(out))  # fine after a training forward
    assert np.abs(model.layers[1].grads["W"]).sum() > 0


def test_a_conv_called_on_its_own_does_not_pool():
    model = _model(conv_act="relu")
    conv = model.layers[1]
    x = _data()[0]
    assert conv.forward(x, training=False).shape == (16, 6, 8, 8)


def _pooled_model(input_shape, conv, seed):
    """Input, the Conv2D that conv() makes, a 2x2 max pool, a softmax Dense."""
    seq = Sequential()
    for layer in (InputLayer(input_shape), conv(), MaxPool2D(), Flatten(), Dense(3, act="softmax")):
        seq.add(layer)
    return seq.combine(seed=seed)


def _assert_folded_pool_predicts_the_same_bits(monkeypatch, conv, x, seed):
    folded = _pooled_model(x.shape[1:], conv, seed)
    assert folded.layers[1].folded_pool is folded.layers[2]
    monkeypatch.setattr(hat.models, "fold_pools", lambda *args: 0)
    apart = _pooled_model(x.shape[1:], conv, seed)
    np.testing.assert_array_equal(folded.predict(x), apart.predict(x))


@pytest.mark.parametrize(
    "channels, algorithm, size", [(3, "im2col", 11), (8, "winograd", 11), (8, "winograd", 14)]
)
def test_folded_pool_on_odd_and_even_outputs_matches_bit_for_bit(
    monkeypatch, channels, algorithm, size
):
    """Valid 3x3 convolutions with their own ReLU: 9x9 or 12x12 outputs, the odd size's last
    row and column dropped by the pool (floor mode), as the separate layers drop them."""
    x = np.random.default_rng(3).standard_normal((7, channels, size, size)).astype(np.float32)
    conv = lambda: Conv2D(5, 3, 3, act="relu", algorithm=algorithm)  # noqa: E731
    _assert_folded_pool_predicts_the_same_bits(monkeypatch, conv, x, seed=2)


@pytest.mark.parametrize("size, padding", [(11, (0, 0)), (14, (2, 2)), (28, (2, 2))])
def test_one_channel_folded_pool_matches_the_separate_layers_bit_for_bit(
    monkeypatch, size, padding
):
    """One input channel, 5x5 (25 column rows: hat's GEMM unfolded): the folded pool reads
    the image directly (hat/kernels/conv_direct.py) and gives the separate layers' bits."""
    x = np.random.default_rng(5).standard_normal((9, 1, size, size)).astype(np.float32)
    conv = lambda: Conv2D(6, 5, 5, act="relu", border_mode=padding)  # noqa: E731
    _assert_folded_pool_predicts_the_same_bits(monkeypatch, conv, x, seed=4)
