"""Conv2D's Winograd path (algorithm='winograd', and what 'auto' picks) against the
references, finite differences, the im2col path and PyTorch."""

import numpy as np
import pytest

from hat.layers import Conv2D, Dense, Flatten, InputLayer, MaxPool2D
from hat.models import Sequential
from tests.helpers import reference as ref
from tests.helpers.gradcheck import check_layer_gradients
from tests.helpers.optional import require

# (border_mode, kernel size, input (C, H, W), batch): odd sizes, crops at the tile edges,
# images smaller than one tile, batch 1.
GEOMETRIES = [
    ("valid", 3, (2, 6, 7), 2),
    ("same", 5, (3, 7, 9), 2),
    ("full", 3, (1, 5, 4), 1),
    ((1, 2), 5, (2, 5, 6), 3),
    ("valid", 5, (2, 5, 5), 2),
    ("same", 3, (3, 13, 11), 2),
]
IDS = [f"{g[0]}-k{g[1]}-{g[2]}-b{g[3]}" for g in GEOMETRIES]


def _layer(k, mode, algorithm="winograd", **kw):
    return Conv2D(4, k, k, border_mode=mode, algorithm=algorithm, **kw)


def _built(layer, in_shape, dtype):
    layer.setup(in_shape, np.random.default_rng(0), dtype)
    return layer


def _x(shape, dtype=np.float64, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("mode, k, in_shape, batch", GEOMETRIES, ids=IDS)
def test_forward_and_backward_match_the_reference_in_float64(mode, k, in_shape, batch):
    layer = _built(_layer(k, mode, act="tanh", b_init=np.arange(4) * 0.1), in_shape, np.float64)
    assert layer._winograd is not None
    x = _x((batch,) + in_shape)
    z = ref.conv2d_forward(x, layer.W_, layer.b_, (1, 1), layer.pads)
    y = layer.forward(x, training=True)
    np.testing.assert_allclose(y, np.tanh(z), rtol=1e-10, atol=1e-12)
    dy = _x(y.shape, seed=2)
    dx = layer.backward(dy)
    rdx, rdW, rdb = ref.conv2d_backward(x, layer.W_, dy * (1 - y**2), (1, 1), layer.pads)
    np.testing.assert_allclose(dx, rdx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], rdW, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.grads["b"], rdb, rtol=1e-10, atol=1e-12)


SMALL = [("valid", 3, (2, 6, 7), 2), ("same", 5, (2, 5, 6), 2), ((1, 2), 5, (1, 4, 5), 1)]


@pytest.mark.parametrize("mode, k, in_shape, batch", SMALL, ids=[str(g) for g in SMALL])
def test_gradients_by_finite_differences(mode, k, in_shape, batch):
    layer = _layer(k, mode, act="sigmoid", b_init=np.array([0.3, -0.2, 0.1, 0.0]))
    check_layer_gradients(layer, in_shape, batch=batch)
    check_layer_gradients(_layer(k, mode), in_shape, batch=batch, preactivation=True)


@pytest.mark.parametrize(
    "k, mode, in_shape", [(5, "same", (16, 14, 14)), (3, "valid", (32, 13, 13))]
)
def test_float32_stays_within_rounding_of_im2col(k, mode, in_shape):
    """The CNN examples' shapes: Winograd's float32 results against im2col's, relative to the
    output's scale (the transforms add a few roundings, nothing more)."""
    x = _x((8,) + in_shape, np.float32)
    W = _x((4, in_shape[0], k, k), seed=3) * 0.1
    layers = [
        _built(_layer(k, mode, algorithm=a, act="relu", W_init=W), in_shape, np.float32)
        for a in ("winograd", "im2col")
    ]
    y_w, y_i = (layer.forward(x, training=True).copy() for layer in layers)
    _close_at_scale(y_w, y_i)
    dy = _x(y_i.shape, np.float32, seed=4) * (y_i > 0) * (y_w > 0)  # same mask in both
    dx_w, dx_i = (layer.backward(dy).copy() for layer in layers)
    _close_at_scale(dx_w, dx_i)
    _close_at_scale(*(layer.grads["W"] for layer in layers))


def test_backward_after_an_inference_forward_transforms_the_input_again():
    layer = _built(_layer(3, "same"), (3, 6, 6), np.float64)
    x, dy = _x((2, 3, 6, 6)), _x((2, 4, 6, 6), seed=2)
    layer.forward(x, training=True)
    expected = layer.backward(dy).copy(), layer.grads["W"].copy()
    layer.forward(x, training=False)
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, expected[0], rtol=1e-12)
    np.testing.assert_allclose(layer.grads["W"], expected[1], rtol=1e-12)


def _close_at_scale(actual, expected, rel=1e-5):
    """Errors measured against the array's scale: Winograd's float32 rounding is spread over
    each output (small entries get absolute errors of the large ones' size)."""
    assert np.abs(actual - expected).max() <= rel * np.abs(expected).max()


