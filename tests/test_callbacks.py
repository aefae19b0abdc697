"""The callback protocol (Hat's and Keras'), SaveModel and Validation."""

import os
import pickle

import numpy as np
import pytest

from hat.callbacks import Callback, CallbackError, SaveModel, Validation
from hat.models import load_model
from hat.optimizers import Adam
from tests.helpers.toy import blobs, small_mlp


class HatStyle(Callback):
    def __init__(self, call_freq):
        super().__init__(call_freq)
        self.calls = []

    def call(self):
        self.calls.append(self.model.epoch)


class KerasStyle(Callback):
    def __init__(self):
        super().__init__()
        self.events = []

    def on_train_begin(self, logs=None):
        self.events.append("train_begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.events.append(f"epoch_begin {epoch}")

    def on_batch_end(self, batch, logs=None):
        self.events.append(f"batch {batch} loss={logs['loss'] > 0}")

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(f"epoch_end {epoch} {sorted(logs)}")

    def on_train_end(self, logs=None):
        self.events.append("train_end")


def test_hat_callbacks_run_at_epoch_zero_and_every_call_freq():
    x, y, _ = blobs()
    md = small_mlp()
    every2, every1 = HatStyle(2), HatStyle(1)
    md.fit(x, y, n_epochs=5, callbacks=[every2, every1], verbose=0)
    assert every2.calls == [0, 2, 4]
    assert every1.calls == [0, 1, 2, 3, 4, 5]
    # a second fit does not call again for the epoch already handled
    md.fit(x, y, n_epochs=1, callbacks=[every2, every1], verbose=0)
    assert every2.calls == [0, 2, 4, 6] and every1.calls[-2:] == [5, 6]


def test_keras_hooks_in_order():
    x, y, _ = blobs(n=100)
    cb = KerasStyle()
    small_mlp().fit(x, y, batch_size=50, n_epochs=2, callbacks=[cb], verbose=0)
    assert cb.events == [
        "train_begin",
        "epoch_begin 0",
        "batch 0 loss=True",
        "batch 1 loss=True",
        "epoch_end 0 ['loss']",
        "epoch_begin 1",
        "batch 0 loss=True",
        "batch 1 loss=True",
        "epoch_end 1 ['loss']",
        "train_end",
    ]


def test_stop_training_from_a_callback():
    class StopAfterThreeBatches(Callback):
        def on_batch_end(self, batch, logs=None):
            if self.model.iteration == 3:
                self.model.stop_training = True

    x, y, _ = blobs(n=100)
    md = small_mlp()
    history = md.fit(
        x, y, batch_size=10, n_epochs=5, callbacks=[StopAfterThreeBatches()], verbose=0
    )
    assert md.iteration == 3 and md.epoch == 1 and history.epoch == [0]


def test_a_raising_callback_is_named_and_the_model_stays_usable():
    class Broken(Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyError("oops")

    x, y, _ = blobs()
    md = small_mlp()
    with pytest.raises(CallbackError, match="Broken raised KeyError in on_epoch_end"):
        md.fit(x, y, n_epochs=2, callbacks=[Broken()], verbose=0)
    assert md.epoch == 1
    md.fit(x, y, n_epochs=1, verbose=0)
    assert md.epoch == 2 and np.isfinite(md.predict(x)).all()


def test_callback_arguments_checked():
    with pytest.raises(ValueError, match="call_freq"):
        HatStyle(0)
    with pytest.raises(TypeError, match="Callback"):
        small_mlp().fit(*blobs()[:2], callbacks=["not a callback"], verbose=0)
    with pytest.raises(ValueError, match="te_x and te_y"):
        Validation(te_x=np.zeros((2, 20)))


def test_validation_logs_prints_and_dumps(tmp_path, capsys):
    x, y, _ = blobs()
    dump = tmp_path / "validation.p"
    validation = Validation(
        tr_x=x,
        tr_y=y,
        te_x=x[:50],
        te_y=y[:50],
        batch_size=32,
        metrics=["categorical_error", "categorical_crossentropy"],
        call_freq=1,
        dump_path=str(dump),
    )
    history = small_mlp().fit(
        x, y, n_epochs=3, optimizer=Adam(lr=0.01), callbacks=[validation], verbose=0
    )
    out = capsys.readouterr().out
    assert "    tr_categorical_error: " in out and "| time: " in out
    assert len(history.history["te_categorical_error"]) == 3
    with open(dump, "rb") as f:
        record = pickle.load(f)
    assert record["epochs"] == [0, 1, 2, 3] and record["call_freq"] == 1 and record["epoch"] == 3
    assert len(record["tr_categorical_error"]) == 4 and record["va_categorical_error"] == []
    assert record["te_categorical_crossentropy"][-1] < record["te_categorical_crossentropy"][0]
    assert record["tr_time"] > 0 and record["cb_time"] > 0


def test_save_model_writes_hat_file_names(tmp_path, capsys):
    x, y, _ = blobs()
    md = small_mlp()
    folder = tmp_path / "Md"  # created by SaveModel
    md.fit(x, y, n_epochs=5, callbacks=[SaveModel(str(folder), call_freq=2)], verbose=0)
    assert sorted(os.listdir(folder)) == ["md0_epochs.h5", "md2_epochs.h5", "md4_epochs.h5"]
    assert f"Save to {folder / 'md4_epochs.h5'} successfully!" in capsys.readouterr().out
    restored = load_model(folder / "md4_epochs.h5")
    assert restored.epoch == 4
    untrained = load_model(folder / "md0_epochs.h5")
    assert untrained.epoch == 0
    assert not np.array_equal(untrained.get_weights()[0], restored.get_weights()[0])


def test_validation_refuses_samples_and_labels_of_different_lengths():
    with pytest.raises(ValueError, match=r"va_x holds 64 samples .* but va_y holds 13 labels"):
        Validation(va_x=np.zeros((64, 20)), va_y=np.zeros((13, 3)))
    with pytest.raises(ValueError, match=r"te_x and te_y must be arrays with a batch axis"):
        Validation(te_x=np.float32(1.0), te_y=np.zeros((1, 3)))
    Validation(va_x=[[0.0] * 20] * 4, va_y=[0, 1, 2, 0])  # lists of equal lengths are fine
    # A model with two inputs: one array each, and the count is the first one's.
    Validation(va_x=[np.zeros((5, 3)), np.zeros((5, 2))], va_y=np.zeros((5, 1)))
    with pytest.raises(ValueError, match=r"va_x holds 5 samples .* va_y holds 4 labels"):
        Validation(va_x=[np.zeros((5, 3)), np.zeros((5, 2))], va_y=[np.zeros((4, 1))])
