"""Hat's sequence layers read from its pickles: each model's predictions against a numpy
reference of Hat's own formulas on Hat's own weight layout (not hat's), and the refusals.

Hat's layouts (hat 0.0.x, 2016): LSTM keeps twelve arrays W<gate> (n_in, n), U<gate> (n, n),
b<gate> (n,) for g, i, f, o and outputs h = o * c; Convolution1D ran Theano's conv2d (a true
convolution) channels first; MaxPool1D pooled (batch, n_fmaps, time).
"""

import numpy as np
import pytest

from hat import serializations
from hat.layers.conv1d import Conv1D
from hat.layers.embedding import Embedding
from hat.layers.lambda_layer import Lambda
from hat.layers.legacy_lstm import LegacyLSTM
from hat.layers.recurrent import SimpleRnn
from hat.legacy import LegacyFileError
from hat.models import load_model
from tests.test_legacy import Py2Global, atom, hat_model, write

T, N_IN, N_HID, N_VOCAB = 5, 3, 4, 11


def mean_pool(input):
    """The imdb example's Lambda, written with hat.backend."""
    from hat import backend as K

    return K.mean(input, axis=1)


def chain(*infos, in_shape):
    """A Hat model dict: InputLayer(in_shape), then the layers' infos in a chain."""
    infos = [{"class_name": "InputLayer", "name": "InputLayer_0", "in_shape": in_shape}, *infos]
    atoms = []
    for i, info in enumerate(infos):
        info.setdefault("name", f"{info['class_name']}_{i}")
        nexts = [i + 1] if i + 1 < len(infos) else []
        atoms.append(atom({**info, "id": i}, [i - 1] if i else [], nexts))
    return hat_model(atoms, in_ids=[0], out_ids=[len(infos) - 1])


def load(tmp_path, data, **kwargs):
    return serializations.load(write(tmp_path / "md3_epochs.p", data), **kwargs)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def hard_sigmoid(z):
    return np.clip(0.2 * z + 0.5, 0, 1)


ACTS = {"tanh": np.tanh, "sigmoid": sigmoid, "hard_sigmoid": hard_sigmoid, "linear": lambda z: z}


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def dense(rng, n_in, n_out, act="softmax"):
    return {
        "class_name": "Dense",
        "n_out": n_out,
        "act": act,
        "W": rng.normal(0, 0.5, (n_in, n_out)).astype(np.float32),
        "b": rng.normal(0, 0.1, n_out).astype(np.float32),
        "W_reg_info": None,
        "b_reg_info": None,
        "trainable_params": ["W", "b"],
    }


def embedding(rng, n_out=N_IN):
    return {
        "class_name": "Embedding",
        "n_out": n_out,
        "init_type": "uniform",
        "W": rng.normal(0, 1, (N_VOCAB, n_out)).astype(np.float32),
        "W_reg_info": None,
    }


def token_ids(rng, n=6):
    return rng.integers(0, N_VOCAB, (n, T)).astype(np.float32)


# -- LSTM: Hat's cell on Hat's twelve arrays ----------------------------------------------
def hat_lstm_info(rng, n_in=N_IN, **overrides):
    info = {
        "class_name": "LSTM",
        "n_out": N_HID,
        "act": "tanh",
        "gate_act": "sigmoid",
        "W_init_type": "uniform",
        "U_init_type": "uniform",
        "bf_bias": 1.0,
        "W_reg_info": None,
        "U_reg_info": None,
        "return_sequence": True,
        "go_backwards": False,
        "masking": False,
        "trainable_params": [p + g for g in "gifo" for p in "WUb"],
    }
    for g in "gifo":
        info["W" + g] = rng.normal(0, 0.6, (n_in, N_HID)).astype(np.float32)
        info["U" + g] = rng.normal(0, 0.6, (N_HID, N_HID)).astype(np.float32)
        info["b" + g] = rng.normal(0, 0.3, N_HID).astype(np.float32)
    info.update(overrides)
    return info


