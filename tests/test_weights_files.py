"""Weights files (save_weights / load_weights), the optimizer in a model file, and the file
layout as plain h5py sees it."""

import json

import h5py
import numpy as np
import pytest

from hat import serializations
from hat.io import ModelFileError
from hat.layers.core import Dense, InputLayer
from hat.layers.normalization import BatchNorm
from hat.models import Sequential, load_model
from hat.optimizers import SGD, Adam
from tests.helpers.toy import blobs, small_mlp


@pytest.fixture(scope="module")
def xy():
    x, y, _ = blobs(n=60)
    return x, y


def trained(xy, optimizer=None, **kwargs):
    md = small_mlp(**kwargs)
    md.fit(*xy, batch_size=20, n_epochs=2, optimizer=optimizer or Adam(0.01), verbose=0)
    return md


def same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(
        x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(wa, wb, strict=True)
    )


def test_save_weights_load_weights_round_trip(tmp_path, xy):
    md = trained(xy)
    md.save_weights(tmp_path / "w.h5")
    other = small_mlp(seed=7)
    assert not same_weights(other, md)
    other.load_weights(tmp_path / "w.h5")
    assert same_weights(other, md)
    np.testing.assert_array_equal(other.predict(xy[0]), md.predict(xy[0]))
    # the counters and the optimizer are not a weights file's business
    assert other.epoch == 0 and other.iteration == 0 and other.optimizer is None


def test_loaded_weights_stay_trainable(tmp_path, xy):
    """load_weights writes into the model's own buffers: training afterwards moves them."""
    md = trained(xy)
    md.save_weights(tmp_path / "w.h5")
    a, b = small_mlp(seed=3), small_mlp(seed=4)
    a.load_weights(tmp_path / "w.h5")
    b.load_weights(tmp_path / "w.h5")
    for m in (a, b):
        m.fit(*xy, batch_size=20, n_epochs=1, optimizer=SGD(0.1), shuffle=False, verbose=0)
    assert same_weights(a, b) and not same_weights(a, md)


def test_batchnorm_state_travels_in_a_weights_file(tmp_path, xy):
    def build(seed):
        return Sequential([InputLayer(20), Dense(8), BatchNorm(), Dense(3, act="softmax")]).combine(
            seed=seed
        )

    md = build(0)
    md.fit(*xy, batch_size=20, n_epochs=2, optimizer=SGD(0.1), verbose=0)
    bn = md.layers[2]
    assert not np.allclose(bn.state["running_mean"], 0)
    md.save_weights(tmp_path / "w.h5")
    other = build(1)
    other.load_weights(tmp_path / "w.h5")
    assert same_weights(other, md)
    for key in bn.state:
        np.testing.assert_array_equal(other.layers[2].state[key], bn.state[key])
    np.testing.assert_array_equal(other.predict(xy[0]), md.predict(xy[0]))
    with h5py.File(tmp_path / "w.h5", "r") as f:
        assert set(f[f"layers/{bn.name}/state"]) == set(bn.state)


def test_load_weights_from_a_model_file(tmp_path, xy):
    md = trained(xy)
    md.save(tmp_path / "m.h5")
    other = small_mlp(seed=9)
    other.load_weights(tmp_path / "m.h5")
    assert same_weights(other, md)


def test_mismatched_layer_names(tmp_path, xy):
    md = trained(xy)
    md.save_weights(tmp_path / "w.h5")
    other = Sequential(
        [InputLayer(20), Dense(16, act="relu", name="hidden"), Dense(3, act="softmax")]
    ).combine(seed=1)
    before = other.get_weights()
    with pytest.raises(ModelFileError) as info:
        other.load_weights(tmp_path / "w.h5")
    message = str(info.value)
    assert "w.h5" in message
    assert "['Dense_1', 'Dense_2', 'InputLayer_0']" in message
    assert "['Dense_2', 'InputLayer_0', 'hidden']" in message
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights(), before, strict=True))


def test_mismatched_hidden_size(tmp_path, xy):
    md = trained(xy)
    md.save_weights(tmp_path / "w.h5")
    other = small_mlp(n_hid=8)
    with pytest.raises(
        ModelFileError,
        match=r"Dense_1\.W has shape \(20, 16\) in the file, "
        r"\(20, 8\) in the model",
    ):
        other.load_weights(tmp_path / "w.h5")


def test_a_shape_mismatch_changes_nothing(tmp_path, xy):
    """Dense_1 matches, Dense_2 does not: the error comes before any weight is written."""
    md = trained(xy)
    md.save(tmp_path / "m.h5")
    other = small_mlp(n_out=4, seed=2)
    before = other.get_weights()
    with pytest.raises(
        ModelFileError,
        match=r"Dense_2\.W has shape \(16, 3\) in the file, "
        r"\(16, 4\) in the model",
    ):
        other.load_weights(tmp_path / "m.h5")
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights(), before, strict=True))


def test_load_weights_refuses_other_files(tmp_path, xy):
    md = small_mlp()
    with pytest.raises(ModelFileError, match="no model file"):
        md.load_weights(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ModelFileError, match="not a readable HDF5 file"):
        md.load_weights(tmp_path / "text.h5")
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["layers/Dense_1/params/W"] = np.zeros((20, 16), np.float32)
    with pytest.raises(ModelFileError, match="not a hat model file"):
        md.load_weights(tmp_path / "foreign.h5")


