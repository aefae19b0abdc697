"""fit: its semantics (Hat's and Keras'), its checks, and determinism."""

import numpy as np
import pytest

from hat.optimizers import SGD, Adam
from hat.regularizations import L2
from tests.helpers.toy import blobs, small_mlp


def test_fit_returns_history_per_epoch_and_per_batch():
    md = small_mlp()
    x, y, _ = blobs(n=300)
    history = md.fit(x, y, batch_size=64, n_epochs=3, optimizer=Adam(lr=0.01), verbose=0)
    assert history.epoch == [0, 1, 2]
    assert len(history.history["loss"]) == 3
    assert history.history["loss"][-1] < history.history["loss"][0]
    batches = history.batch_history
    assert len(batches["loss"]) == 3 * 5  # ceil(300 / 64) batches per epoch
    assert batches["size"][:5] == [64, 64, 64, 64, 44]
    # the epoch's loss is the size-weighted mean of its batches
    first = np.average(batches["loss"][:5], weights=batches["size"][:5])
    assert history.history["loss"][0] == pytest.approx(first)
    assert md.history is history


def test_epoch_counter_carries_over_between_fits():
    md = small_mlp()
    x, y, _ = blobs()
    opt = Adam(lr=0.01)
    md.fit(x, y, batch_size=50, n_epochs=2, optimizer=opt, verbose=0)
    history = md.fit(x, y, batch_size=50, n_epochs=3, optimizer=opt, verbose=0)
    assert md.epoch == 5 and history.epoch == [2, 3, 4]
    assert md.iteration == 5 * 6 and opt.iterations == 30


def test_keras_epochs_and_initial_epoch():
    md = small_mlp()
    x, y, _ = blobs()
    md.fit(x, y, epochs=2, verbose=0)
    assert md.epoch == 2
    md.fit(x, y, epochs=4, verbose=0)
    assert md.epoch == 4
    history = md.fit(x, y, epochs=6, initial_epoch=5, verbose=0)
    assert history.epoch == [5]
    with pytest.raises(ValueError, match="nothing to train"):
        md.fit(x, y, epochs=3, verbose=0)


