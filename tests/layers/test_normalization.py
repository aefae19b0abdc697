"""hat.layers.normalization: BatchNorm against the formulas and PyTorch, finite differences,
running statistics, the frozen layer, configs and errors."""

import json

import numpy as np
import pytest

from hat.layers import BN, BatchNorm, Dense, InputLayer
from hat.layers.base import Layer
from hat.models import Sequential
from tests.helpers import reference as ref
from tests.helpers.gradcheck import check_layer_gradients
from tests.helpers.optional import require

TOL = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _torch():
    return require("torch")


def _built(layer, input_shape, dtype=np.float32):
    layer.setup(tuple(input_shape), np.random.default_rng(0), dtype)
    return layer


def _x(shape, dtype=np.float32, seed=1):
    return (1.5 + 2 * np.random.default_rng(seed).standard_normal(shape)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "layer, in_shape, axes",
    [
        (BatchNorm(), (5,), (0,)),
        (BatchNorm(), (3, 4, 5), (0, 2, 3)),
        (BatchNorm(axes=0), (6,), (0,)),
        (BatchNorm(axes=(0, 2, 3)), (2, 3, 3), (0, 2, 3)),
        (BatchNorm(axis=(0, 1)), (3, 4), (0, 1)),
        (BatchNorm(axis=0), (2, 3, 3), (0,)),
        (BatchNorm(axis=(0, -2, -1)), (2, 3, 3), (0, 2, 3)),
    ],
    ids=lambda v: repr(v) if not isinstance(v, Layer) else v.get_config()["axis"].__repr__(),
)
def test_forward_in_training_and_inference(layer, in_shape, axes, dtype):
    rng = np.random.default_rng(3)
    _built(layer, in_shape, dtype)
    shape = layer.params["gamma"].shape
    gamma, beta = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    layer.params["gamma"][...], layer.params["beta"][...] = gamma, beta
    x = _x((4,) + in_shape, dtype)
    y = layer.forward(x, training=True)
    assert y.shape == x.shape and y.dtype == dtype
    np.testing.assert_allclose(y, ref.batchnorm_forward(x, gamma, beta, 1e-3, axes), **TOL[dtype])
    mean, var = layer.state["running_mean"].copy(), layer.state["running_var"].copy()
    y = layer.forward(x, training=False)
    expected = ref.batchnorm_forward(x, gamma, beta, 1e-3, axes, mean, var)
    np.testing.assert_allclose(y, expected, **TOL[dtype])
    np.testing.assert_array_equal(layer.state["running_mean"], mean)  # inference: no update


