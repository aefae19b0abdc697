"""The Keras-style callbacks: each one's behaviour, not only that it runs.

Monitored values are controlled through a LambdaCallback placed before the callback under test,
which writes logs['score'] (or another key) from a list indexed by the epoch.
"""

import csv
import os
import re

import h5py
import matplotlib.figure
import numpy as np
import pytest

from hat.callbacks import (
    Callback,
    CallbackError,
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ModelCheckpoint,
    PlotHistory,
    ReduceLROnPlateau,
    TerminateOnNaN,
    Validation,
)
from hat.io import ModelFileError
from hat.models import DivergenceWarning, load_model
from hat.optimizers import SGD
from hat.schedules import StepDecay
from tests.helpers.toy import blobs, small_mlp

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data():
    """60 training and 30 validation samples of one problem."""
    x, y, _ = blobs(n=90)
    return x[:60], y[:60], x[60:], y[60:]


def fit(md, data, n_epochs, callbacks, **kwargs):
    x, y = data[0], data[1]
    kwargs.setdefault("optimizer", SGD(0.05))
    return md.fit(x, y, batch_size=20, n_epochs=n_epochs, callbacks=callbacks, verbose=0, **kwargs)


def feed(values, key="score"):
    """A callback that writes values[epoch] into logs[key] at each epoch end."""
    return LambdaCallback(on_epoch_end=lambda epoch, logs: logs.__setitem__(key, values[epoch]))


class StopAfter(Callback):
    """Simulates an interruption: stops training once the model has trained n_epochs."""

    def __init__(self, n_epochs):
        super().__init__()
        self.n_epochs = n_epochs

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.n_epochs:
            self.model.stop_training = True


def epochs_in(folder, pattern=r"ck-(\d+)\.h5"):
    return sorted(int(m.group(1)) for p in os.listdir(folder) if (m := re.fullmatch(pattern, p)))


# -- ModelCheckpoint -----------------------------------------------------------------------
def test_checkpoint_epoch_is_one_based_and_formatted(tmp_path, data):
    md = small_mlp()
    fit(md, data, 3, [ModelCheckpoint(str(tmp_path / "ck-{epoch:02d}.h5"), monitor="loss")])
    assert sorted(os.listdir(tmp_path)) == ["ck-01.h5", "ck-02.h5", "ck-03.h5"]
    # each file holds the model as it was at the end of that epoch
    for epoch in (1, 2, 3):
        with h5py.File(tmp_path / f"ck-{epoch:02d}.h5", "r") as f:
            assert f.attrs["epoch"] == epoch and f.attrs["iteration"] == 3 * epoch
    np.testing.assert_array_equal(
        load_model(tmp_path / "ck-03.h5").predict(data[0]), md.predict(data[0])
    )


def test_checkpoint_path_holds_a_logged_value(tmp_path, data):
    md = small_mlp()
    path = str(tmp_path / "m-{epoch}-{val_loss:.3f}.h5")
    history = fit(md, data, 2, [ModelCheckpoint(path)], validation_data=data[2:])
    expected = {f"m-{i + 1}-{v:.3f}.h5" for i, v in enumerate(history.history["val_loss"])}
    assert set(os.listdir(tmp_path)) == expected and len(expected) == 2


def test_checkpoint_unknown_key_names_the_logged_keys(tmp_path, data):
    md = small_mlp()
    cb = ModelCheckpoint(str(tmp_path / "m-{val_acc:.2f}.h5"), monitor="loss")
    with pytest.raises(CallbackError) as info:
        fit(md, data, 2, [cb])
    message = str(info.value)
    assert "ModelCheckpoint" in message and "on_epoch_end" in message
    assert "'val_acc'" in message and "logged values: ['loss']" in message
    assert os.listdir(tmp_path) == []
    assert isinstance(info.value.__cause__, ValueError)


