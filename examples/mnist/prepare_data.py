"""MNIST for the example scripts, in Hat's load_data() contract."""

from __future__ import annotations

import gzip
import os
import pickle
import sys

import numpy as np

from hat.datasets import mnist

PICKLE_FILE = "mnist.pkl.gz"


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return tr_X, tr_y, va_X, va_y, te_X, te_y: float32 (N, 784) in [0, 1], int64 (N,) labels.

    The splits hold 50,000 / 10,000 / 10,000 samples. A mnist.pkl.gz in the working directory
    (Hat's original file) is used when present; otherwise hat.datasets.mnist.load_hat_split()
    provides the same split from the canonical IDX files.
    """
    if os.path.isfile(PICKLE_FILE):
        return _load_pickle(PICKLE_FILE)
    return mnist.load_hat_split()


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
