"""Shared fixtures. MNIST comes through HAT_DATASETS; in CI its absence fails the tests that
need it, elsewhere it skips them."""

import os

import numpy as np
import pytest

# Tests run examples from temporary folders: a relative HAT_DATASETS must not move with them.
if os.environ.get("HAT_DATASETS"):
    os.environ["HAT_DATASETS"] = os.path.abspath(os.environ["HAT_DATASETS"])


@pytest.fixture(scope="session")
def mnist():
    """(tr_X, tr_y, te_X, te_y): float32 (N, 784) in [0, 1], int64 labels; 60,000 / 10,000."""
    from hat.datasets import mnist as loader

    try:
        x_train, y_train, x_test, y_test = loader.load_data(_local_folder())
    except (loader.DatasetError, FileNotFoundError) as err:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs MNIST under $HAT_DATASETS/mnist: {err}")
        pytest.skip(f"MNIST not available: {err}")
    scale = np.float32(1 / 255)
    return (
        (x_train.reshape(len(x_train), -1) * scale).astype(np.float32),
        y_train,
        (x_test.reshape(len(x_test), -1) * scale).astype(np.float32),
        y_test,
    )


def _local_folder():
    """The MNIST folder if it is already on disk; never download during tests."""
    candidates = []
    if os.environ.get("HAT_DATASETS"):
        candidates.append(os.path.join(os.environ["HAT_DATASETS"], "mnist"))
    candidates.append(os.path.expanduser("~/.hat/datasets/mnist"))
    for folder in candidates:
        if os.path.isdir(folder) and any(n.startswith("train-images") for n in os.listdir(folder)):
            return folder
    raise FileNotFoundError(f"no MNIST folder among {candidates}")