def test_save_best_only_on_val_loss_writes_exactly_the_improving_epochs(tmp_path, data):
    md = small_mlp()
    cb = ModelCheckpoint(str(tmp_path / "ck-{epoch}.h5"), save_best_only=True)
    # a large learning rate makes val_loss go up and down
    history = fit(md, data, 6, [cb], validation_data=data[2:], optimizer=SGD(1.0))
    best, expected = np.inf, []
    for epoch, value in enumerate(history.history["val_loss"]):
        if value < best:
            best = value
            expected.append(epoch + 1)
    assert epochs_in(tmp_path) == expected
    assert 1 < len(expected) < 6  # val_loss went up at least once
    assert cb.best == best


def test_save_best_only_on_a_controlled_value_with_fixed_path(tmp_path, data):
    md = small_mlp()
    path = tmp_path / "best.h5"
    written = []  # the file's bytes after each epoch: read at the next epoch's start

    def snapshot(*args):
        written.append(path.read_bytes() if path.exists() else None)

    ck = ModelCheckpoint(str(path), monitor="score", save_best_only=True)
    record = LambdaCallback(on_epoch_begin=snapshot, on_train_end=snapshot)
    fit(md, data, 5, [feed([3.0, 1.0, 2.0, 0.5, 0.7]), ck, record])
    assert written[0] is None and len(written) == 6
    written = written[1:]
    with h5py.File(path, "r") as f:
        assert f.attrs["epoch"] == 4  # the best epoch (index 3), not the last one
    assert ck.best == 0.5
    # the file changed after epochs 1, 2 and 4 only
    assert written[1] != written[0] and written[3] != written[2]
    assert written[2] == written[1] and written[4] == written[3]


def test_save_best_only_monitors_training_loss(tmp_path, data):
    md = small_mlp()
    cb = ModelCheckpoint(str(tmp_path / "ck-{epoch}.h5"), monitor="loss", save_best_only=True)
    history = fit(md, data, 3, [cb])
    losses = history.history["loss"]
    assert losses[0] > losses[1] > losses[2]  # an easy problem: the loss keeps falling
    assert epochs_in(tmp_path) == [1, 2, 3] and cb.best == losses[2]


@pytest.mark.parametrize(
    ("mode", "monitor", "expected"),
    [("max", "score", [1, 2, 4]), ("auto", "val_accuracy", [1, 2, 4]), ("min", "score", [1])],
)
def test_save_best_only_mode(tmp_path, data, mode, monitor, expected):
    md = small_mlp()
    cb = ModelCheckpoint(
        str(tmp_path / "ck-{epoch}.h5"), monitor=monitor, mode=mode, save_best_only=True
    )
    fit(md, data, 4, [feed([0.5, 0.7, 0.6, 0.9], monitor), cb])
    assert epochs_in(tmp_path) == expected


def test_save_weights_only(tmp_path, data):
    md = small_mlp()
    fit(md, data, 1, [ModelCheckpoint(str(tmp_path / "w.h5"), save_weights_only=True)])
    with pytest.raises(ModelFileError, match="weights file, not a whole model"):
        load_model(tmp_path / "w.h5")
    other = small_mlp(seed=5)
    assert not np.array_equal(other.predict(data[0]), md.predict(data[0]))
    other.load_weights(tmp_path / "w.h5")
    np.testing.assert_array_equal(other.predict(data[0]), md.predict(data[0]))


def test_save_freq_in_batches(tmp_path, data):
    md = small_mlp()
    cb = ModelCheckpoint(str(tmp_path / "ck-{epoch}-{batch}.h5"), save_freq=2)
    fit(md, data, 2, [cb])  # 3 batches an epoch: iterations 2, 4, 6 save
    assert md.iteration == 6
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 3
    iterations = {}
    for name in files:
        with h5py.File(tmp_path / name, "r") as f:
            iterations[name] = int(f.attrs["iteration"])
    assert sorted(iterations.values()) == [2, 4, 6]


