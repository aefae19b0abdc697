"""The sequence layers inside models: a mask from Embedding(mask_zero=True) flows through
Conv1D and the poolings in a Sequential, Hat's [x, mask] GlobalMeanTimePool in a graph model,
and whole-model float64 gradients of a text model."""

import numpy as np

from hat import layers as L
from hat.graph import Input
from hat.models import Model, Sequential
from tests.helpers.model_gradcheck import model_gradient_error

RNG = np.random.default_rng(0)
LENGTHS = RNG.integers(1, 7, 12)
MASK = (np.arange(6)[None] < LENGTHS[:, None]).astype(np.float64)
IDS = np.where(MASK > 0, RNG.integers(1, 20, (12, 6)), 0).astype(np.float64)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sequential(*layers, dtype=np.float32):
    seq = Sequential()
    for layer in layers:
        seq.add(layer)
    return seq.combine(seed=0, dtype=dtype)


def test_embedding_mask_reaches_the_time_pooling_in_a_sequential():
    md = _sequential(L.InputLayer(6), L.Embedding(20, 4, mask_zero=True),
                     L.GlobalAveragePooling1D(), L.Dense(3, act="softmax"))  # fmt: skip
    W = md.layers[1].W_
    means = np.stack([W[row[row > 0].astype(int)].mean(axis=0) for row in IDS])
    dense = md.layers[3]
    expected = _softmax(means @ dense.W_ + dense.b_)
    np.testing.assert_allclose(md.predict(IDS), expected, rtol=1e-5)
    unmasked = _sequential(L.InputLayer(6), L.Embedding(20, 4),
                           L.GlobalAveragePooling1D(), L.Dense(3, act="softmax"))  # fmt: skip
    assert not np.allclose(unmasked.predict(IDS), expected, rtol=1e-3)


def test_mask_passes_through_conv1d_and_maxpool1d_to_the_global_max():
    md = _sequential(L.InputLayer(6), L.Embedding(20, 4, mask_zero=True),
                     L.Conv1D(5, 2, border_mode="same"), L.MaxPool1D(2),
                     L.GlobalMaxPooling1D())  # fmt: skip
    conv = md.layers[2]
    z = md.layers[1].W_[IDS.astype(int)]  # (12, 6, 4)
    zp = np.concatenate([z, np.zeros((12, 1, 4))], axis=1)  # 'same', k = 2: one step after
    y = np.einsum("ntkc,fkc->ntf", np.stack([zp[:, :-1], zp[:, 1:]], axis=2), conv.W_) + conv.b_
    pooled = np.maximum(y[:, 0::2], y[:, 1::2])  # (12, 3, 5)
    real = MASK.reshape(12, 3, 2).any(axis=2)  # a pooled step is real if its window is
    expected = np.stack([p[r].max(axis=0) for p, r in zip(pooled, real, strict=True)])
    np.testing.assert_allclose(md.predict(IDS), expected, rtol=1e-5, atol=1e-6)


def test_hat_mean_time_pool_with_a_mask_input_in_a_graph_model():
    x, m = Input(6), Input(6)
    embedding, dense = L.Embedding(20, 4), L.Dense(2, act="softmax")
    pooled = L.GlobalMeanTimePool(masking=True)([embedding(x), m])
    md = Model(inputs=[x, m], outputs=dense(pooled), seed=0, dtype=np.float64)
    means = np.stack([embedding.W_[row[row > 0].astype(int)].mean(axis=0) for row in IDS])
    expected = _softmax(means @ dense.W_ + dense.b_)
    np.testing.assert_allclose(md.predict([IDS, MASK]), expected, rtol=1e-10)
    assert model_gradient_error(md, [IDS, MASK], np.arange(12) % 2,
                                "sparse_categorical_crossentropy") < 1e-6  # fmt: skip


def test_text_model_gradients_with_masks_in_float64():
    md = _sequential(L.InputLayer(6), L.Embedding(20, 4, mask_zero=True),
                     L.Conv1D(3, 3, act="tanh", border_mode="same"),
                     L.GlobalAveragePooling1D(), L.Dense(2, act="softmax"),
                     dtype=np.float64)  # fmt: skip
    error = model_gradient_error(md, IDS, np.arange(12) % 2, "sparse_categorical_crossentropy")
    assert error < 1e-6


def test_hat_mean_time_pool_masking_in_a_sequential_skips_all_zero_steps():
    x = np.where(MASK[:, :, None] > 0, RNG.standard_normal((12, 6, 3)) + 5.0, 0.0)
    md = _sequential(L.InputLayer((6, 3)), L.GlobalMeanTimePool(masking=True),
                     L.Dense(2, act="softmax"), dtype=np.float64)  # fmt: skip
    means = np.stack([row[m > 0].mean(axis=0) for row, m in zip(x, MASK, strict=True)])
    dense = md.layers[2]
    np.testing.assert_allclose(md.predict(x), _softmax(means @ dense.W_ + dense.b_), rtol=1e-10)
    assert model_gradient_error(md, x, np.arange(12) % 2, "sparse_categorical_crossentropy") < 1e-6


def test_save_and_load_a_text_model(tmp_path):
    from hat.models import load_model
    from hat.regularizations import L2

    md = _sequential(
        L.InputLayer(6),
        L.Embedding(20, 4, mask_zero=True, W_reg=L2(1e-3)),
        L.Conv1D(5, 3, border_mode=(2, 1), stride=2, act="relu"),
        L.AvgPool1D(2, 1),
        L.GlobalMeanTimePool(),
        L.Dense(2, act="softmax"),
    )
    md.save(tmp_path / "text.h5")
    loaded = load_model(tmp_path / "text.h5")
    assert [type(la).__name__ for la in loaded.layers] == [type(la).__name__ for la in md.layers]
    assert loaded.layers[2].border_mode == (2, 1) and loaded.layers[1].mask_zero
    np.testing.assert_array_equal(loaded.predict(IDS), md.predict(IDS))
