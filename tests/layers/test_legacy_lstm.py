"""LegacyLSTM, the original Hat's LSTM cell (h = o * c): its gradients, its refusals."""

import numpy as np
import pytest

from hat.layers.legacy_lstm import LegacyLSTM
from tests.helpers.gradcheck import check_layer_gradients, numeric_grad


def _layer(rng, **kwargs):
    """A float64 LegacyLSTM(3) on (4, 2) with weights large enough to reach the gates' bends."""
    shapes = {"W": (2, 12), "H": (3, 12), "b": (12,)}
    given = {f"{k}_init": rng.normal(0, 0.8, shape) for k, shape in shapes.items()}
    layer = LegacyLSTM(3, **given, **kwargs)
    layer.setup((4, 2), rng, np.float64)
    return layer


@pytest.mark.parametrize("return_sequence", [True, False])
@pytest.mark.parametrize(("act", "gate_act"), [("tanh", "sigmoid"), ("relu", "hard_sigmoid")])
def test_gradients(return_sequence, act, gate_act):
    layer = _layer(np.random.default_rng(4), act=act, gate_act=gate_act,
                   return_sequence=return_sequence)  # fmt: skip
    check_layer_gradients(layer, (4, 2), atol=1e-6)


@pytest.mark.parametrize("return_sequence", [True, False])
def test_gradients_with_hats_masking(return_sequence):
    """Off the masked steps (where the mask itself would move under a nudge of x)."""
    rng = np.random.default_rng(5)
    layer = _layer(rng, act="linear", masking=True, return_sequence=return_sequence)
    x = rng.standard_normal((3, 4, 2))
    x[0, 1] = x[2, 3] = 0  # a step in the middle, the last step
    g = rng.standard_normal((3,) + layer.output_shape)
    layer.forward(x, True)
    dx = layer.backward(g).copy()
    grads = {k: v.copy() for k, v in layer.grads.items()}

    def loss(_=None):
        return float(np.sum(layer.forward(x, True) * g))

    for key in "WHb":
        np.testing.assert_allclose(grads[key], numeric_grad(loss, layer.params[key]), atol=1e-6)
    real = np.any(x != 0, axis=2)
    np.testing.assert_allclose(dx[real], numeric_grad(loss, x)[real], atol=1e-6)


def test_masking_zeroes_the_steps_without_features():
    x = np.ones((2, 3, 2), np.float32)
    x[1, 1] = 0
    layer = LegacyLSTM(4, masking=True)
    layer.setup((3, 2), np.random.default_rng(0))
    y = layer.forward(x, False)
    assert np.all(y[1, 1] == 0) and np.all(y[0] != 0) and np.all(y[1, 2] != 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"act": "softmax"}, "act must be one of"),
        ({"gate_act": "zero"}, "gate_act must be one of"),
        ({"trainable_params": ["W", "U"]}, "trainable_params may hold"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LegacyLSTM(3, **kwargs)


def test_a_2d_input():
    layer = LegacyLSTM(3)
    with pytest.raises(ValueError, match="LegacyLSTM expects a 3-D input"):
        layer.setup((4,), np.random.default_rng(0))
    layer.setup((4, 2), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"expects \(batch, time >= 1, 2\); got shape \(3, 4\)"):
        layer.forward(np.zeros((3, 4)), False)
