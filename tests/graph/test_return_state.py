"""Keras' return_state: a recurrent layer's final states as nodes (RnnState), their values,
exact gradients through them (also with masks and go_backwards), parity with torch's h_n and
c_n, save and load, and the refusals (Sequential, Bidirectional)."""

import numpy as np
import pytest

from hat.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Concatenate,
    Dense,
    Embedding,
    Input,
    InputLayer,
    RnnState,
    SimpleRnn,
)
from hat.models import Model, Sequential, load_model
from tests.helpers.model_gradcheck import model_gradient_error
from tests.helpers.optional import require
from tests.helpers.torch_rnn import torch_twin

INIT = dict(W_init_type="glorot_uniform", H_init_type="orthogonal")
RNG = np.random.default_rng(4)


@pytest.mark.parametrize("cls", [SimpleRnn, GRU, LSTM])
def test_a_call_returns_the_output_and_each_state(cls):
    x = Input((5, 3))
    outputs = cls(4, return_state=True, **INIT)(x)
    assert len(outputs) == 1 + (2 if cls is LSTM else 1)
    assert all(isinstance(o.layer, RnnState) for o in outputs[1:])
    md = Model(inputs=x, outputs=outputs, seed=0)
    xs = RNG.standard_normal((6, 5, 3)).astype(np.float32)
    y, h, *rest = md.predict(xs)
    assert y.shape == (6, 5, 4) and h.shape == (6, 4)
    np.testing.assert_array_equal(h, y[:, -1])  # no mask: h is the last output
    if cls is LSTM:
        assert not np.allclose(rest[0], h)  # c is the cell, not h


@pytest.mark.parametrize("options", [dict(), dict(go_backwards=True)], ids=str)
def test_gradients_through_the_states_are_exact(options):
    tokens = Input(5)
    vectors = Embedding(7, 3, mask_zero=True, init_type="glorot_uniform")(tokens)
    seq, h, c = LSTM(3, return_state=True, **INIT, **options)(vectors)
    _, g = GRU(3, return_sequence=False, return_state=True, **INIT)(seq)
    out = Dense(2, act="softmax")(Concatenate()([h, c, g]))
    md = Model([tokens], [out], seed=0, dtype=np.float64)
    ids = RNG.integers(1, 7, (6, 5)).astype(np.float64)
    ids[:3, :2] = 0  # padded: the states carry over the masked steps
    y = np.eye(2)[RNG.integers(0, 2, 6)]
    assert model_gradient_error(md, ids, y, "categorical_crossentropy") < 1e-6


def test_a_state_used_twice_and_the_sequence_both_get_their_gradient():
    x = Input((4, 2))
    seq, h = SimpleRnn(3, act="tanh", return_state=True, **INIT)(x)
    out = Dense(2, act="linear")(Concatenate()([h, h]))
    md = Model([x], [out, seq], seed=0, dtype=np.float64)
    xs = RNG.standard_normal((5, 4, 2))
    ys = [RNG.standard_normal((5, 2)), RNG.standard_normal((5, 4, 3))]
    assert model_gradient_error(md, xs, ys, "mse") < 1e-6


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_states_match_torchs_h_n_and_c_n(cls):
    torch = require("torch")
    x = Input((6, 4))
    outputs = cls(5, return_state=True, **INIT)(x)
    md = Model(inputs=x, outputs=outputs, seed=3)
    layer = outputs[0].layer
    net = torch_twin(torch, layer)
    xs = RNG.standard_normal((3, 6, 4)).astype(np.float32)
    mine = md.predict(xs)
    theirs = net(torch.tensor(xs))
    states = theirs[1] if cls is LSTM else (theirs[1],)
    for got, want in zip(mine[1:], states, strict=True):
        np.testing.assert_allclose(got, want[0].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_a_model_with_states_saves_and_loads(tmp_path):
    x = Input((5, 3))
    _, h, c = LSTM(4, return_state=True, **INIT)(x)
    md = Model(inputs=x, outputs=Dense(2, act="softmax")(Concatenate()([h, c])), seed=0)
    xs = RNG.standard_normal((4, 5, 3)).astype(np.float32)
    md.save(tmp_path / "m.h5")
    again = load_model(tmp_path / "m.h5")
    np.testing.assert_array_equal(again.predict(xs), md.predict(xs))


def test_training_moves_the_weights_through_a_state_only():
    x = Input((5, 3))
    _, h = SimpleRnn(4, return_state=True, **INIT)(x)
    md = Model(inputs=x, outputs=Dense(2, act="softmax")(h), seed=0)
    rnn = md.layers[1]
    before = rnn.params["H"].copy()
    xs = RNG.standard_normal((8, 5, 3)).astype(np.float32)
    md.fit(xs, np.eye(2)[RNG.integers(0, 2, 8)], batch_size=8, n_epochs=2, verbose=0,
           loss_func="categorical_crossentropy", optimizer="adam")  # fmt: skip
    assert not np.allclose(rnn.params["H"], before)


def test_refusals():
    seq = Sequential()
    seq.add(InputLayer((5, 3)))
    seq.add(LSTM(4, return_state=True))
    with pytest.raises(ValueError, match="return_state=True.*functional API"):
        seq.combine()
    with pytest.raises(ValueError, match="Bidirectional does not return states"):
        Bidirectional(GRU(3, return_state=True))
    with pytest.raises(ValueError, match="index"):
        RnnState(2)
    x = Input(3)
    d = Dense(3)(x)
    with pytest.raises(TypeError, match="return_state=True"):
        Model(inputs=x, outputs=RnnState(0)(d))


def test_a_shared_layer_gives_each_call_its_own_states():
    a, b = Input((4, 2)), Input((4, 2))
    shared = GRU(3, return_sequence=False, return_state=True, **INIT)
    _, ha = shared(a)
    _, hb = shared(b)
    md = Model([a, b], [Dense(2, act="linear")(Concatenate()([ha, hb]))], seed=0,
               dtype=np.float64)  # fmt: skip
    xa, xb = RNG.standard_normal((5, 4, 2)), RNG.standard_normal((5, 4, 2))
    states = Model([a, b], [ha, hb], seed=0, dtype=np.float64)
    got_a, got_b = states.predict([xa, xb])
    assert not np.allclose(got_a, got_b)
    y = RNG.standard_normal((5, 2))
    assert model_gradient_error(md, [xa, xb], y, "mse") < 1e-6
