"""BatchNorm + elementwise Activation fused by the model: the same bits as run apart."""

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