def hat_lstm(x, info):
    """Hat's LSTM._scan and _step, as Hat wrote them, on (batch, time, n_in) in float64."""
    act, gate = ACTS[info["act"]], ACTS[info["gate_act"]]
    p = {k: np.asarray(v, np.float64) for k, v in info.items() if k[:1] in "WUb" and len(k) == 2}
    s = h = np.zeros((len(x), info["n_out"]))
    hs = []
    for t in range(x.shape[1]):
        xt = x[:, t].astype(np.float64)
        g = act(xt @ p["Wg"] + h @ p["Ug"] + p["bg"])
        i = gate(xt @ p["Wi"] + h @ p["Ui"] + p["bi"])
        f = gate(xt @ p["Wf"] + h @ p["Uf"] + p["bf"])
        o = gate(xt @ p["Wo"] + h @ p["Uo"] + p["bo"])
        s = g * i + s * f
        h = s * o
        hs.append(h)
    out = np.stack(hs, axis=1)
    if info["masking"]:
        out = out * (np.abs(x).sum(axis=-1) != 0)[:, :, None]
    return out if info["return_sequence"] else out[:, -1]


def imdb_model(rng, lstm=None):
    """Hat's imdb example, small: Embedding, LSTM, Lambda(mean_pool), Dense(2, softmax)."""
    lambda_info = {
        "class_name": "Lambda",
        "fn": Py2Global("__main__", "mean_pool"),
        "kwargs": {},
    }
    infos = [embedding(rng), lstm or hat_lstm_info(rng), lambda_info, dense(rng, N_HID, 2)]
    return chain(*infos, in_shape=(T,)), infos


def imdb_reference(ids, infos):
    emb, lstm, _, out = infos
    h = hat_lstm(emb["W"][ids.astype(int)], lstm)
    return softmax(h.mean(axis=1) @ out["W"] + out["b"])


def test_the_imdb_example_predicts_again(tmp_path):
    rng = np.random.default_rng(0)
    data, infos = imdb_model(rng)
    md = load(tmp_path, data, custom_objects={"mean_pool": mean_pool})
    assert [type(layer).__name__ for layer in md.layers] == [
        "InputLayer", "Embedding", "LegacyLSTM", "Lambda", "Dense",
    ]  # fmt: skip
    assert md.layers[1].n_vocab == N_VOCAB and md.layers[3].name == "Lambda_3"
    ids = token_ids(rng)
    np.testing.assert_allclose(md.predict(ids), imdb_reference(ids, infos), rtol=1e-5, atol=1e-6)
    # hat's own LSTM (o * tanh(c)) on the same weights would not give Hat's numbers
    lstm = infos[1]
    assert not np.allclose(
        hat_lstm(infos[0]["W"][ids.astype(int)], {**lstm, "act": "linear"}),
        hat_lstm(infos[0]["W"][ids.astype(int)], lstm),
        atol=1e-3,
    )


def test_the_imdb_model_saves_and_trains(tmp_path):
    rng = np.random.default_rng(1)
    data, _ = imdb_model(rng)
    md = load(tmp_path, data, custom_objects={"mean_pool": mean_pool})
    ids = token_ids(rng, 8)
    md.save(tmp_path / "md.h5")
    np.testing.assert_array_equal(load_model(tmp_path / "md.h5").predict(ids), md.predict(ids))
    before = md.layers[2].params["H"].copy()
    y = np.eye(2, dtype=np.float32)[np.arange(8) % 2]
    md.fit(ids, y, batch_size=4, n_epochs=1, verbose=0)
    assert md.epoch == 13 and not np.array_equal(md.layers[2].params["H"], before)


def test_a_lambda_whose_function_is_not_given(tmp_path):
    data, _ = imdb_model(np.random.default_rng(2))
    with pytest.raises(LegacyFileError, match="Lambda layer 'Lambda_3' calls __main__.mean_pool"):
        load(tmp_path, data)


def test_a_lambda_function_found_in_its_module(tmp_path):
    rng = np.random.default_rng(2)
    data, infos = imdb_model(rng)
    data["atom_list"][3]["info"]["fn"] = Py2Global("tests.test_legacy_sequences", "mean_pool")
    md = load(tmp_path, data)
    ids = token_ids(rng)
    np.testing.assert_allclose(md.predict(ids), imdb_reference(ids, infos), rtol=1e-5, atol=1e-6)
    data["atom_list"][3]["info"]["fn"] = Py2Global("my_py2_utils", "mean_pool")
    with pytest.raises(LegacyFileError, match="calls my_py2_utils.mean_pool.*ModuleNotFoundError"):
        load(tmp_path, data)


