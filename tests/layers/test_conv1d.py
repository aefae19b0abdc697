"""hat.layers.conv1d: forward against the naive reference, float64 finite differences,
PyTorch parity, masks, Keras' names, configs and errors."""

import numpy as np
import pytest

from hat.layers import Conv1D, Convolution1D
from hat.layers.cnn import Convolution1D as HatPathConvolution1D
from tests.helpers import reference_seq as rs
from tests.helpers.gradcheck import check_layer_gradients
from tests.helpers.optional import require

# (len_filter, stride, border_mode)
CASES = [
    (3, 1, "valid"),
    (3, 2, "same"),
    (4, 1, "same"),
    (2, 3, "full"),
    (3, 1, "causal"),
    (1, 1, "valid"),
    (3, 2, (2, 1)),
]


def _built(layer, input_shape, dtype=np.float64, seed=0):
    layer.setup(tuple(input_shape), np.random.default_rng(seed), dtype)
    return layer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k, stride, mode", CASES)
def test_forward_against_reference(k, stride, mode, dtype):
    x = np.random.default_rng(1).standard_normal((2, 9, 3)).astype(dtype)
    layer = _built(Conv1D(4, k, act="tanh", border_mode=mode, stride=stride), (9, 3), dtype)
    layer.params["b"][:] = np.arange(4) / 10  # a bias that shows
    y = layer.forward(x, training=True)
    pads = rs.pads_1d(9, k, stride, mode)
    expected = rs.conv1d_forward(x, layer.W_, layer.b_, stride, pads, "tanh")
    assert y.shape == (2,) + layer.output_shape == expected.shape and y.dtype == dtype
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_same_padding_keeps_the_length():
    for t, stride in ((9, 1), (10, 1), (9, 2), (10, 3)):
        layer = _built(Conv1D(2, 4, border_mode="same", stride=stride), (t, 1))
        assert layer.output_shape == (-(-t // stride), 2)


@pytest.mark.parametrize("k, stride, mode", CASES)
def test_gradients(k, stride, mode):
    check_layer_gradients(Conv1D(3, k, act="tanh", border_mode=mode, stride=stride), (7, 2))


def test_gradients_with_preactivation_and_frozen_bias():
    check_layer_gradients(Conv1D(3, 2, act="sigmoid"), (5, 2), preactivation=True)
    grads = check_layer_gradients(Conv1D(3, 2, trainable_params=("W",)), (5, 2))
    assert not grads["b"].any()


def test_first_layer_skips_the_input_gradient():
    layer = _built(Conv1D(2, 3), (6, 2))
    layer.needs_input_grad = False
    layer.forward(np.ones((2, 6, 2)), training=True)
    assert layer.backward(np.ones((2, 4, 2))) is None and layer.grads["W"].any()


@pytest.mark.parametrize("k, stride, mode", [(3, 1, "valid"), (5, 2, "same"), (3, 2, (1, 1))])
def test_parity_with_torch_conv1d(k, stride, mode):
    torch = require("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 20, 6)).astype(np.float32)
    layer = _built(Conv1D(8, k, border_mode=mode, stride=stride), (20, 6), np.float32)
    layer.params["b"][:] = rng.standard_normal(8)
    before, after = rs.pads_1d(20, k, stride, mode)
    ref = torch.nn.Conv1d(6, 8, k, stride=stride)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(layer.W_.transpose(0, 2, 1).copy()))
        ref.bias.copy_(torch.from_numpy(layer.b_))
    xt = torch.from_numpy(x.transpose(0, 2, 1).copy()).requires_grad_()
    out = ref(torch.nn.functional.pad(xt, (before, after)))  # (N, F, T_out)
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(torch.from_numpy(g))
    y = layer.forward(x, training=True)
    dx = layer.backward(np.ascontiguousarray(g.transpose(0, 2, 1)))
    np.testing.assert_allclose(y, out.detach().numpy().transpose(0, 2, 1), atol=1e-5)
    np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 1), atol=1e-5)
    np.testing.assert_allclose(
        layer.grads["W"], ref.weight.grad.numpy().transpose(0, 2, 1), atol=1e-5
    )
    np.testing.assert_allclose(layer.grads["b"], ref.bias.grad.numpy(), atol=1e-5)


def test_mask_passes_as_the_windows_that_hold_a_real_step():
    layer = _built(Conv1D(2, 3, stride=2), (8, 1))
    mask = np.array([[1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0]])
    x = np.ones((2, 8, 1))
    layer.forward(x, training=False, mask=mask)  # accepted
    # windows [0:3], [2:5], [4:7]
    expected = np.array([[True, True, True], [True, False, False]])
    np.testing.assert_array_equal(layer.compute_mask(x, mask), expected)
    assert layer.compute_mask(x, None) is None
    with pytest.raises(ValueError, match=r"mask of shape \(2, 7\).*expected \(batch, time\)"):
        layer.forward(x, training=False, mask=mask[:, :7])


def test_keras_names_and_config_round_trip():
    layer = Conv1D(filters=5, kernel_size=(3,), padding="causal", strides=2, activation="relu")
    assert (layer.n_outfmaps, layer.len_filter, layer.border_mode, layer.stride) == (
        5,
        3,
        "causal",
        2,
    )
    assert layer.activation.name == "relu"
    config = layer.get_config()
    assert Conv1D(**config).get_config() == config
    hat_style = Convolution1D(16, 3, "relu", border_mode="valid", name="c1")
    assert HatPathConvolution1D is Conv1D and hat_style.get_config()["act"] == "relu"


def test_initializer_uses_keras_fans():
    layer = _built(Conv1D(64, 5), (40, 32), np.float64)
    limit = np.sqrt(6.0 / (5 * 32 + 5 * 64))
    W = layer.W_
    assert W.shape == (64, 5, 32) and np.abs(W).max() <= limit
    assert np.abs(W).max() > 0.95 * limit


def test_errors():
    with pytest.raises(ValueError, match=r"3-D input.*got shape \(None, 20\)"):
        Conv1D(4, 3).setup((20,), np.random.default_rng(0))
    with pytest.raises(ValueError, match="longer than its padded input of 4 steps"):
        Conv1D(4, 5).setup((4, 2), np.random.default_rng(0))
    with pytest.raises(ValueError, match="border_mode"):
        Conv1D(4, 3, border_mode="wrap")
    with pytest.raises(ValueError, match="disagree"):
        Conv1D(4, 3, filters=8)
    with pytest.raises(ValueError, match="stride"):
        Conv1D(4, 3, stride=0)


def test_hat_weights_map_by_flipping_both_kernel_axes():
    """Hat ran Theano's conv2d on (N, 1, T, C) with filters (F, 1, k, C): a true convolution,
    y[n, t, f] = sum_{j, c} x[n, t + j, c] W_hat[f, 0, k - 1 - j, C - 1 - c]."""
    rng = np.random.default_rng(5)
    x, W_hat = rng.standard_normal((2, 9, 3)), rng.standard_normal((4, 1, 3, 3))
    layer = _built(Conv1D(4, 3, W_init=W_hat[:, 0, ::-1, ::-1]), (9, 3))
    theano = np.zeros((2, 7, 4))
    for t in range(7):
        for j in range(3):
            for c in range(3):
                theano[:, t] += x[:, t + j, c, None] * W_hat[None, :, 0, 2 - j, 2 - c]
    np.testing.assert_allclose(layer.forward(x, training=False), theano, rtol=1e-12)
