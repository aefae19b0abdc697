"""MNIST from the four canonical IDX files: search path, download, checksum, reader."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hat.datasets._files import (
    DatasetError,
    check_counts,
    fetch_first,
    not_found_message,
    search_folders,
    sha256_check,
)
from hat.datasets._files import download as _download
from hat.datasets._files import home_folder as _dataset_home
from hat.datasets._idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

__all__ = ["DatasetError", "load_data", "load_hat_split"]

# The four files, named without .gz, and the sha256 of their decompressed bytes. The decompressed
# bytes are what we check because mirrors recompress the image files, changing the .gz hashes.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
"""The sha256 of each file's decompressed bytes, by name without .gz."""
FILES = tuple(SHA256)
"""The four file names, without .gz."""
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
"""The mirrors downloads are tried from, in order."""
N_VALID = 10000  # Hat's validation split: the last 10,000 training images, as in mnist.pkl.gz
"""The size of `load_hat_split`'s validation split, cut from the end of the training set."""


def load_data(
    path: str | os.PathLike | None = None, *, verify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return MNIST as (x_train, y_train, x_test, y_test): uint8 (N, 28, 28) images, int64 labels.

    Args:
        path (str or PathLike or None, default None): the folder holding the four files;
            without it, $HAT_DATASETS/mnist and then ~/.hat/datasets/mnist are searched. When
            no folder holds all four, the missing ones are downloaded into `path`, or into
            ~/.hat/datasets/mnist.
        verify (bool, default True): check the sha256 of every decompressed file.

    Returns:
        tuple: x_train (60000, 28, 28) uint8, y_train (60000,) int64, x_test (10000, 28, 28)
        uint8, y_test (10000,) int64.

    Raises:
        DatasetError: a file is missing and cannot be downloaded, or is corrupt.
    """
    folders = search_folders("mnist", path)
    folder = next((f for f in folders if not _missing(f)), None)
    if folder is None:
        folder = Path(path).expanduser() if path is not None else _home_folder()
        try:
            _fetch(folder, _missing(folder), verify)
        except Exception as err:
            raise DatasetError(_not_found_message(path, folders, folder, err)) from err
    x_train = _read_idx(folder, "train-images-idx3-ubyte", IMAGES_MAGIC, verify)
    y_train = _read_idx(folder, "train-labels-idx1-ubyte", LABELS_MAGIC, verify)
    x_test = _read_idx(folder, "t10k-images-idx3-ubyte", IMAGES_MAGIC, verify)
    y_test = _read_idx(folder, "t10k-labels-idx1-ubyte", LABELS_MAGIC, verify)
    check_counts("MNIST", folder, (x_train, y_train), (x_test, y_test))
    # Labels are small; int64 is what losses and indexing expect.
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)


def _home_folder() -> Path:
    return _dataset_home("mnist")


def _locate(folder: Path, name: str) -> Path | None:
    """The .gz file if present, else the uncompressed one, else None."""
    for candidate in (folder / (name + ".gz"), folder / name):
        if candidate.is_file():
            return candidate
    return None


def _missing(folder: Path) -> list[str]:
    return [name for name in FILES if _locate(folder, name) is None]


def _read_idx(folder: Path, name: str, magic: int, verify: bool) -> np.ndarray:
    file = _locate(folder, name)
    if file is None:
        raise DatasetError(f"{name}.gz (or {name}) is missing from {folder}.")
    data, actual = read_idx(file, magic)
    if verify and actual != SHA256[name]:
        raise DatasetError(
            f"{file} fails its checksum: the sha256 of the decompressed {name} is {actual}, "
            f"expected {SHA256[name]}. The file is corrupt or not the canonical MNIST; delete "
            "it and retry (load_data downloads a fresh copy)."
        )
    return data


def _fetch(folder: Path, names: list[str], verify: bool) -> None:
    """Download the named files into `folder`, trying each mirror in turn."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        fetch_first(
            folder / (name + ".gz"),
            [mirror + name + ".gz" for mirror in MIRRORS],
            lambda url, name=name: sha256_check(url, SHA256[name], True) if verify else None,
            fetch=_download,
        )


def _not_found_message(path, folders: list[Path], target: Path, err: Exception) -> str:
    names = [name + ".gz" for name in FILES]
    return not_found_message(
        "MNIST", "mnist", names, path, folders, target, err, " (or the same names without .gz)"
    )


def load_hat_split(
    path: str | os.PathLike | None = None, *, verify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return MNIST in the original Hat's `load_data()` layout: six arrays, three splits.

    The training images are split as Hat's `mnist.pkl.gz` split them: the first 50,000 for
    training, the last 10,000 for validation; the 10,000 test images follow. Images are
    flattened to float32 rows of 784 pixels in [0, 1], labels are int64.

    Args:
        path (str | os.PathLike | None): Default None. The folder holding the four IDX files,
            searched and downloaded to exactly as by `load_data`.
        verify (bool): Default True. Check the sha256 of every decompressed file.

    Returns:
        tuple: `(tr_X, tr_y, va_X, va_y, te_X, te_y)`, with 50,000, 10,000 and 10,000 rows.

    Raises:
        DatasetError: The files are missing and cannot be downloaded, or are corrupt.

    Example:
        ```python
        from hat.datasets.mnist import load_hat_split

        tr_X, tr_y, va_X, va_y, te_X, te_y = load_hat_split()
        ```
    """
    x_train, y_train, x_test, y_test = load_data(path, verify=verify)
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