def test_save_freq_names_the_one_based_epoch(tmp_path, data):
    """{epoch} is 1-based (Keras) for batch-wise saves too: iteration 2 is in the first epoch,
    batch index 1; iteration 4 in the second epoch, batch index 0."""
    md = small_mlp()
    fit(md, data, 2, [ModelCheckpoint(str(tmp_path / "ck-{epoch}-{batch}.h5"), save_freq=2)])
    assert sorted(os.listdir(tmp_path)) == ["ck-1-1.h5", "ck-2-0.h5", "ck-2-2.h5"]


def test_initial_value_threshold(tmp_path, data):
    md = small_mlp()
    cb = ModelCheckpoint(
        str(tmp_path / "ck-{epoch}.h5"),
        monitor="score",
        save_best_only=True,
        initial_value_threshold=2.0,
    )
    fit(md, data, 5, [feed([5.0, 3.0, 1.5, 2.0, 1.0]), cb])
    assert epochs_in(tmp_path) == [3, 5] and cb.best == 1.0


def test_checkpoint_best_survives_a_resume(tmp_path, data):
    scores = [5.0, 1.0, 2.0, 3.0]
    path = tmp_path / "best.h5"

    def callbacks():
        return [feed(scores), ModelCheckpoint(str(path), monitor="score", save_best_only=True)]

    first = callbacks()
    fit(small_mlp(), data, 4, [*first, StopAfter(2)])
    with h5py.File(path, "r") as f:
        assert f.attrs["epoch"] == 2
    before = path.read_bytes()

    md = small_mlp()
    second = callbacks()
    seen = []
    probe = LambdaCallback(on_train_begin=lambda logs: seen.append(second[1].best))
    fit(md, data, 4, [*second, probe], resume_from=path)
    assert md.epoch == 4  # the resumed run trained epochs 3 and 4 (scores 2.0 and 3.0)
    assert seen == [1.0] and second[1].best == 1.0
    assert path.read_bytes() == before  # neither worse epoch overwrote the best file


# -- EarlyStopping -------------------------------------------------------------------------
def waits_of(es):
    """A callback, placed after `es`, that records es.wait at every epoch end."""
    record = []
    return record, LambdaCallback(on_epoch_end=lambda epoch, logs: record.append(es.wait))


def test_early_stopping_stops_after_patience_epochs_without_improvement(data):
    """patience=2: epochs 3 and 4 do not improve on epoch 2, so training stops after epoch 4
    (Keras: 'number of epochs with no improvement after which training will be stopped')."""
    md = small_mlp()
    es = EarlyStopping(monitor="score", patience=2)
    fit(md, data, 8, [feed([1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1]), es])
    assert md.epoch == 4 and es.stopped_epoch == 3
    assert es.best == 0.5 and es.best_epoch == 1


def test_early_stopping_patience_zero_stops_at_the_first_non_improvement(data):
    md = small_mlp()
    es = EarlyStopping(monitor="score", patience=0)
    fit(md, data, 8, [feed([1.0, 0.5, 0.4, 0.45, 0.3, 0.2, 0.1, 0.0]), es])
    assert md.epoch == 4 and es.stopped_epoch == 3 and es.best == 0.4


def test_early_stopping_never_stops_while_improving(data):
    md = small_mlp()
    es = EarlyStopping(monitor="score", patience=0)
    fit(md, data, 5, [feed([5.0, 4.0, 3.0, 2.0, 1.0]), es])
    assert md.epoch == 5 and es.stopped_epoch is None and es.wait == 0


def test_early_stopping_min_delta(data):
    md = small_mlp()
    es = EarlyStopping(monitor="score", min_delta=0.1, patience=10)
    record, probe = waits_of(es)
    fit(md, data, 5, [feed([1.0, 0.95, 0.85, 0.84, 0.7]), es, probe])
    # 0.95 and 0.84 improve by less than 0.1; 0.85 beats 1.0 - 0.1 and 0.7 beats 0.85 - 0.1
    assert record == [0, 1, 0, 1, 0]
    assert es.best == 0.7 and es.best_epoch == 4


