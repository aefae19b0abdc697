"""Original Hat pickles (md<N>_epochs.p) read by hat.serializations.load.

The files are built here in the original layout: a dict {'class_name': 'Model', 'info': {...},
'atom_list': [{'info': <layer info>, 'prev_ids', 'next_ids'}]}, pickled with protocol 2. The
'py2' writer emits what Python 2's cPickle wrote: str as 8-bit strings (SHORT_BINSTRING /
BINSTRING), numpy arrays whose raw data is such a string, and numpy.core.multiarray as the
module of _reconstruct; reading those needs pickle's latin1 encoding.
"""

import io
import pickle
import struct

import numpy as np
import pytest

from hat import serializations
from hat.layers.conv import Conv2D
from hat.layers.core import Dense, Dropout, Flatten, InputLayer
from hat.legacy import LegacyFileError
from hat.models import load_model


class Py2Global:
    """A function as Hat pickled it, by module and name (a Lambda's fn, such as
    __main__.mean_pool), without the function itself."""

    def __init__(self, module, name):
        self.module, self.name = module, name


class Py2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2 wrote it: str and bytes both as 8-bit strings."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str

    def save_py2_global(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[Py2Global] = save_py2_global

    def save_global(self, obj, name=None):
        module = obj.__module__.replace("numpy._core", "numpy.core")
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode())
        self.memoize(obj)


def write(path, data, writer="py2"):
    if writer == "py2":
        buf = io.BytesIO()
        Py2Pickler(buf, protocol=2).dump(data)
        path.write_bytes(buf.getvalue())
    else:
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=2)
    return path


def atom(info, prev_ids, next_ids):
    return {"info": info, "prev_ids": prev_ids, "next_ids": next_ids}


def dense_info(id_, n_out, act, W, b, W_reg_info=None):
    return {
        "class_name": "Dense",
        "id": id_,
        "name": f"Dense_{id_}",
        "n_out": n_out,
        "act": act,
        "init_type": "glorot_uniform",
        "W": W,
        "b": b,
        "W_reg_info": W_reg_info,
        "b_reg_info": None,
        "trainable_params": ["W", "b"],
    }


def hat_model(atoms, in_ids, out_ids, epoch=12, iteration=1200):
    return {
        "class_name": "Model",
        "info": {
            "epoch": epoch,
            "iter": iteration,
            "in_ids": in_ids,
            "out_ids": out_ids,
            "any_ids": [],
        },
        "atom_list": atoms,
    }


@pytest.fixture(scope="module")
def weights():
    rng = np.random.default_rng(0)
    return {
        "W1": rng.normal(0, 0.05, (784, 5)).astype(np.float32),
        "b1": rng.normal(0, 0.1, 5).astype(np.float32),
        "W2": rng.normal(0, 0.5, (5, 3)).astype(np.float32),
        "b2": rng.normal(0, 0.1, 3).astype(np.float32),
    }


def mlp(weights, W_reg_info=None):
    """Hat's MLP: InputLayer(784) -> Dense(5, relu) -> Dropout(0.2) -> Dense(3, softmax)."""
    w = weights
    atoms = [
        atom(
            {"class_name": "InputLayer", "id": 0, "name": "InputLayer_0", "in_shape": (784,)},
            [],
            [1],
        ),
        atom(dense_info(1, 5, "relu", w["W1"], w["b1"], W_reg_info), [0], [2]),
        atom({"class_name": "Dropout", "id": 2, "name": "Dropout_2", "p_drop": 0.2}, [1], [3]),
        atom(dense_info(3, 3, "softmax", w["W2"], w["b2"]), [2], []),
    ]
    return hat_model(atoms, in_ids=[0], out_ids=[3])