def test_running_statistics_follow_hat_momentum_with_the_unbiased_variance():
    layer = _built(BatchNorm(momentum=0.9), (3, 2, 2), np.float64)
    mean, var = np.zeros(3), np.ones(3)
    for step in range(3):
        x = _x((4, 3, 2, 2), np.float64, seed=step)
        layer.forward(x, training=True)
        mean = 0.9 * mean + 0.1 * x.mean(axis=(0, 2, 3))
        var = 0.9 * var + 0.1 * x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(layer.state["running_mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(layer.state["running_var"], var, rtol=1e-12)
    assert set(layer.state) == {"running_mean", "running_var"}
    assert set(layer.params) == {"gamma", "beta"} and layer.trainable == ["gamma", "beta"]


@pytest.mark.parametrize("in_shape", [(3, 4, 5), (6,)], ids=["conv", "dense"])
def test_batchnorm_matches_torch_over_several_steps(in_shape):
    torch = _torch()
    conv = len(in_shape) == 3
    c = in_shape[0]
    rng = np.random.default_rng(0)
    gamma, beta = (
        rng.standard_normal(c).astype(np.float32),
        rng.standard_normal(c).astype(np.float32),
    )
    layer = _built(BatchNorm(momentum=0.9, eps=1e-3, gamma_init=gamma, beta_init=beta), in_shape)
    tbn = (torch.nn.BatchNorm2d if conv else torch.nn.BatchNorm1d)(c, eps=1e-3, momentum=0.1)
    with torch.no_grad():
        tbn.weight.copy_(torch.tensor(gamma))
        tbn.bias.copy_(torch.tensor(beta))
    for step in range(4):
        x = _x((5,) + in_shape, seed=step)
        dy = _x((5,) + in_shape, seed=10 + step)
        tx = torch.tensor(x, requires_grad=True)
        tbn.weight.grad = tbn.bias.grad = None
        ty = tbn.train()(tx)
        ty.backward(torch.tensor(dy))
        np.testing.assert_allclose(
            layer.forward(x, True), ty.detach().numpy(), rtol=1e-5, atol=1e-5
        )
        np.testing.assert_allclose(layer.backward(dy), tx.grad.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            layer.grads["gamma"], tbn.weight.grad.numpy(), rtol=1e-5, atol=1e-4
        )
        np.testing.assert_allclose(layer.grads["beta"], tbn.bias.grad.numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(layer.state["running_mean"], tbn.running_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(layer.state["running_var"], tbn.running_var.numpy(), rtol=1e-5)
    x = _x((5,) + in_shape, seed=99)
    with torch.no_grad():
        expected = tbn.eval()(torch.tensor(x)).numpy()
    np.testing.assert_allclose(layer.forward(x, False), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "layer, in_shape, batch",
    [
        (BatchNorm(), (4,), 5),
        (BatchNorm(), (2, 3, 4), 3),
        (BatchNorm(), (3, 3, 2), 1),  # a conv batch of one has several values per channel
        (BatchNorm(axis=0), (2, 3, 2), 4),
        (BatchNorm(trainable_params=["beta"]), (4,), 3),
        (BatchNorm(trainable=False), (2, 3, 3), 2),
    ],
    ids=["dense", "conv", "conv-batch1", "axis0", "beta-only", "frozen"],
)
def test_batchnorm_gradients(layer, in_shape, batch):
    rng = np.random.default_rng(7)
    size = int(np.prod(in_shape)) if layer.axis == (0,) else in_shape[0]
    shape = in_shape if layer.axis == (0,) else (in_shape[0],)
    layer.inits["gamma"] = rng.standard_normal(size).reshape(shape)
    layer.inits["beta"] = rng.standard_normal(size).reshape(shape)
    layer.inits["running_var"] = rng.random(size).reshape(shape) + 0.5
    check_layer_gradients(layer, in_shape, batch=batch, rtol=1e-5, atol=1e-7)


def test_frozen_layer_keeps_its_statistics_and_runs_in_inference_mode():
    layer = _built(BatchNorm(trainable=False, running_mean_init=np.full(3, 0.5)), (3, 2, 2))
    assert layer.trainable == [] and set(layer.params) == {"gamma", "beta"}
    before = [v.copy() for v in (*layer.params.values(), *layer.state.values())]
    x = _x((4, 3, 2, 2))
    y_train = layer.forward(x, training=True).copy()
    layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(y_train, layer.forward(x, training=False))
    after = [*layer.params.values(), *layer.state.values()]
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    assert BatchNorm(trainable=False).get_config()["trainable"] is False


def _bn_model(**bn_kwargs):
    seq = Sequential()
    seq.add(InputLayer(4))
    seq.add(Dense(3))
    seq.add(BN(**bn_kwargs))
    seq.add(Dense(2, act="softmax"))
    return seq.combine(seed=0)


def test_predict_uses_the_running_statistics_and_fit_moves_them():
    md = _bn_model(momentum=0.5)
    bn = md.layers[2]
    x = _x((40, 4))
    y = np.eye(2)[np.arange(40) % 2]
    md.fit(x, y, batch_size=10, n_epochs=1, verbose=0)
    assert not np.allclose(bn.state["running_mean"], 0.0)
    mean, var = bn.state["running_mean"].copy(), bn.state["running_var"].copy()
    pred = md.predict(x[:3])
    np.testing.assert_array_equal(bn.state["running_mean"], mean)  # predict moves nothing
    h = md.layers[1].forward(x[:3], False).astype(np.float64)
    z = ref.batchnorm_forward(h, bn.params["gamma"], bn.params["beta"], 1e-3, (0,), mean, var)
    expected = ref.softmax(z @ md.layers[3].W_ + md.layers[3].b_)
    np.testing.assert_allclose(pred, expected, rtol=1e-5, atol=1e-6)


def test_frozen_batchnorm_in_a_model_has_no_trainable_params_and_keeps_its_statistics():
    md = _bn_model(trainable=False)
    bn = md.layers[2]
    state = [v.copy() for v in bn.state.values()]
    md.fit(_x((20, 4)), np.eye(2)[np.arange(20) % 2], batch_size=10, n_epochs=1, verbose=0)
    for a, b in zip(state, bn.state.values(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert md._flat_params.size == 4 * 3 + 3 + 3 * 2 + 2


def test_a_training_batch_of_one_raises_a_clear_error():
    layer = _built(BatchNorm(), (5,))
    with pytest.raises(ValueError, match="more than one value per channel"):
        layer.forward(_x((1, 5)), training=True)
    y = layer.forward(_x((1, 5)), training=False)  # inference is fine
    assert np.isfinite(y).all()


@pytest.mark.parametrize(
    "layer",
    [BatchNorm(), BN(axes=(0, 2, 3), momentum=0.9, eps=1e-5, name="bn"),
     BatchNorm(axis=0, trainable=False, trainable_params=["gamma"])],
    ids=repr,
)  # fmt: skip
def test_get_config_round_trip(layer):
    config = layer.get_config()
    assert type(layer)(**config).get_config() == config
    assert type(layer)(**json.loads(json.dumps(config))).get_config() == config
    assert BN is BatchNorm and Layer.registry["BatchNorm"] is BatchNorm


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(momentum=1.5), ValueError, "momentum"),
        (dict(eps=0), ValueError, "eps"),
        (dict(axis="0"), TypeError, "axis"),
        (dict(axis=0, axes=(0, 2, 3)), ValueError, "not both"),
        (dict(trainable_params=["W"]), ValueError, "trainable_params"),
        (dict(trainable="no"), TypeError, "trainable"),
    ],
)
def test_batchnorm_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        BatchNorm(**kwargs)


@pytest.mark.parametrize("axis", [(1,), (0, 2), (0, 1, 2, 3), (0, 5)])
def test_axes_that_do_not_fit_the_input_fail_at_combine(axis):
    seq = Sequential()
    seq.add(InputLayer((3, 4, 4)))
    seq.add(BatchNorm(axis=axis))
    with pytest.raises(ValueError, match=r"BatchNorm reduces over axes.*\(None, 3, 4, 4\)"):
        seq.combine(seed=0)