def test_early_stopping_baseline(data):
    md = small_mlp()
    es = EarlyStopping(monitor="score", baseline=0.65, patience=10)
    record, probe = waits_of(es)
    fit(md, data, 4, [feed([0.8, 0.7, 0.6, 0.7]), es, probe])
    # epochs that do not beat the baseline count as epochs without improvement
    assert record == [1, 2, 0, 1] and es.best == 0.6 and es.best_epoch == 2


def test_early_stopping_baseline_never_reached_stops(data):
    md = small_mlp()
    es = EarlyStopping(monitor="score", baseline=0.1, patience=0)
    fit(md, data, 6, [feed([0.9, 0.8, 0.7, 0.6, 0.5, 0.4]), es])
    assert md.epoch < 6 and es.stopped_epoch is not None
    assert es.best == 0.1  # no epoch beat the baseline


def test_early_stopping_start_from_epoch(data):
    md = small_mlp()
    es = EarlyStopping(monitor="score", patience=0, start_from_epoch=2)
    record, probe = waits_of(es)
    fit(md, data, 5, [feed([0.1, 0.2, 0.5, 0.4, 0.6]), es, probe])
    # epochs 0 and 1 are ignored (their better values do not count)
    assert record == [0, 0, 0, 0, 1]
    assert es.best == 0.4 and es.best_epoch == 3 and es.stopped_epoch == 4


def test_early_stopping_mode_max(data):
    md = small_mlp()
    es = EarlyStopping(monitor="score", mode="max", patience=0)
    fit(md, data, 5, [feed([0.5, 0.7, 0.6, 0.9, 1.0]), es])
    assert md.epoch == 3 and es.best == 0.7 and es.best_epoch == 1
    # 'auto' maximises a monitor with 'acc' in its name
    md = small_mlp()
    es = EarlyStopping(monitor="val_acc", patience=0)
    fit(md, data, 5, [feed([0.5, 0.7, 0.6, 0.9, 1.0], "val_acc"), es])
    assert md.epoch == 3 and es.best == 0.7


def test_early_stopping_restores_the_best_epochs_weights_exactly(data):
    md = small_mlp()
    snapshots = []
    keep = LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(md.get_weights()))
    es = EarlyStopping(monitor="score", patience=0, restore_best_weights=True)
    fit(md, data, 6, [feed([1.0, 0.5, 0.7, 0.2, 0.1, 0.0]), keep, es])
    assert md.epoch == 3 and len(snapshots) == 3
    final = md.get_weights()
    for got, want in zip(final, snapshots[1], strict=True):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    assert not all(np.array_equal(a, b) for a, b in zip(final, snapshots[2], strict=True))


def test_early_stopping_without_restore_keeps_the_last_weights(data):
    md = small_mlp()
    snapshots = []
    keep = LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(md.get_weights()))
    es = EarlyStopping(monitor="score", patience=0)
    fit(md, data, 6, [feed([1.0, 0.5, 0.7, 0.2, 0.1, 0.0]), keep, es])
    assert all(np.array_equal(a, b) for a, b in zip(md.get_weights(), snapshots[-1], strict=True))


def test_early_stopping_missing_monitor_prints_a_note(data, capsys):
    md = small_mlp()
    es = EarlyStopping(monitor="val_loss", patience=0)
    fit(md, data, 3, [es])
    out = capsys.readouterr().out
    assert "EarlyStopping: 'val_loss' is not in the logs (they hold loss)" in out
    assert md.epoch == 3 and es.stopped_epoch is None and es.wait == 0