@pytest.mark.parametrize(
    "overrides",
    [
        {"return_sequence": False},
        {"masking": True, "gate_act": "hard_sigmoid"},
        {"masking": True, "return_sequence": False, "act": "linear"},
    ],
)
def test_lstm_variants(tmp_path, overrides):
    rng = np.random.default_rng(3)
    lstm = hat_lstm_info(rng, **overrides)
    md = load(tmp_path, chain(lstm, in_shape=(T, N_IN)))
    x = rng.normal(0, 1, (5, T, N_IN)).astype(np.float32)
    x[1, 2] = x[3, -1] = 0  # steps Hat's masking zeroes
    assert isinstance(md.layers[1], LegacyLSTM)
    np.testing.assert_allclose(md.predict(x), hat_lstm(x, lstm), rtol=1e-5, atol=1e-6)


# -- SimpleRnn: the same cell and layout as hat's ------------------------------------------
def simple_rnn_info(rng, **overrides):
    info = {
        "class_name": "SimpleRnn",
        "n_out": N_HID,
        "act": "tanh",
        "W_init_type": "uniform",
        "H_init_type": "uniform",
        "W": rng.normal(0, 0.6, (N_IN, N_HID)).astype(np.float32),
        "H": rng.normal(0, 0.6, (N_HID, N_HID)).astype(np.float32),
        "b": rng.normal(0, 0.3, N_HID).astype(np.float32),
        "W_reg_info": {"class_name": "L2", "l2": 0.001},
        "H_reg_info": None,
        "b_reg_info": None,
        "return_sequence": False,
        "go_backwards": False,
        "masking": False,
    }
    info.update(overrides)
    return info


def hat_simple_rnn(x, info):
    """Hat's RnnBase._scan: time first, reversed with go_backwards, outputs in that order."""
    steps = range(x.shape[1] - 1, -1, -1) if info["go_backwards"] else range(x.shape[1])
    h, hs = np.zeros((len(x), info["n_out"])), []
    for t in steps:
        h = ACTS[info["act"]](x[:, t] @ info["W"] + h @ info["H"] + info["b"])
        hs.append(h)
    return np.stack(hs, axis=1) if info["return_sequence"] else h


@pytest.mark.parametrize(
    "overrides",
    [{}, {"go_backwards": True, "return_sequence": True}, {"masking": True, "act": "sigmoid"}],
    ids=["last", "backwards", "masking (Hat ignored it)"],
)
def test_embedding_simple_rnn_dense(tmp_path, overrides):
    rng = np.random.default_rng(4)
    emb, rnn = embedding(rng), simple_rnn_info(rng, **overrides)
    n_flat = N_HID * (T if rnn["return_sequence"] else 1)
    infos = [emb, rnn] + ([{"class_name": "Flatten", "ndim": 2}] if n_flat > N_HID else [])
    out = dense(rng, n_flat, 3)
    md = load(tmp_path, chain(*infos, out, in_shape=(T,)))
    assert isinstance(md.layers[1], Embedding) and isinstance(md.layers[2], SimpleRnn)
    assert md.layers[2].go_backwards == rnn["go_backwards"] and not md.layers[2].masking
    assert md.layers[2].regularizers["W"].get_config() == {"class_name": "L2", "l2": 0.001}
    ids = token_ids(rng)
    h = hat_simple_rnn(emb["W"][ids.astype(int)].astype(np.float64), rnn).reshape(len(ids), -1)
    expected = softmax(h @ out["W"] + out["b"])
    np.testing.assert_allclose(md.predict(ids), expected, rtol=1e-5, atol=1e-6)


# -- Convolution1D and the 1-D poolings: Theano's conv2d, channels first --------------------
def conv1d_info(W, b, **extra):
    return {
        "class_name": "Convolution1D",
        "n_outfmaps": W.shape[0],
        "len_filter": W.shape[2],
        "act": "relu",
        "init_type": "glorot_uniform",
        "W": W,
        "b": b,
        "W_reg_info": None,
        "b_reg_info": None,
        **extra,
    }


def theano_conv_channels_first(x, W, b, pad, stride):
    """Hat's Convolution1D from October 2016: x (N, C, T), W (F, C, k, 1), a true
    convolution along time (kernel index k - 1 - a at offset a), relu."""
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad)))
    k = W.shape[2]
    starts = range(0, x.shape[2] - k + 1, stride)
    out = np.stack(
        [
            sum(np.einsum("nc,fc->nf", x[:, :, s + a], W[:, :, k - 1 - a, 0]) for a in range(k))
            for s in starts
        ],
        axis=2,
    )
    return np.maximum(out + b[None, :, None], 0)


def theano_max_pool_time(x, size):
    """Hat's MaxPool1D: (N, F, T) pooled along time, windows that do not fit dropped."""
    t = x.shape[2] // size
    return x[:, :, : t * size].reshape(x.shape[0], x.shape[1], t, size).max(axis=3)


