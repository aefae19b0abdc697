"""hat.layers.pooling: forward against the references, backward by finite differences (inputs
without ties), the first-maximum rule on ties, PyTorch parity, configs and errors."""

import json

import numpy as np
import pytest

from hat.layers import (
    AveragePooling2D,
    AvgPool2D,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    InputLayer,
    MaxPool2D,
    MaxPooling2D,
    Pool2D,
)
from hat.models import Sequential
from tests.helpers import reference as ref
from tests.helpers.gradcheck import check_layer_gradients
from tests.helpers.optional import require

CASES = [((2, 2), None), ((3, 3), (2, 2)), ((2, 3), (1, 2)), ((3, 1), None)]


def _torch():
    return require("torch")


def _built(layer, input_shape, dtype=np.float32):
    layer.setup(tuple(input_shape), np.random.default_rng(0), dtype)
    return layer


def _distinct(shape, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) / 5.0 - 4.0).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pool, strides", CASES)
def test_maxpool_and_avgpool_forward_against_reference(pool, strides, dtype):
    x = _distinct((2, 3, 7, 6), dtype)
    stride = strides or pool
    for cls, expected in (
        (MaxPool2D, ref.maxpool2d_forward(x, pool, stride)),
        (AvgPool2D, ref.avgpool2d_forward(x, pool, stride)),
    ):
        layer = _built(cls(pool, strides), x.shape[1:], dtype)
        y = layer.forward(x, training=True)
        assert y.shape == (2,) + layer.output_shape == expected.shape and y.dtype == dtype
        np.testing.assert_allclose(y, expected, rtol=1e-6)


@pytest.mark.parametrize("pool, strides", CASES)
@pytest.mark.parametrize("batch", [1, 2])
def test_pooling_gradients(pool, strides, batch):
    x = _distinct((batch, 2, 7, 5))  # no ties: finite differences see one maximum per window
    check_layer_gradients(MaxPool2D(pool, strides), (2, 7, 5), x=x)
    check_layer_gradients(AvgPool2D(pool, strides), (2, 7, 5), batch=batch)


def test_max_pool_with_tied_windows_sends_each_gradient_to_the_first_maximum():
    layer = _built(MaxPool2D(), (1, 4, 6))
    x = np.zeros((1, 1, 4, 6), np.float32)  # flat background: every window tied
    x[0, 0, 0, 3] = x[0, 0, 1, 2] = 1.0  # a tie of two ones: the first in row-major order wins
    x[0, 0, 2:, 4:] = 2.0  # a window of four equal maxima
    layer.forward(x, training=True)
    dx = layer.backward(np.ones((1, 1, 2, 3), np.float32))
    expected = np.zeros_like(x)
    for r, c in [(0, 0), (0, 3), (0, 4), (2, 0), (2, 2), (2, 4)]:
        expected[0, 0, r, c] = 1.0
    np.testing.assert_array_equal(dx, expected)
    assert dx.sum() == 6  # never split: each window's gradient lands once, whole


def test_pooling_matches_torch():
    torch = _torch()
    x = _distinct((2, 3, 9, 8), np.float32)
    dy = np.random.default_rng(1).standard_normal((2, 3, 4, 3)).astype(np.float32)
    for cls, fn in (
        (MaxPool2D, torch.nn.functional.max_pool2d),
        (AvgPool2D, torch.nn.functional.avg_pool2d),
    ):
        layer = _built(cls((3, 2), (2, 3)), x.shape[1:])
        tx = torch.tensor(x, requires_grad=True)
        ty = fn(tx, (3, 2), (2, 3))
        np.testing.assert_allclose(layer.forward(x, True), ty.detach().numpy(), rtol=1e-6)
        ty.backward(torch.tensor(dy))
        np.testing.assert_allclose(layer.backward(dy), tx.grad.numpy(), rtol=1e-6, atol=1e-7)
    # Ties, as on MNIST's background: torch also picks the first maximum.
    tied = np.round(np.random.default_rng(2).random((2, 3, 8, 8)) * 2).astype(np.float32)
    layer = _built(MaxPool2D(), tied.shape[1:])
    tx = torch.tensor(tied, requires_grad=True)
    torch.nn.functional.max_pool2d(tx, 2).sum().backward()
    layer.forward(tied, True)
    np.testing.assert_array_equal(layer.backward(np.ones((2, 3, 4, 4), np.float32)), tx.grad)


def test_global_avg_pool():
    layer = _built(GlobalAvgPool2D(), (3, 4, 5), np.float64)
    assert layer.output_shape == (3,)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(layer.forward(x, True), x.mean(axis=(2, 3)), rtol=1e-12)
    check_layer_gradients(GlobalAvgPool2D(), (3, 4, 5), batch=2)


def test_pool2d_hat_layer_and_aliases():
    x = _distinct((1, 2, 4, 4))
    for mode, expected in (("max", ref.maxpool2d_forward(x)), ("avg", ref.avgpool2d_forward(x))):
        layer = _built(Pool2D((2, 2), pool_mode=mode), (2, 4, 4), np.float64)
        np.testing.assert_allclose(layer.forward(x, True), expected)
    assert MaxPooling2D is MaxPool2D and AveragePooling2D is AvgPool2D
    assert GlobalAveragePooling2D is GlobalAvgPool2D
    from hat.layers import pool

    assert pool.MaxPool2D is MaxPool2D and pool.Pool2D is Pool2D
    with pytest.raises(ValueError, match="pool_mode"):
        Pool2D(pool_mode="min")


@pytest.mark.parametrize(
    "layer",
    [MaxPool2D(), AvgPool2D((3, 2), strides=(1, 2), name="a"), Pool2D((2, 2), "avg"),
     GlobalAvgPool2D(name="g")],
    ids=repr,
)  # fmt: skip
def test_get_config_round_trip(layer):
    config = layer.get_config()
    assert type(layer)(**config).get_config() == config
    assert type(layer)(**json.loads(json.dumps(config))).get_config() == config


def _combine(layer, in_shape):
    seq = Sequential()
    seq.add(InputLayer(in_shape))
    seq.add(layer)
    return seq.combine(seed=0)


def test_pool_that_does_not_fit_fails_at_combine_naming_the_shape():
    with pytest.raises(ValueError, match=r"pool_size \(3, 3\) does not fit.*\(None, 1, 2, 8\)"):
        _combine(MaxPool2D((3, 3)), (1, 2, 8))
    with pytest.raises(ValueError, match=r"4-D input.*\(None, 784\)"):
        _combine(AvgPool2D(), 784)
    with pytest.raises(ValueError, match=r"4-D input.*\(None, 10\)"):
        _combine(GlobalAvgPool2D(), 10)


@pytest.mark.parametrize("kwargs", [dict(pool_size=0), dict(pool_size=(2, -1)), dict(strides=0)])
def test_pool_rejects_zero_and_negative_sizes(kwargs):
    with pytest.raises(ValueError, match="must be a positive int"):
        MaxPool2D(**kwargs)
