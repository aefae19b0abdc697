"""The program that tests/distributed runs under mpiexec: small models on synthetic data.

Each rank works in OUT/rank<r> (so the test can see which ranks wrote files), records which
samples it trained on, and rank 0 saves the final weights. Faults are injected on the last
rank at epoch 2, batch 2, after the epoch-1 checkpoint exists.

    mpiexec -n 2 python tests/distributed/rank_program.py OUT --models mlp,cnn --shards 4
"""

import argparse
import json
import os
import signal
import time

import numpy as np

import hat.distributed as hd
from hat.callbacks import Callback, CSVLogger, ModelCheckpoint, Validation
from hat.layers.conv import Conv2D
from hat.layers.core import Dense, Dropout, Flatten, InputLayer
from hat.layers.normalization import BatchNorm
from hat.layers.pooling import MaxPool2D
from hat.models import Sequential
from hat.optimizers import SGD, Adam

N_SAMPLES, BATCH = 100, 24  # 4 full batches and one of 4 samples: one sample a shard


def build(name: str):
    """The model and its data; the first input value of each sample is its index / 128."""
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 4, N_SAMPLES)
    if name in ("mlp", "nan"):
        layers = [InputLayer(12), Dense(16, act="relu"), Dropout(0.25), Dense(4, act="softmax")]
        x = rng.standard_normal((N_SAMPLES, 12)).astype(np.float32)
        x[:, 0] = np.arange(N_SAMPLES) / 128
        if name == "nan":  # the batch that holds sample 57 is skipped, and training stops
            x[57, 3] = np.nan
    else:
        act = "linear" if name == "bncnn" else "relu"
        layers = [InputLayer((1, 8, 8)), Conv2D(4, 3, 3, act=act)]
        if name == "bncnn":
            layers.append(BatchNorm())
        layers += [MaxPool2D((2, 2)), Flatten(), Dense(4, act="softmax")]
        x = rng.standard_normal((N_SAMPLES, 1, 8, 8)).astype(np.float32)
        x[:, 0, 0, 0] = np.arange(N_SAMPLES) / 128
    y = np.eye(4, dtype=np.float32)[labels]
    model = Sequential(layers).combine(seed=11)
    optimizer = Adam(0.01) if name in ("mlp", "nan") else SGD(0.05, rho=0.9)
    return model, x, y, optimizer


def record_samples(model, seen: list):
    """Note the sample indices of every shard any model computes (replicas included: rank's
    other shards run on copies of the model), with `model`'s epoch; returns the undo."""
    from hat.models import Model

    step = Model._train_step

    def recording(self, xs, ys, *rest):
        first = xs[0].reshape(xs[0].shape[0], -1)[:, 0]
        seen.append((model.epoch, np.rint(first * 128).astype(np.int64)))
        return step(self, xs, ys, *rest)

    Model._train_step = recording
    return lambda: setattr(Model, "_train_step", step)


class Fault(Callback):
    """On the chosen rank, at epoch 2 batch 2: raise, kill -9 or SIGSTOP this process."""

    def __init__(self, kind: str, rank: int, out: str):
        super().__init__()
        self.kind, self.rank, self.out = kind, rank, out

    def on_batch_end(self, batch, logs=None):
        if self.model.epoch == 1 and batch == 1 and hd.rank() == self.rank:
            with open(os.path.join(self.out, "fault-time"), "w") as f:  # stderr may be lost
                f.write(f"{time.time():.3f}")
            if self.kind == "raise":
                raise RuntimeError(f"injected fault on rank {self.rank}")
            os.kill(os.getpid(), signal.SIGKILL if self.kind == "kill" else signal.SIGSTOP)


VALIDATION = slice(30, 65)  # Validation's samples (35: the ranks' shares differ in size)
VALIDATION_METRICS = ["categorical_error", "categorical_crossentropy"]


class CountedValidation(Validation):
    """Hat's Validation, noting how many samples this rank predicted at each call."""

    def __init__(self, x, y):
        super().__init__(va_x=x, va_y=y, batch_size=8, call_freq=1, metrics=VALIDATION_METRICS,
                         verbose=0)  # fmt: skip
        self.predicted: list[int] = []

    def call(self):
        from hat.models import Model

        predict_all, counted = Model._predict_all, []

        def counting(model, xs, *rest, **named):
            counted.append(xs[0].shape[0])
            return predict_all(model, xs, *rest, **named)

        Model._predict_all = counting
        try:
            super().call()
        finally:
            Model._predict_all = predict_all
        self.predicted.append(sum(counted))


