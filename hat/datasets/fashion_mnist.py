"""Fashion-MNIST (Zalando's 28x28 clothing images, 10 classes), in the IDX files Keras loads."""

from __future__ import annotations

import os
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
from hat.datasets._idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

__all__ = ["CLASS_NAMES", "DatasetError", "load_data"]

# Keras' four file names and the sha256 of each .gz file as the mirrors serve it (the same
# bytes on both: Zalando's originals).
SHA256 = {
    name + ".gz": digest
    for name, digest in (
        (
            "train-labels-idx1-ubyte",
            "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
        ),
        (
            "train-images-idx3-ubyte",
            "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
        ),
        (
            "t10k-labels-idx1-ubyte",
            "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
        ),
        (
            "t10k-images-idx3-ubyte",
            "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
        ),
    )
}
"""The sha256 of each .gz file, by file name."""
FILES = tuple(SHA256)
"""Keras' four file names."""
MIRRORS = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
)
"""Where missing files are downloaded from, in order."""
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
"""The ten class names, indexed by label."""


def load_data(
    path: str | os.PathLike | None = None, *, verify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fashion-MNIST as (x_train, y_train, x_test, y_test), Keras' `load_data()` contract.

    Args:
        path (str | PathLike | None): Default None. The folder holding the four .gz files
            (Keras' names: train-images-idx3-ubyte.gz, ...); without it,
            $HAT_DATASETS/fashion_mnist and then ~/.hat/datasets/fashion_mnist are searched.
            Missing files are downloaded into `path`, or into ~/.hat/datasets/fashion_mnist.
        verify (bool): Default True. Check the sha256 of every file.

    Returns:
        tuple: x_train (60000, 28, 28) uint8, y_train (60000,) int64, x_test (10000, 28, 28)
        uint8, y_test (10000,) int64; label k names CLASS_NAMES[k].

    Raises:
        DatasetError: A file is missing and cannot be downloaded, or is corrupt.
    """
    folders = search_folders("fashion_mnist", path)
    folder = next((f for f in folders if not _missing(f)), None)
    if folder is None:
        folder = Path(path).expanduser() if path is not None else home_folder("fashion_mnist")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for name in _missing(folder):
                fetch_first(
                    folder / name,
                    [mirror + name for mirror in MIRRORS],
                    lambda url, name=name: sha256_check(url, SHA256[name]) if verify else None,
                    fetch=_download,
                )
        except Exception as err:
            message = not_found_message(
                "Fashion-MNIST", "fashion_mnist", list(FILES), path, folders, folder, err
            )
            raise DatasetError(message) from err
    x_train, y_train, x_test, y_test = (
        _read(folder, f"{split}-{kind}.gz", magic, verify)
        for split in ("train", "t10k")
        for kind, magic in (
            ("images-idx3-ubyte", IMAGES_MAGIC),
            ("labels-idx1-ubyte", LABELS_MAGIC),
        )
    )
    check_counts("Fashion-MNIST", folder, (x_train, y_train), (x_test, y_test))
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)


def _missing(folder: Path) -> list[str]:
    return [name for name in FILES if not (folder / name).is_file()]


def _read(folder: Path, name: str, magic: int, verify: bool) -> np.ndarray:
    file = folder / name
    if verify:
        actual = sha256_of(file)
        if actual != SHA256[name]:
            raise DatasetError(
                f"{file} fails its checksum: its sha256 is {actual}, expected {SHA256[name]}. "
                "The file is corrupt or not Zalando's Fashion-MNIST; delete it and retry "
                "(load_data downloads a fresh copy)."
            )
    return read_idx(file, magic)[0]