def by_hand(x, w):
    x = x.astype(np.float64)
    h = np.maximum(x @ w["W1"] + w["b1"], 0)
    z = h @ w["W2"] + w["b2"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_the_py2_writer_writes_what_python_2_wrote(tmp_path, weights):
    """The fixture itself: without latin1, Python 3 cannot read its arrays."""
    path = write(tmp_path / "md12_epochs.p", mlp(weights))
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(path.read_bytes())


@pytest.mark.parametrize("writer", ["py2", "py3-protocol-2"])
def test_mlp_from_a_hat_pickle(tmp_path, weights, writer):
    path = write(tmp_path / "md12_epochs.p", mlp(weights), writer)
    md = serializations.load(str(path))
    assert [layer.name for layer in md.layers] == [
        "InputLayer_0",
        "Dense_1",
        "Dropout_2",
        "Dense_3",
    ]
    assert [type(layer) for layer in md.layers] == [InputLayer, Dense, Dropout, Dense]
    assert md.layers[2].p_drop == 0.2
    assert md.layers[1].activation.name == "relu" and md.layers[3].activation.name == "softmax"
    assert md.epoch == 12 and md.iteration == 1200
    assert md.input_shape == (784,) and md.output_shape == (3,)
    for key, layer in (("1", md.layers[1]), ("2", md.layers[3])):
        np.testing.assert_array_equal(layer.params["W"], weights[f"W{key}"])
        np.testing.assert_array_equal(layer.params["b"], weights[f"b{key}"])
    x = np.random.default_rng(1).random((7, 784), dtype=np.float32)
    np.testing.assert_allclose(md.predict(x), by_hand(x, weights), rtol=1e-5, atol=1e-7)


def test_a_converted_model_trains_and_saves(tmp_path, weights):
    md = serializations.load(write(tmp_path / "md12_epochs.p", mlp(weights)))
    x = np.random.default_rng(2).random((40, 784), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[np.arange(40) % 3]
    md.fit(x, y, batch_size=20, n_epochs=1, verbose=0)
    assert md.epoch == 13 and md.iteration == 1202  # the counters continue
    assert not np.array_equal(md.layers[1].params["W"], weights["W1"])
    md.save(tmp_path / "md13.h5")
    np.testing.assert_array_equal(load_model(tmp_path / "md13.h5").predict(x), md.predict(x))


def test_regularizer_info_is_kept(tmp_path, weights):
    data = mlp(weights, W_reg_info={"class_name": "L2", "l2": 0.01})
    md = serializations.load(write(tmp_path / "md.p", data))
    assert md.layers[1].regularizers["W"].get_config() == {"class_name": "L2", "l2": 0.01}
    assert "b" not in md.layers[1].regularizers and md.layers[3].regularizers == {}


@pytest.mark.parametrize(
    "data",
    [[1, 2, 3], {"class_name": "Sequential", "atom_list": []}, {"class_name": "Model"}],
    ids=["list", "other class", "no atoms"],
)
def test_a_pickle_of_something_else(tmp_path, data):
    path = write(tmp_path / "other.p", data)
    with pytest.raises(LegacyFileError, match="is a pickle, but not of a Hat model") as info:
        serializations.load(path)
    assert str(path) in str(info.value)


def test_a_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("epoch 1: loss 0.3\nepoch 2: loss 0.2\n")
    with pytest.raises(LegacyFileError) as info:
        serializations.load(path)
    message = str(info.value)
    assert str(path) in message
    assert "neither a hat model file (HDF5) nor a readable Hat pickle" in message


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.p"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(LegacyFileError, match="nor a readable Hat pickle"):
        serializations.load(path)


def test_a_branching_graph(tmp_path, weights):
    w = weights
    atoms = [
        atom(
            {"class_name": "InputLayer", "id": 0, "name": "InputLayer_0", "in_shape": (784,)},
            [],
            [1],
        ),
        atom(dense_info(1, 5, "relu", w["W1"], w["b1"]), [0], [2, 3]),
        atom(dense_info(2, 3, "softmax", w["W2"], w["b2"]), [1], []),
        atom(dense_info(3, 3, "softmax", w["W2"], w["b2"]), [1], []),
    ]
    path = write(tmp_path / "branch.p", hat_model(atoms, in_ids=[0], out_ids=[2, 3]))
    with pytest.raises(LegacyFileError, match="layer Dense_1 feeds 2 layers"):
        serializations.load(path)


def test_two_inputs(tmp_path, weights):
    atoms = [
        atom(
            {"class_name": "InputLayer", "id": i, "name": f"InputLayer_{i}", "in_shape": (4,)},
            [],
            [],
        )
        for i in (0, 1)
    ]
    path = write(tmp_path / "two.p", hat_model(atoms, in_ids=[0, 1], out_ids=[0, 1]))
    with pytest.raises(LegacyFileError, match="has 2 inputs"):
        serializations.load(path)


def test_an_unknown_layer(tmp_path):
    """Hat's Reweight (normalization.py, November 2016) has no counterpart in hat."""
    atoms = [
        atom(
            {"class_name": "InputLayer", "id": 0, "name": "InputLayer_0", "in_shape": (4,)},
            [],
            [1],
        ),
        atom({"class_name": "Reweight", "id": 1, "name": "Reweight_1", "W": np.ones(4)}, [0], []),
    ]
    path = write(tmp_path / "rw.p", hat_model(atoms, in_ids=[0], out_ids=[1]))
    with pytest.raises(LegacyFileError, match="holds a Hat Reweight layer"):
        serializations.load(path)


# -- convolutions: Theano flipped its kernels ------------------------------------------------
def true_convolution(x, W, b, pad):
    """Theano's conv2d: a true convolution (the kernel flipped), then + b."""
    n, c, h, w = x.shape
    f, _, kh, kw = W.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = h + 2 * pad - kh + 1, w + 2 * pad - kw + 1
    out = np.empty((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i : i + kh, j : j + kw]  # (n, c, kh, kw)
            # the sum over a, b of patch[a, b] * W[kh - 1 - a, kw - 1 - b]
            out[:, :, i, j] = np.einsum("ncab,fcab->nf", patch, W[:, :, ::-1, ::-1])
    return out + b[None, :, None, None]


@pytest.mark.parametrize(("border_mode", "pad"), [("valid", 0), ((1, 1), 1)])
def test_convolution_kernels_are_unflipped(tmp_path, border_mode, pad):
    rng = np.random.default_rng(3)
    W = rng.normal(0, 1, (2, 3, 3, 2)).astype(np.float32)  # not symmetric: flipping matters
    b = np.array([0.5, -0.25], np.float32)
    conv_info = {
        "class_name": "Convolution2D",
        "id": 1,
        "name": "Convolution2D_1",
        "n_outfmaps": 2,
        "n_row": 3,
        "n_col": 2,
        "act": "linear",
        "init_type": "glorot_uniform",
        "border_mode": border_mode,
        "W": W,
        "b": b,
        "W_reg_info": None,
        "b_reg_info": None,
    }
    atoms = [
        atom(
            {"class_name": "InputLayer", "id": 0, "name": "InputLayer_0", "in_shape": (3, 6, 5)},
            [],
            [1],
        ),
        atom(conv_info, [0], [2]),
        atom({"class_name": "Flatten", "id": 2, "name": "Flatten_2", "ndim": 2}, [1], []),
    ]
    md = serializations.load(write(tmp_path / "cnn.p", hat_model(atoms, [0], [2])))
    assert [type(layer) for layer in md.layers] == [InputLayer, Conv2D, Flatten]
    np.testing.assert_array_equal(md.layers[1].params["W"], W[:, :, ::-1, ::-1])
    x = rng.normal(0, 1, (4, 3, 6, 5)).astype(np.float32)
    expected = true_convolution(x, W, b, pad)
    assert expected.shape == (4, 2, 4 + 2 * pad, 4 + 2 * pad)
    np.testing.assert_allclose(md.predict(x), expected.reshape(4, -1), rtol=1e-5, atol=1e-5)
    # the kernel as stored, unflipped, would give another result
    assert not np.allclose(
        md.predict(x), true_convolution(x, W[:, :, ::-1, ::-1], b, pad).reshape(4, -1), atol=1e-3
    )