@pytest.mark.parametrize(
    ("border_mode", "pad", "stride"), [("valid", 0, 1), (1, 1, 2), ((2, 0), 2, 1), ("full", 2, 1)]
)
def test_convolution1d_maxpool1d_flatten_dense(tmp_path, border_mode, pad, stride):
    rng = np.random.default_rng(5)
    n_ch, t, n_f, k = 2, 9, 3, 3
    W = rng.normal(0, 1, (n_f, n_ch, k, 1)).astype(np.float32)
    b = rng.normal(0, 0.1, n_f).astype(np.float32)
    conv = conv1d_info(W, b, border_mode=border_mode, stride=stride)
    pool = {"class_name": "MaxPool1D", "kwargs": {"pool_size": 2}}
    t_out = ((t + 2 * pad - k) // stride + 1) // 2
    out = dense(rng, n_f * t_out, 2)
    infos = [conv, pool, {"class_name": "Flatten", "ndim": 2}, out]
    md = load(tmp_path, chain(*infos, in_shape=(n_ch, t)))
    kinds = [type(layer).__name__ for layer in md.layers]
    assert kinds == ["InputLayer", "Lambda", "Conv1D", "MaxPool1D", "Lambda", "Flatten", "Dense"]
    assert md.layers[2].border_mode == (border_mode if isinstance(border_mode, str) else (pad, pad))
    x = rng.normal(0, 1, (4, n_ch, t)).astype(np.float32)
    h = theano_max_pool_time(theano_conv_channels_first(x, W, b, pad, stride), 2)
    expected = softmax(h.reshape(4, -1) @ out["W"] + out["b"])
    np.testing.assert_allclose(md.predict(x), expected, rtol=1e-5, atol=1e-6)
    h = theano_max_pool_time(theano_conv_channels_first(x, W[:, :, ::-1], b, pad, stride), 2)
    assert not np.allclose(md.predict(x), softmax(h.reshape(4, -1) @ out["W"] + out["b"]))


def test_the_first_convolution1d_and_global_max_pool(tmp_path):
    """Before October 2016: x (N, T, n_in), W (F, 1, k, n_in), conv2d over the (T, n_in)
    image, which flips the feature axis too; out (N, F, T'), max over time (axis 2)."""
    rng = np.random.default_rng(6)
    W = rng.normal(0, 1, (3, 1, 2, N_IN)).astype(np.float32)
    b = rng.normal(0, 0.1, 3).astype(np.float32)
    gmp = {"class_name": "GlobalMaxPool", "fn": Py2Global("hat.layers.pool", "_global_max_pool")}
    gmp["kwargs"] = {"axis": 2}
    md = load(tmp_path, chain(conv1d_info(W, b), gmp, in_shape=(T, N_IN)))
    kinds = [type(layer).__name__ for layer in md.layers]
    assert kinds == ["InputLayer", "Conv1D", "GlobalMaxPool"]  # the two swaps cancelled
    x = rng.normal(0, 1, (4, T, N_IN)).astype(np.float32)
    flipped = W[:, 0, ::-1, ::-1].astype(np.float64)
    conv = np.stack(
        [np.einsum("naj,faj->nf", x[:, s : s + 2], flipped) for s in range(T - 1)], axis=2
    )
    expected = np.maximum(conv + b[None, :, None], 0).max(axis=2)
    np.testing.assert_allclose(md.predict(x), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(md.layers[1].params["W"], W[:, 0, ::-1, ::-1])
    assert isinstance(md.layers[1], Conv1D)


@pytest.mark.parametrize("masking", [False, True])
def test_global_mean_time_pool(tmp_path, masking):
    rng = np.random.default_rng(7)
    pool = {"class_name": "GlobalMeanTimePool", "kwargs": {"masking": masking}}
    md = load(tmp_path, chain(pool, in_shape=(T, N_IN)))
    x = rng.normal(0, 1, (3, T, N_IN)).astype(np.float32)
    x[0, :2] = 0  # padding in front, as pad_trunc_seqs(pad_type='pre') gives
    real = np.abs(x).sum(axis=2) != 0
    expected = x.sum(axis=1) / (real.sum(axis=1, keepdims=True) if masking else T)
    np.testing.assert_allclose(md.predict(x), expected, rtol=1e-5, atol=1e-6)


# -- what is refused ---------------------------------------------------------------------
def gru_info(rng):
    info = {"class_name": "GRU", "n_out": N_HID, "act": "tanh", "gate_act": "sigmoid"}
    for key in ("Wr", "Wz", "W"):
        info[key] = rng.normal(0, 1, (N_IN, N_HID))
    return info


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda rng: hat_lstm_info(rng, go_backwards=True),
            "LSTM layer 'LSTM_1' is not loaded: go_backwards=True: Hat's LSTM reversed the batch",
        ),
        (
            lambda rng: hat_lstm_info(rng, trainable_params=["Wg", "Ug", "bg"]),
            r"trains \['Wg'\] but not \['Wf', 'Wi', 'Wo'\]",
        ),
        (
            lambda rng: hat_lstm_info(rng, gate_act="zero"),
            "LSTM layer 'LSTM_1' cannot be rebuilt: LegacyLSTM's gate_act must be one of",
        ),
        (gru_info, "GRU layer 'GRU_1' is not loaded: Hat's GRU resets the state before"),
        (
            lambda rng: simple_rnn_info(rng, act="softmax"),
            "SimpleRnn layer 'SimpleRnn_1' cannot be rebuilt: act of a recurrent layer",
        ),
        (
            lambda rng: {k: v for k, v in simple_rnn_info(rng).items() if k != "H"},
            "SimpleRnn layer 'SimpleRnn_1' has no 'H' entry",
        ),
        (
            lambda rng: conv1d_info(np.ones((2, N_IN, 3, 1)), np.zeros(2), border_mode=(1, 1)),
            r"border_mode \(1, 1\): hat reads 'valid', 'full'",
        ),
        (
            lambda rng: conv1d_info(np.ones((2, 1, 3, N_IN)), np.zeros(2), border_mode="valid"),
            r"its W has shape \(2, 1, 3, 3\); expected \(n_outfmaps, n_in, k, 1\)",
        ),
        (
            lambda rng: {"class_name": "GlobalMaxPool", "kwargs": {"axis": 0}},
            "GlobalMaxPool layer 'GlobalMaxPool_1' is not loaded: axis 0",
        ),
        (
            lambda rng: {"class_name": "MaxPool1D", "kwargs": {"len_pool": 2}},
            "hold no int pool_size",
        ),
    ],
    ids=[
        "lstm go_backwards",
        "lstm some gates frozen",
        "lstm unknown gate_act",
        "gru",
        "rnn softmax",
        "rnn without H",
        "conv1d width padding",
        "conv1d W layout",
        "global max pool batch axis",
        "max pool 1d len_pool",
    ],
)
def test_refusals(tmp_path, make, message):
    info = make(np.random.default_rng(8))
    with pytest.raises(LegacyFileError, match=message) as caught:
        load(tmp_path, chain(info, in_shape=(T, N_IN)))
    assert "md3_epochs.p" in str(caught.value)