def test_early_stopping_state_survives_resume(tmp_path, data):
    scores = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3]
    ckpt = str(tmp_path / "last.h5")

    def callbacks():
        es = EarlyStopping(monitor="score", patience=3, restore_best_weights=True)
        return es, [feed(scores), es, ModelCheckpoint(ckpt, monitor="score")]

    # uninterrupted
    md = small_mlp()
    es_straight, cbs = callbacks()
    fit(md, data, 10, cbs)
    straight = md.get_weights()

    # interrupted after 3 epochs (two without improvement), resumed in a fresh model
    es_first, cbs = callbacks()
    fit(small_mlp(), data, 10, [*cbs, StopAfter(3)])
    assert (es_first.wait, es_first.best, es_first.best_epoch) == (1, 0.5, 1)
    md = small_mlp()
    es, cbs = callbacks()
    seen = []
    probe = LambdaCallback(on_train_begin=lambda logs: seen.append((es.wait, es.best)))
    fit(md, data, 10, [*cbs, probe], resume_from=ckpt)
    assert seen == [(1, 0.5)]
    assert es.stopped_epoch == es_straight.stopped_epoch and es.best_epoch == 1
    assert md.epoch == es_straight.stopped_epoch + 1 < 10
    for got, want in zip(md.get_weights(), straight, strict=True):
        assert np.array_equal(got, want)  # the restored best weights came through the file


def test_checkpoint_before_early_stopping_resumes_exactly(tmp_path, data):
    """A checkpoint written by a ModelCheckpoint listed before EarlyStopping must still hold
    EarlyStopping's state after the epoch it closes, or the resumed run stops one epoch late."""
    scores = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3]
    ckpt = str(tmp_path / "last.h5")

    def callbacks():
        es = EarlyStopping(monitor="score", patience=3)
        return es, [feed(scores), ModelCheckpoint(ckpt, monitor="score"), es]

    md = small_mlp()
    es_straight, cbs = callbacks()
    fit(md, data, 10, cbs)

    es_first, cbs = callbacks()
    fit(small_mlp(), data, 10, [*cbs, StopAfter(3)])
    md2 = small_mlp()
    es, cbs = callbacks()
    fit(md2, data, 10, cbs, resume_from=ckpt)
    assert es.stopped_epoch == es_straight.stopped_epoch and md2.epoch == md.epoch


# -- ReduceLROnPlateau ---------------------------------------------------------------------
def lrs_of(md):
    record = []
    return record, LambdaCallback(
        on_epoch_end=lambda epoch, logs: record.append(md.optimizer.current_lr())
    )


def test_reduce_lr_after_patience(data):
    md = small_mlp()
    record, probe = lrs_of(md)
    rop = ReduceLROnPlateau(monitor="score", factor=0.5, patience=2)
    fit(md, data, 6, [feed([1.0] * 6), rop, probe], optimizer=SGD(0.1))
    assert record == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]


def test_reduce_lr_not_while_improving(data):
    md = small_mlp()
    record, probe = lrs_of(md)
    rop = ReduceLROnPlateau(monitor="score", factor=0.5, patience=1)
    fit(md, data, 4, [feed([4.0, 3.0, 2.0, 1.0]), rop, probe], optimizer=SGD(0.1))
    assert record == [0.1] * 4


def test_reduce_lr_cooldown(data):
    md = small_mlp()
    record, probe = lrs_of(md)
    rop = ReduceLROnPlateau(monitor="score", factor=0.5, patience=1, cooldown=2)
    fit(md, data, 6, [feed([1.0] * 6), rop, probe], optimizer=SGD(1.0))
    assert record == [1.0, 0.5, 0.5, 0.25, 0.25, 0.125]
    md = small_mlp()
    record, probe = lrs_of(md)
    rop = ReduceLROnPlateau(monitor="score", factor=0.5, patience=1)
    fit(md, data, 4, [feed([1.0] * 4), rop, probe], optimizer=SGD(1.0))
    assert record == [1.0, 0.5, 0.25, 0.125]


def test_reduce_lr_min_lr_floor(data):
    md = small_mlp()
    record, probe = lrs_of(md)
    rop = ReduceLROnPlateau(monitor="score", factor=0.5, patience=1, min_lr=0.3)
    fit(md, data, 5, [feed([1.0] * 5), rop, probe], optimizer=SGD(1.0))
    assert record == [1.0, 0.5, 0.3, 0.3, 0.3]


