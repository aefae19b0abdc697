"""Every bad input the reliability tests try, in one table: the single source of truth.

Two kinds of case. A `Refused` case triggers a bad input and names the exception hat must raise
and a regex its message must match (the message names the argument, the value or shape it got,
and what was expected). An `Accepted` case feeds an unusual but valid input and checks that the
result is still correct. tests/test_bad_inputs.py runs them all; docs/reliability.md is rendered
from this table with the messages captured by running each case:

    python -m tests.bad_inputs > docs/reliability.md
"""

from __future__ import annotations

import contextlib
import gzip
import re
import shutil
import struct
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hat.callbacks import CallbackError

CLEAR = (ValueError, TypeError)  # what a refusal raises, unless a case says otherwise
TMP_PREFIX = "hat-bad-input-"


@dataclass(frozen=True)
class Refused:
    """A bad input that hat refuses with `raises` and a message matching `match`."""

    id: str
    bad_input: str
    trigger: Callable[[], object]
    raises: type | tuple[type, ...] = CLEAR
    match: str = ""


@dataclass(frozen=True)
class Accepted:
    """An unusual input that hat accepts: `check` asserts the result is correct."""

    id: str
    bad_input: str
    check: Callable[[], None]
    outcome: str  # what hat does, for the docs


# -- small models and data -----------------------------------------------------------------
def _data(n=40, n_in=20, n_out=3):
    from tests.helpers.toy import blobs

    return blobs(n=n, n_in=n_in, n_out=n_out)


def _mlp(**kwargs):
    from tests.helpers.toy import small_mlp

    return small_mlp(**kwargs)


def _seq(*layers):
    from hat.models import Sequential

    seq = Sequential()
    for layer in layers:
        seq.add(layer)
    return seq


def _combine(*layers):
    return _seq(*layers).combine(seed=0)


def _text_model():
    """Embedding(10, 2) over 4 token ids, mean over time, Dense(2)."""
    layers = _layer("InputLayer")(4), _layer("Embedding")(10, 2)
    return _combine(*layers, _layer("GlobalAveragePooling1D")(), _layer("Dense")(2, "softmax"))


def _cnn():
    from hat.layers import BatchNorm, Conv2D, Dense, Flatten, InputLayer, MaxPool2D

    return _combine(
        InputLayer((1, 8, 8)),
        Conv2D(4, 3, 3, act="relu", border_mode="same"),
        BatchNorm(),
        MaxPool2D(),
        Flatten(),
        Dense(3, act="softmax"),
    )


def _images(n=8):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 1, 8, 8)).astype(np.float32)


def _fit(md=None, x=None, y=None, **kwargs):
    md = md if md is not None else _mlp()
    dx, dy, _ = _data()
    kwargs.setdefault("verbose", 0)
    kwargs.setdefault("n_epochs", 1)
    return md.fit(dx if x is None else x, dy if y is None else y, **kwargs)


def _with(array, index, value):
    array = array.copy()
    array[index] = value
    return array


@contextlib.contextmanager
def _tmp():
    folder = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- files ---------------------------------------------------------------------------------
def _load_from(write: Callable[[Path], None], loader: str = "load_model"):
    from hat import models

    with _tmp() as folder:
        path = folder / "model.h5"
        write(path)
        if loader == "load_model":
            return models.load_model(path)
        return _mlp().load_weights(path)


def _truncated(path):
    _mlp().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _corrupt(path):
    _mlp().save(path)
    data = bytearray(path.read_bytes())
    data[:512] = bytes(range(256)) * 2  # the HDF5 superblock, scrambled
    path.write_bytes(bytes(data))


def _other_hdf5(path):
    import h5py

    with h5py.File(path, "w") as f:
        f.create_dataset("weights", data=np.zeros(3))


def _newer_format(path):
    import h5py

    _mlp().save(path)
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 99


def _incomplete(path):
    import h5py

    _mlp().save(path)
    with h5py.File(path, "r+") as f:
        del f["layers/Dense_1/params/W"]


def _text_file(path):
    path.write_text('{"not": "a model"}\n')


def _weights_only(path):
    _mlp().save_weights(path)


def _other_architecture_weights(path):
    _mlp(n_hid=8).save_weights(path)


def _resume_other_architecture():
    with _tmp() as folder:
        _mlp(n_hid=8).save(folder / "ck.h5")
        return _fit(resume_from=folder / "ck.h5")


def _legacy(content: bytes):
    from hat.legacy import load_hat_pickle

    with _tmp() as folder:
        (folder / "md.p").write_bytes(content)
        return load_hat_pickle(str(folder / "md.p"))


def _legacy_rnn(class_name: str, **info):
    """A Hat pickle of InputLayer((5, 3)) -> one recurrent layer (its weights left out)."""
    import pickle

    atoms = [
        {"info": {"class_name": "InputLayer", "id": 0, "name": "InputLayer_0", "in_shape": (5, 3)},
         "prev_ids": [], "next_ids": [1]},
        {"info": {"class_name": class_name, "id": 1, "name": f"{class_name}_1", **info},
         "prev_ids": [0], "next_ids": []},
    ]  # fmt: skip
    counters = {"epoch": 0, "iter": 0, "in_ids": [0], "out_ids": [1], "any_ids": []}
    model = {"class_name": "Model", "atom_list": atoms, "info": counters}
    return _legacy(pickle.dumps(model, protocol=2))


def _mnist_with(damage: Callable[[Path], None], patch_hashes: bool = True):
    """load_data on a tiny synthetic MNIST (as tests/datasets/test_mnist.py writes it), with
    the checksums patched to its own, after `damage` altered one file."""
    from hat.datasets import mnist
    from tests.datasets.test_mnist import hashes_of, make_dataset

    with _tmp() as folder:
        arrays = make_dataset(folder / "mnist")
        saved = mnist.SHA256
        mnist.SHA256 = hashes_of(arrays)
        try:
            damage(folder / "mnist")
            return mnist.load_data(folder / "mnist", verify=patch_hashes)
        finally:
            mnist.SHA256 = saved


def _relabel(folder):
    from tests.datasets.test_mnist import write_idx

    write_idx(folder, "train-labels-idx1-ubyte", np.full(6, 4, dtype=np.uint8))


def _cut(folder):
    file = folder / "t10k-images-idx3-ubyte.gz"
    raw = gzip.decompress(file.read_bytes())
    file.write_bytes(gzip.compress(raw[:-7]))


def _bad_magic(folder):
    raw = struct.pack(">I3I", 0x0801, 2, 4, 5) + bytes(40)
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw))


def _short_labels(folder):
    from tests.datasets.test_mnist import write_idx

    write_idx(folder, "train-labels-idx1-ubyte", np.full(5, 3, dtype=np.uint8))


def _mnist_missing():
    from hat.datasets import mnist

    with _tmp() as folder:
        saved = mnist.MIRRORS
        mnist.MIRRORS = ((folder / "no-mirror").as_uri() + "/",)
        try:
            return mnist.load_data(folder / "empty")
        finally:
            mnist.MIRRORS = saved


# -- callbacks -----------------------------------------------------------------------------
def _raising_callback():
    from hat.callbacks import LambdaCallback

    def explode(epoch, logs):
        raise RuntimeError("disk full")

    md = _mlp()
    x, y, _ = _data()
    try:
        md.fit(x, y, n_epochs=2, callbacks=[LambdaCallback(on_epoch_end=explode)], verbose=0)
    finally:
        # the model is left usable: it predicts, and it trains again without the callback
        assert md.predict(x).shape == (40, 3) and np.isfinite(md.get_weights()[0]).all()
        md.fit(x, y, n_epochs=1, verbose=0)
        assert md.epoch == 2