def test_keras_style_compile_then_fit():
    md = small_mlp().compile(
        optimizer=Adam(lr=0.01), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    x, y, _ = blobs()
    history = md.fit(x, y, epochs=5, batch_size=32, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["val_accuracy"][-1] > 0.9
    loss, acc = md.evaluate(x, y)
    assert acc > 0.9 and loss < history.history["loss"][0]


def test_validation_data():
    md = small_mlp()
    x, y, _ = blobs()
    history = md.fit(
        x[:200],
        y[:200],
        n_epochs=2,
        validation_data=(x[200:], y[200:]),
        metrics=["categorical_error"],
        verbose=0,
    )
    assert len(history.history["val_loss"]) == 2
    assert len(history.history["val_categorical_error"]) == 2


def test_sparse_labels_with_sparse_loss_match_one_hot_training():
    x, y, labels = blobs()
    a, b = small_mlp(seed=4), small_mlp(seed=4)
    a.fit(x, y, n_epochs=2, optimizer=SGD(0.1, momentum=0.9), verbose=0)
    b.fit(
        x,
        labels,
        n_epochs=2,
        optimizer=SGD(0.1, momentum=0.9),
        verbose=0,
        loss_func="sparse_categorical_crossentropy",
    )
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("loss", ["mse", "mae", "binary_crossentropy"])
def test_other_losses_train(loss):
    x, y, _ = blobs()
    md = small_mlp(act="sigmoid")
    history = md.fit(x, y, n_epochs=4, loss_func=loss, optimizer=Adam(lr=0.01), verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_unfused_path_matches_fused_gradient():
    """Softmax + categorical cross-entropy through Activation (not fused) vs Dense (fused)."""
    from hat.layers.core import Activation, Dense, InputLayer
    from hat.models import Sequential

    x, y, _ = blobs(n=64)
    fused = small_mlp(seed=2)
    seq = Sequential([InputLayer(20), Dense(16, act="relu"), Dense(3), Activation("softmax")])
    split = seq.combine(seed=2)
    lf = fused.train_on_batch(x, y, optimizer=SGD(0.1))
    ls = split.train_on_batch(x, y, optimizer=SGD(0.1))
    assert lf == pytest.approx(ls, rel=1e-5)
    for wa, wb in zip(fused.get_weights(), split.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-6)


def test_same_seed_same_bits_with_dropout_and_shuffle():
    x, y, _ = blobs(n=500)
    runs = []
    for _ in range(2):
        md = small_mlp(seed=11, dropout=0.3)
        md.fit(x, y, batch_size=32, n_epochs=3, optimizer=Adam(lr=0.01), verbose=0)
        runs.append(md.get_weights())
    for wa, wb in zip(*runs, strict=True):
        assert np.array_equal(wa, wb)
    other = small_mlp(seed=12, dropout=0.3)
    other.fit(x, y, batch_size=32, n_epochs=3, optimizer=Adam(lr=0.01), verbose=0)
    assert not np.array_equal(other.get_weights()[0], runs[0][0])


def test_train_on_batch_lowers_the_loss():
    md = small_mlp()
    x, y, _ = blobs(n=64)
    losses = [md.train_on_batch(x, y, optimizer=Adam(lr=0.01)) for _ in range(20)]
    assert losses[-1] < losses[0] / 2


def test_regularizer_adds_to_loss():
    from hat.layers.core import Dense, InputLayer
    from hat.models import Sequential

    x, y, _ = blobs(n=50)
    plain = Sequential([InputLayer(20), Dense(3, act="softmax")]).combine(seed=0)
    reg = Sequential([InputLayer(20), Dense(3, act="softmax", W_reg=L2(0.1))]).combine(seed=0)
    w = reg.layers[1].params["W"].copy()
    penalty = 0.1 * float(np.square(w).sum())
    assert reg.train_on_batch(x, y, optimizer=SGD(0.01)) == pytest.approx(
        plain.train_on_batch(x, y, optimizer=SGD(0.01)) + penalty, rel=1e-5
    )


def test_clip_bounds_each_update():
    md = small_mlp()
    x, y, _ = blobs(n=64)
    before = md._flat_params.copy()
    md.train_on_batch(x, y * 1000, loss_func="mse", optimizer=SGD(1.0), clip=0.001)
    assert np.abs(md._flat_params - before).max() <= 0.001 + 1e-7


def test_progress_bar_and_epoch_lines(capsys):
    x, y, _ = blobs()
    small_mlp().fit(x, y, n_epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert "epoch 1/1" in out and "samples/s" in out
    small_mlp().fit(x, y, n_epochs=2, verbose=2)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("epoch")]
    assert len(lines) == 2 and "loss:" in lines[1]
    small_mlp().fit(x, y, n_epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


# -- bad input -----------------------------------------------------------------------------
@pytest.fixture
def data():
    return blobs(n=40)


def fit(md, x, y, **kwargs):
    kwargs.setdefault("verbose", 0)
    return md.fit(x, y, **kwargs)


def test_x_and_y_lengths_differ(data):
    x, y, _ = data
    with pytest.raises(ValueError, match="same number of samples; got 40 and 39"):
        fit(small_mlp(), x, y[:39])


def test_y_width_mismatch(data):
    x, y, _ = data
    with pytest.raises(ValueError, match=r"y has shape \(40, 4\).*\(None, 3\)"):
        fit(small_mlp(), x, np.zeros((40, 4)))


def test_sparse_labels_where_one_hot_expected(data):
    x, _, labels = data
    with pytest.raises(ValueError, match="sparse_to_categorical"):
        fit(small_mlp(), x, labels)


def test_one_hot_where_labels_expected(data):
    x, y, _ = data
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        fit(small_mlp(), x, y, loss_func="sparse_categorical_crossentropy")


def test_labels_out_of_range(data):
    x, _, labels = data
    with pytest.raises(ValueError, match=r"\[0, 2\].*got values from 1 to 7"):
        fit(
            small_mlp(),
            x,
            np.where(labels == 0, 7, labels),
            loss_func="sparse_categorical_crossentropy",
        )


@pytest.mark.parametrize(
    "bad", [np.array([["x"] * 20] * 40), np.zeros((40, 20), object), np.zeros((40, 20), bool)]
)
def test_non_numeric_x(data, bad):
    with pytest.raises(TypeError, match="must hold numbers"):
        fit(small_mlp(), bad, data[1])


def test_empty_x():
    with pytest.raises(ValueError, match="empty"):
        fit(small_mlp(), np.zeros((0, 20)), np.zeros((0, 3)))


def test_nan_in_x_names_the_sample(data):
    x, y, _ = data
    x = x.copy()
    x[17, 3] = np.nan
    with pytest.raises(ValueError, match=r"x\[17\] holds NaN"):
        fit(small_mlp(), x, y)
    from hat.models import DivergenceWarning

    with pytest.warns(DivergenceWarning, match="first non-finite: the output of Dense_1"):
        fit(small_mlp(), x, y, allow_nonfinite=True)  # allowed on request: NaN flows in


@pytest.mark.parametrize(
    "batch_size, error", [(0, ValueError), (-5, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_bad_batch_size(data, batch_size, error):
    with pytest.raises(error, match="batch_size"):
        fit(small_mlp(), data[0], data[1], batch_size=batch_size)


def test_batch_larger_than_data_is_one_batch(data):
    history = fit(small_mlp(), data[0], data[1], batch_size=1000, n_epochs=1)
    assert history.batch_history["size"] == [40]


@pytest.mark.parametrize("n_epochs", [0, -1])
def test_bad_n_epochs(data, n_epochs):
    with pytest.raises(ValueError, match="n_epochs"):
        fit(small_mlp(), data[0], data[1], n_epochs=n_epochs)


def test_unknown_names_list_the_valid_ones(data):
    x, y, _ = data
    with pytest.raises(ValueError, match="unknown loss 'crossentropy'.*categorical_crossentropy"):
        fit(small_mlp(), x, y, loss_func="crossentropy")
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'.*adam"):
        fit(small_mlp(), x, y, optimizer="adamm")
    with pytest.raises(ValueError, match="unknown metric 'acuracy'.*accuracy"):
        fit(small_mlp(), x, y, metrics=["acuracy"])


def test_float64_and_fortran_inputs_are_converted(data):
    x, y, _ = data
    a, b = small_mlp(seed=5), small_mlp(seed=5)
    fit(a, x, y, n_epochs=2)
    fit(b, np.asfortranarray(x.astype(np.float64)), y.astype(np.float64), n_epochs=2)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        assert np.array_equal(wa, wb)