def test_matches_torch_to_1e_5_of_each_arrays_scale():
    torch = require("torch")
    x, W = _x((3, 8, 9, 8), np.float32), _x((5, 8, 5, 5), np.float32, 2) * 0.2
    b = _x((5,), np.float32, 3)
    layer = _built(
        Conv2D(5, 5, 5, border_mode=(2, 2), W_init=W, b_init=b, algorithm="winograd"),
        (8, 9, 8),
        np.float32,
    )
    tx = torch.tensor(x, requires_grad=True)
    tW, tb = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tW, tb, padding=2)
    y = layer.forward(x, training=True)
    _close_at_scale(y, ty.detach().numpy())
    dy = _x(y.shape, np.float32, seed=4)
    ty.backward(torch.tensor(dy))
    dx = layer.backward(dy)
    _close_at_scale(dx, tx.grad.numpy())
    _close_at_scale(layer.grads["W"], tW.grad.numpy())
    _close_at_scale(layer.grads["b"], tb.grad.numpy())


def test_auto_picks_winograd_only_where_it_applies_and_pays():
    def picks(in_shape, **kw):
        return _built(Conv2D(4, **kw), in_shape, np.float32)._winograd is not None

    assert picks((16, 14, 14), n_row=5, n_col=5, border_mode="same")
    assert picks((32, 13, 13), n_row=3, n_col=3)
    assert not picks((1, 28, 28), n_row=5, n_col=5), "one input channel: im2col"
    assert not picks((2, 28, 28), n_row=5, n_col=5)
    assert picks((3, 28, 28), n_row=5, n_col=5), "RGB 5x5: Winograd"
    assert not picks((7, 13, 13), n_row=3, n_col=3)
    assert picks((8, 13, 13), n_row=3, n_col=3)
    assert not picks((16, 14, 14), n_row=3, n_col=3, strides=2)
    assert not picks((16, 14, 14), n_row=3, n_col=5)
    assert not picks((16, 14, 14), n_row=7, n_col=7)
    assert not picks((16, 14, 14), n_row=3, n_col=3, algorithm="im2col")
    assert picks((1, 8, 8), n_row=3, n_col=3, algorithm="winograd")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(strides=2), r"stride 1 .*got strides \(2, 2\)"),
        (dict(n_col=2), r"got strides \(1, 1\) and a 3x2 kernel"),
    ],
)
def test_forcing_winograd_where_it_does_not_apply_fails_at_build(kwargs, match):
    layer = Conv2D(**{"n_outfmaps": 2, "n_row": 3, "n_col": 3, "algorithm": "winograd", **kwargs})
    with pytest.raises(ValueError, match=match):
        _built(layer, (2, 8, 8), np.float32)


def test_an_unknown_algorithm_is_refused_naming_it():
    with pytest.raises(ValueError, match="'fft'"):
        Conv2D(2, 3, 3, algorithm="fft")


def test_algorithm_is_in_the_config():
    layer = Conv2D(2, 3, 3, algorithm="im2col")
    assert Conv2D(**layer.get_config()).algorithm == "im2col"


def test_a_winograd_cnn_trains_and_repeats_bit_for_bit_on_any_pool(monkeypatch):
    from hat.optimizers import SGD

    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 1, 10, 10)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[(x[:, 0, :5].sum(axis=(1, 2)) > 0).astype(int)]
    runs = []
    for threads in ("1", "2", "2"):
        monkeypatch.setenv("HAT_NUM_THREADS", threads)
        md = Sequential()
        md.add(InputLayer((1, 10, 10)))
        md.add(Conv2D(8, 3, 3, act="relu", border_mode="same"))
        md.add(Conv2D(8, 5, 5, act="relu", border_mode="same"))
        md.add(MaxPool2D())
        md.add(Flatten())
        md.add(Dense(2, act="softmax"))
        md = md.combine(seed=3)
        assert md.layers[2]._winograd is not None
        hist = md.fit(x, y, batch_size=8, n_epochs=3, optimizer=SGD(0.05), verbose=0)
        runs.append((hist.history["loss"], md.get_weights()))
    assert runs[0][0][-1] < runs[0][0][0]
    for other in runs[1:]:
        assert other[0] == runs[0][0]
        for a, b in zip(other[1], runs[0][1], strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("k", [3, 5])
def test_weight_transforms_are_g_w_g_transposed_and_its_adjoint(k):
    from hat.kernels.winograd import transforms

    layer = _built(_layer(k, "same"), (3, 7, 7), np.float64)
    n = layer._winograd.n
    G, W = transforms(k)[1], layer.params["W"]
    U = layer._winograd.weights_to_tiles(layer, W)
    expected = np.einsum("ak,fckl,bl->abfc", G, W, G).reshape(n * n, 4, 3)
    np.testing.assert_allclose(U, expected, rtol=1e-12, atol=1e-12)
    dU = np.random.default_rng(5).standard_normal(U.shape)
    dW = np.empty_like(W)
    layer._winograd.tiles_to_weights(layer, dU, dW)
    np.testing.assert_allclose(np.sum(U * dU), np.sum(W * dW), rtol=1e-12)
