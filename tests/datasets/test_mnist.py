"""Tests for hat.datasets.mnist and examples/mnist/prepare_data.py."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from hat.datasets import mnist
from hat.datasets.mnist import DatasetError

REPO = Path(__file__).resolve().parents[2]
TRAIN_CLASS_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def write_idx(folder: Path, name: str, data: np.ndarray, compress: bool = True) -> str:
    """Write `data` (uint8) as an IDX file; return the sha256 of its uncompressed bytes."""
    data = np.ascontiguousarray(data, dtype=np.uint8)
    raw = struct.pack(f">I{data.ndim}I", 0x0800 | data.ndim, *data.shape) + data.tobytes()
    folder.mkdir(parents=True, exist_ok=True)
    if compress:
        (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
    else:
        (folder / name).write_bytes(raw)
    return hashlib.sha256(raw).hexdigest()


def make_dataset(folder: Path, label: int = 3, compress: bool = True) -> dict[str, np.ndarray]:
    """Write a tiny MNIST look-alike whose labels are all `label`; return its arrays by name."""
    rng = np.random.default_rng(label)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (6, 4, 5), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.full(6, label, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (2, 4, 5), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.full(2, label, dtype=np.uint8),
    }
    for name, data in arrays.items():
        write_idx(folder, name, data, compress)
    return arrays


def hashes_of(arrays: dict[str, np.ndarray]) -> dict[str, str]:
    return {
        name: hashlib.sha256(
            struct.pack(f">I{a.ndim}I", 0x0800 | a.ndim, *a.shape) + a.tobytes()
        ).hexdigest()
        for name, a in arrays.items()
    }


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """A fresh HOME, no HAT_DATASETS, and mirrors that cannot be reached."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("HAT_DATASETS", raising=False)
    monkeypatch.setattr(mnist, "MIRRORS", ((tmp_path / "no-mirror").as_uri() + "/",))
    return home


