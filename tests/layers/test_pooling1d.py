"""hat.layers.pooling1d: windowed and global time poolings against the references, finite
differences (inputs without ties), masks both ways ([x, mask] and mask=), PyTorch parity,
Hat's names and paths, configs, errors, and the sequence layers composed in a Sequential."""

import functools

import numpy as np
import pytest

from hat import layers as L
from hat.layers import pool as hat_pool
from hat.models import Sequential
from tests.helpers import reference_seq as rs
from tests.helpers.gradcheck import check_layer_gradients
from tests.helpers.optional import require

MASK = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 0, 0]], dtype=float)


def _built(layer, input_shape, dtype=np.float64):
    layer.setup(input_shape, np.random.default_rng(0), dtype)
    return layer


def _distinct(shape, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) / 5.0 - 4.0).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k, stride", [(2, None), (3, 1), (3, 2), (1, 1)])
def test_windowed_pools_against_reference(k, stride, dtype):
    x = _distinct((2, 9, 3), dtype)
    for cls, mode in ((L.MaxPool1D, "max"), (L.AvgPool1D, "avg")):
        layer = _built(cls(k, stride), (9, 3), dtype)
        y = layer.forward(x, training=True)
        expected = rs.pool1d_forward(x, k, stride or k, mode)
        assert y.shape == (2,) + layer.output_shape == expected.shape and y.dtype == dtype
        np.testing.assert_allclose(y, expected, rtol=1e-6)


@pytest.mark.parametrize("k, stride", [(2, None), (3, 2), (2, 1)])
def test_windowed_pool_gradients(k, stride):
    x = _distinct((2, 7, 3))
    check_layer_gradients(L.MaxPool1D(k, stride), (7, 3), x=x)
    check_layer_gradients(L.AvgPool1D(k, stride), (7, 3), x=x)


def test_parity_with_torch_pool1d():
    torch = require("torch")
    x = _distinct((4, 15, 5), np.float32, seed=3)
    g = np.random.default_rng(4).standard_normal((4, 7, 5)).astype(np.float32)
    for layer, ref in (
        (L.MaxPooling1D(3, 2), torch.nn.MaxPool1d(3, 2)),
        (L.AveragePooling1D(3, 2), torch.nn.AvgPool1d(3, 2)),
    ):
        _built(layer, (15, 5), np.float32)
        xt = torch.from_numpy(x.transpose(0, 2, 1).copy()).requires_grad_()
        out = ref(xt)
        out.backward(torch.from_numpy(g.transpose(0, 2, 1).copy()))
        y = layer.forward(x, training=True)
        dx = layer.backward(g)
        np.testing.assert_allclose(y, out.detach().numpy().transpose(0, 2, 1), atol=1e-5)
        np.testing.assert_allclose(dx, xt.grad.numpy().transpose(0, 2, 1), atol=1e-5)


def test_windowed_pool_passes_the_mask_on():
    layer = _built(L.MaxPool1D(2), (6, 2))
    x = np.ones((3, 6, 2))
    layer.forward(x, training=True, mask=MASK)
    expected = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(layer.compute_mask(x, MASK), expected)


@pytest.mark.parametrize("mask", [None, MASK, MASK.astype(bool)])
@pytest.mark.parametrize("cls, mode", [(L.GlobalAveragePooling1D, "mean"),
                                       (L.GlobalMaxPooling1D, "max")])  # fmt: skip
def test_time_pools_against_reference(cls, mode, mask):
    x = _distinct((3, 6, 4))
    layer = _built(cls(), (6, 4))
    y = layer.forward(x, training=True, mask=mask)
    np.testing.assert_allclose(y, rs.time_pool(x, mask, mode), rtol=1e-12)
    assert layer.output_shape == (4,) and layer.compute_mask(x, mask) is None


@pytest.mark.parametrize("cls", [L.GlobalAveragePooling1D, L.GlobalMaxPooling1D])
@pytest.mark.parametrize("mask", [None, MASK])
def test_time_pool_gradients(cls, mask):
    layer = cls()
    if mask is not None:  # the model passes the mask as a keyword
        layer.forward = functools.partial(type(layer).forward, layer, mask=mask)
    grads = check_layer_gradients(layer, (6, 4), x=_distinct((3, 6, 4)))
    if mask is not None:
        np.testing.assert_array_equal(grads["x"][MASK == 0], 0.0)


def test_a_sample_without_real_steps_gives_zeros():
    x = _distinct((2, 4, 3))
    mask = np.array([[0, 0, 0, 0], [1, 0, 1, 0]])
    for cls in (L.GlobalAveragePooling1D, L.GlobalMaxPooling1D):
        layer = _built(cls(), (4, 3))
        y = layer.forward(x, training=True, mask=mask)
        np.testing.assert_array_equal(y[0], 0.0)
        dx = layer.backward(np.ones((2, 3)))
        np.testing.assert_array_equal(dx[0], 0.0)


