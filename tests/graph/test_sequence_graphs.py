"""Sequence layers inside models: masks from Embedding(mask_zero=True) travel through the
recurrent layers and the time pooling; whole-model gradients stay exact with them."""

import numpy as np

from hat.layers import (
    GRU,
    LSTM,
    Concatenate,
    Dense,
    Embedding,
    GlobalMeanTimePool,
    Input,
    Lambda,
    SimpleRnn,
)
from hat.models import Model
from tests.helpers.model_gradcheck import model_gradient_error

RNG = np.random.default_rng(8)
# Hat's default weights (uniform +-0.01) make gradients so small that finite differences lose
# their relative precision; Keras' initializers keep them of order one.
INIT = dict(W_init_type="glorot_uniform", H_init_type="orthogonal")


def _ids(n=6, t=5, vocab=7):
    ids = RNG.integers(1, vocab, (n, t)).astype(np.float64)
    for i in range(n):
        ids[i, : RNG.integers(0, t - 1)] = 0  # padded in front, as pad_sequences does
    return ids


def test_masked_embedding_lstm_and_time_pool_gradients():
    tokens = Input(5)
    vectors = Embedding(7, 4, mask_zero=True, init_type="glorot_uniform")(tokens)
    seq = LSTM(3, act="tanh", return_sequence=True, **INIT)(vectors)
    pooled = GlobalMeanTimePool()(seq)
    last = GRU(3, act="tanh", return_sequence=False, **INIT)(vectors)
    out = Dense(2, act="softmax")(Concatenate()([pooled, last]))
    md = Model([tokens], [out], seed=0, dtype=np.float64)
    error = model_gradient_error(md, _ids(), np.eye(2)[RNG.integers(0, 2, 6)],
                                 "categorical_crossentropy")  # fmt: skip
    assert error < 1e-6


def _masked_rnn(length: int) -> Model:
    tokens = Input(length)
    vectors = Embedding(9, 3, mask_zero=True, init_type="glorot_uniform")(tokens)
    hidden = SimpleRnn(4, act="tanh", return_sequence=False, **INIT)(vectors)
    return Model([tokens], [Dense(2, act="softmax")(hidden)], seed=1)


def test_padding_does_not_change_a_masked_models_output():
    padded, plain = _masked_rnn(6), _masked_rnn(4)
    plain.set_weights(padded.get_weights())
    tokens = np.array([[3, 4, 5, 6]], np.float32)
    with_padding = np.array([[0, 0, 3, 4, 5, 6]], np.float32)
    np.testing.assert_allclose(padded.predict(with_padding), plain.predict(tokens), rtol=1e-6)
    assert not np.allclose(
        padded.predict(with_padding), padded.predict(tokens[:, [0, 0, 0, 1, 2, 3]])
    )


def test_the_last_step_by_a_lambda():
    x = Input((4, 3))
    last = Lambda(lambda input: input[:, -1, :])(LSTM(5, act="tanh", **INIT)(x))
    md = Model([x], [Dense(2, act="softmax")(last)], seed=2, dtype=np.float64)
    data = RNG.standard_normal((4, 4, 3))
    error = model_gradient_error(md, data, np.eye(2)[[0, 1, 1, 0]], "categorical_crossentropy")
    assert error < 1e-6


def test_losses_on_a_sequence_output():
    x = Input((4, 3))
    md = Model([x], [LSTM(2, act="tanh", return_sequence=True, **INIT)(x)], seed=3,
               dtype=np.float64)  # fmt: skip
    data = RNG.standard_normal((5, 4, 3))
    for loss in ("mse", "mae"):
        assert model_gradient_error(md, data, RNG.standard_normal((5, 4, 2)), loss) < 1e-6
    probs = Model([x], [Dense(2, act="softmax")(Lambda(lambda input: input[:, -1, :])(x))], seed=0)
    assert probs.evaluate(data.astype(np.float32), np.eye(2)[[0, 1, 0, 1, 1]], metrics=["mse"]) > 0


def test_hat_masking_true_takes_x_and_mask_as_two_inputs():
    x, mask = Input((4, 3)), Input(4)
    hidden = LSTM(3, act="tanh", masking=True, return_sequence=False, **INIT)([x, mask])
    md = Model([x, mask], [Dense(2, act="softmax")(hidden)], seed=0, dtype=np.float64)
    data = RNG.standard_normal((5, 4, 3))
    steps = np.ones((5, 4))
    steps[:, :2] = 0  # padded in front
    targets = np.eye(2)[[0, 1, 1, 0, 1]]
    assert model_gradient_error(md, [data, steps], targets, "categorical_crossentropy") < 1e-6
    changed = data.copy()
    changed[:, :2] = 5.0  # what the mask hides does not matter
    np.testing.assert_allclose(md.predict([changed, steps]), md.predict([data, steps]))
