"""A training run for the resume tests, in a process of its own:

    python -m tests.helpers.resume_script MODE FOLDER [chain|graph]

MODE: straight (4 epochs), first_half (2 epochs, then stop), resume (continue from
FOLDER/ckpt.h5 to 4 epochs), kill (killed with SIGKILL in the middle of the third epoch, after
checkpoints every 4 batches), load_and_fit (load_model, then fit 2 more epochs).
The final weights, optimizer state and History go to FOLDER/result_<MODE>.npz. `graph` runs a
graph model instead of the chain: two branches (one a Lambda), a shared layer, BatchNorm.
"""

import json
import os
import signal
import sys

import numpy as np

import hat.backend as K
from hat.callbacks import LambdaCallback, ModelCheckpoint
from hat.layers import Add, Concatenate, Lambda
from hat.layers.core import Dense, Dropout, InputLayer
from hat.layers.normalization import BatchNorm
from hat.models import Model, Sequential, load_model
from hat.optimizers import Adam
from tests.helpers.toy import blobs

BATCH, EPOCHS = 32, 4


def build(kind: str = "chain"):
    if kind == "graph":
        return build_graph()
    layers = [
        InputLayer(20),
        Dense(32, act="relu"),
        BatchNorm(),
        Dropout(0.3),
        Dense(16, act="tanh"),
        Dropout(0.1),
        Dense(3, act="softmax"),
    ]
    return Sequential(layers).combine(seed=7)


def squashed_half(input):  # noqa: A002 (Hat's Lambda argument name); importable for the file
    return K.tanh(input[:, :8]) * 0.5


def build_graph():
    x = InputLayer(20)
    h = Dropout(0.3)(BatchNorm()(Dense(32, act="relu")(x)))
    shared = Dense(8, act="tanh", name="shared")
    left = shared(Lambda(squashed_half)(h))
    right = shared(Dense(8, act="relu")(h))
    joined = Concatenate()([Add()([left, right]), right])
    return Model([x], [Dense(3, act="softmax")(joined)], seed=7)


def main(mode: str, folder: str, kind: str = "chain") -> None:
    x, y, _ = blobs(n=400, seed=3)
    ckpt = os.path.join(folder, "ckpt.h5")
    kwargs = dict(batch_size=BATCH, epochs=EPOCHS, verbose=0)
    if mode == "load_and_fit":
        md = load_model(ckpt)
        history = md.fit(x, y, batch_size=BATCH, n_epochs=2, verbose=0)
    elif mode == "resume":
        md = build(kind)
        history = md.fit(
            x,
            y,
            optimizer=Adam(lr=0.01),
            resume_from=ckpt,
            callbacks=[ModelCheckpoint(ckpt, save_freq=4)],
            **kwargs,
        )
    else:
        md = build(kind)
        callbacks = [ModelCheckpoint(ckpt, save_freq=4 if mode == "kill" else "epoch")]
        if mode == "kill":

            def kill(batch, logs):
                if md.epoch == 2 and batch == 6:
                    os.kill(os.getpid(), signal.SIGKILL)

            callbacks.append(LambdaCallback(on_batch_end=kill))
        if mode == "first_half":
            kwargs["epochs"] = 2
        history = md.fit(x, y, optimizer=Adam(lr=0.01), callbacks=callbacks, **kwargs)
    state = {f"opt_{k}": np.asarray(v) for k, v in md.optimizer.state.items()}
    weights = {f"w{i}": w for i, w in enumerate(md.get_weights())}
    record = json.dumps({"epoch": history.epoch, "history": history.history})
    np.savez(os.path.join(folder, f"result_{mode}.npz"), history=record, **state, **weights)


if __name__ == "__main__":
    main(*sys.argv[1:])