def test_reduce_lr_refuses_a_schedule(data):
    md = small_mlp()
    rop = ReduceLROnPlateau(monitor="score", factor=0.5, patience=1)
    with pytest.raises(
        CallbackError, match="ReduceLROnPlateau cannot change a learning rate that is a schedule"
    ):
        fit(md, data, 4, [feed([1.0] * 4), rop], optimizer=SGD(StepDecay(0.1, 100)))
    assert isinstance(md.optimizer.lr, StepDecay)


def test_reduce_lr_resumes_with_the_reduced_lr(tmp_path, data):
    """The lr that ReduceLROnPlateau lowered is part of the run: a resumed fit goes on with it,
    and ends with the weights of a run that never stopped."""
    ckpt = str(tmp_path / "last.h5")

    def run(md, n_stop=None, **kwargs):
        record, probe = lrs_of(md)
        rop = ReduceLROnPlateau(monitor="score", factor=0.5, patience=1)
        cbs = [feed([1.0] * 6), rop, ModelCheckpoint(ckpt, monitor="score"), probe]
        fit(
            md, data, 6, cbs + ([StopAfter(n_stop)] if n_stop else []), optimizer=SGD(0.1), **kwargs
        )
        return record

    straight = small_mlp()
    lrs = run(straight)
    assert lrs == [0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125]
    assert run(small_mlp(), n_stop=3) == lrs[:3]
    resumed = small_mlp()
    assert run(resumed, resume_from=ckpt) == lrs[3:]
    for got, want in zip(resumed.get_weights(), straight.get_weights(), strict=True):
        assert np.array_equal(got, want)


def test_reduce_lr_arguments_checked():
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=1.5)
    with pytest.raises(ValueError, match="cooldown"):
        ReduceLROnPlateau(cooldown=-1)


# -- LearningRateScheduler -----------------------------------------------------------------
def test_learning_rate_scheduler_sets_the_lr_of_each_epoch(data):
    md = small_mlp()
    calls, used = [], []
    schedule = LearningRateScheduler(
        lambda epoch, lr: calls.append((epoch, lr)) or 0.1 / (epoch + 1)
    )
    probe = LambdaCallback(
        on_batch_begin=lambda batch, logs: used.append((md.epoch, md.optimizer.lr))
    )
    history = fit(md, data, 3, [schedule, probe], optimizer=SGD(0.5))
    assert calls == [(0, 0.5), (1, 0.1), (2, 0.05)]  # (epoch, the lr so far)
    assert used == [(e, 0.1 / (e + 1)) for e in range(3) for _ in range(3)]
    assert history.history["lr"] == [0.1, 0.05, 0.1 / 3]


def test_learning_rate_scheduler_lr_drives_the_update(data):
    """SGD without momentum: the first step changes the weights by lr * grad, lr from the
    scheduler, not the optimizer's own."""
    x, y = data[0][:20], data[1][:20]
    md = small_mlp()
    before = md.get_weights()
    md.fit(
        x,
        y,
        batch_size=20,
        n_epochs=1,
        optimizer=SGD(0.5),
        verbose=0,
        shuffle=False,
        callbacks=[LearningRateScheduler(lambda epoch, lr: 0.125)],
    )
    grad = md.layers[2].grads["b"].copy()
    np.testing.assert_allclose(before[3] - md.get_weights()[3], 0.125 * grad, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("bad", ["0.1", None, -1.0, float("nan")])
def test_learning_rate_scheduler_bad_value_is_named(data, bad):
    md = small_mlp()
    cb = LearningRateScheduler(lambda epoch, lr: bad)
    with pytest.raises(CallbackError, match=re.escape(f"the schedule returned {bad!r}")):
        fit(md, data, 2, [cb])
    assert md.epoch == 0 and md.iteration == 0


def test_learning_rate_scheduler_needs_a_callable():
    with pytest.raises(TypeError, match="callable"):
        LearningRateScheduler(0.1)


# -- CSVLogger -----------------------------------------------------------------------------
def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_csv_logger_header_and_rows(tmp_path, data):
    md = small_mlp()
    path = tmp_path / "log.csv"
    history = fit(md, data, 3, [CSVLogger(path)], validation_data=data[2:])
    rows = read_csv(path)
    assert rows[0] == ["epoch", "loss", "val_loss"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2]
    assert [float(r[1]) for r in rows[1:]] == history.history["loss"]
    assert [float(r[2]) for r in rows[1:]] == history.history["val_loss"]


def test_csv_logger_append_continues_across_fits(tmp_path, data):
    md = small_mlp()
    path = tmp_path / "log.csv"
    h1 = fit(md, data, 2, [CSVLogger(path, append=True)])
    h2 = fit(md, data, 2, [CSVLogger(path, append=True)])
    rows = read_csv(path)
    assert rows[0] == ["epoch", "loss"] and len(rows) == 5  # one header
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2, 3]
    assert [float(r[1]) for r in rows[1:]] == h1.history["loss"] + h2.history["loss"]


