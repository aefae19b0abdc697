"""hat.datasets.cifar10 on a small tarball in the python-pickle format, made here."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from hat.datasets import cifar10
from hat.datasets.cifar10 import DatasetError


def write_fake(folder: Path, per_batch: int = 4, seed: int = 0, extra=None) -> tuple:
    """cifar-10-python.tar.gz with per_batch images in each batch, as Python 2 pickles of
    dicts with bytes keys (the real format); returns (train images, train labels, test ...)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in (*cifar10.TRAIN_BATCHES, cifar10.TEST_BATCH):
        batches[name] = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"filenames": [b"x.png"] * per_batch,
        }
    members = {f"{cifar10.FOLDER}/{k}": pickle.dumps(v, protocol=2) for k, v in batches.items()}
    members[f"{cifar10.FOLDER}/batches.meta"] = pickle.dumps({b"label_names": []}, protocol=2)
    members.update(extra or {})
    with tarfile.open(folder / cifar10.FILE, "w:gz") as tar:
        for name, raw in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    train = [batches[n] for n in cifar10.TRAIN_BATCHES]
    return (
        np.concatenate([b[b"data"] for b in train]),
        np.concatenate([b[b"labels"] for b in train]),
        batches[cifar10.TEST_BATCH][b"data"],
        np.array(batches[cifar10.TEST_BATCH][b"labels"]),
    )


def digest(folder: Path) -> str:
    return hashlib.sha256((folder / cifar10.FILE).read_bytes()).hexdigest()


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HAT_DATASETS", raising=False)

    def offline(url, dest, check=None):
        raise OSError(f"<urlopen error [Errno 101] Network is unreachable> ({url})")

    monkeypatch.setattr(cifar10, "_download", offline)


def test_images_are_nchw_float32_in_unit_range(tmp_path, monkeypatch, no_network):
    raw_x, raw_y, raw_tx, raw_ty = write_fake(tmp_path / "home" / ".hat" / "datasets" / "cifar10")
    monkeypatch.setattr(
        cifar10, "SHA256", digest(tmp_path / "home" / ".hat" / "datasets" / "cifar10")
    )
    x_train, y_train, x_test, y_test = cifar10.load_data()
    assert x_train.shape == (20, 3, 32, 32) and x_train.dtype == np.float32
    assert x_test.shape == (4, 3, 32, 32) and y_test.dtype == np.int64 and y_train.shape == (20,)
    # Row layout: 1024 red values, then green, then blue, each 32x32 row-major.
    assert x_train[5, 1, 2, 3] == np.float32(raw_x[5, 1024 + 2 * 32 + 3]) / np.float32(255)
    np.testing.assert_array_equal(x_test, raw_tx.reshape(4, 3, 32, 32) / np.float32(255))
    np.testing.assert_array_equal(y_train, raw_y)
    np.testing.assert_array_equal(y_test, raw_ty)
    assert 0 <= x_train.min() and x_train.max() <= 1


def test_checksum_and_offline_errors(tmp_path, no_network):
    write_fake(tmp_path / "data")
    with pytest.raises(DatasetError, match=r"cifar-10-python\.tar\.gz fails its checksum"):
        cifar10.load_data(tmp_path / "data")
    assert cifar10.load_data(tmp_path / "data", verify=False)[0].shape == (20, 3, 32, 32)
    with pytest.raises(DatasetError) as info:
        cifar10.load_data()
    message = str(info.value)
    assert "CIFAR-10 was not found and could not be downloaded" in message
    assert "Network is unreachable" in message and cifar10.FILE in message
    assert str(tmp_path / "home" / ".hat" / "datasets" / "cifar10") in message


def test_a_pickle_that_names_other_globals_is_refused(tmp_path, no_network):
    evil = pickle.dumps(print, protocol=2)  # a global that a CIFAR batch never names
    write_fake(tmp_path, extra={f"{cifar10.FOLDER}/test_batch": evil})
    with pytest.raises(DatasetError, match=r"CIFAR pickle: it names (__builtin__|builtins)\.print"):
        cifar10.load_data(tmp_path, verify=False)


def test_a_truncated_tarball_is_reported(tmp_path, no_network):
    write_fake(tmp_path)
    file = tmp_path / cifar10.FILE
    file.write_bytes(file.read_bytes()[:200])
    with pytest.raises(DatasetError, match=r"could not be read as a gzip tarball"):
        cifar10.load_data(tmp_path, verify=False)
