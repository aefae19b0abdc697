"""MNIST for the example scripts, in Hat's load_data() contract."""

from __future__ import annotations

import gzip
import os
import pickle
import sys

import numpy as np

from hat.datasets import mnist

N_VALID = 10000  # the last 10,000 training images, as in Hat's mnist.pkl.gz
PICKLE_FILE = "mnist.pkl.gz"


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return tr_X, tr_y, va_X, va_y, te_X, te_y: float32 (N, 784) in [0, 1], int64 (N,) labels.

    The splits hold 50,000 / 10,000 / 10,000 samples. A mnist.pkl.gz in the working directory
    (Hat's original file) is used when present; otherwise hat.datasets.mnist provides the data.
    """
    if os.path.isfile(PICKLE_FILE):
        return _load_pickle(PICKLE_FILE)
    x_train, y_train, x_test, y_test = mnist.load_data()
    train = _to_float(x_train)  # (60000, 784)
    del x_train  # let the uint8 copy go before the test set is converted
    test = _to_float(x_test)  # (10000, 784)
    n_train = len(train) - N_VALID
    # Slices along axis 0 of a C-contiguous array are contiguous views: no copies.
    return (
        train[:n_train],
        y_train[:n_train],
        train[n_train:],
        y_train[n_train:],
        test,
        y_test,
    )


def _to_float(images: np.ndarray) -> np.ndarray:
    """Flatten uint8 images to float32 in [0, 1], allocating the output once."""
    out = np.empty((len(images), images[0].size), dtype=np.float32)
    # dtype=float32 makes numpy convert in small buffered chunks, never a full float64 temporary.
    np.divide(images.reshape(len(images), -1), np.float32(255), out=out, dtype=np.float32)
    return out


def _load_pickle(file: str) -> tuple[np.ndarray, ...]:
    # Hat's file is a Python 2 pickle of ((tr_X, tr_y), (va_X, va_y), (te_X, te_y)).
    with gzip.open(file, "rb") as f:
        splits = pickle.load(f, encoding="latin1")
    arrays = []
    for x, y in splits:
        arrays.append(np.asarray(x, dtype=np.float32))
        arrays.append(np.asarray(y, dtype=np.int64))
    return tuple(arrays)


def exit_on_dataset_error(main, *args):
    """main(*args); when the data is missing or corrupt, the DatasetError's message alone (no
    traceback through hat) goes to stderr and the script exits with status 2."""
    try:
        return main(*args)
    except mnist.DatasetError as err:
        print(err, file=sys.stderr)
        raise SystemExit(2) from None


def _summary() -> None:
    names = ("tr_X", "tr_y", "va_X", "va_y", "te_X", "te_y")
    for name, array in zip(names, load_data(), strict=True):
        print(f"{name}: {array.dtype} {array.shape}")


if __name__ == "__main__":
    exit_on_dataset_error(_summary)