def test_csv_logger_without_append_overwrites(tmp_path, data):
    md = small_mlp()
    path = tmp_path / "log.csv"
    fit(md, data, 2, [CSVLogger(path)])
    h2 = fit(md, data, 1, [CSVLogger(path, append=False)])
    rows = read_csv(path)
    assert rows == [["epoch", "loss"], ["2", repr(h2.history["loss"][0])]]


def test_csv_logger_separator(tmp_path, data):
    md = small_mlp()
    path = tmp_path / "log.tsv"
    fit(md, data, 1, [CSVLogger(path, separator="\t")], validation_data=data[2:])
    assert path.read_text().splitlines()[0] == "epoch\tloss\tval_loss"


# -- TerminateOnNaN ------------------------------------------------------------------------
def test_terminate_on_nan_with_a_huge_learning_rate(data, capsys):
    x = data[0]
    y = np.random.default_rng(0).normal(0, 1, (len(x), 3)).astype(np.float32)
    md = small_mlp(act="linear")
    stop = TerminateOnNaN()
    with pytest.warns(DivergenceWarning):
        history = md.fit(
            x,
            y,
            batch_size=5,
            n_epochs=5,
            loss_func="mse",
            optimizer=SGD(1e6),
            callbacks=[stop],
            verbose=0,
        )
    losses = history.batch_history["loss"]
    assert not np.isfinite(losses[-1]) and np.isfinite(losses[:-1]).all()
    assert len(losses) < 5 * 12  # stopped at the first non-finite batch
    assert md.iteration == len(losses) - 1  # which made no update
    assert all(np.isfinite(w).all() for w in md.get_weights())
    epoch, batch = history.batch_history["epoch"][-1], history.batch_history["batch"][-1]
    assert f"at epoch {epoch + 1}, batch {batch + 1}" in stop.report
    assert re.search(r"first non-finite: the (output|gradient) of Dense_[12]\b", stop.report)
    assert stop.report in capsys.readouterr().out


def test_terminate_on_nan_names_the_layer_whose_output_went_nan(data):
    md = small_mlp()

    def poison(batch, logs):
        if md.iteration == 4:  # after the fourth update: the fifth batch (epoch 2, batch 2)
            md.layers[2].params["W"][0, 0] = np.nan

    stop = TerminateOnNaN()
    with pytest.warns(DivergenceWarning):
        history = fit(md, data, 5, [LambdaCallback(on_batch_end=poison), stop])
    assert md.epoch == 2 and len(history.epoch) == 2  # the stopped epoch counts, as in Keras
    assert len(history.batch_history["loss"]) == 5 and md.iteration == 4
    assert "at epoch 2, batch 2" in stop.report
    assert stop.report.endswith("first non-finite: the output of Dense_2")


def test_terminate_on_nan_silent_when_finite(data):
    md = small_mlp()
    stop = TerminateOnNaN()
    fit(md, data, 2, [stop])
    assert stop.report is None and md.epoch == 2