def test_reads_explicit_path(tmp_path, offline, monkeypatch):
    arrays = make_dataset(tmp_path / "data")
    monkeypatch.setattr(mnist, "SHA256", hashes_of(arrays))
    x_train, y_train, x_test, y_test = mnist.load_data(tmp_path / "data")
    assert x_train.shape == (6, 4, 5) and x_train.dtype == np.uint8
    assert x_test.shape == (2, 4, 5) and x_test.dtype == np.uint8
    assert y_train.shape == (6,) and y_train.dtype == np.int64
    assert y_test.shape == (2,) and y_test.dtype == np.int64
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(x_test, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(y_train, 3)
    x_train[0, 0, 0] = 7  # callers may scale or augment in place


def test_reads_uncompressed_files(tmp_path, offline, monkeypatch):
    arrays = make_dataset(tmp_path / "data", compress=False)
    monkeypatch.setattr(mnist, "SHA256", hashes_of(arrays))
    x_train, _, _, _ = mnist.load_data(str(tmp_path / "data"))
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte"])


def test_hat_datasets_beats_home(tmp_path, offline, monkeypatch):
    env_arrays = make_dataset(tmp_path / "env" / "mnist", label=1)
    home_arrays = make_dataset(offline / ".hat" / "datasets" / "mnist", label=2)
    monkeypatch.setenv("HAT_DATASETS", str(tmp_path / "env"))
    monkeypatch.setattr(mnist, "SHA256", hashes_of(env_arrays))
    assert set(mnist.load_data()[1]) == {1}
    # A HAT_DATASETS folder without the files falls back to the home folder.
    monkeypatch.setenv("HAT_DATASETS", str(tmp_path / "empty"))
    monkeypatch.setattr(mnist, "SHA256", hashes_of(home_arrays))
    assert set(mnist.load_data()[1]) == {2}


def test_checksum_mismatch_names_the_file(tmp_path, offline, monkeypatch):
    arrays = make_dataset(tmp_path / "data")
    hashes = hashes_of(arrays)
    hashes["t10k-images-idx3-ubyte"] = "0" * 64
    monkeypatch.setattr(mnist, "SHA256", hashes)
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte") as info:
        mnist.load_data(tmp_path / "data")
    message = str(info.value)
    assert "0" * 64 in message and hashes_of(arrays)["t10k-images-idx3-ubyte"] in message
    assert "delete" in message
    # verify=False is the way to read data that is knowingly not the canonical MNIST.
    assert mnist.load_data(tmp_path / "data", verify=False)[2].shape == (2, 4, 5)


def test_bad_magic_number(tmp_path, offline, monkeypatch):
    arrays = make_dataset(tmp_path / "data")
    raw = struct.pack(">I3I", 0x0000_0D03, 6, 4, 5) + arrays["train-images-idx3-ubyte"].tobytes()
    (tmp_path / "data" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
    monkeypatch.setattr(mnist, "SHA256", hashes_of(arrays))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.*magic number 0x00000d03"):
        mnist.load_data(tmp_path / "data")


def test_size_mismatch(tmp_path, offline, monkeypatch):
    arrays = make_dataset(tmp_path / "data")
    raw = struct.pack(">I3I", 0x0803, 7, 4, 5) + arrays["train-images-idx3-ubyte"].tobytes()
    (tmp_path / "data" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
    monkeypatch.setattr(mnist, "SHA256", hashes_of(arrays))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte.*truncated"):
        mnist.load_data(tmp_path / "data")


def test_offline_without_files_explains(offline):
    with pytest.raises(DatasetError) as info:
        mnist.load_data()
    message = str(info.value)
    for name in mnist.FILES:
        assert name + ".gz" in message
    assert str(offline / ".hat" / "datasets" / "mnist") in message
    assert "~/.hat/datasets" in message and "HAT_DATASETS" in message
    assert "no-mirror" in message  # the underlying download error
    assert isinstance(info.value.__cause__, OSError)
    # Nothing half-written is left behind.
    assert list((offline / ".hat" / "datasets" / "mnist").iterdir()) == []


def test_download_falls_back_to_second_mirror(tmp_path, offline, monkeypatch):
    arrays = make_dataset(tmp_path / "mirror")
    monkeypatch.setattr(mnist, "SHA256", hashes_of(arrays))
    monkeypatch.setattr(
        mnist, "MIRRORS", ((tmp_path / "gone").as_uri() + "/", (tmp_path / "mirror").as_uri() + "/")
    )
    x_train, _, _, _ = mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte"])
    folder = offline / ".hat" / "datasets" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(n + ".gz" for n in mnist.FILES)


def test_download_rejects_corrupt_mirror(tmp_path, offline, monkeypatch):
    arrays = make_dataset(tmp_path / "mirror")
    hashes = hashes_of(arrays)
    hashes["train-labels-idx1-ubyte"] = "f" * 64
    monkeypatch.setattr(mnist, "SHA256", hashes)
    monkeypatch.setattr(mnist, "MIRRORS", ((tmp_path / "mirror").as_uri() + "/",))
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte"):
        mnist.load_data(tmp_path / "target")
    assert not (tmp_path / "target" / "train-labels-idx1-ubyte.gz").exists()
    assert not list((tmp_path / "target").glob("*.part"))


def real_data_folder() -> Path:
    """The folder of the real MNIST files; CI must provide it, elsewhere the tests may skip."""
    root = os.environ.get("HAT_DATASETS")
    if not root:
        if os.environ.get("CI"):
            pytest.fail("CI must set HAT_DATASETS to the folder that holds mnist/.")
        pytest.skip("HAT_DATASETS is not set")
    folder = Path(root) / "mnist"
    missing = [n for n in mnist.FILES if not (folder / (n + ".gz")).is_file()]
    if missing:
        pytest.fail(f"HAT_DATASETS={root} but {folder} lacks {missing}")
    return folder


@pytest.fixture
def real_data(monkeypatch, tmp_path):
    folder = real_data_folder().resolve()

    def no_download(*args, **kwargs):
        raise AssertionError("the real data must come from HAT_DATASETS, not a download")

    # Absolute, so that tests may change the working directory (CI passes a relative path).
    monkeypatch.setenv("HAT_DATASETS", str(folder.parent))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(mnist, "_download", no_download)
    return folder


@pytest.mark.mnist
def test_real_mnist(real_data):
    x_train, y_train, x_test, y_test = mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    assert np.bincount(y_train).tolist() == TRAIN_CLASS_COUNTS


def load_prepare_data():
    file = REPO / "examples" / "mnist" / "prepare_data.py"
    spec = importlib.util.spec_from_file_location("prepare_data", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.mnist
def test_prepare_data_real(real_data, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray mnist.pkl.gz in the way
    tr_X, tr_y, va_X, va_y, te_X, te_y = load_prepare_data().load_data()
    assert [len(a) for a in (tr_X, tr_y, va_X, va_y, te_X, te_y)] == [50000] * 2 + [10000] * 4
    for x in (tr_X, va_X, te_X):
        assert x.dtype == np.float32 and x.shape[1] == 784 and x.flags.c_contiguous
        assert x.min() == 0.0 and x.max() == 1.0
    for y in (tr_y, va_y, te_y):
        assert y.dtype == np.int64 and y.ndim == 1
    x_train, y_train, x_test, _ = mnist.load_data(real_data)
    np.testing.assert_array_equal(va_X, x_train[50000:].reshape(10000, 784) / np.float32(255))
    np.testing.assert_array_equal(tr_X[:100], x_train[:100].reshape(100, 784) / np.float32(255))
    np.testing.assert_array_equal(va_y, y_train[50000:])
    np.testing.assert_array_equal(te_X[-5:], x_test[-5:].reshape(5, 784) / np.float32(255))


def test_prepare_data_prefers_local_pickle(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    splits = tuple(
        (rng.random((n, 784)).astype(np.float64), rng.integers(0, 10, n).astype(np.int32))
        for n in (5, 3, 2)
    )
    with gzip.open(tmp_path / "mnist.pkl.gz", "wb") as f:
        pickle.dump(splits, f, protocol=2)
    monkeypatch.chdir(tmp_path)
    prepare_data = load_prepare_data()

    def no_idx(*args, **kwargs):
        raise AssertionError("mnist.pkl.gz in the working directory must be preferred")

    monkeypatch.setattr(prepare_data.mnist, "load_data", no_idx)
    arrays = prepare_data.load_data()
    assert len(arrays) == 6
    for got, want in zip(arrays, [a for split in splits for a in split], strict=True):
        assert got.dtype == (np.float32 if want.ndim == 2 else np.int64)
        np.testing.assert_allclose(got, want, rtol=1e-6)
