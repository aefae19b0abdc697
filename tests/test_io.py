"""The model file: round trip, layout readable with plain h5py, atomic writes, bad files."""

import h5py
import numpy as np
import pytest

from hat import serializations
from hat.io import ModelFileError
from hat.layers.core import Dense, Dropout, InputLayer
from hat.models import Sequential, load_model
from hat.regularizations import L2
from tests.helpers.toy import blobs, small_mlp


def trained_model():
    md = small_mlp(dropout=0.2)
    x, y, _ = blobs()
    md.fit(x, y, n_epochs=2, verbose=0)
    return md, x


def test_round_trip_predictions_and_counters(tmp_path):
    md, x = trained_model()
    path = tmp_path / "model.h5"
    md.save(path)
    restored = load_model(path)
    np.testing.assert_array_equal(restored.predict(x), md.predict(x))
    assert (restored.epoch, restored.iteration, restored.seed) == (md.epoch, md.iteration, md.seed)
    # the random state travels too: the next dropout masks and shuffles are the same
    assert restored.rng.random() == md.rng.random()


def test_hat_names_save_and_load(tmp_path):
    md, x = trained_model()
    serializations.save(md, str(tmp_path / "md.h5"))
    np.testing.assert_array_equal(
        serializations.load(str(tmp_path / "md.h5")).predict(x), md.predict(x)
    )


def test_config_survives(tmp_path):
    seq = Sequential(
        [
            InputLayer(5),
            Dense(4, act="tanh", W_reg=L2(0.5), trainable_params=["W"]),
            Dropout(0.3),
            Dense(2, act="softmax"),
        ]
    )
    md = seq.combine(seed=0)
    md.save(tmp_path / "m.h5")
    layers = load_model(tmp_path / "m.h5").layers
    assert layers[1].get_config() == md.layers[1].get_config()
    assert layers[1].regularizers["W"].l2 == 0.5 and layers[2].p_drop == 0.3


def test_weights_readable_with_plain_h5py(tmp_path):
    md, _ = trained_model()
    md.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r") as f:
        np.testing.assert_array_equal(f["layers/Dense_1/params/W"][()], md.layers[1].W_)
        assert f.attrs["format"] == "hat-model" and f.attrs["epoch"] == 2


def test_overwrite_keeps_no_temporary_files(tmp_path):
    md, _ = trained_model()
    md.save(tmp_path / "m.h5")
    md.save(tmp_path / "m.h5")
    assert [p.name for p in tmp_path.iterdir()] == ["m.h5"]


def test_failed_save_leaves_the_previous_file(tmp_path, monkeypatch):
    md, x = trained_model()
    path = tmp_path / "m.h5"
    md.save(path)
    before = path.read_bytes()

    def broken_config():
        raise RuntimeError("disk full")

    monkeypatch.setattr(md.layers[1], "get_config", broken_config)
    with pytest.raises(RuntimeError, match="disk full"):
        md.save(path)
    assert path.read_bytes() == before and len(list(tmp_path.iterdir())) == 1


def test_missing_truncated_and_foreign_files(tmp_path):
    with pytest.raises(ModelFileError, match="no model file"):
        load_model(tmp_path / "nope.h5")
    md, _ = trained_model()
    md.save(tmp_path / "m.h5")
    data = (tmp_path / "m.h5").read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load_model(tmp_path / "cut.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        load_model(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ModelFileError, match="not a hat model"):
        load_model(tmp_path / "other.h5")


def test_newer_format_refused(tmp_path):
    md, _ = trained_model()
    md.save(tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        f.attrs["format_version"] = 99
    with pytest.raises(ModelFileError, match="format 99"):
        load_model(tmp_path / "m.h5")