def test_first_nonfinite_layer(data):
    x = data[0][:4]
    md = small_mlp()
    assert md.first_nonfinite_layer() is None  # nothing computed yet
    md.predict(x)
    assert md.first_nonfinite_layer() is None
    md.layers[1].grads["W"][3, 2] = np.inf
    assert md.first_nonfinite_layer() == "the gradient of Dense_1.W"
    md.layers[2].grads["b"][0] = np.nan  # the gradient nearest the output is named first
    assert md.first_nonfinite_layer() == "the gradient of Dense_2.b"
    md.layers[1].params["b"][0] = np.inf
    md.predict(x)
    assert md.first_nonfinite_layer() == "the output of Dense_1"  # outputs before gradients


# -- LambdaCallback ------------------------------------------------------------------------
def test_lambda_callback_hooks_and_arguments(data):
    md = small_mlp()
    calls = []

    def hook(name):
        return lambda *args: calls.append(
            (name, *(dict(a) if isinstance(a, dict) else a for a in args))
        )

    cb = LambdaCallback(**{name: hook(name) for name in LambdaCallback.HOOKS})
    history = fit(md, data, 1, [cb])
    names = [c[0] for c in calls]
    assert names == [
        "on_train_begin",
        "on_epoch_begin",
        *["on_batch_begin", "on_batch_end"] * 3,
        "on_epoch_end",
        "on_train_end",
    ]
    assert calls[0] == ("on_train_begin", {}) and calls[-1] == ("on_train_end", {})
    assert calls[1] == ("on_epoch_begin", 0, {})
    assert calls[2] == ("on_batch_begin", 0, {"batch": 0, "size": 20})
    assert calls[3][:2] == ("on_batch_end", 0) and calls[3][2]["loss"] > 0
    assert calls[7][:2] == ("on_batch_end", 2)
    assert calls[-2] == ("on_epoch_end", 0, {"loss": history.history["loss"][0]})


def test_lambda_callback_unknown_hook():
    with pytest.raises(TypeError, match="on_epoch_finish"):
        LambdaCallback(on_epoch_finish=print)
    with pytest.raises(TypeError, match="on_epoch_end must be callable"):
        LambdaCallback(on_epoch_end=3)


# -- PlotHistory ---------------------------------------------------------------------------
@pytest.fixture
def drawn(monkeypatch):
    """What each PlotHistory figure held: a list of {panel title: [(label, n points)]}."""
    figures = []
    original = matplotlib.figure.Figure.savefig

    def savefig(fig, *args, **kwargs):
        figures.append(
            {
                ax.get_title(): [(line.get_label(), len(line.get_xdata())) for line in ax.lines]
                for ax in fig.axes
            }
        )
        return original(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return figures


def test_plot_history_writes_a_png_each_epoch(tmp_path, data, drawn):
    md = small_mlp()
    path = tmp_path / "plots" / "history.png"
    fit(md, data, 2, [PlotHistory(path)])
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert drawn == [{"loss": [("train", 1)]}, {"loss": [("train", 2)]}]


def test_plot_history_with_validation_curves(tmp_path, data, drawn):
    md = small_mlp()
    path = tmp_path / "history.png"
    fit(md, data, 2, [PlotHistory(path)], validation_data=data[2:], metrics=["accuracy"])
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert drawn[-1] == {
        "accuracy": [("train", 2), ("validation", 2)],
        "loss": [("train", 2), ("validation", 2)],
    }
    assert len(drawn) == 2


# -- History -------------------------------------------------------------------------------
def test_history_holds_values_that_later_callbacks_log(data):
    x, y, vx, vy = data
    md = small_mlp()
    validation = Validation(te_x=vx, te_y=vy, batch_size=30, call_freq=1, dump_path=None, verbose=0)
    history = fit(md, data, 2, [validation])
    errors = history.history["te_categorical_error"]
    assert len(errors) == 2
    # the value of the epoch's end, not of the epoch-0 call
    assert errors[-1] == md.evaluate(vx, vy, metrics=["categorical_error"])
    assert validation.results["te_categorical_error"][1:] == errors
