"""CIFAR-10 (60,000 32x32 colour images, 10 classes) from the python-pickle tarball.

The batches are read straight out of cifar-10-python.tar.gz (nothing is extracted) with an
unpickler that builds numpy arrays, dicts, lists and strings only: a pickle can run code, and
this one refuses every other global even when verify=False.
"""

from __future__ import annotations

import os
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from hat.datasets._files import (
    DatasetError,
    check_counts,
    fetch_first,
    home_folder,
    not_found_message,
    search_folders,
    sha256_check,
    sha256_of,
)
from hat.datasets._files import download as _download

__all__ = ["CLASS_NAMES", "DatasetError", "load_data"]

FILE = "cifar-10-python.tar.gz"
"""The tarball's name, as the CIFAR-10 site serves it."""
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
"""The tarball's sha256, checked unless load_data(verify=False)."""
URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
"""Where a missing tarball is downloaded from, in order."""
FOLDER = "cifar-10-batches-py"  # the folder inside the tarball
"""The folder inside the tarball that holds the batches."""
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
"""The five pickled training batches, 10,000 images each."""
TEST_BATCH = "test_batch"
"""The pickled test batch, 10,000 images."""
CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
"""The ten class names, indexed by label."""
# What the batches' pickles may name: numpy's array reconstruction (under numpy 1's and 2's
# module names) and the str-to-bytes codec that Python 3 writes bytes with at protocol 2 (a
# batch re-pickled by Python 3), nothing else.
_ALLOWED = {
    ("_codecs", "encode"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


def load_data(
    path: str | os.PathLike | None = None, *, verify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIFAR-10 as (x_train, y_train, x_test, y_test): NCHW float32 images in [0, 1].

    Keras' `load_data()` returns uint8 (N, 32, 32, 3) images and (N, 1) uint8 labels; hat's
    images are NCHW (as Conv2D takes them) and scaled, its labels (N,) int64.

    Args:
        path (str | PathLike | None): Default None. The folder holding
            cifar-10-python.tar.gz; without it, $HAT_DATASETS/cifar10 and then
            ~/.hat/datasets/cifar10 are searched. A missing tarball (163 MiB) is downloaded
            into `path`, or into ~/.hat/datasets/cifar10.
        verify (bool): Default True. Check the tarball's sha256.

    Returns:
        tuple: x_train (50000, 3, 32, 32) float32, y_train (50000,) int64, x_test
        (10000, 3, 32, 32) float32, y_test (10000,) int64; label k names CLASS_NAMES[k].

    Raises:
        DatasetError: The tarball is missing and cannot be downloaded, or is corrupt.
    """
    folders = search_folders("cifar10", path)
    folder = next((f for f in folders if (f / FILE).is_file()), None)
    if folder is None:
        folder = Path(path).expanduser() if path is not None else home_folder("cifar10")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            check = (lambda url: sha256_check(url, SHA256)) if verify else (lambda url: None)
            fetch_first(folder / FILE, URLS, check, fetch=_download)
        except Exception as err:
            message = not_found_message("CIFAR-10", "cifar10", [FILE], path, folders, folder, err)
            raise DatasetError(message) from err
    file = folder / FILE
    if verify:
        actual = sha256_of(file)
        if actual != SHA256:
            raise DatasetError(
                f"{file} fails its checksum: its sha256 is {actual}, expected {SHA256}. The file "
                "is corrupt or not the CIFAR-10 python tarball; delete it and retry "
                "(load_data downloads a fresh copy)."
            )
    batches = _read_batches(file)
    x_train, y_train = _stack(file, [batches[name] for name in TRAIN_BATCHES])
    x_test, y_test = _stack(file, [batches[TEST_BATCH]])
    check_counts("CIFAR-10", folder, (x_train, y_train), (x_test, y_test))
    return x_train, y_train, x_test, y_test


def _read_batches(file: Path) -> dict[str, dict]:
    wanted = {f"{FOLDER}/{name}": name for name in (*TRAIN_BATCHES, TEST_BATCH)}
    batches = {}
    retry = "Delete it and retry; load_data downloads a fresh copy."
    try:
        with tarfile.open(file, "r:gz") as tar:
            for member in tar:
                name = wanted.get(member.name)
                if name is not None and member.isfile():
                    batches[name] = _SafeUnpickler(tar.extractfile(member)).load()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise DatasetError(f"{file} could not be read as a gzip tarball ({err}). {retry}") from err
    except pickle.UnpicklingError as err:
        raise DatasetError(
            f"{file} holds a batch that is not a CIFAR pickle: {err}. {retry}"
        ) from err
    missing = sorted(set(wanted.values()) - set(batches))
    if missing:
        raise DatasetError(f"{file} lacks {', '.join(f'{FOLDER}/{m}' for m in missing)}. {retry}")
    return batches


def _stack(file: Path, batches: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, 32, 32) float32 in [0, 1] and labels (N,) int64 from pickled batches."""
    for batch in batches:
        data = batch.get(b"data") if isinstance(batch, dict) else None
        if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            got = getattr(data, "shape", type(data).__name__)
            raise DatasetError(
                f"{file} holds a batch whose b'data' is {got}; expected a uint8 array of shape "
                "(N, 3072). Delete it and retry."
            )
    n = sum(len(batch[b"data"]) for batch in batches)
    images = np.empty((n, 3, 32, 32), np.float32)
    start = 0
    for batch in batches:
        data = batch[b"data"]
        # Each row holds the 1024 red values, then green, then blue, each row-major: NCHW.
        np.divide(
            data.reshape(-1, 3, 32, 32), np.float32(255), out=images[start : start + len(data)]
        )
        start += len(data)
    labels = np.concatenate([np.asarray(batch.get(b"labels", []), np.int64) for batch in batches])
    if labels.size and not 0 <= labels.min() <= labels.max() < len(CLASS_NAMES):
        raise DatasetError(
            f"{file} holds labels from {labels.min()} to {labels.max()}; expected 0 to 9. "
            "Delete it and retry."
        )
    return images, labels


class _SafeUnpickler(pickle.Unpickler):
    def __init__(self, f):
        super().__init__(f, encoding="bytes")

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR batch never does")