def test_a_simple_rnn_on_a_4d_input(tmp_path):
    """Hat's SimpleRnn took (batch, n1, ..., time, n_in); hat's takes 3-D only."""
    info = simple_rnn_info(np.random.default_rng(9))
    with pytest.raises(LegacyFileError, match="cannot rebuild this chain.*SimpleRnn expects"):
        load(tmp_path, chain(info, in_shape=(2, T, N_IN)))


def test_swaps_cancel():
    from hat.legacy_sequences import SWAP, cancel_swaps

    a, b = object(), object()
    assert cancel_swaps([SWAP, a, SWAP, SWAP, b, SWAP, SWAP, SWAP]) == [SWAP, a, b, SWAP]
    assert isinstance(Lambda(mean_pool), Lambda)


def test_lstm_frozen_recurrent_weights_and_penalties(tmp_path):
    """Hat froze and penalised the four gates' arrays together: hat's H and W."""
    rng = np.random.default_rng(10)
    trainable = [p + g for g in "gifo" for p in "Wb"]
    lstm = hat_lstm_info(
        rng, trainable_params=trainable, W_reg_info={"class_name": "L1", "l1": 0.1}
    )
    md = load(tmp_path, chain(lstm, in_shape=(T, N_IN)))
    layer = md.layers[1]
    assert layer.trainable_params == ["W", "b"]
    assert layer.regularizers["W"].get_config() == {"class_name": "L1", "l1": 0.1}
    assert "H" not in layer.regularizers
    np.testing.assert_array_equal(layer.params["H"][:, N_HID : 2 * N_HID], lstm["Uf"])
