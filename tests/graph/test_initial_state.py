"""Keras' initial_state: a recurrent layer called as layer(x, initial_state=[h0(, c0)]) starts
from those states; exact gradients into them (through the layers that made them), masks, torch
parity with h0/c0, an encoder-decoder, save and load, bad calls."""

import numpy as np
import pytest

from hat.layers import GRU, LSTM, Dense, Embedding, Input, SimpleRnn
from hat.models import Model, load_model
from tests.helpers.model_gradcheck import model_gradient_error
from tests.helpers.optional import require
from tests.helpers.torch_rnn import torch_twin

INIT = dict(W_init_type="glorot_uniform", H_init_type="orthogonal")
RNG = np.random.default_rng(11)
CELLS = [SimpleRnn, LSTM, GRU]


def _started(cls, options=None, masked=False, length=5):
    """A model whose recurrent layer starts from states made by Dense layers of another input:
    their weights' gradients pass through dL/d(initial states)."""
    tokens, z = Input(length), Input(2)
    vectors = Embedding(7, 3, mask_zero=masked, init_type="glorot_uniform")(tokens)
    n_states = 2 if cls is LSTM else 1
    states = [Dense(3, act="tanh")(z) for _ in range(n_states)]
    seq = cls(3, **INIT, **(options or {}))(vectors, initial_state=states)
    return Model([tokens, z], [seq], seed=0, dtype=np.float64)


def _data(masked, n=6, length=5):
    ids = RNG.integers(1, 7, (n, length)).astype(np.float64)
    if masked:
        ids[:3, :2] = 0  # masked first steps pass the initial state on
        ids[3, :] = 0  # a row with no real step at all
    return ids, RNG.standard_normal((n, 2))


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("options", [dict(), dict(go_backwards=True, return_sequence=False)],
                         ids=str)  # fmt: skip
@pytest.mark.parametrize("masked", [False, True])
def test_gradients_into_the_initial_states_are_exact(cls, options, masked):
    md = _started(cls, options, masked)
    ids, z = _data(masked)
    y = RNG.standard_normal((6,) + md.output_shape)
    # eps 1e-5: at 1e-6 the masked LSTM's central differences lose digits to rounding
    assert model_gradient_error(md, [ids, z], y, "mse", eps=1e-5) < 1e-6


@pytest.mark.parametrize("cls", CELLS)
def test_a_fully_masked_row_returns_its_initial_state(cls):
    md = _started(cls, dict(return_sequence=False), masked=True)
    ids, z = _data(True)
    last = md.predict([ids, z])
    h0 = Model(md.in_nodes, [md.nodes[3]], seed=0, dtype=np.float64).predict([ids, z])
    np.testing.assert_allclose(last[3], h0[3], rtol=1e-12)
    assert not np.allclose(last[0], h0[0])


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_matches_torch_started_from_h0_and_c0(cls):
    torch = require("torch")
    x, h0, c0 = Input((6, 4)), Input(5), Input(5)
    states = [h0, c0] if cls is LSTM else [h0]
    y = cls(5, **INIT)(x, initial_state=states)
    md = Model([x, *states], [y], seed=2)
    layer = y.layer
    net = torch_twin(torch, layer)
    xs = RNG.standard_normal((3, 6, 4)).astype(np.float32)
    starts = [RNG.standard_normal((3, 5)).astype(np.float32) for _ in states]
    torch_starts = [torch.tensor(s)[None] for s in starts]
    want = net(torch.tensor(xs), tuple(torch_starts) if cls is LSTM else torch_starts[0])[0]
    got = md.predict([xs, *starts])
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_an_encoder_decoder_trains_saves_and_loads(tmp_path):
    source, target = Input((5, 3)), Input((4, 2))
    _, h, c = LSTM(6, return_state=True, **INIT)(source)
    decoded = LSTM(6, return_sequence=False, **INIT)(target, initial_state=[h, c])
    md = Model([source, target], [Dense(2, act="softmax")(decoded)], seed=0)
    xs = [RNG.standard_normal((16, 5, 3)).astype(np.float32),
          RNG.standard_normal((16, 4, 2)).astype(np.float32)]  # fmt: skip
    labels = np.eye(2)[(xs[0][:, :, 0].sum(axis=1) > 0).astype(int)]  # only the source knows
    ys = labels.astype(np.float32)
    encoder = md.layers[2] if isinstance(md.layers[2], LSTM) else md.layers[1]
    before = encoder.params["W"].copy()
    md.fit(xs, ys, batch_size=8, n_epochs=3, verbose=0, loss_func="categorical_crossentropy",
           optimizer="adam")  # fmt: skip
    assert not np.allclose(encoder.params["W"], before)  # the decoder's loss reached it
    md.save(tmp_path / "seq2seq.h5")
    np.testing.assert_array_equal(load_model(tmp_path / "seq2seq.h5").predict(xs), md.predict(xs))


def test_bad_calls_are_clear():
    x, h = Input((5, 3)), Input(4)
    with pytest.raises(ValueError, match=r"2 initial state\(s\), \[h0, c0\]; got 1"):
        LSTM(4)(x, initial_state=[h])
    with pytest.raises(Exception, match=r"must each be \(batch, 3\)"):
        GRU(3)(x, initial_state=h)
    with pytest.raises(ValueError, match="masking=True"):
        SimpleRnn(4, masking=True)(x, initial_state=h)


def test_backward_after_an_inference_forward_keeps_the_initial_states():
    layer = GRU(3, **INIT)
    x, h = Input((5, 2)), Input(3)
    md = Model([x, h], [layer(x, initial_state=h)], seed=0, dtype=np.float64)
    xs, h0 = RNG.standard_normal((4, 5, 2)), RNG.standard_normal((4, 3))
    y = layer.forward([xs, h0], training=True).copy()
    trained = [g.copy() for g in layer.backward(np.cos(y))]
    layer.forward([xs, h0], training=False)
    for got, want in zip(layer.backward(np.cos(y)), trained, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert md.output_shape == (5, 3)
