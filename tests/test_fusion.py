"""Model-level fusion (BatchNorm + Activation) and inference without backward buffers: the same
bits as the plain way."""

import numpy as np
import pytest

from hat.layers.conv import Conv2D
from hat.layers.core import Activation, Dense, Flatten, InputLayer
from hat.layers.normalization import BatchNorm
from hat.layers.pooling import MaxPool2D
from hat.models import Model, Sequential
from hat.optimizers import Adam


def _cnn(act="relu"):
    seq = Sequential()
    for layer in (
        InputLayer((2, 8, 8)),
        Conv2D(6, 3, 3, border_mode="same"),
        BatchNorm(),
        Activation(act),
        MaxPool2D(),
        Flatten(),
        Dense(12),
        BatchNorm(),
        Activation(act),
        Dense(3, act="softmax"),
    ):
        seq.add(layer)
    return seq.combine(seed=4)


def _train(model, steps=3):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 2, 8, 8)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    opt = Adam(1e-2)
    losses = [model.train_on_batch(x, y, "categorical_crossentropy", opt) for _ in range(steps)]
    return losses, model.get_weights(), model.predict(x)


@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_fused_training_gives_the_same_bits_as_separate_layers(monkeypatch, act):
    fused = _cnn(act)
    assert [type(layer).__name__ for layer in fused.layers if getattr(layer, "fused", False)] == [
        "Activation",
        "Activation",
    ]
    monkeypatch.setattr(Model, "_fuse_activations", lambda self: None)
    apart = _cnn(act)
    assert not any(getattr(layer, "fused", False) for layer in apart.layers)
    got, want = _train(fused), _train(apart)
    assert got[0] == want[0]
    for a, b in zip(got[1] + [got[2]], want[1] + [want[2]], strict=True):
        np.testing.assert_array_equal(a, b)


def test_softmax_and_the_last_layer_are_not_fused():
    seq = Sequential()
    for layer in (
        InputLayer(5),
        Dense(4),
        BatchNorm(),
        Activation("softmax"),
        Dense(3),
        BatchNorm(),
        Activation("sigmoid"),
    ):
        seq.add(layer)
    model = seq.combine(seed=0)
    assert not any(getattr(layer, "fused", False) for layer in model.layers)
    assert all(getattr(layer, "fused_activation", None) is None for layer in model.layers)


def test_batchnorm_backward_after_an_inference_forward():
    """Inference keeps no xhat (memory); a backward after it (saliency, say) rebuilds it."""
    rng = np.random.default_rng(0)
    bn = BatchNorm()
    bn.setup((3, 4, 4), rng)
    bn.state["running_mean"][...] = rng.standard_normal(3).astype(np.float32)
    bn.state["running_var"][...] = 1 + rng.random(3).astype(np.float32)
    x = rng.standard_normal((5, 3, 4, 4)).astype(np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    bn.forward(x, training=True)  # frozen statistics are not used here; this keeps xhat
    bn.frozen = True
    bn.forward(x, training=True)
    expected = bn.backward(dy).copy()
    bn.forward(x, training=False)
    assert bn._xhat.size == 0
    np.testing.assert_array_equal(bn.backward(dy), expected)


def test_maxpool_backward_after_an_inference_forward():
    """Inference keeps no argmax (memory); a backward after it finds the maxima again."""
    rng = np.random.default_rng(1)
    pool = MaxPool2D()
    pool.setup((3, 6, 6), rng)
    x = rng.standard_normal((4, 3, 6, 6)).astype(np.float32)
    dy = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    pool.forward(x, training=True)
    expected = pool.backward(dy).copy()
    y = pool.forward(x, training=False).copy()
    assert pool._argmax.shape[0] < x.shape[0]
    np.testing.assert_array_equal(pool.backward(dy), expected)
    np.testing.assert_array_equal(pool.forward(x, training=False), y)
