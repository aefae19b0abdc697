"""The callbacks on a graph model with two inputs and two outputs, and a Lambda going NaN."""

import csv

import numpy as np
import pytest

import hat.backend as K
from hat.callbacks import (
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    ReduceLROnPlateau,
    TerminateOnNaN,
    Validation,
)
from hat.layers import Concatenate, Dense, Input, Lambda
from hat.models import DivergenceWarning, Model, load_model
from hat.optimizers import Adam

RNG = np.random.default_rng(2)


def _two_by_two():
    a, b = Input(5, name="a"), Input(3, name="b")
    h = Dense(6, act="relu")(Concatenate()([a, b]))
    return Model([a, b], [Dense(2, act="softmax", name="cls")(h), Dense(1, name="reg")(h)],
                 seed=4)  # fmt: skip


def test_every_callback_runs_on_a_graph(tmp_path):
    md = _two_by_two()
    x = [RNG.standard_normal((40, 5)).astype(np.float32), RNG.random((40, 3)).astype(np.float32)]
    y = [np.eye(2, dtype=np.float32)[RNG.integers(0, 2, 40)], RNG.random((40, 1))]
    callbacks = [
        ModelCheckpoint(str(tmp_path / "best.h5"), monitor="val_loss", save_best_only=True),
        EarlyStopping(monitor="val_loss", patience=50),
        ReduceLROnPlateau(monitor="val_loss", patience=1, factor=0.5),
        CSVLogger(str(tmp_path / "log.csv")),
        Validation(va_x=x, va_y=y, metrics=["mse"], call_freq=1, dump_path=None, verbose=0),
        TerminateOnNaN(),
    ]
    history = md.fit(x, y, loss_func=["categorical_crossentropy", "mse"], batch_size=10,
                     n_epochs=4, optimizer=Adam(1e-2), validation_data=(x, y),
                     callbacks=callbacks, verbose=0)  # fmt: skip
    assert len(history.history["val_loss"]) == 4
    assert "va_cls_mse" in history.history and "va_reg_mse" in history.history
    with open(tmp_path / "log.csv") as f:
        assert len(list(csv.DictReader(f))) == 4
    best = load_model(tmp_path / "best.h5")
    assert [type(la).__name__ for la in best.layers] == [type(la).__name__ for la in md.layers]


def test_terminate_on_nan_names_the_lambda():
    x = Input(3)
    bad = Lambda(lambda input: K.log(input - 10.0), name="log_of_negative")(Dense(3)(x))
    md = Model([x], [Dense(2, act="softmax")(bad)], seed=0)
    stop = TerminateOnNaN()
    data = RNG.standard_normal((8, 3)).astype(np.float32)
    with pytest.warns(DivergenceWarning, match="log_of_negative"):
        md.fit(data, np.eye(2)[[0, 1] * 4], n_epochs=1, batch_size=4, callbacks=[stop],
               verbose=0)  # fmt: skip
    assert stop.report and "the output of log_of_negative" in stop.report
