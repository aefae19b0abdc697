"""hat.datasets.fashion_mnist on small IDX files made here (nothing is downloaded)."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from hat.datasets import fashion_mnist
from hat.datasets.fashion_mnist import DatasetError


def write_fake(folder: Path, n_train: int = 5, n_test: int = 3, seed: int = 0) -> dict:
    """Keras' four .gz files with random content; returns {name: array} and patches nothing."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        raw = struct.pack(f">I{a.ndim}I", 0x0800 | a.ndim, *a.shape) + a.tobytes()
        (folder / name).write_bytes(gzip.compress(raw))
    return arrays


def hashes(folder: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()
        for name in fashion_mnist.FILES
    }


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """A fresh HOME, no HAT_DATASETS, and a download that fails as it would offline."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HAT_DATASETS", raising=False)
    calls = []

    def offline(url, dest, check=None):
        calls.append(url)
        raise OSError(f"<urlopen error [Errno -3] Temporary failure in name resolution> ({url})")

    monkeypatch.setattr(fashion_mnist, "_download", offline)
    return calls


def test_reads_keras_files_from_hat_datasets(tmp_path, monkeypatch, no_network):
    arrays = write_fake(tmp_path / "data" / "fashion_mnist")
    monkeypatch.setenv("HAT_DATASETS", str(tmp_path / "data"))
    monkeypatch.setattr(fashion_mnist, "SHA256", hashes(tmp_path / "data" / "fashion_mnist"))
    x_train, y_train, x_test, y_test = fashion_mnist.load_data()
    assert x_train.dtype == np.uint8 and x_train.shape == (5, 28, 28)
    assert y_train.dtype == np.int64 and y_test.shape == (3,)
    np.testing.assert_array_equal(x_test, arrays["t10k-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y_train, arrays["train-labels-idx1-ubyte.gz"])
    assert no_network == []
    assert len(fashion_mnist.CLASS_NAMES) == 10


def test_checksum_mismatch_names_the_file(tmp_path, no_network):
    write_fake(tmp_path)
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz fails its checksum"):
        fashion_mnist.load_data(tmp_path)
    assert fashion_mnist.load_data(tmp_path, verify=False)[0].shape == (5, 28, 28)


def test_offline_error_says_where_it_looked(no_network, tmp_path):
    with pytest.raises(DatasetError) as info:
        fashion_mnist.load_data()
    message = str(info.value)
    assert "Fashion-MNIST was not found and could not be downloaded" in message
    assert all(name in message for name in fashion_mnist.FILES)
    assert str(tmp_path / "home" / ".hat" / "datasets" / "fashion_mnist") in message
    assert "Temporary failure in name resolution" in message and "HAT_DATASETS" in message
    assert len(no_network) == len(fashion_mnist.MIRRORS)  # every mirror tried once
    assert isinstance(info.value.__cause__, OSError)


def test_download_from_a_mirror_is_checked_and_kept(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    arrays = write_fake(mirror, seed=1)
    monkeypatch.setattr(fashion_mnist, "SHA256", hashes(mirror))
    monkeypatch.setattr(
        fashion_mnist, "MIRRORS", ((tmp_path / "gone").as_uri() + "/", mirror.as_uri() + "/")
    )
    x_train, *_ = fashion_mnist.load_data(tmp_path / "target")
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte.gz"])
    assert sorted(p.name for p in (tmp_path / "target").iterdir()) == sorted(fashion_mnist.FILES)
    # A mirror that serves other bytes leaves nothing behind.
    bad = dict(hashes(mirror), **{"t10k-labels-idx1-ubyte.gz": "0" * 64})
    monkeypatch.setattr(fashion_mnist, "SHA256", bad)
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz"):
        fashion_mnist.load_data(tmp_path / "other")
    assert not (tmp_path / "other" / "t10k-labels-idx1-ubyte.gz").exists()
