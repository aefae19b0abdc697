"""The TensorBoard callback and hat's event-file writer, read back by TensorBoard's own code."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hat.callbacks import TensorBoard, Validation
from hat.optimizers import Adam
from hat.tensorboard_events import (
    EventFileWriter,
    crc32c,
    event,
    histogram_value,
    masked_crc32c,
    record,
    scalar_value,
)
from tests.helpers.optional import require
from tests.helpers.toy import blobs, small_mlp

require("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.compat.proto import event_pb2  # noqa: E402
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def read(folder) -> EventAccumulator:
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    accumulator.Reload()
    return accumulator


def scalars(accumulator, tag) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in accumulator.Scalars(tag)]


def test_crc32c_matches_the_standard_vectors_and_tensorboards_own():
    assert crc32c(b"") == 0
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720, B.4
    rng = np.random.default_rng(0)
    for n in (1, 7, 8, 100, 1000):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert masked_crc32c(data) == pywrap_tensorflow.masked_crc32c(data)


def test_events_parse_as_tensorflows_protocol_buffers():
    weights = np.random.default_rng(1).normal(0, 1, (20, 7)).astype(np.float32)
    data = event(
        step=12345678901,
        wall_time=1.7e9 + 0.25,
        values=[scalar_value("epoch_loss", 0.125), histogram_value("dense/W/histogram", weights)],
    )
    parsed = event_pb2.Event.FromString(data)
    assert parsed.step == 12345678901 and parsed.wall_time == 1.7e9 + 0.25
    loss, histo = parsed.summary.value
    assert loss.tag == "epoch_loss" and loss.simple_value == 0.125
    h = histo.histo
    v = weights.astype(np.float64).ravel()
    assert (h.min, h.max, h.num) == (v.min(), v.max(), 140)
    assert h.sum == v.sum() and h.sum_squares == np.dot(v, v)
    counts, edges = np.histogram(v, bins=30, range=(v.min(), v.max()))
    assert list(h.bucket) == counts.tolist() and list(h.bucket_limit) == edges[1:].tolist()
    assert event_pb2.Event.FromString(event(-3, 0.0)).step == -3  # int64 two's complement
    constant = event_pb2.Event.FromString(event(0, 0.0, [histogram_value("c", np.ones(5))]))
    assert list(constant.summary.value[0].histo.bucket) == [5.0]


def fit_with_tensorboard(tmp_path, n_epochs=3, **options):
    x, y, _ = blobs(n=120)
    md = small_mlp()
    callback = TensorBoard(log_dir=tmp_path / "logs", **options)
    history = md.fit(
        x[:90], y[:90], batch_size=20, n_epochs=n_epochs, optimizer=Adam(lr=0.01),
        validation_data=(x[90:], y[90:]), metrics=["accuracy"], callbacks=[callback], verbose=0,
    )  # fmt: skip
    return md, history, callback


def test_epoch_scalars_in_keras_runs_and_tags_exactly(tmp_path):
    md, history, _ = fit_with_tensorboard(tmp_path)
    assert sorted(os.listdir(tmp_path / "logs")) == ["train", "validation"]
    train, validation = read(tmp_path / "logs" / "train"), read(tmp_path / "logs" / "validation")
    assert sorted(train.Tags()["scalars"]) == [
        "epoch_accuracy",
        "epoch_learning_rate",
        "epoch_loss",
    ]
    assert sorted(validation.Tags()["scalars"]) == ["epoch_accuracy", "epoch_loss"]
    h = history.history
    for run, prefix in ((train, ""), (validation, "val_")):
        for metric in ("loss", "accuracy"):
            expected = [(epoch, float(np.float32(v))) for epoch, v in enumerate(h[prefix + metric])]
            assert scalars(run, f"epoch_{metric}") == expected
    assert scalars(train, "epoch_learning_rate") == [(e, float(np.float32(0.01))) for e in range(3)]
    assert train.Tags()["histograms"] == []


def test_batch_scalars_every_n_batches_and_histograms(tmp_path):
    md, history, _ = fit_with_tensorboard(tmp_path, n_epochs=2, update_freq=2, histogram_freq=2)
    train = read(tmp_path / "logs" / "train")
    # 90 samples in batches of 20: 5 batches an epoch, 10 in all; every second one written.
    losses = [float(np.float32(v)) for v in history.batch_history["loss"]]
    assert scalars(train, "batch_loss") == [(s, losses[s - 1]) for s in (2, 4, 6, 8, 10)]
    assert [s for s, _ in scalars(train, "batch_learning_rate")] == [2, 4, 6, 8, 10]
    tags = sorted(train.Tags()["histograms"])
    assert tags == [f"Dense_{i}/{k}/histogram" for i in (1, 2) for k in ("W", "b")]
    (only,) = train.Histograms("Dense_1/W/histogram")  # epoch 0 only (histogram_freq=2)
    assert only.step == 0 and only.histogram_value.num == 20 * 16
    # A second fit continues the batch axis instead of writing over it.
    md.fit(*blobs(n=120)[:2], batch_size=60, n_epochs=1, callbacks=[TensorBoard(
        tmp_path / "logs", update_freq="batch")], verbose=0)  # fmt: skip
    assert [s for s, _ in scalars(read(tmp_path / "logs" / "train"), "batch_loss")][-2:] == [11, 12]


def test_hat_validation_values_and_the_lr_entry(tmp_path):
    x, y, _ = blobs(n=60)
    validation = Validation(
        te_x=x, te_y=y, call_freq=1, metrics=["accuracy"], dump_path=None, verbose=0
    )
    from hat.callbacks import LearningRateScheduler

    halve = LearningRateScheduler(lambda epoch, lr: 0.02 * 0.5**epoch)
    small_mlp().fit(
        x, y, n_epochs=2, verbose=0, optimizer=Adam(lr=0.02),
        callbacks=[validation, halve, TensorBoard(tmp_path)],
    )  # fmt: skip
    train = read(tmp_path / "train")
    assert (
        "epoch_te_accuracy" in train.Tags()["scalars"] and "epoch_lr" not in train.Tags()["scalars"]
    )
    assert [v for _, v in scalars(train, "epoch_learning_rate")] == [
        float(np.float32(0.02)),
        float(np.float32(0.01)),
    ]
    assert not (tmp_path / "validation").exists()  # no val_ values: no validation run


def test_a_killed_run_leaves_a_readable_file(tmp_path):
    """Each record is flushed when written: SIGKILL after three epochs keeps all three."""
    script = (
        "import os, signal\n"
        "from hat.tensorboard_events import EventFileWriter, scalar_value\n"
        f"writer = EventFileWriter({str(tmp_path / 'run')!r})\n"
        "for epoch in range(3):\n"
        "    writer.add(epoch, [scalar_value('epoch_loss', 1.0 / (epoch + 1))])\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", script], env=env, timeout=60)
    assert result.returncode == -9
    third = float(np.float32(1 / 3))
    assert scalars(read(tmp_path / "run"), "epoch_loss") == [(0, 1.0), (1, 0.5), (2, third)]


def test_a_truncated_last_record_loses_that_record_only(tmp_path):
    writer = EventFileWriter(tmp_path)
    for step in range(4):
        writer.add(step, [scalar_value("x", step)])
    writer.close()
    path = Path(writer.path)
    path.write_bytes(path.read_bytes()[:-5])  # the kill landed inside the last record
    assert [s for s, _ in scalars(read(tmp_path), "x")] == [0, 1, 2]
    assert len(record(b"abc")) == 8 + 4 + 3 + 4


def test_arguments_are_checked():
    with pytest.raises(
        ValueError, match=r"update_freq must be 'epoch', 'batch' or an int >= 1; got 'step'"
    ):
        TensorBoard(update_freq="step")
    with pytest.raises(ValueError, match=r"update_freq .* got 0"):
        TensorBoard(update_freq=0)
    with pytest.raises(ValueError, match=r"histogram_freq must be an int >= 0; got -1"):
        TensorBoard(histogram_freq=-1)
    with pytest.raises(TypeError, match=r"log_dir must be a folder path; got 3"):
        TensorBoard(log_dir=3)