# -- accepted inputs -----------------------------------------------------------------------
def _same_training(x_odd, x_plain, y=None):
    """fit and predict on x_odd give what they give on the plain float32 C array x_plain."""
    _, dy, _ = _data()
    y = dy if y is None else y
    a, b = _mlp(), _mlp()
    a.fit(x_odd, y, batch_size=16, n_epochs=2, verbose=0)
    b.fit(x_plain, y, batch_size=16, n_epochs=2, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(a.predict(x_odd), b.predict(x_plain))


def _accept_non_contiguous():
    x, _, _ = _data()
    wide = np.repeat(x, 2, axis=1)[:, ::2]  # strided columns
    assert not wide.flags.c_contiguous
    _same_training(wide, x)


def _accept_fortran():
    x, _, _ = _data()
    fortran = np.asfortranarray(x)
    assert not fortran.flags.c_contiguous
    _same_training(fortran, x)


def _accept_float16():
    x, _, _ = _data()
    half = x.astype(np.float16)
    _same_training(half, half.astype(np.float32))


def _accept_float64():
    x, _, _ = _data()
    _same_training(x.astype(np.float64), x)


def _accept_integers():
    x, _, _ = _data()
    ints = np.round(x).astype(np.int32)
    _same_training(ints, ints.astype(np.float32))


def _accept_uint8_images():
    md = _cnn()
    images = np.random.default_rng(0).integers(0, 256, (6, 1, 8, 8), dtype=np.uint8)
    np.testing.assert_array_equal(md.predict(images), md.predict(images.astype(np.float32)))


def _accept_lists():
    x, y, _ = _data()
    _same_training(x.tolist(), x, y=y.tolist())


def _accept_integer_one_hot():
    x, y, _ = _data()
    _same_training(x, x, y=y.astype(np.int64))


def _accept_label_column():
    x, _, labels = _data()
    a, b = _mlp(), _mlp()
    loss = "sparse_categorical_crossentropy"
    a.fit(x, labels[:, None], loss_func=loss, n_epochs=1, verbose=0)
    b.fit(x, labels, loss_func=loss, n_epochs=1, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def _accept_read_only():
    images = _images(8)
    targets = np.eye(3, dtype=np.float32)[np.arange(8) % 3]
    frozen_x, frozen_y = images.copy(), targets.copy()
    frozen_x.setflags(write=False)
    frozen_y.setflags(write=False)
    a, b = _cnn(), _cnn()
    a.fit(frozen_x, frozen_y, batch_size=4, n_epochs=1, shuffle=False, verbose=0)
    b.fit(images, targets, batch_size=4, n_epochs=1, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def _accept_flat_regression_targets():
    from hat.layers import Dense, InputLayer

    x, _, labels = _data()
    target = labels.astype(np.float32)
    a, b = (_combine(InputLayer(20), Dense(1)) for _ in range(2))
    a.fit(x, target, loss_func="mse", optimizer="sgd", n_epochs=1, verbose=0)
    b.fit(x, target[:, None], loss_func="mse", optimizer="sgd", n_epochs=1, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def _accept_float64_model():
    from hat.layers import Dense, InputLayer

    x, y, _ = _data()
    md = _seq(InputLayer(20), Dense(3, act="softmax")).combine(seed=0, dtype=np.float64)
    md.fit(x, y, n_epochs=1, verbose=0)
    assert md.predict(x).dtype == np.float64 and md.get_weights()[0].dtype == np.float64


def _accept_big_batch():
    history = _fit(batch_size=1000)
    assert history.batch_history["size"] == [40]  # one batch of all 40 samples


def _accept_numpy_int_batch():
    history = _fit(batch_size=np.int64(20))
    assert history.batch_history["size"] == [20, 20]


def _accept_nonfinite_allowed():
    x, y, _ = _data()
    import warnings

    from hat.models import DivergenceWarning

    md = _mlp()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DivergenceWarning)
        md.fit(_with(x, (5, 0), np.nan), y, n_epochs=1, verbose=0, allow_nonfinite=True)
    assert md.epoch == 1 and all(np.isfinite(w).all() for w in md.get_weights())


def _accept_predict_batch_bigger():
    md = _mlp()
    x, _, _ = _data()
    np.testing.assert_array_equal(md.predict(x, batch_size=10_000), md.predict(x, None))


def _accept_single_sample():
    md = _mlp()
    x, _, _ = _data()
    np.testing.assert_array_equal(md.predict(x[:1]), md.predict(x)[:1])


def _accept_one_array_list():
    md = _mlp()
    x, _, _ = _data()
    np.testing.assert_array_equal(md.predict([x]), md.predict(x))  # Hat's list of inputs


# -- the table -----------------------------------------------------------------------------
def _layer(name):
    import hat.layers

    return getattr(hat.layers, name)


def _cases() -> list[Refused | Accepted]:
    from hat import callbacks, losses, optimizers
    from hat.layers import (
        Activation,
        AvgPool2D,
        BatchNorm,
        Conv2D,
        Dense,
        Dropout,
        Flatten,
        GlobalAvgPool2D,
        InputLayer,
        MaxPool2D,
        Pool2D,
        Reshape,
    )
    from hat.models import Model, Sequential
    from hat.preprocessing import categorical_to_sparse, sparse_to_categorical
    from hat.regularizations import L2

    x, y, labels = _data()
    flat28 = InputLayer(784)
    img = InputLayer((1, 28, 28))
    sparse = "sparse_categorical_crossentropy"
    R, A = Refused, Accepted
    return [
        # ---- layer constructors
        R("dense-n-out-zero", "Dense(0)", lambda: Dense(0), ValueError,
          r"n_out must be a positive int; got 0"),
        R("dense-n-out-float", "Dense(2.5)", lambda: Dense(2.5), ValueError,
          r"n_out must be a positive int; got 2\.5"),
        R("dense-n-out-string", "Dense('10')", lambda: Dense("10"), ValueError,
          r"n_out must be a positive int; got '10'"),
        R("unknown-activation", "Dense(10, act='rleu')", lambda: Dense(10, act="rleu"),
          ValueError, r"unknown activation 'rleu'; expected one of: .*relu.*softmax"),
        R("activation-not-a-name", "Dense(10, act=3)", lambda: Dense(10, act=3), TypeError,
          r"act must be a name or a callable; got int 3"),
        R("activation-plain-callable", "Dense(10, act=np.exp) (no gradient registered)",
          lambda: Dense(10, act=np.exp), TypeError,
          r"activation <ufunc 'exp'> .*register it first.*one of: .*relu"),
        R("activation-layer-unknown", "Activation('soft_max')",
          lambda: Activation("soft_max"), ValueError,
          r"unknown activation 'soft_max'; expected one of: .*softmax"),
        R("unknown-initialization", "Dense(10, init_type='xavier')",
          lambda: Dense(10, init_type="xavier"), ValueError,
          r"unknown init_type 'xavier'; expected one of: .*glorot_uniform.*he_normal"),
        R("initial-W-wrong-shape", "Dense(10, W_init=np.zeros((3, 3))) after InputLayer(784)",
          lambda: _combine(flat28, Dense(10, W_init=np.zeros((3, 3)))), ValueError,
          r"W_init must have shape \(784, 10\); got \(3, 3\)"),
        R("initial-W-a-name", "Dense(2, W_init='ones') (a name, not an array)",
          lambda: _combine(InputLayer(4), Dense(2, W_init="ones")), TypeError,
          r"W_init must be an array of shape \(4, 2\); got the string 'ones'.*init_type="),
        R("conv-initial-W-wrong-shape", "Conv2D(4, 3, 3, W_init=np.zeros((4, 3, 3)))",
          lambda: _combine(InputLayer((1, 8, 8)), Conv2D(4, 3, 3, W_init=np.zeros((4, 3, 3)))),
          ValueError, r"W_init must have shape \(4, 1, 3, 3\); got \(4, 3, 3\)"),
        R("trainable-params-unknown", "Dense(10, trainable_params=['W', 'gamma'])",
          lambda: Dense(10, trainable_params=["W", "gamma"]), ValueError,
          r"trainable_params may hold 'W' and 'b'; got \['W', 'gamma'\]"),
        R("regularizer-not-one", "Dense(10, W_reg=0.01)", lambda: Dense(10, W_reg=0.01),
          TypeError,
          r"regularizer must be L1\(\.\.\.\), L2\(\.\.\.\), L1L2\(\.\.\.\) or None; got 0\.01"),
        R("regularizer-negative", "L2(-0.1)", lambda: L2(-0.1), ValueError,
          r"l2 must be a finite number >= 0; got -0\.1"),
        R("layer-name-not-string", "Dense(10, name=7)", lambda: Dense(10, name=7), TypeError,
          r"name must be a string or None; got 7"),
        R("dropout-one", "Dropout(p_drop=1.0)", lambda: Dropout(1.0), ValueError,
          r"p_drop must be a number in \[0, 1\); got 1\.0"),
        R("dropout-negative", "Dropout(p_drop=-0.1)", lambda: Dropout(-0.1), ValueError,
          r"p_drop must be a number in \[0, 1\); got -0\.1"),
        R("input-layer-zero", "InputLayer(0)", lambda: InputLayer(0), ValueError,
          r"in_shape must hold positive sizes; got \(0,\)"),
        R("input-layer-string", "InputLayer('784')", lambda: InputLayer("784"), TypeError,
          r"in_shape must be an int or a tuple of ints; got '784'"),
        R("conv-zero-filters", "Conv2D(0, 3, 3)", lambda: Conv2D(0, 3, 3), ValueError,
          r"n_outfmaps must be a positive int; got 0"),
        R("conv-border-mode", "Conv2D(8, 3, 3, border_mode='sme')",
          lambda: Conv2D(8, 3, 3, border_mode="sme"), ValueError,
          r"border_mode must be one of \('valid', 'same', 'full'\) or \(pad_h, pad_w\); "
          r"got 'sme'"),
        R("conv-negative-padding", "Conv2D(8, 3, 3, border_mode=(-1, 1))",
          lambda: Conv2D(8, 3, 3, border_mode=(-1, 1)), ValueError,
          r"border_mode must be a pair of ints >= 0; got \(-1, 1\)"),
        R("conv-stride-zero", "Conv2D(8, 3, 3, strides=0)",
          lambda: Conv2D(8, 3, 3, strides=0), ValueError,
          r"strides must be a positive int; got 0"),
        R("conv-algorithm", "Conv2D(8, 3, 3, algorithm='fft')",
          lambda: Conv2D(8, 3, 3, algorithm="fft"), ValueError,
          r"algorithm must be one of \('auto', 'im2col', 'winograd'\); got 'fft'"),
        R("pool-size-zero", "MaxPool2D(pool_size=0)", lambda: MaxPool2D(0), ValueError,
          r"pool_size must be a positive int; got 0"),
        R("pool-size-triple", "AvgPool2D(pool_size=(2, 2, 2))",
          lambda: AvgPool2D((2, 2, 2)), ValueError,
          r"pool_size must be an int or a pair of ints; got \(2, 2, 2\)"),
        R("pool-mode", "Pool2D(pool_mode='min')", lambda: Pool2D(pool_mode="min"), ValueError,
          r"pool_mode must be 'max' or 'avg'; got 'min'"),
        R("batchnorm-momentum", "BatchNorm(momentum=1.5)", lambda: BatchNorm(momentum=1.5),
          ValueError, r"momentum must be a number in \[0, 1\]; got 1\.5"),
        R("batchnorm-eps", "BatchNorm(eps=0)", lambda: BatchNorm(eps=0), ValueError,
          r"eps must be a number > 0; got 0"),
        R("batchnorm-axis-type", "BatchNorm(axis='channels')",
          lambda: BatchNorm(axis="channels"), TypeError,
          r"axis must be an int or a tuple of ints .*; got 'channels'"),
        R("reshape-two-unknowns", "Reshape((-1, -1))", lambda: Reshape((-1, -1)), ValueError,
          r"out_shape needs positive sizes and at most one -1; got \(-1, -1\)"),
        R("flatten-ndim", "Flatten(ndim=3)", lambda: Flatten(ndim=3), ValueError,
          r"Flatten supports ndim=2 .*; got 3"),
        # ---- Sequential.add and combine
        R("add-non-layer", "Sequential().add('Dense')", lambda: Sequential().add("Dense"),
          TypeError, r"Sequential.add expects a Layer; got str 'Dense'"),
        R("add-layer-class", "Sequential().add(Dense) (the class, not an instance)",
          lambda: Sequential().add(Dense), TypeError,
          r"Sequential.add expects a Layer; got type .*Dense"),
        R("first-layer-not-input", "Sequential().add(Dense(10)) as the first layer",
          lambda: Sequential().add(Dense(10)), ValueError,
          r"the first layer must be an InputLayer .*; got Dense"),
        R("flatten-after-nothing", "Sequential().add(Flatten()) as the first layer",
          lambda: Sequential().add(Flatten()), ValueError,
          r"the first layer must be an InputLayer .*; got Flatten"),
        R("model-flatten-after-nothing", "Model([Flatten(), Dense(3)]): no InputLayer",
          lambda: Model([Flatten(), Dense(3)], seed=0), ValueError,
          r"the first layer must be an InputLayer .*; got Flatten"),
        R("model-dense-after-nothing", "Model([Dense(3)]): no InputLayer",
          lambda: Model([Dense(3)], seed=0), ValueError,
          r"the first layer must be an InputLayer .*; got Dense"),
        R("second-input-layer", "an InputLayer after the first layer",
          lambda: _seq(InputLayer(4), InputLayer(4)), ValueError,
          r"only the first layer may be an InputLayer; got InputLayer\(in_shape=\(4,\).* as "
          r"layer 1"),
        R("layer-added-twice", "the same Dense instance added twice",
          lambda: (lambda d: _seq(InputLayer(4), d, d))(Dense(4)), ValueError,
          r"Dense\(n_out=4.*was added twice"),
        R("duplicate-names", "two layers named 'fc'",
          lambda: _combine(InputLayer(4), Dense(4, name="fc"), Dense(2, name="fc")),
          ValueError, r"layer names must be unique; \['fc'\] appear more than once"),
        R("combine-empty", "Sequential().combine()", lambda: Sequential().combine(),
          ValueError, r"the Sequential is empty"),
        R("combine-dtype", "combine(dtype=np.int32)",
          lambda: _seq(InputLayer(4), Dense(2)).combine(dtype=np.int32), ValueError,
          r"dtype must be float32 or float64 \(the kernels' types\); got int32"),
        R("combine-dtype-float16", "combine(dtype=np.float16)",
          lambda: _seq(InputLayer(4), Dense(2)).combine(dtype=np.float16), ValueError,
          r"dtype must be float32 or float64 .*; got float16"),
        R("combine-seed", "combine(seed='abc')",
          lambda: _seq(InputLayer(4), Dense(2)).combine(seed="abc"), TypeError,
          r"seed must be an int or None; got str 'abc'"),
        R("dense-after-image", "Dense(10) after InputLayer((1, 28, 28))",
          lambda: _combine(img, Dense(10)), ValueError,
          r"Dense expects a 2-D input .*; got shape \(None, 1, 28, 28\)\. Add Flatten\(\)"),
        R("conv-after-flat", "Conv2D(8, 3, 3) after InputLayer(784)",
          lambda: _combine(flat28, Conv2D(8, 3, 3)), ValueError,
          r"Conv2D expects a 4-D input \(batch, channels, height, width\); got shape "
          r"\(None, 784\)"),
        R("maxpool-after-flat", "MaxPool2D() after InputLayer(784)",
          lambda: _combine(flat28, MaxPool2D()), ValueError,
          r"MaxPool2D expects a 4-D input .*; got shape \(None, 784\)"),
        R("avgpool-after-flat", "AvgPool2D() after InputLayer(784)",
          lambda: _combine(flat28, AvgPool2D()), ValueError,
          r"AvgPool2D expects a 4-D input .*; got shape \(None, 784\)"),
        R("global-pool-after-flat", "GlobalAvgPool2D() after InputLayer(784)",
          lambda: _combine(flat28, GlobalAvgPool2D()), ValueError,
          r"GlobalAvgPool2D expects a 4-D input .*; got shape \(None, 784\)"),
        R("batchnorm-axis-out-of-range", "BatchNorm(axis=3) after InputLayer(784)",
          lambda: _combine(flat28, BatchNorm(axis=3)), ValueError,
          r"BatchNorm reduces over axes \(3,\) of its input of shape \(None, 784\)"),
        R("batchnorm-axis-without-batch", "BatchNorm(axis=1) after InputLayer(784)",
          lambda: _combine(flat28, BatchNorm(axis=1)), ValueError,
          r"axes \(1,\) .*must include the batch axis 0"),
        R("reshape-wrong-size", "Reshape((3, 10)) after InputLayer(784)",
          lambda: _combine(flat28, Reshape((3, 10))), ValueError,
          r"Reshape cannot turn an input of shape \(None, 784\) \(784 values per sample\) "
          r"into \(None, 3, 10\)"),
        R("conv-kernel-too-big", "Conv2D(4, 7, 7) on 5x5 images, border_mode='valid'",
          lambda: _combine(InputLayer((1, 5, 5)), Conv2D(4, 7, 7)), ValueError,
          r"Conv2D's 7x7 kernel is larger than its padded input 5x5 \(input shape "
          r"\(None, 1, 5, 5\)"),
        R("conv-winograd-stride-2", "Conv2D(4, 3, 3, strides=2, algorithm='winograd')",
          lambda: _combine(InputLayer((8, 9, 9)), Conv2D(4, 3, 3, strides=2, algorithm="winograd")),
          ValueError,
          r"Conv2D's algorithm='winograd' takes stride 1 and a square kernel of size \(3, 5\); "
          r"got strides \(2, 2\) and a 3x3 kernel"),
        R("pool-does-not-fit", "MaxPool2D((4, 4)) on 3x3 images",
          lambda: _combine(InputLayer((2, 3, 3)), MaxPool2D((4, 4))), ValueError,
          r"MaxPool2D's pool_size \(4, 4\) does not fit its input of shape \(None, 2, 3, 3\)"),
        R("avgpool-does-not-fit", "AvgPool2D((1, 5)) on 4x4 images",
          lambda: _combine(InputLayer((2, 4, 4)), AvgPool2D((1, 5))), ValueError,
          r"AvgPool2D's pool_size \(1, 5\) does not fit its input of shape \(None, 2, 4, 4\)"),
        # ---- fit / predict: x
        R("x-wrong-shape", "fit(x of shape (40, 4, 5)) for a model of input (None, 20)",
          lambda: _fit(x=x.reshape(40, 4, 5)), ValueError,
          r"x has shape \(40, 4, 5\), but the model expects \(None, 20\)"),
        R("x-wrong-features", "fit(x of shape (40, 19)) for input (None, 20)",
          lambda: _fit(x=x[:, :19]), ValueError,
          r"x has shape \(40, 19\), but the model expects \(None, 20\)"),
        R("predict-flat-for-cnn", "predict(x of shape (8, 64)) for a CNN of input (1, 8, 8)",
          lambda: _cnn().predict(_images().reshape(8, 64)), ValueError,
          r"x has shape \(8, 64\), but the model expects \(None, 1, 8, 8\)"),
        R("predict-image-no-channel", "predict(x of shape (8, 8, 8)) for a CNN of input "
          "(1, 8, 8)", lambda: _cnn().predict(_images()[:, 0]), ValueError,
          r"x has shape \(8, 8, 8\), but the model expects \(None, 1, 8, 8\)"),
        R("x-one-sample-no-batch", "predict(x of shape (20,)): one sample without its batch axis",
          lambda: _mlp().predict(x[0]), ValueError,
          r"x has shape \(20,\), but the model expects \(None, 20\).*x\[None\]"),
        R("x-scalar", "predict(3.0)", lambda: _mlp().predict(3.0), ValueError,
          r"x has shape \(\), but the model expects \(None, 20\)"),
        R("x-empty", "fit(x of shape (0, 20))", lambda: _fit(x=x[:0], y=y[:0]), ValueError,
          r"x is empty \(shape \(0, 20\)\); expected at least one sample"),
        R("predict-empty", "predict(x of shape (0, 20))", lambda: _mlp().predict(x[:0]),
          ValueError, r"x is empty \(shape \(0, 20\)\)"),
        R("x-object", "fit(x of dtype object)", lambda: _fit(x=x.astype(object)), TypeError,
          r"x must hold numbers \(float or int\); got an array of dtype object"),
        R("x-none", "fit(x=None)", lambda: _mlp().fit(None, y, verbose=0),
          TypeError, r"x must hold numbers \(float or int\); got None"),
        R("x-bool", "fit(x of dtype bool)", lambda: _fit(x=x > 0), TypeError,
          r"x must hold numbers \(float or int\); got an array of dtype bool.*astype"),
        R("x-strings", "predict(x of dtype <U3)",
          lambda: _mlp().predict(np.full((2, 20), "abc")), TypeError,
          r"x must hold numbers \(float or int\); got an array of dtype <U3"),
        R("x-complex", "predict(x of dtype complex128)",
          lambda: _mlp().predict(x.astype(complex)), TypeError,
          r"x must hold numbers \(float or int\); got an array of dtype complex128"),
        R("x-ragged", "fit(x = a list of rows of different lengths)",
          lambda: _mlp().predict([[1.0] * 20, [1.0] * 19]), ValueError,
          r"x holds sequences of different lengths \(x\[0\] has 20 steps, x\[1\] has 19\)"),
        # ---- sequences
        R("x-ragged-token-lists", "fit(x = token lists of different lengths) for an Embedding",
          lambda: _text_model().fit([[1, 2, 3, 4], [5, 6], [7, 8, 9, 1]], [0, 1, 0],
                                    loss_func=sparse, verbose=0), ValueError,
          r"different lengths .*pad_sequences\(x, maxlen=...\)"),
        R("ids-float", "predict(token ids holding 2.5) into Embedding(10, 2)",
          lambda: _text_model().predict(np.array([[1, 2, 2.5, 3]])), ValueError,
          r"token id 2\.5 at x\[0, 2\]; token ids must be whole numbers in \[0, 9\]"),
        R("ids-negative", "predict(token ids holding -2) into Embedding(10, 2)",
          lambda: _text_model().predict(np.array([[1, -2, 3, 0]])), ValueError,
          r"negative token id -2"),
        R("ids-too-large", "predict(token ids up to 12) into Embedding(10, 2)",
          lambda: _text_model().predict(np.array([[1, 12, 3, 10]])), ValueError,
          r"ids up to 12 \(the largest found\).*n_vocab=13 or more"),
        R("mask-shape", "GlobalAveragePooling1D given a (2, 3) mask for a (2, 4, 5) input",
          lambda: _layer("GlobalAveragePooling1D")().forward(
              np.zeros((2, 4, 5)), training=False, mask=np.ones((2, 3))), ValueError,
          r"mask of shape \(2, 3\), which does not fit its input of shape \(2, 4, 5\)"),
        R("x-nan", "fit(x with NaN in sample 7)", lambda: _fit(x=_with(x, (7, 3), np.nan)),
          ValueError, r"x\[7\] holds NaN or Inf; .*allow_nonfinite=True"),
        R("x-inf", "fit(x with Inf in sample 12)", lambda: _fit(x=_with(x, (12, 0), np.inf)),
          ValueError, r"x\[12\] holds NaN or Inf"),
        R("validation-x-nan", "fit(validation_data with NaN in sample 2)",
          lambda: _fit(validation_data=(_with(x, (2, 1), np.nan), y)), ValueError,
          r"validation x\[2\] holds NaN or Inf"),
        # ---- fit: y
        R("xy-lengths-differ", "fit(x with 40 samples, y with 39)", lambda: _fit(y=y[:39]),
          ValueError, r"x and y must hold the same number of samples; got 40 and 39"),
        R("y-wrong-classes", "fit(y one-hot of width 5) for a model with 3 outputs",
          lambda: _fit(y=np.eye(5, dtype=np.float32)[labels]), ValueError,
          r"y has shape \(40, 5\), but the model's output is \(None, 3\); "
          r"categorical_crossentropy needs y of shape \(40,\) \+ \(3,\)"),
        R("labels-for-one-hot", "fit(y = class labels (40,)) with categorical_crossentropy",
          lambda: _fit(y=labels), ValueError,
          r"y has shape \(40,\): class labels, but categorical_crossentropy expects one-hot "
          r"rows of width 3\. .*sparse_to_categorical.*sparse_categorical_crossentropy"),
        R("one-hot-for-labels", "fit(y one-hot (40, 3)) with sparse_categorical_crossentropy",
          lambda: _fit(y=y, loss_func=sparse), ValueError,
          r"sparse_categorical_crossentropy expects class labels of shape \(N,\); got y of "
          r"shape \(40, 3\)"),
        R("labels-out-of-range", "fit(y labels holding 3) for a model with 3 outputs",
          lambda: _fit(y=_with(labels, 4, 3), loss_func=sparse), ValueError,
          r"labels must lie in \[0, 2\] for a model with 3 outputs; got values from 0 to 3"),
        R("labels-negative", "fit(y labels holding -1)",
          lambda: _fit(y=_with(labels, 0, -1), loss_func=sparse), ValueError,
          r"labels must lie in \[0, 2\] .*; got values from -1 to 2"),
        R("labels-fractional", "fit(y labels holding 1.5)",
          lambda: _fit(y=_with(labels.astype(float), 3, 1.5), loss_func=sparse), ValueError,
          r"expects integer class labels; y\[3\] is 1\.5"),
        R("labels-nan", "fit(y float labels holding NaN)",
          lambda: _fit(y=_with(labels.astype(float), 6, np.nan), loss_func=sparse),
          ValueError, r"y\[6\] holds NaN or Inf"),
        R("y-nan", "fit(y one-hot with NaN in sample 9)",
          lambda: _fit(y=_with(y, (9, 0), np.nan)), ValueError,
          r"y\[9\] holds NaN or Inf; .*allow_nonfinite=True"),
        R("y-inf", "fit(y one-hot with Inf in sample 31)",
          lambda: _fit(y=_with(y, (31, 2), -np.inf)), ValueError, r"y\[31\] holds NaN or Inf"),
        R("y-object", "fit(y of dtype object)", lambda: _fit(y=y.astype(object)), TypeError,
          r"y must hold numbers; got an array of dtype object"),
        R("y-bool-one-hot", "fit(y one-hot of dtype bool) with categorical_crossentropy",
          lambda: _fit(y=y > 0), TypeError,
          r"y must hold numbers; got an array of dtype bool.*astype"),
        R("y-empty-x-not", "fit(x with 40 samples, y empty)", lambda: _fit(y=y[:0]),
          ValueError, r"x and y must hold the same number of samples; got 40 and 0"),
        R("y-scalar", "fit(y=1.0)", lambda: _fit(y=1.0), ValueError,
          r"x and y must hold the same number of samples; got 40 and a scalar"),
        R("train-on-batch-y", "train_on_batch(y with the wrong width)",
          lambda: _mlp().train_on_batch(x, y[:, :2]), ValueError,
          r"y has shape \(40, 2\), but the model's output is \(None, 3\)"),
        # ---- fit: the other arguments
        R("batch-size-zero", "fit(batch_size=0)", lambda: _fit(batch_size=0), ValueError,
          r"batch_size must be >= 1; got 0"),
        R("batch-size-negative", "fit(batch_size=-5)", lambda: _fit(batch_size=-5), ValueError,
          r"batch_size must be >= 1; got -5"),
        R("batch-size-float", "fit(batch_size=32.0)", lambda: _fit(batch_size=32.0), TypeError,
          r"batch_size must be an int; got float 32\.0"),
        R("batch-size-string", "fit(batch_size='32')", lambda: _fit(batch_size="32"),
          TypeError, r"batch_size must be an int; got str '32'"),
        R("batch-size-none", "fit(batch_size=None)", lambda: _fit(batch_size=None),
          TypeError, r"batch_size must be an int; got NoneType None"),
        R("batch-size-bool", "fit(batch_size=True)", lambda: _fit(batch_size=True),
          TypeError, r"batch_size must be an int; got bool True"),
        R("predict-batch-size-zero", "predict(x, batch_size=0)",
          lambda: _mlp().predict(x, batch_size=0), ValueError,
          r"batch_size must be >= 1; got 0"),
        R("n-epochs-zero", "fit(n_epochs=0)", lambda: _fit(n_epochs=0), ValueError,
          r"n_epochs must be >= 1; got 0"),
        R("n-epochs-negative", "fit(n_epochs=-2)", lambda: _fit(n_epochs=-2), ValueError,
          r"n_epochs must be >= 1; got -2"),
        R("n-epochs-float", "fit(n_epochs=2.5)", lambda: _fit(n_epochs=2.5), TypeError,
          r"n_epochs must be an int; got float 2\.5"),
        R("epochs-behind", "fit(epochs=1) on a model that trained 2 epochs",
          lambda: (lambda md: (_fit(md, n_epochs=2), _fit(md, epochs=1)))(_mlp()), ValueError,
          r"epochs=1 leaves nothing to train: the model has already trained 2 epochs"),
        R("initial-epoch-negative", "fit(initial_epoch=-1)",
          lambda: _fit(initial_epoch=-1), ValueError,
          r"initial_epoch must be an int >= 0; got -1"),
        R("verbose", "fit(verbose=3)", lambda: _fit(verbose=3), ValueError,
          r"verbose must be 0, 1 or 2; got 3"),
        R("validation-split-above-one", "fit(validation_split=1.5)",
          lambda: _fit(validation_split=1.5), ValueError,
          r"validation_split must be a float in \(0, 1\); got 1\.5"),
        R("validation-split-negative", "fit(validation_split=-0.2)",
          lambda: _fit(validation_split=-0.2), ValueError,
          r"validation_split must be a float in \(0, 1\); got -0\.2"),
        R("validation-split-int", "fit(validation_split=1)",
          lambda: _fit(validation_split=1), ValueError,
          r"validation_split must be a float in \(0, 1\); got 1"),
        R("validation-split-too-small", "fit(validation_split=0.01) on 40 samples",
          lambda: _fit(validation_split=0.01), ValueError,
          r"validation_split=0\.01 of 40 samples leaves no training or no validation data"),
        R("validation-both", "fit(validation_data=..., validation_split=0.2)",
          lambda: _fit(validation_data=(x, y), validation_split=0.2), ValueError,
          r"give validation_data or validation_split, not both"),
        R("validation-data-not-pair", "fit(validation_data=x)",
          lambda: _fit(validation_data=x), ValueError,
          r"validation_data must be a pair \(x_val, y_val\); got ndarray of shape \(40, 20\)"),
        R("validation-data-wrong-shape", "fit(validation_data=(x of shape (40, 19), y))",
          lambda: _fit(validation_data=(x[:, :19], y)), ValueError,
          r"validation x has shape \(40, 19\), but the model expects \(None, 20\)"),
        R("clip-negative", "fit(clip=-1.0)", lambda: _fit(clip=-1.0), ValueError,
          r"clip must be a finite number > 0\.0; got -1\.0"),
        R("augment-not-callable", "fit(augment='shift')", lambda: _fit(augment="shift"),
          TypeError, r"augment must be a callable .*; got 'shift'"),
        R("unknown-loss", "fit(loss_func='cross_entropy')",
          lambda: _fit(loss_func="cross_entropy"), ValueError,
          r"unknown loss 'cross_entropy'; expected one of: binary_crossentropy, "
          r"categorical_crossentropy"),
        R("loss-plain-callable", "fit(loss_func=lambda t, p: ...)",
          lambda: _fit(loss_func=lambda t, p: 0.0), TypeError,
          r"the loss function '<lambda>' returned 0.0, which does not depend on the model's "
          r"outputs"),
        R("loss-number", "losses.get(3)", lambda: losses.get(3), TypeError,
          r"loss_func must be a name or a Loss; got int 3"),
        R("unknown-optimizer", "fit(optimizer='adamm')", lambda: _fit(optimizer="adamm"),
          ValueError, r"unknown optimizer 'adamm'; expected an Optimizer instance or one of: "
          r"adadelta, adagrad, adam"),
        R("optimizer-class", "fit(optimizer=Adam) (the class, not an instance)",
          lambda: _fit(optimizer=optimizers.Adam), TypeError,
          r"optimizer must be an Optimizer instance or a name; got the class Adam\. "
          r"Write Adam\(\)"),
        R("unknown-metric", "fit(metrics=['acuracy'])", lambda: _fit(metrics=["acuracy"]),
          ValueError, r"unknown metric 'acuracy'; expected one of: acc, accuracy"),
        R("metrics-string", "fit(metrics='accuracy') (not a list)",
          lambda: _fit(metrics="accuracy"), TypeError,
          r"metrics must be a list of names or callables; got str 'accuracy'\. "
          r"Write metrics=\['accuracy'\]"),
        R("callbacks-not-callbacks", "fit(callbacks=[print])",
          lambda: _fit(callbacks=[print]), TypeError,
          r"callbacks must be hat\.callbacks\.Callback instances; got <built-in function print>"),
        R("callbacks-not-a-list", "fit(callbacks=EarlyStopping())",
          lambda: _fit(callbacks=callbacks.EarlyStopping()), TypeError,
          r"callbacks must be a list of Callback instances; got EarlyStopping"),
        R("callback-raises", "a callback whose on_epoch_end raises RuntimeError('disk full')",
          _raising_callback, CallbackError,
          r"callback LambdaCallback raised RuntimeError in on_epoch_end: disk full"),
        # ---- optimizers
        R("lr-negative", "Adam(lr=-0.001)", lambda: optimizers.Adam(lr=-0.001), ValueError,
          r"lr must be a finite number > 0\.0; got -0\.001"),
        R("lr-nan", "SGD(lr=float('nan'))", lambda: optimizers.SGD(lr=float("nan")),
          ValueError, r"lr must be a finite number > 0\.0; got nan"),
        R("lr-inf", "SGD(lr=float('inf'))", lambda: optimizers.SGD(lr=float("inf")),
          ValueError, r"lr must be a finite number > 0\.0; got inf"),
        R("lr-zero", "RMSprop(lr=0)", lambda: optimizers.RMSprop(lr=0), ValueError,
          r"lr must be a finite number > 0\.0; got 0\.0"),
        R("lr-string", "Adam(lr='0.001')", lambda: optimizers.Adam(lr="0.001"), TypeError,
          r"lr must be a number; got str '0\.001'"),
        R("lr-schedule-negative", "Adam(lr=lambda step: -1.0), at the first update",
          lambda: _fit(optimizer=optimizers.Adam(lr=lambda step: -1.0)), ValueError,
          r"the learning rate from the schedule must be a finite number >= 0\.0; got -1\.0"),
        R("momentum-one", "SGD(momentum=1.0)", lambda: optimizers.SGD(momentum=1.0),
          ValueError, r"momentum must be in \[0, 1\); got 1\.0"),
        R("beta-negative", "Adam(beta1=-0.9)", lambda: optimizers.Adam(beta1=-0.9), ValueError,
          r"beta1 must be a finite number >= 0\.0; got -0\.9"),
        R("nesterov-no-momentum", "SGD(nesterov=True) without momentum",
          lambda: optimizers.SGD(nesterov=True), ValueError,
          r"nesterov=True needs a momentum > 0; got momentum=0\.0"),
        R("weight-decay-negative", "AdamW(weight_decay=-0.01)",
          lambda: optimizers.AdamW(weight_decay=-0.01), ValueError,
          r"weight_decay must be a finite number >= 0\.0; got -0\.01"),
        R("optimizer-unknown-argument", "SGD(learning_rate=0.1)",
          lambda: optimizers.SGD(learning_rate=0.1), TypeError, r"learning_rate"),
        # ---- evaluate, set_weights and friends
        R("evaluate-without-metrics", "evaluate(x, y) on a model never fit nor compiled",
          lambda: _mlp().evaluate(x, y), ValueError,
          r"evaluate needs metrics=\[\.\.\.\] \(the model has no loss yet\)"),
        R("evaluate-unknown-metric", "evaluate(x, y, metrics=['f1'])",
          lambda: _mlp().evaluate(x, y, metrics=["f1"]), ValueError,
          r"unknown metric 'f1'; expected one of"),
        R("evaluate-xy-lengths", "evaluate(x with 40 samples, y with 30)",
          lambda: _mlp().evaluate(x, y[:30], metrics=["accuracy"]), ValueError,
          r"x and y must hold the same number of samples; got 40 and 30"),
        R("evaluate-labels-out-of-range", "evaluate(labels holding 7) for 3 outputs",
          lambda: _mlp().evaluate(x, _with(labels, 0, 7), metrics=["accuracy"]), ValueError,
          r"labels must lie in \[0, 2\] for a model with 3 outputs; got values from 0 to 7"),
        R("set-weights-count", "set_weights(a list of 3 arrays) for a model of 4",
          lambda: _mlp().set_weights(_mlp().get_weights()[:3]), ValueError,
          r"set_weights expects 4 arrays; got 3\. In order: Dense_1\.W, Dense_1\.b, "
          r"Dense_2\.W, Dense_2\.b"),
        R("set-weights-shape", "set_weights with a transposed W",
          lambda: (lambda w: _mlp().set_weights([w[0].T] + w[1:]))(_mlp().get_weights()),
          ValueError, r"weight 0 has shape \(16, 20\); the model expects \(20, 16\) "
                      r"for Dense_1\.W"),
        R("compile-unknown-optimizer", "compile(optimizer='sgdd')",
          lambda: _mlp().compile(optimizer="sgdd"), ValueError,
          r"unknown optimizer 'sgdd'"),
        R("find-layer", "find_layer('dense')", lambda: _mlp().find_layer("dense"), KeyError,
          r"no layer named 'dense'; the layers are \['InputLayer_0', 'Dense_1', 'Dense_2'\]"),
        # ---- BatchNorm in training
        R("batchnorm-batch-of-one", "fit a Dense+BatchNorm model with batch_size=1",
          lambda: _fit(_combine(InputLayer(20), Dense(8), BatchNorm(), Dense(3, act="softmax")),
                       batch_size=1), ValueError,
          r"BatchNorm needs more than one value per channel in training; got input shape "
          r"\(1, 8\)"),
        R("batchnorm-last-batch-of-one", "fit a Dense+BatchNorm model on 41 samples with "
          "batch_size=20 (the last batch holds 1 sample)",
          lambda: _fit(_combine(InputLayer(20), Dense(8), BatchNorm(), Dense(3, act="softmax")),
                       x=np.concatenate([x, x[:1]]), y=np.concatenate([y, y[:1]]),
                       batch_size=20), ValueError,
          r"BatchNorm needs more than one value per channel in training; got input shape "
          r"\(1, 8\)"),
        # ---- callbacks' arguments
        R("call-freq-zero", "SaveModel('Md', call_freq=0)",
          lambda: callbacks.SaveModel("Md", call_freq=0), ValueError,
          r"call_freq must be an int >= 1; got 0"),
        R("checkpoint-save-freq", "ModelCheckpoint('m.h5', save_freq=0)",
          lambda: callbacks.ModelCheckpoint("m.h5", save_freq=0), ValueError,
          r"save_freq must be 'epoch' or a number of batches >= 1; got 0"),
        R("early-stopping-patience", "EarlyStopping(patience=-1)",
          lambda: callbacks.EarlyStopping(patience=-1), ValueError,
          r"patience must be an int >= 0; got -1"),
        R("monitor-mode", "EarlyStopping(mode='minimum')",
          lambda: callbacks.EarlyStopping(mode="minimum"), ValueError,
          r"mode must be 'auto', 'min' or 'max'; got 'minimum'"),
        R("plateau-factor", "ReduceLROnPlateau(factor=1.5)",
          lambda: callbacks.ReduceLROnPlateau(factor=1.5), ValueError,
          r"factor must be a number in \(0, 1\); got 1\.5"),
        R("plateau-factor-string", "ReduceLROnPlateau(factor='0.5')",
          lambda: callbacks.ReduceLROnPlateau(factor="0.5"), ValueError,
          r"factor must be a number in \(0, 1\); got '0\.5'"),
        R("validation-callback-half", "Validation(te_x=x) without te_y",
          lambda: callbacks.Validation(te_x=x), ValueError,
          r"Validation needs both te_x and te_y, or neither"),
        R("checkpoint-path-key", "ModelCheckpoint('m-{val_acc}.h5') without validation",
          lambda: _fit(callbacks=[callbacks.ModelCheckpoint("m-{val_acc}.h5")]),
          CallbackError, r"filepath 'm-\{val_acc\}\.h5' names 'val_acc', which is not logged; "
                         r"logged values: \['loss'\]"),
        R("lr-scheduler-nan", "LearningRateScheduler(lambda epoch, lr: nan)",
          lambda: _fit(callbacks=[callbacks.LearningRateScheduler(lambda e, lr: float("nan"))]),
          CallbackError, r"the schedule returned nan for epoch 0; expected a learning rate >= 0"),
        R("validation-callback-shape", "Validation(te_x of shape (40, 5), te_y) for input "
          "(None, 20)", lambda: _fit(callbacks=[callbacks.Validation(
              te_x=x[:, :5], te_y=y, call_freq=1, dump_path=None)]), CallbackError,
          r"callback Validation raised ValueError in on_train_begin: checking te_x and te_y: "
          r"x has shape \(40, 5\), but the model expects \(None, 20\)"),
        R("lambda-callback-hook", "LambdaCallback(on_epoch=...)",
          lambda: callbacks.LambdaCallback(on_epoch=print), TypeError,
          r"LambdaCallback takes on_train_begin, .*; got \['on_epoch'\]"),
        # ---- preprocessing
        R("to-categorical-out-of-range", "sparse_to_categorical([0, 5], 3)",
          lambda: sparse_to_categorical([0, 5], 3), ValueError,
          r"labels must lie in \[0, 2\] for n_out=3; got values from 0 to 5"),
        R("to-categorical-n-out", "sparse_to_categorical(labels, 0)",
          lambda: sparse_to_categorical(labels, 0), ValueError,
          r"n_out must be a positive int; got 0"),
        R("to-categorical-fractional", "sparse_to_categorical([0.5], 3)",
          lambda: sparse_to_categorical([0.5], 3), ValueError,
          r"expects integer class labels; got non-integers such as 0\.5"),
        R("to-sparse-scalar", "categorical_to_sparse(3)", lambda: categorical_to_sparse(3),
          ValueError, r"categorical_to_sparse expects rows of class scores; got shape \(\)"),
        # ---- model files
        R("model-file-missing", "load_model('missing.h5')",
          lambda: __import__("hat.models").models.load_model("missing.h5"),
          __import__("hat.io").io.ModelFileError, r"no model file at 'missing\.h5'"),
        R("model-file-truncated", "load_model(a model file cut in half)",
          lambda: _load_from(_truncated), __import__("hat.io").io.ModelFileError,
          r"model\.h5' is not a readable HDF5 file .*truncated or corrupt"),
        R("model-file-corrupt", "load_model(a model file whose header is scrambled)",
          lambda: _load_from(_corrupt), __import__("hat.io").io.ModelFileError,
          r"is not a readable HDF5 file .*truncated or corrupt"),
        R("model-file-other-hdf5", "load_model(an HDF5 file that hat did not write)",
          lambda: _load_from(_other_hdf5), __import__("hat.io").io.ModelFileError,
          r"is an HDF5 file but not a hat model file"),
        R("model-file-text", "load_model(a JSON text file)",
          lambda: _load_from(_text_file), __import__("hat.io").io.ModelFileError,
          r"is not a readable HDF5 file"),
        R("model-file-weights-only", "load_model(a file written by save_weights)",
          lambda: _load_from(_weights_only), __import__("hat.io").io.ModelFileError,
          r"is an HDF5 file but a hat weights file, not a whole model"),
        R("model-file-newer-format", "load_model(a file of model format 99)",
          lambda: _load_from(_newer_format), __import__("hat.io").io.ModelFileError,
          r"has model format 99; this hat reads up to 2\. Upgrade hat"),
        R("model-file-incomplete", "load_model(a model file missing Dense_1's W)",
          lambda: _load_from(_incomplete), __import__("hat.io").io.ModelFileError,
          r"model\.h5': layer Dense_1 has params \['b'\] in the file, \['W', 'b'\] in the "
          r"model"),
        R("model-path-none", "load_model(None)",
          lambda: __import__("hat.models").models.load_model(None), TypeError,
          r"path must be a file path \(str or os\.PathLike\); got None"),
        R("model-file-directory", "load_model(a folder)",
          lambda: __import__("hat.models").models.load_model(tempfile.gettempdir()),
          __import__("hat.io").io.ModelFileError, r"no model file at '.*': it is a folder"),
        R("weights-other-architecture", "load_weights(weights of a 20-8-3 MLP) into a 20-16-3",
          lambda: _load_from(_other_architecture_weights, "load_weights"),
          __import__("hat.io").io.ModelFileError,
          r"Dense_1\.W has shape \(20, 8\) in the file, \(20, 16\) in the model"),
        R("resume-other-architecture", "fit(resume_from=a checkpoint of another architecture)",
          _resume_other_architecture, __import__("hat.io").io.ModelFileError,
          r"ck\.h5' holds a different architecture than this model"),
        R("resume-missing", "fit(resume_from='nowhere.h5')",
          lambda: _fit(resume_from="nowhere.h5"), __import__("hat.io").io.ModelFileError,
          r"no model file at 'nowhere\.h5'"),
        R("hat-pickle-garbage", "load_hat_pickle(a file of random bytes)",
          lambda: _legacy(bytes(range(200))), ValueError,
          r"is neither a hat model file \(HDF5\) nor a readable Hat pickle"),
        R("hat-pickle-other", "load_hat_pickle(a pickle of a list)",
          lambda: _legacy(__import__("pickle").dumps([1, 2])), ValueError,
          r"is a pickle, but not of a Hat model; got a list"),
        R("hat-pickle-gru", "load_hat_pickle(a model with Hat's GRU)",
          lambda: _legacy_rnn("GRU", n_out=4), ValueError,
          r"Hat's GRU layer 'GRU_1' is not loaded: Hat's GRU resets the state before the "
          r"recurrent product"),
        R("hat-pickle-lstm-backwards", "load_hat_pickle(a model with LSTM(go_backwards=True))",
          lambda: _legacy_rnn("LSTM", n_out=4, go_backwards=True), ValueError,
          r"is not loaded: go_backwards=True: Hat's LSTM reversed the batch axis instead of time"),
        # ---- the dataset loader
        R("mnist-checksum", "mnist.load_data on a folder whose train labels fail their sha256",
          lambda: _mnist_with(_relabel), __import__("hat.datasets.mnist").datasets.mnist
          .DatasetError, r"train-labels-idx1-ubyte\.gz fails its checksum: the sha256 of the "
          r"decompressed train-labels-idx1-ubyte is [0-9a-f]{64}, expected [0-9a-f]{64}"),
        R("mnist-truncated", "mnist.load_data on an images file missing its last 7 bytes",
          lambda: _mnist_with(_cut), __import__("hat.datasets.mnist").datasets.mnist
          .DatasetError, r"is truncated: its header declares shape \(2, 4, 5\) \(40 bytes\) "
          r"but only 33 bytes follow"),
        R("mnist-wrong-magic", "mnist.load_data on an images file with a labels header",
          lambda: _mnist_with(_bad_magic), __import__("hat.datasets.mnist").datasets.mnist
          .DatasetError, r"is not the IDX file expected: magic number 0x00000801, expected "
          r"0x00000803"),
        R("mnist-count-mismatch", "mnist.load_data with 6 train images but 5 train labels",
          lambda: _mnist_with(_short_labels, patch_hashes=False), __import__(
              "hat.datasets.mnist").datasets.mnist.DatasetError,
          r"has 6 images but 5 labels in one split; expected equal counts"),
        R("mnist-missing", "mnist.load_data(an empty folder), offline",
          _mnist_missing, __import__("hat.datasets.mnist").datasets.mnist.DatasetError,
          r"MNIST was not found and could not be downloaded.*Fix: put the four files"),
        # ---- accepted
        A("x-non-contiguous", "x with strided columns (not C-contiguous)",
          _accept_non_contiguous, "accepted: copied to a C-contiguous float32 array; the same "
          "weights and predictions as the contiguous array"),
        A("x-fortran", "x in Fortran order", _accept_fortran,
          "accepted: copied to C order; the same weights and predictions"),
        A("x-float16", "x of dtype float16", _accept_float16,
          "accepted: converted to float32; the same weights as the float32 copy"),
        A("x-float64", "x of dtype float64", _accept_float64,
          "accepted: converted to the model's float32; the same weights and predictions"),
        A("x-int", "x of dtype int32", _accept_integers,
          "accepted: converted to float32; the same weights as the float copy"),
        A("x-uint8-images", "predict(uint8 images) on a CNN", _accept_uint8_images,
          "accepted: converted to float32; the same predictions"),
        A("x-y-lists", "x and y as nested Python lists", _accept_lists,
          "accepted: converted to arrays; the same weights"),
        A("y-int-one-hot", "y one-hot of dtype int64", _accept_integer_one_hot,
          "accepted: converted to float32; the same weights"),
        A("labels-column", "sparse labels as a column (N, 1)", _accept_label_column,
          "accepted: flattened to (N,); the same weights as flat labels"),
        A("batch-larger-than-data", "fit(batch_size=1000) on 40 samples", _accept_big_batch,
          "accepted: one batch of all 40 samples per epoch"),
        A("batch-size-numpy-int", "fit(batch_size=np.int64(20))", _accept_numpy_int_batch,
          "accepted: two batches of 20"),
        A("nonfinite-allowed", "fit(x with NaN, allow_nonfinite=True)",
          _accept_nonfinite_allowed, "accepted: the NaN batch makes no update "
          "(DivergenceWarning); the weights stay finite"),
        A("x-read-only", "read-only x and y (flags.writeable False) on a CNN, unshuffled",
          _accept_read_only, "accepted: used as they are (never written); the same weights"),
        A("y-flat-for-one-output", "y of shape (N,) for a model with one output",
          _accept_flat_regression_targets, "accepted: taken as (N, 1); the same weights"),
        A("model-float64", "combine(dtype=np.float64), then fit float32 data",
          _accept_float64_model, "accepted: the data is converted to float64"),
        A("predict-batch-larger", "predict(x, batch_size=10000) on 40 samples",
          _accept_predict_batch_bigger, "accepted: one batch; the same outputs"),
        A("predict-one-sample", "predict(x[:1]): a batch of one", _accept_single_sample,
          "accepted: the same output as in a larger batch"),
        A("predict-list-of-one-array", "predict([x]): Hat's list of one input array",
          _accept_one_array_list, "accepted: the array inside is used"),
    ]  # fmt: skip


def _lstm_with_short_mask():
    from hat.layers import LSTM, InputLayer
    from hat.models import Sequential

    md = Sequential([InputLayer((5, 3)), LSTM(4, return_sequence=False)]).combine(seed=0)
    md.layers[1].forward(np.zeros((2, 5, 3), np.float32), True, mask=np.ones((2, 4)))


def _graph_cases() -> list[Refused]:
    import hat.backend as K
    from hat.graph import GraphError
    from hat.layers import LSTM, Add, Dense, Input, InputLayer, Lambda
    from hat.layers.lambda_layer import LambdaError
    from hat.models import Model, Sequential

    def cycle():
        x = Input(4)
        a = Dense(4, name="a")(x)
        b = Dense(4, name="b")(a)
        a.inputs = [b]
        return Model([x], [b])

    def unreachable():
        x, other = Input(4, name="x"), Input(4, name="other")
        return Model([x], [Add()([Dense(2)(x), Dense(2)(other)])])

    def two_outputs_three_targets():
        x = Input(4)
        md = Model([x], [Dense(2, act="softmax")(x), Dense(1)(x)], seed=0)
        md.fit(np.ones((4, 4)), [np.ones((4, 2))] * 3, loss_func="mse", verbose=0)

    def lambda_raises():
        x = Input(4)
        return Lambda(lambda input: input.reshape(3, 5), name="bad_reshape")(x)

    def lambda_drops_batch():
        return Lambda(lambda input: K.mean(input), name="whole_mean")(Input(4))

    R = Refused
    return [
        R("graph-cycle", "a graph whose layers loop (a -> b -> a)", cycle, GraphError,
          r"the layers form a cycle: (a -> b -> a|b -> a -> b)"),
        R("graph-unreachable", "an output that reads an input the Model was not given",
          unreachable, GraphError,
          r"an output depends on other, which is not among the model's inputs \['x'\]"),
        R("graph-input-not-input-layer", "Model(in_layers=[Dense(3)(x)], ...)",
          lambda: Model([Dense(3, name="d3")(Input(4))], [Dense(2)(Input(4))]), GraphError,
          r"input 0 of the model is the output of 'd3', not an InputLayer"),
        R("graph-call-on-array", "Dense(3)(np.zeros((2, 4))): a call on an array",
          lambda: Dense(3)(np.zeros((2, 4))), TypeError,
          r"the input of Dense must be the output of a layer call or an InputLayer; got "
          r"ndarray"),
        R("graph-call-on-uncalled-layer", "Dense(3)(Dense(4)): a layer that was never called",
          lambda: Dense(3)(Dense(4)), TypeError,
          r"is the layer Dense\(.*\), which has not been called on anything"),
        R("graph-shapes-do-not-fit", "Dense(3, name='d')(Input((2, 2)))",
          lambda: Dense(3, name="d")(Input((2, 2), name="img")), GraphError,
          r"d cannot be called on img \(\(None, 2, 2\)\): Dense expects a 2-D input"),
        R("graph-y-list-length", "fit(x, [y1, y2, y3]) on a model with 2 outputs",
          two_outputs_three_targets, ValueError,
          r"y is a list of 3 arrays; the model has 2 outputs"),
        R("lambda-raises", "Lambda(lambda input: input.reshape(3, 5)) on (None, 4)",
          lambda_raises, LambdaError,
          r"Lambda 'bad_reshape' failed on input \(None, 4\): ValueError: cannot reshape"),
        R("lambda-drops-batch", "Lambda(lambda input: K.mean(input)): no batch axis left",
          lambda_drops_batch, LambdaError,
          r"Lambda 'whole_mean' must keep the batch axis first; .* returned shape \(\)"),
        R("backend-op-on-string", "K.mean('abc')", lambda: K.mean("abc"), TypeError,
          r"mean.*'abc'"),
        # ---- recurrent layers
        R("recurrent-2d-input", "an LSTM after InputLayer(28): no time axis",
          lambda: Sequential([InputLayer(28), LSTM(8)]).combine(seed=0), ValueError,
          r"LSTM expects a 3-D input \(batch first\); got shape \(None, 28\)\. Recurrent layers "
          r"take \(batch, time, features\)"),
        R("recurrent-mask-shape", "LSTM.forward(x of (2, 5, 3), mask of (2, 4))",
          _lstm_with_short_mask, ValueError,
          r"the mask of LSTM must have shape \(batch, time\) = \(2, 5\); got \(2, 4\)"),
        R("recurrent-softmax", "LSTM(4, act='softmax')", lambda: LSTM(4, act="softmax"),
          ValueError, r"act of a recurrent layer must be one of .*; got 'softmax'"),
        R("recurrent-masking-shapes", "LSTM(4, masking=True)([x of (5, 3), mask of (4,)])",
          lambda: LSTM(4, masking=True)([Input((5, 3)), Input(4)]), GraphError,
          r"LSTM\(masking=True\) takes \[x, mask\] .*; got \(None, 5, 3\), \(None, 4\)"),
    ]  # fmt: skip


CASES: list[Refused | Accepted] = _cases() + _graph_cases()


# -- the docs page -------------------------------------------------------------------------
def outcome(case: Refused | Accepted) -> str:
    """What hat does with the case's input: the exception and its message, or the outcome."""
    if isinstance(case, Accepted):
        case.check()
        return case.outcome
    try:
        case.trigger()
    except BaseException as err:  # noqa: BLE001 - the message is what we report
        message = re.sub(rf"[^\s'\"]*{TMP_PREFIX}[^/\s'\"]*", "<tmp>", str(err))
        message = message.replace(tempfile.gettempdir(), "<tmp>")
        message = re.sub(r" at 0x[0-9a-f]+", "", message)  # object addresses change per run
        message = re.sub(r"\b(eof|base_addr) = \d+", r"\1 = N", message)  # file sizes
        return f"{type(err).__name__}: {message}"
    return "no error"


def _cell(text: str) -> str:
    text = " ".join(text.split())
    return "`` " + text.replace("|", "\\|") + " ``" if "`" in text else f"`{text}`"


def render_markdown() -> str:
    import warnings

    lines = [
        "# Reliability",
        "",
        "<!-- Generated from tests/bad_inputs.py: do not edit by hand. Regenerate with",
        "     python -m tests.bad_inputs > docs/reliability.md",
        "     tests/test_bad_inputs.py fails when this page and the table disagree. -->",
        "",
        "A mistake in the input is the user's, and hat says so plainly: every public entry",
        "point (layer constructors, `Sequential.add`, `combine`, `fit`, `predict`, `evaluate`,",
        "optimizers, callbacks, losses, `load_model`, the dataset loader) checks what it is",
        "given and raises `ValueError` or `TypeError` (or a hat error derived from them:",
        "`ModelFileError`, `DatasetError`, `LegacyFileError`) with a message that names the",
        "argument, the value or shape it received, and what it expected. Never a numba typing",
        "error, an `IndexError` from a kernel, or a silent wrong answer.",
        "",
        "This page is generated from the table in `tests/bad_inputs.py` (regenerate it with",
        "`python -m tests.bad_inputs > docs/reliability.md`); `tests/test_bad_inputs.py` runs",
        "every case and checks that this page is in sync. The messages below are the actual",
        "ones, captured by running each case (temporary folders shown as `<tmp>`).",
        "",
    ]
    refused = [c for c in CASES if isinstance(c, Refused)]
    accepted = [c for c in CASES if isinstance(c, Accepted)]
    lines += [
        f"## Bad inputs ({len(refused)} refused, {len(accepted)} accepted)",
        "",
        "| bad input | what hat does / the message |",
        "| --- | --- |",
    ]
    from hat import activations

    registered = dict(activations._USER)  # other tests' activations would show in the lists
    activations._USER.clear()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for case in refused + accepted:
                result = outcome(case)
                lines.append(f"| {case.bad_input.replace('|', '/')} | {_cell(result)} |")
    finally:
        activations._USER.update(registered)
    lines += [""] + _SECTIONS.strip("\n").split("\n") + [""]
    return "\n".join(lines)


_SECTIONS = """
## Divergence

When a batch's loss, or any gradient, is NaN or Inf, that batch makes no update: the weights
stay those of the last good step. `fit` then stops (by default) with a `DivergenceWarning` that
names the epoch, the batch and the first layer whose output or gradient went non-finite, e.g.

```text
DivergenceWarning: training stopped at epoch 1, batch 3: the loss is inf; first
non-finite: the output of Dense_1. The weights are those of the last good step. Lower
the learning rate, or clip gradients (clip=, clipnorm=)
```

`train_on_batch` warns the same way. `TerminateOnNaN` is still available, and reports the same
diagnosis. NaN or Inf in the data is refused up front (see the table), unless
`fit(..., allow_nonfinite=True)`.

## Ctrl-C

A `KeyboardInterrupt` during `fit` does not tear the run apart: the current batch finishes,
the epoch is closed in the `History`, `on_train_end` runs (so a `ModelCheckpoint` or
`SaveModel` can write its file), and then `KeyboardInterrupt` is raised. The model is usable
and consistent (its `epoch`, `iteration` and `History` agree); `fit(resume_from=...)` on the
checkpoint continues exactly where it stopped. A second Ctrl-C interrupts at once.

## Long runs

Memory stays flat: every layer reuses its buffers from one batch to the next, and batches are
gathered into one preallocated array, so the steady-state step allocates nothing. Measured
on `examples/mnist/main_dnn.py` (20 epochs of MNIST, peak RSS read after every epoch), and the
cost of the progress bar (median epoch time of 8, verbose=0 against verbose=1 in alternating
order, and the bar driven alone through one epoch's callback calls), with
`python benchmarks/bench_health.py --epochs 20 --rounds 8` on the reference machine:

```text
data: MNIST, 150 MB of inputs
peak RSS after epoch 2: 357.2 MB; after epoch 20: 357.2 MB
peak RSS growth from epoch 2 to 20: +0.04%
epoch time, median of 8: verbose=0 1.807 s, verbose=1 1.803 s (-0.2%)
the bar's own cost: 0.3 ms per epoch of 100 batches = 0.02% of a verbose=0 epoch
```

No file handles are left open by fit, the callbacks or the model files
(`tests/test_reliability.py` checks `/proc/self/fd` before and after).

## numba: caching, read-only installs, NUMBA_DISABLE_JIT

The kernels are compiled on first use with `cache=True` (in `hat/kernels/jit.py`), so later
runs load them from numba's on-disk cache instead of compiling again. numba writes the cache
to the first writable place among: `NUMBA_CACHE_DIR` when it is set, the `__pycache__` folder
next to hat's sources, and a per-user folder (`~/.cache/numba`). A read-only install
(site-packages owned by root, a container image) therefore caches in the user's home; set
`NUMBA_CACHE_DIR` to put the cache somewhere else, such as a writable volume in a container.

`NUMBA_DISABLE_JIT=1` runs every kernel as plain Python: much slower, the same results, and
tracebacks that point into readable code. CI runs the whole suite that way once
(`.ci/run`), for coverage of the kernels' Python source.
"""


if __name__ == "__main__":
    sys.stdout.write(render_markdown())