def test_global_max_propagates_nan():
    x = np.zeros((1, 3, 2))
    x[0, 1, 0] = np.nan
    x[0, 2, 0] = 5.0
    y = _built(L.GlobalMaxPooling1D(), (3, 2)).forward(x, training=False)
    assert np.isnan(y[0, 0]) and y[0, 1] == 0.0


def test_hat_mean_time_pool_takes_x_and_mask_as_two_inputs():
    layer = hat_pool.GlobalMeanTimePool(masking=True)
    assert layer.n_inputs == 2
    layer.setup([(6, 4), (6,)], np.random.default_rng(0), np.float64)
    x = _distinct((3, 6, 4))
    y = layer.forward([x, MASK], training=True)
    np.testing.assert_allclose(y, rs.time_pool(x, MASK, "mean"), rtol=1e-12)
    g = np.random.default_rng(1).standard_normal((3, 4))
    dx, dmask = layer.backward(g)
    assert dmask is None
    expected = MASK[:, :, None] * g[:, None, :] / MASK.sum(axis=1)[:, None, None]
    np.testing.assert_allclose(dx, expected, rtol=1e-12)
    with pytest.raises(ValueError, match=r"mask input must be \(batch, time\)"):
        hat_pool.GlobalMeanTimePool(masking=True).setup([(6, 4), (5,)], None)


def test_hat_mean_time_pool_single_input_counts_all_zero_steps_as_padding():
    x = _distinct((3, 6, 4)) + 10.0  # no zero features
    x[MASK == 0] = 0.0
    layer = _built(hat_pool.GlobalMeanTimePool(masking=True), (6, 4))
    np.testing.assert_allclose(
        layer.forward(x, training=True), rs.time_pool(x, MASK, "mean"), rtol=1e-12
    )
    plain = _built(hat_pool.GlobalMeanTimePool(), (6, 4))
    np.testing.assert_allclose(plain.forward(x, training=True), x.mean(axis=1), rtol=1e-12)


def test_bad_masks_and_inputs():
    layer = _built(L.GlobalAveragePooling1D(), (6, 4))
    x = np.zeros((3, 6, 4))
    with pytest.raises(ValueError, match=r"mask of shape \(3, 5\).*input of shape \(3, 6, 4\)"):
        layer.forward(x, training=True, mask=MASK[:, :5])
    with pytest.raises(TypeError, match="mask of dtype <U1"):
        layer.forward(x, training=True, mask=np.full((3, 6), "a"))
    with pytest.raises(ValueError, match="takes \\[x, mask\\]"):
        layer.forward([x, MASK, MASK], training=True)
    with pytest.raises(ValueError, match=r"3-D input.*\(None, 6\)"):
        L.GlobalMaxPooling1D().setup((6,), None)
    with pytest.raises(ValueError, match="pool_size 7 is longer"):
        L.MaxPool1D(7).setup((6, 2), None)
    with pytest.raises(ValueError, match="axis=1; got axis=2"):
        L.GlobalMaxPool(axis=2)


def test_hat_names_paths_and_configs():
    assert hat_pool.MaxPool1D is L.MaxPool1D is L.MaxPooling1D
    assert L.GlobalMaxPool1D is L.GlobalMaxPooling1D
    hat_style = hat_pool.MaxPool1D(len_pool=3)
    assert hat_style.pool_size == hat_style.strides == 3
    assert hat_pool.MaxPool1D("p1", len_pool=2).name == "p1"
    for layer in (
        L.MaxPool1D(3, 2, name="m"),
        L.AvgPool1D(2),
        L.GlobalMeanTimePool(name="g", masking=True),
        L.GlobalMaxPool(axis=1),
        L.GlobalAveragePooling1D(),
    ):
        config = layer.get_config()
        assert type(layer)(**config).get_config() == config


def test_sequence_layers_compose_and_learn_in_a_sequential_model():
    from hat.optimizers import Adam

    rng = np.random.default_rng(6)
    x = rng.integers(1, 20, (96, 16))
    # Class 1: the bigram (3, 4) occurs somewhere: a job for a width-2 filter and a max.
    at = rng.integers(0, 15, 48)
    x[np.arange(48), at], x[np.arange(48), at + 1] = 3, 4
    y = np.zeros(96, np.int64)
    y[:48] = 1
    y[48:] = [int(any(r[i] == 3 and r[i + 1] == 4 for i in range(15))) for r in x[48:]]
    seq = Sequential()
    seq.add(L.InputLayer(16))
    seq.add(L.Embedding(20, 8, init_type="glorot_uniform"))
    seq.add(L.Conv1D(16, 2, act="relu", border_mode="same"))
    seq.add(L.MaxPool1D(2))
    seq.add(L.GlobalMaxPooling1D())
    seq.add(L.Dense(2, act="softmax"))
    md = seq.combine(seed=1)
    assert md.output_shape == (2,)
    loss = "sparse_categorical_crossentropy"
    md.fit(x=x.astype(np.float32), y=y, batch_size=16, n_epochs=25, loss_func=loss,
           optimizer=Adam(1e-2), verbose=0)  # fmt: skip
    assert np.mean(md.predict(x).argmax(1) == y) >= 0.95