def test_load_model_refuses_a_weights_file(tmp_path, xy):
    md = trained(xy)
    path = tmp_path / "w.h5"
    md.save_weights(path)
    for load in (load_model, serializations.load):
        with pytest.raises(ModelFileError) as info:
            load(path)
        assert "a hat weights file, not a whole model" in str(info.value)
        assert str(path) in str(info.value)


# -- the optimizer in a model file -------------------------------------------------------
def test_model_file_stores_the_optimizer(tmp_path, xy):
    md = trained(xy, optimizer=Adam(0.01, beta1=0.8, clipnorm=2.0))
    path = tmp_path / "m.h5"
    md.save(path)
    with h5py.File(path, "r") as f:
        group = f["optimizer"]
        assert group.attrs["class_name"] == "Adam"
        config = json.loads(group.attrs["config"])
        assert config["lr"] == 0.01 and config["beta1"] == 0.8 and config["clipnorm"] == 2.0
        assert set(group["state"]) == {"m", "v", "iterations"}
        assert group["state/iterations"][()] == 6
        for key in ("m", "v"):
            np.testing.assert_array_equal(group[f"state/{key}"][()], md.optimizer.state[key])

    loaded = load_model(path).optimizer
    assert type(loaded) is Adam and loaded is not md.optimizer
    assert loaded.get_config() == md.optimizer.get_config()
    assert set(loaded.state) == set(md.optimizer.state)
    for key, value in md.optimizer.state.items():
        assert loaded.state[key].dtype == value.dtype and np.array_equal(loaded.state[key], value)


def test_sgd_momentum_state_round_trip(tmp_path, xy):
    md = trained(xy, optimizer=SGD(0.05, momentum=0.9, nesterov=True))
    md.save(tmp_path / "m.h5")
    loaded = load_model(tmp_path / "m.h5")
    assert type(loaded.optimizer) is SGD and loaded.optimizer.nesterov
    assert np.abs(md.optimizer.state["velocity"]).max() > 0
    np.testing.assert_array_equal(
        loaded.optimizer.state["velocity"], md.optimizer.state["velocity"]
    )
    # the next step, with the restored velocity, is the same step
    x, y = xy[0][:20], xy[1][:20]
    md.train_on_batch(x, y)
    loaded.train_on_batch(x, y, loss_func="categorical_crossentropy")
    assert same_weights(loaded, md)


def test_save_without_the_optimizer(tmp_path, xy):
    md = trained(xy)
    path = tmp_path / "m.h5"
    md.save(path, include_optimizer=False)
    with h5py.File(path, "r") as f:
        assert "optimizer" not in f
    loaded = load_model(path)
    assert loaded.optimizer is None
    assert same_weights(loaded, md) and loaded.epoch == 2 and loaded.iteration == 6


# -- the layout, with nothing but h5py ---------------------------------------------------
def test_model_file_layout(tmp_path, xy):
    md = trained(xy, dropout=0.2)
    path = tmp_path / "m.h5"
    md.save(path)
    with h5py.File(path, "r") as f:
        assert set(f) == {"architecture", "layers", "optimizer", "training"}
        assert f.attrs["format"] == "hat-model" and f.attrs["format_version"] == 1
        assert f.attrs["epoch"] == 2 and f.attrs["iteration"] == 6 and f.attrs["seed"] == 0
        assert isinstance(f.attrs["hat_version"], str)
        assert json.loads(f.attrs["rng_state"]) == md.rng.bit_generator.state

        names = [layer.name for layer in md.layers]
        assert (
            set(f["layers"])
            == set(names)
            == {
                "InputLayer_0",
                "Dense_1",
                "Dropout_2",
                "Dense_3",
            }
        )
        for layer in md.layers:
            group = f[f"layers/{layer.name}"]
            assert set(group) == {"params", "state"}
            assert set(group["params"]) == set(layer.params)
            for key, value in layer.params.items():
                assert group[f"params/{key}"].dtype == np.float32
                np.testing.assert_array_equal(group[f"params/{key}"][()], value)
        assert f["layers/Dense_1/params/W"].shape == (20, 16)

        architecture = json.loads(f["architecture"].attrs["json"])
        assert [entry["class_name"] for entry in architecture] == [
            "InputLayer",
            "Dense",
            "Dropout",
            "Dense",
        ]
        assert architecture[1]["config"]["n_out"] == 16
        assert architecture[2]["config"]["p_drop"] == 0.2

        assert set(f["optimizer/state"]) == {"m", "v", "iterations"}

        training = f["training"]
        history = json.loads(training.attrs["history"])
        assert history["epoch"] == [0, 1]
        assert [logs["loss"] for logs in history["epoch_logs"]] == md.history.history["loss"]
        assert len(history["batch_history"]["loss"]) == 6
        assert training.attrs["fit_target_epoch"] == 2


def test_weights_file_layout(tmp_path, xy):
    md = trained(xy)
    path = tmp_path / "w.h5"
    md.save_weights(path)
    with h5py.File(path, "r") as f:
        assert set(f) == {"layers"}
        assert f.attrs["format"] == "hat-weights" and f.attrs["format_version"] == 1
        assert set(f["layers"]) == {"InputLayer_0", "Dense_1", "Dense_2"}
        for layer in md.layers:
            for key, value in layer.params.items():
                np.testing.assert_array_equal(f[f"layers/{layer.name}/params/{key}"][()], value)
