"""hat.layers.embedding: the gather, the scatter-add gradient (finite differences, repeated
ids), masks, PyTorch parity, bad ids, configs, and a Sequential model on float ids."""

import numpy as np
import pytest

from hat.layers import Dense, Embedding, GlobalAveragePooling1D, InputLayer
from hat.layers.embeddings import Embedding as HatPathEmbedding
from hat.models import Sequential
from hat.regularizations import L2
from tests.helpers.gradcheck import numeric_grad
from tests.helpers.optional import require


def _built(layer, time=5, dtype=np.float64, seed=0):
    layer.setup((time,), np.random.default_rng(seed), dtype)
    return layer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("id_dtype", [np.float32, np.float64, np.int32, np.int64])
def test_forward_gathers_rows(dtype, id_dtype):
    layer = _built(Embedding(7, 3), dtype=dtype)
    ids = np.array([[0, 6, 2, 2, 5], [1, 1, 3, 4, 0]], dtype=id_dtype)
    y = layer.forward(ids, training=True)
    W = layer.params["W"]
    expected = np.array([[W[int(i)] for i in row] for row in ids])
    assert y.shape == (2, 5, 3) and y.dtype == dtype
    np.testing.assert_array_equal(y, expected)


def test_weight_gradient_by_finite_differences_with_repeated_ids():
    layer = _built(Embedding(6, 4))
    ids = np.array([[1, 3, 3, 0, 1], [3, 5, 1, 1, 2]], dtype=np.float64)  # 4 unused
    g = np.random.default_rng(1).standard_normal((2, 5, 4))
    layer.forward(ids, training=True)
    assert layer.backward(g) is None  # ids have no gradient
    analytic = layer.grads["W"].copy()

    def loss(_=None):
        return float(np.sum(layer.forward(ids, training=True) * g))

    numeric = numeric_grad(loss, layer.params["W"])
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(analytic[4], 0.0)
    expected = np.zeros((6, 4))
    np.add.at(expected, ids.astype(int).ravel(), g.reshape(-1, 4))
    np.testing.assert_allclose(analytic, expected, rtol=1e-12)


def test_gradient_is_the_same_bits_every_time():
    layer = _built(Embedding(3, 8), time=200, dtype=np.float32)
    rng = np.random.default_rng(2)
    ids = rng.integers(0, 3, (4, 200))
    g = rng.standard_normal((4, 200, 8)).astype(np.float32)
    grads = []
    for _ in range(2):
        layer.forward(ids, training=True)
        layer.backward(g)
        grads.append(layer.grads["W"].copy())
    assert grads[0].tobytes() == grads[1].tobytes()


def test_frozen_embedding_leaves_its_gradient_alone():
    layer = _built(Embedding(4, 2, trainable_params=()))
    layer.forward(np.array([[1, 2, 3, 0, 1]]), training=True)
    layer.backward(np.ones((1, 5, 2)))
    assert layer.trainable == [] and not layer.grads["W"].any()


def test_mask_zero():
    ids = np.array([[3, 1, 0, 0, 0], [2, 2, 2, 2, 1]], dtype=np.float32)
    masked = _built(Embedding(4, 2, mask_zero=True))
    np.testing.assert_array_equal(masked.compute_mask(ids, None), ids != 0)
    assert _built(Embedding(4, 2)).compute_mask(ids, None) is None


def test_bad_ids_name_what_was_received():
    layer = _built(Embedding(10, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=r"token id 1\.5 at x\[0, 2\]"):
        layer.forward(np.array([[1, 2, 1.5, 0, 0]]), training=True)
    with pytest.raises(ValueError, match="token id nan"):
        layer.forward(np.array([[1, np.nan, 1, 0, 0]]), training=True)
    with pytest.raises(ValueError, match="negative token id -3"):
        layer.forward(np.array([[1, -1, -3, 0, 0]], dtype=np.int64), training=True)
    with pytest.raises(ValueError, match=r"ids up to 25 \(the largest found\).*n_vocab=26"):
        layer.forward(np.array([[1, 12, 3, 25, 10]]), training=True)
    with pytest.raises(ValueError, match="shape \\(batch, time\\); got shape \\(5,\\)"):
        layer.forward(np.arange(5), training=True)


def test_build_errors():
    with pytest.raises(ValueError, match="token ids of shape \\(batch, time\\)"):
        Embedding(5, 2).setup((5, 3), np.random.default_rng(0))
    with pytest.raises(ValueError, match="exceeds 2\\*\\*24"):
        Embedding(2**24 + 1, 1).setup((3,), np.random.default_rng(0), np.float32)
    with pytest.raises(ValueError, match="n_vocab"):
        Embedding(0, 2)
    with pytest.raises(ValueError, match="disagree"):
        Embedding(5, 2, input_dim=6)
    with pytest.raises(ValueError, match="W_init must have shape \\(5, 2\\)"):
        Embedding(5, 2, W_init=np.zeros((2, 5))).setup((3,), np.random.default_rng(0))


def test_keras_names_config_round_trip_and_hat_path():
    layer = Embedding(input_dim=20, output_dim=4, mask_zero=True, W_reg=L2(1e-3), name="emb")
    assert (layer.n_vocab, layer.n_out) == (20, 4) and HatPathEmbedding is Embedding
    config = layer.get_config()
    rebuilt = Embedding(**config)
    assert rebuilt.get_config() == config and rebuilt.mask_zero
    assert config["W_reg"]["l2"] == pytest.approx(1e-3)


def test_given_weights_and_initializer_range():
    W = np.arange(10.0).reshape(5, 2)
    assert np.array_equal(_built(Embedding(5, 2, W_init=W)).W_, W)
    drawn = _built(Embedding(100, 8)).W_
    assert 0 < np.abs(drawn).max() <= 0.01  # Hat's 'uniform': [-0.01, 0.01]


def test_parity_with_torch_embedding():
    torch = require("torch")
    layer = _built(Embedding(9, 5), time=6, dtype=np.float32, seed=3)
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 9, (3, 6))
    g = rng.standard_normal((3, 6, 5)).astype(np.float32)
    ref = torch.nn.Embedding(9, 5)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(layer.params["W"]))
    out = ref(torch.from_numpy(ids))
    out.backward(torch.from_numpy(g))
    y = layer.forward(ids.astype(np.float32), training=True)
    layer.backward(g)
    np.testing.assert_allclose(y, out.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(layer.grads["W"], ref.weight.grad.numpy(), atol=1e-5)


def test_sequential_model_takes_float_and_int_ids():
    rng = np.random.default_rng(5)
    x = rng.integers(1, 30, (64, 12))
    y = (x == 7).any(axis=1).astype(np.int64)  # the class: does token 7 occur?
    seq = Sequential()
    seq.add(InputLayer(12))
    seq.add(Embedding(30, 8, init_type="glorot_uniform"))
    seq.add(GlobalAveragePooling1D())
    seq.add(Dense(2, act="softmax"))
    md = seq.combine(seed=0)
    from hat.optimizers import Adam

    md.fit(x=x, y=y, batch_size=16, n_epochs=30, loss_func="sparse_categorical_crossentropy",
           optimizer=Adam(1e-2), verbose=0)  # fmt: skip
    accuracy = np.mean(md.predict(x).argmax(1) == y)
    assert accuracy >= 0.9
    with pytest.raises(ValueError, match="ids up to 40"):
        md.predict(np.full((2, 12), 40.0))
