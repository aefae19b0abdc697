"""hat.layers.recurrent: forward against a naive numpy loop, gradients by finite differences,
masks, go_backwards, both output kinds, Bidirectional, bad inputs, configs, a small model."""

import numpy as np
import pytest

from hat import regularizations
from hat.layers.base import Layer
from hat.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN, SimpleRnn
from tests.helpers.gradcheck import check_layer_gradients, numeric_grad
from tests.helpers.optional import require
from tests.helpers.torch_rnn import torch_twin


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


def reference(layer, x, mask=None):
    """The layer's output by a plain loop over time, in float64, from its params."""
    p = {k: v.astype(np.float64) for k, v in layer.params.items()}
    n, t, _ = x.shape
    u = layer.n_out
    mask = np.ones((n, t)) if mask is None else np.asarray(mask, np.float64)
    act = {"tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda v: np.maximum(v, 0)}
    f = act[layer.activation.name]
    gate = act[getattr(layer, "gate_activation", layer.activation).name]
    h, c = np.zeros((n, u)), np.zeros((n, u))
    steps = range(t - 1, -1, -1) if layer.go_backwards else range(t)
    outputs = []
    for s in steps:
        z = x[:, s] @ p["W"] + p["b"]
        hz = h @ p["H"]
        if isinstance(layer, LSTM):
            a = z + hz
            i, fg, g, o = (a[:, q * u : (q + 1) * u] for q in range(4))
            c_new = gate(fg) * c + gate(i) * f(g)
            h_new = gate(o) * f(c_new)
        elif isinstance(layer, GRU):
            hz = hz + p["bH"]
            r = gate(z[:, :u] + hz[:, :u])
            zg = gate(z[:, u : 2 * u] + hz[:, u : 2 * u])
            m = f(z[:, 2 * u :] + r * hz[:, 2 * u :])
            h_new, c_new = (1 - zg) * m + zg * h, c
        else:
            h_new, c_new = f(z + hz), c
        keep = mask[:, s : s + 1]
        h = keep * h_new + (1 - keep) * h
        c = keep * c_new + (1 - keep) * c
        outputs.append(keep * h)
    return np.stack(outputs, axis=1) if layer.return_sequence else h


CELLS = [SimpleRnn, LSTM, GRU]


def _layer(cls, **kwargs):
    kwargs.setdefault("W_init_type", "glorot_uniform")
    kwargs.setdefault("H_init_type", "orthogonal")
    return cls(3, **kwargs)


def _built(layer, input_shape=(5, 2), dtype=np.float64, seed=0):
    shape = tuple(input_shape)
    if getattr(layer, "masking", False):  # Hat's [x, mask]: a shape for each
        shape = [shape, shape[:1]]
    layer.setup(shape, np.random.default_rng(seed), dtype)
    rng = np.random.default_rng(seed + 7)
    for v in layer.params.values():  # biases too, so that every path is exercised
        v += 0.3 * rng.standard_normal(v.shape)
    return layer


def _mask(n=3, t=5):
    mask = np.ones((n, t))
    mask[0, :2] = 0  # pre-padding
    mask[1, 3:] = 0  # post-padding
    mask[2, 2] = 0  # a hole
    return mask


VARIANTS = [
    dict(),
    dict(return_sequence=False),
    dict(go_backwards=True),
    dict(go_backwards=True, return_sequence=False),
]


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("options", VARIANTS, ids=str)
@pytest.mark.parametrize("masked", [False, True])
def test_forward_matches_the_reference(cls, options, masked):
    layer = _built(_layer(cls, **options))
    x = np.random.default_rng(1).standard_normal((3, 5, 2))
    mask = _mask() if masked else None
    y = layer.forward(x, training=True, mask=mask)
    np.testing.assert_allclose(y, reference(layer, x, mask), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", CELLS)
def test_float32_forward_is_close_to_float64(cls):
    layer = _built(_layer(cls), dtype=np.float32)
    x = np.random.default_rng(1).standard_normal((3, 5, 2)).astype(np.float32)
    y = layer.forward(x, training=False)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, reference(layer, x.astype(np.float64)), rtol=1e-5, atol=1e-6)


class _Masked(Layer):
    """A recurrent layer with a fixed mask, so that the shared checker can drive it."""

    def __init__(self, inner, mask):
        super().__init__()
        self.inner, self.mask = inner, mask

    def setup(self, input_shape, rng, dtype=np.float32):
        self.output_shape = self.inner.setup(input_shape, rng, dtype)
        self.params, self.grads = self.inner.params, self.inner.grads
        self.trainable_params = self.inner.trainable_params
        return self.output_shape

    def forward(self, x, training):
        return self.inner.forward(x, training, mask=self.mask)

    def backward(self, dy):
        return self.inner.backward(dy)


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("options", VARIANTS, ids=str)
@pytest.mark.parametrize("masked", [False, True])
def test_gradients_by_finite_differences(cls, options, masked):
    layer = _layer(cls, **options)
    if masked:
        layer = _Masked(layer, _mask())
    grads = check_layer_gradients(layer, (5, 2), rtol=1e-6, atol=1e-8)
    assert {"x", "W", "H", "b"} <= set(grads)


def test_lstm_with_other_activations_has_exact_gradients():
    layer = LSTM(3, act="relu", gate_act="hard_sigmoid", W_init_type="glorot_uniform")
    check_layer_gradients(layer, (4, 2), rtol=1e-6, atol=1e-8)


def test_masking_true_takes_x_and_mask_and_returns_no_mask_gradient():
    layer = _built(_layer(LSTM, masking=True))
    assert layer.n_inputs == 2 and _layer(LSTM).n_inputs == 1
    x = np.random.default_rng(1).standard_normal((3, 5, 2))
    mask = _mask()
    y = layer.forward([x, mask], training=True)
    np.testing.assert_allclose(y, reference(layer, x, mask), rtol=1e-12)
    dx, dmask = layer.backward(np.ones_like(y))
    assert dx.shape == x.shape and dmask is None
    assert layer.compute_mask([x, mask], None) is mask


def test_masked_steps_output_zeros_and_carry_the_state():
    layer = _built(_layer(GRU))
    x = np.random.default_rng(1).standard_normal((3, 5, 2))
    mask = _mask()
    y = layer.forward(x, training=True, mask=mask)
    assert np.all(y[mask == 0] == 0)
    last = _built(_layer(GRU, return_sequence=False))
    h = last.forward(x, training=True, mask=mask)
    np.testing.assert_allclose(h[1], y[1, 2])  # row 1's last real step is step 2


def test_compute_mask_follows_return_sequence():
    mask = _mask()
    assert _layer(LSTM).compute_mask(None, mask) is mask
    assert _layer(LSTM, return_sequence=False).compute_mask(None, mask) is None


def test_the_same_numbers_on_one_thread_and_in_chunks(monkeypatch):
    """Chunks depend on the batch size only: the same bits whatever the pool's size."""
    x = np.random.default_rng(1).standard_normal((130, 4, 2)).astype(np.float32)  # 2 chunks
    from hat.layers.recurrent import _chunks

    assert len(_chunks(len(x))) == 2
    runs = []
    for count in ("1", "2"):
        monkeypatch.setenv("HAT_NUM_THREADS", count)
        layer = _built(_layer(LSTM), (4, 2), np.float32)
        y = layer.forward(x, training=True).copy()
        dx = layer.backward(np.ones_like(y)).copy()
        runs.append((y, dx, layer.grads["H"].copy()))
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("options", VARIANTS, ids=str)
def test_the_kernel_time_loop_gives_the_python_loops_bits(cls, options, monkeypatch):
    """Each chunk's time loop runs in one kernel, its products through numpy's own cblas;
    the per-step Python loop (kept where numpy's BLAS exports no cblas) is the reference."""
    from hat.kernels import blas
    from hat.layers import recurrent

    assert blas.handle() is not None  # numpy's OpenBLAS, as CI installs it
    x = np.random.default_rng(1).standard_normal((130, 4, 2)).astype(np.float32)  # 2 chunks
    mask = np.ones((130, 4), np.float32)
    mask[::3, :2] = 0
    runs = []
    for handle in (blas.handle(), None):
        monkeypatch.setattr(recurrent, "_blas", lambda h=handle: h)
        layer = _built(_layer(cls, **options), (4, 2), np.float32)
        y = layer.forward(x, training=True, mask=mask).copy()
        dx = layer.backward(np.cos(y)).copy()
        y_infer = layer.forward(x, training=False, mask=mask).copy()
        runs.append((y, dx, y_infer, *(g.copy() for g in layer.grads.values())))
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(runs[0][2], runs[0][0], rtol=1e-6, atol=1e-6)


# -- names, configs, bad inputs ------------------------------------------------------------------


def test_keras_names():
    layer = LSTM(
        units=4, activation="relu", recurrent_activation="hard_sigmoid", return_sequences=False
    )
    assert (layer.n_out, layer.activation.name, layer.gate_activation.name) == (
        4,
        "relu",
        "hard_sigmoid",
    )
    assert layer.return_sequence is False
    assert SimpleRNN is SimpleRnn
    with pytest.raises(ValueError, match="n_out=4 and units=5"):
        GRU(4, units=5)


def test_lstm_forget_bias():
    layer = _layer(LSTM, bf_bias=2.0)
    layer.setup((5, 2), np.random.default_rng(0), np.float32)
    b = layer.params["b"]
    assert np.all(b[3:6] == 2) and np.all(b[:3] == 0) and np.all(b[6:] == 0)


CONFIGURED = [
    SimpleRnn(4, "relu", name="r"),
    LSTM(
        3,
        "tanh",
        gate_act="hard_sigmoid",
        bf_bias=0.5,
        W_reg=regularizations.L2(0.1),
        return_sequence=False,
        go_backwards=True,
    ),
    GRU(2, masking=True, trainable_params=["W", "H"], H_reg=regularizations.L1(0.2)),
    Bidirectional(LSTM(3), merge_mode="sum", name="bi"),
]


@pytest.mark.parametrize("layer", CONFIGURED, ids=repr)
def test_get_config_round_trip(layer):
    config = layer.get_config()
    rebuilt = type(layer)(**config)
    assert rebuilt.get_config() == config
    assert Layer.registry[type(layer).__name__] is type(layer)


@pytest.mark.parametrize("cls", CELLS)
def test_bad_inputs_have_clear_messages(cls):
    with pytest.raises(ValueError, match=r"3-D input .* got shape \(None, 28\)"):
        cls(4).setup((28,), np.random.default_rng(0))
    with pytest.raises(ValueError, match="at least one time step"):
        cls(4).setup((0, 3), np.random.default_rng(0))
    layer = _built(_layer(cls))
    with pytest.raises(ValueError, match=r"3-D input .* got shape \(3, 10\)"):
        layer.forward(np.zeros((3, 10)), training=True)
    with pytest.raises(ValueError, match="empty sequence"):
        layer.forward(np.zeros((3, 0, 2)), training=True)
    with pytest.raises(ValueError, match=r"mask .* \(3, 5\); got \(3, 4\)"):
        layer.forward(np.zeros((3, 5, 2)), training=True, mask=np.ones((3, 4)))
    with pytest.raises(ValueError, match="built for 2 features"):
        layer.forward(np.zeros((3, 5, 7)), training=True)
    with pytest.raises(ValueError, match="softmax"):
        cls(4, act="softmax")
    with pytest.raises(ValueError, match="n_out must be a positive int"):
        cls(0)


def test_masking_layer_needs_two_inputs():
    layer = _built(_layer(SimpleRnn, masking=True))
    with pytest.raises(TypeError, match=r"\[x, mask\]"):
        layer.forward(np.zeros((3, 5, 2)), training=True)


# -- Bidirectional --------------------------------------------------------------------------------

MERGES = {
    "concat": lambda a, b: np.concatenate([a, b], axis=-1),
    "sum": np.add,
    "mul": np.multiply,
    "ave": lambda a, b: (a + b) / 2,
}


@pytest.mark.parametrize("merge_mode", list(MERGES))
@pytest.mark.parametrize("return_sequence", [True, False])
def test_bidirectional_merges_a_forward_and_a_backward_pass(merge_mode, return_sequence):
    layer = Bidirectional(_layer(GRU, return_sequence=return_sequence), merge_mode=merge_mode)
    layer.setup((5, 2), np.random.default_rng(0), np.float64)
    x = np.random.default_rng(1).standard_normal((3, 5, 2))
    mask = _mask()
    y = layer.forward(x, training=True, mask=mask)
    forward = reference(layer.forward_layer, x, mask)
    backward = reference(layer.backward_layer, x, mask)
    if return_sequence:
        backward = backward[:, ::-1]  # re-aligned with the input's time
    np.testing.assert_allclose(y, MERGES[merge_mode](forward, backward), rtol=1e-12)
    assert layer.compute_mask(x, mask) is (mask if return_sequence else None)


@pytest.mark.parametrize("merge_mode", list(MERGES))
def test_bidirectional_gradients(merge_mode):
    layer = Bidirectional(_layer(LSTM), merge_mode=merge_mode)
    grads = check_layer_gradients(layer, (4, 2), rtol=1e-6, atol=1e-8)
    assert {"forward_W", "backward_H"} <= set(grads)


def test_bidirectional_refuses_what_it_cannot_wrap():
    with pytest.raises(TypeError, match="recurrent layer"):
        Bidirectional(Layer())
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(LSTM(3), merge_mode="max")


def test_numeric_grad_helper_sees_the_mask():
    """Guards the masked gradient check itself: a masked step's input has no gradient."""
    layer = _built(_layer(SimpleRnn))
    x = np.random.default_rng(1).standard_normal((3, 5, 2))
    mask = _mask()
    g = numeric_grad(lambda _: layer.forward(x, True, mask=mask).sum(), x)
    assert np.all(g[mask == 0] == 0) and np.all(g[mask == 1] != 0)


# -- parity with PyTorch --------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("return_sequence", [True, False])
def test_matches_torch(cls, return_sequence):
    torch = require("torch")
    layer = _built(_layer(cls, return_sequence=return_sequence), (6, 4), np.float32)
    net = torch_twin(torch, layer)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 6, 4)).astype(np.float32)
    y = layer.forward(x, training=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = layer.backward(dy)

    tx = torch.tensor(x, requires_grad=True)
    seq, _ = net(tx)
    ty = seq if return_sequence else seq[:, -1]
    ty.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, ty.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(layer.grads["W"], net.weight_ih_l0.grad.numpy().T, atol=1e-5)
    np.testing.assert_allclose(layer.grads["H"], net.weight_hh_l0.grad.numpy().T, atol=1e-5)
    np.testing.assert_allclose(layer.grads["b"], net.bias_ih_l0.grad.numpy(), atol=1e-5)
    if cls is GRU:
        np.testing.assert_allclose(layer.grads["bH"], net.bias_hh_l0.grad.numpy(), atol=1e-5)


# -- in a model -----------------------------------------------------------------------------------


def test_sequential_lstm_model_trains():
    from hat.layers.core import Dense, InputLayer
    from hat.models import Sequential
    from hat.optimizers import Adam

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 28, 28)).astype(np.float32)
    labels = (x[:, :, :14].sum(axis=(1, 2)) > 0).astype(int)  # learnable from the rows
    y = np.eye(2, dtype=np.float32)[labels]
    seq = Sequential()
    seq.add(InputLayer((28, 28)))
    seq.add(LSTM(8, return_sequence=False, W_init_type="glorot_uniform", H_init_type="orthogonal"))
    seq.add(Dense(2, act="softmax"))
    md = seq.combine(seed=0)
    assert md.layers[1].needs_input_grad is False  # the first trainable layer skips dx
    before = md.evaluate(x, y, batch_size=64, metrics=["categorical_crossentropy"])
    md.fit(x, y, batch_size=16, n_epochs=3, optimizer=Adam(lr=0.01), verbose=0)
    after = md.evaluate(x, y, batch_size=64, metrics=["categorical_crossentropy"])
    assert after < 0.8 * before
    assert md.predict(x[:5]).shape == (5, 2)


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("options", VARIANTS[:2], ids=str)
def test_inference_keeps_two_steps_and_gives_the_same_numbers(cls, options):
    layer = _built(_layer(cls, **options))
    x = np.random.default_rng(1).standard_normal((3, 5, 2))
    mask = _mask()
    y_train = layer.forward(x, training=True, mask=mask).copy()
    dy = np.random.default_rng(2).standard_normal(y_train.shape)
    dx_train = layer.backward(dy).copy()
    grads = {k: v.copy() for k, v in layer.grads.items()}
    y_infer = layer.forward(x, training=False, mask=mask)
    assert layer._xp.shape[1] == 2  # two rows of gates, whatever the length
    np.testing.assert_allclose(y_infer, y_train, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.backward(dy), dx_train, rtol=1e-12, atol=1e-14)  # redone
    for key, value in grads.items():
        np.testing.assert_allclose(layer.grads[key], value, rtol=1e-12, atol=1e-14)


def test_backward_after_an_inference_forward_redoes_it_with_hats_two_inputs():
    """masking=True: the redone forward takes [x, mask] again (it once raised TypeError)."""
    layer = _built(_layer(LSTM, masking=True))
    x, mask = np.random.default_rng(1).standard_normal((3, 5, 2)), _mask()
    y = layer.forward([x, mask], training=True).copy()
    dx_train = layer.backward(np.cos(y))[0].copy()
    layer.forward([x, mask], training=False)
    np.testing.assert_allclose(layer.backward(np.cos(y))[0], dx_train, rtol=1e-12)
