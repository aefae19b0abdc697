"""Long-run health: divergence keeps the last good weights, Ctrl-C stops cleanly."""

import os
import signal

import numpy as np
import pytest

from hat.callbacks import LambdaCallback
from hat.models import DivergenceWarning
from hat.optimizers import SGD
from tests.helpers.toy import blobs, small_mlp


def test_divergence_stops_with_the_last_good_weights():
    x, y, _ = blobs(n=200)
    md = small_mlp(act="linear")
    before_each_batch = []
    keep = LambdaCallback(
        on_batch_begin=lambda batch, logs: before_each_batch.append(md.get_weights())
    )
    with pytest.warns(DivergenceWarning) as caught:
        history = md.fit(
            x,
            y * 1e3,
            batch_size=20,
            n_epochs=5,
            loss_func="mse",
            optimizer=SGD(lr=10.0),
            callbacks=[keep],
            verbose=0,
        )
    message = str(caught[0].message)
    assert len(caught) == 1  # hat's own warning, not numpy's overflow chatter
    assert "epoch 1, batch" in message and "first non-finite:" in message
    assert "Dense_" in message
    last_good = before_each_batch[-1]
    for got, want in zip(md.get_weights(), last_good, strict=True):
        assert np.array_equal(got, want) and np.isfinite(got).all()
    assert not np.isfinite(history.batch_history["loss"][-1])
    assert md.iteration == len(before_each_batch) - 1  # the bad batch made no update
    assert md.predict(x).shape == (200, 3)


def test_train_on_batch_warns_on_divergence():
    x, y, _ = blobs(n=20)
    md = small_mlp(act="linear")
    md.layers[1].params["W"][0, 0] = np.inf
    with pytest.warns(DivergenceWarning, match="first non-finite: the output of Dense_1"):
        md.train_on_batch(x, y, loss_func="mse", optimizer=SGD(0.1))
    assert md.iteration == 0


@pytest.fixture
def default_sigint():
    """Python's own Ctrl-C handler, even where the test runner was started with SIGINT
    ignored (a background job)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_finishes_the_batch_closes_the_run_and_reraises(default_sigint):
    x, y, _ = blobs(n=200)
    md = small_mlp()
    ended = []

    def interrupt(batch, logs):
        if batch == 2:
            os.kill(os.getpid(), signal.SIGINT)

    callbacks = [
        LambdaCallback(on_batch_end=interrupt, on_train_end=lambda logs: ended.append(True))
    ]
    with pytest.raises(KeyboardInterrupt):
        md.fit(x, y, batch_size=20, n_epochs=3, callbacks=callbacks, verbose=0)
    assert ended == [True]
    assert md.iteration == 3  # batches 0, 1, 2 finished
    assert md.epoch == 1 and md.history.epoch == [0]
    assert len(md.history.batch_history["loss"]) == 3
    # the handler is gone: the next fit runs normally
    md.fit(x, y, batch_size=20, n_epochs=1, verbose=0)
    assert md.epoch == 2 and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_no_file_handles_left_open(tmp_path):
    from hat.callbacks import CSVLogger, ModelCheckpoint, SaveModel, Validation
    from hat.models import load_model

    x, y, _ = blobs(n=100)
    md = small_mlp()
    md.fit(x, y, n_epochs=1, verbose=0)  # first use: numba's cache files are read once
    before = set(os.listdir("/proc/self/fd"))
    callbacks = [
        Validation(te_x=x, te_y=y, call_freq=1, dump_path=str(tmp_path / "v.p")),
        SaveModel(str(tmp_path / "Md"), call_freq=1),
        CSVLogger(tmp_path / "log.csv"),
        ModelCheckpoint(str(tmp_path / "ck-{epoch}.h5"), save_freq=2),
    ]
    md.fit(x, y, n_epochs=3, callbacks=callbacks, verbose=1)
    load_model(tmp_path / "ck-4.h5").save_weights(tmp_path / "w.h5")
    md.load_weights(tmp_path / "w.h5")
    assert set(os.listdir("/proc/self/fd")) <= before