def save_validation(args, ctx, name, tag, model, validation, x, y):
    """Each rank's Validation results and predicted counts, and a local evaluate's values."""
    local = model.evaluate(x[VALIDATION], y[VALIDATION], 8, VALIDATION_METRICS, return_dict=True)
    folder = os.path.join(args.out, "validation")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{name}-{tag}-rank{ctx.rank}.json"), "w") as f:
        json.dump({"results": validation.results, "predicted": validation.predicted,
                   "local": local}, f)  # fmt: skip


def train(name, args, ctx, shards, tag):
    model, x, y, optimizer = build(name)
    if args.fault == "mismatch" and ctx.rank == ctx.size - 1:
        x, y = x[:-1], y[:-1]
    model.train_on_batch(x[:4], y[:4], "categorical_crossentropy", SGD(0.01))  # compile kernels
    model, _, _, _ = build(name)  # the same model, untouched
    seen: list = []
    undo = record_samples(model, seen)
    folder = os.path.join(args.out, f"rank{ctx.rank}", f"{name}-{tag}")
    os.makedirs(folder, exist_ok=True)
    os.chdir(folder)
    callbacks = [ModelCheckpoint("ckpt-{epoch}.h5"), CSVLogger("log.csv")]
    if args.fault != "none":
        callbacks.append(Fault(args.fault, ctx.size - 1, args.out))
    validation = CountedValidation(x[VALIDATION], y[VALIDATION]) if name == "mlp" else None
    callbacks += [validation] if validation else []
    resume = None
    if args.resume:
        resume = os.path.join(args.resume, "rank0", f"{name}-{tag}", "ckpt-1.h5")
    model.fit(
        x, y, batch_size=BATCH, epochs=args.epochs, optimizer=optimizer, callbacks=callbacks,
        metrics=["accuracy"], validation_data=(x[:30], y[:30]), verbose=2,
        distributed=shards is not None, shards=shards, resume_from=resume,
        allow_nonfinite=name == "nan",
    )  # fmt: skip
    undo()
    if validation:
        save_validation(args, ctx, name, tag, model, validation, x, y)
    samples = os.path.join(args.out, "samples")
    os.makedirs(samples, exist_ok=True)
    np.save(
        os.path.join(samples, f"{name}-{tag}-rank{ctx.rank}.npy"),
        np.array([(epoch, i) for epoch, batch in seen for i in batch], np.int64).reshape(-1, 2),
    )
    # evaluate and predict split over the ranks, against each rank's own.
    metrics = ["accuracy", "categorical_crossentropy"]
    x, y = x[:50], y[:50]  # finite samples only
    split = hd.evaluate(model, x, y, batch_size=7, metrics=metrics) if shards else None
    local = model.evaluate(x, y, batch_size=7, metrics=metrics)
    gap = float(np.abs(hd.predict(model, x, 7) - model.predict(x, 7)).max()) if shards else None
    if ctx.rank == 0:
        np.savez(os.path.join(args.out, f"weights-{name}-{tag}.npz"), *model.get_weights())
        with open(os.path.join(args.out, f"evaluate-{name}-{tag}.json"), "w") as f:
            record = {"split": split, "local": local, "predict_gap": gap, "epoch": model.epoch}
            json.dump({**record, "iteration": model.iteration}, f)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--models", default="mlp")
    parser.add_argument("--shards", default="4", help="a comma list; 'plain' is fit without MPI")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--resume", default=None, help="an earlier run's OUT: resume at epoch 1")
    faults = ("none", "raise", "kill", "stop", "mismatch")
    parser.add_argument("--fault", default="none", choices=faults)
    parser.add_argument("--watchdog", type=float, default=60.0)
    args = parser.parse_args()
    args.out = os.path.abspath(args.out)
    ctx = hd.init(watchdog=args.watchdog)
    for name in args.models.split(","):
        for shards in args.shards.split(","):
            train(name, args, ctx, None if shards == "plain" else int(shards), shards)


if __name__ == "__main__":
    main()
