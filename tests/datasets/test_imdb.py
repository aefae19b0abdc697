"""hat.datasets.imdb on small files in Keras' format that the tests write: the search path,
Keras' processing of the ids, checksums, and the offline error."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from hat.datasets import imdb
from hat.datasets.imdb import DatasetError

TRAIN = [[5, 1, 2], [3, 3, 3, 3, 9], [1], [7, 8]]
TEST = [[2, 2], [4, 1, 6, 6, 6, 6]]


def _objects(seqs):
    array = np.empty(len(seqs), dtype=object)
    array[:] = [list(s) for s in seqs]
    return array


def write_npz(file: Path) -> str:
    file.parent.mkdir(parents=True, exist_ok=True)
    np.savez(file, x_train=_objects(TRAIN), y_train=np.array([0, 1, 1, 0]),
             x_test=_objects(TEST), y_test=np.array([1, 0]))  # fmt: skip
    return hashlib.sha256(file.read_bytes()).hexdigest()


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """A fresh HOME, no HAT_DATASETS, and an origin that cannot be reached."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("HAT_DATASETS", raising=False)
    monkeypatch.setattr(imdb, "ORIGIN", (tmp_path / "no-origin").as_uri() + "/")
    return home


@pytest.fixture
def dataset(offline, monkeypatch, tmp_path):
    """A small imdb.npz in $HAT_DATASETS/imdb, its checksum the expected one."""
    monkeypatch.setenv("HAT_DATASETS", str(tmp_path / "data"))
    digest = write_npz(tmp_path / "data" / "imdb" / "imdb.npz")
    monkeypatch.setitem(imdb.CHECKSUMS, "imdb.npz", ("sha256", digest))
    return tmp_path / "data" / "imdb" / "imdb.npz"


def _keras_order(n, rng):
    """Keras shuffles each split with one RandomState(seed), training split first."""
    order = np.arange(n)
    rng.shuffle(order)
    return order


def test_ids_shuffle_and_labels_as_keras_gives_them(dataset):
    (x_train, y_train), (x_test, y_test) = imdb.load_data(seed=7)
    rng = np.random.RandomState(7)
    train_order, test_order = _keras_order(4, rng), _keras_order(2, rng)
    assert x_train.dtype == object and y_train.dtype == np.int64 and len(x_test) == 2
    for got, i in zip(x_train, train_order, strict=True):
        assert got == [1] + [w + 3 for w in TRAIN[i]]
    for got, i in zip(x_test, test_order, strict=True):
        assert got == [1] + [w + 3 for w in TEST[i]]
    np.testing.assert_array_equal(y_train, np.array([0, 1, 1, 0])[train_order])
    np.testing.assert_array_equal(y_test, np.array([1, 0])[test_order])


def test_num_words_skip_top_maxlen_and_marks(dataset):
    (x_train, _), (x_test, _) = imdb.load_data(num_words=8, index_from=2, start_char=None,
                                               seed=0)  # fmt: skip
    for seq in (*x_train, *x_test):
        assert all(w < 8 for w in seq)
    flat = sorted(w for seq in x_train for w in seq)  # ids 3..11 shifted by 2; >= 8 -> 2
    assert flat == sorted(w + 2 if w + 2 < 8 else 2 for seq in TRAIN for w in seq)
    (x_train, _), _ = imdb.load_data(num_words=8, oov_char=None, start_char=None, seed=0)
    assert sorted(w for s in x_train for w in s) == sorted(
        w + 3 for s in TRAIN for w in s if w + 3 < 8
    )
    (x_train, _), _ = imdb.load_data(skip_top=5, seed=0)  # ids below 5 -> oov (2)
    assert all(w >= 5 or w == 2 for s in x_train for w in s)
    # maxlen keeps the reviews shorter than maxlen ids, start_char included (Keras' rule)
    (x_train, y_train), (x_test, _) = imdb.load_data(maxlen=4, seed=0)
    assert sorted(len(s) for s in x_train) == [2, 3] and len(y_train) == 2
    assert [len(s) for s in x_test] == [3]
    with pytest.raises(ValueError, match="maxlen=2 keeps no review of the training split"):
        imdb.load_data(maxlen=2)


def test_num_words_none_keeps_every_word(dataset):
    (x_train, _), _ = imdb.load_data()
    assert max(w for s in x_train for w in s) == 9 + 3


def test_explicit_paths_and_pad_sequences(dataset, tmp_path, monkeypatch):
    monkeypatch.delenv("HAT_DATASETS")
    elsewhere = tmp_path / "mine" / "imdb.npz"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(dataset.read_bytes())
    for path in (elsewhere, elsewhere.parent, str(elsewhere)):
        (x_train, _), _ = imdb.load_data(path)
        assert len(x_train) == 4
    from hat.preprocessing import pad_sequences

    padded = pad_sequences(x_train, maxlen=3)
    assert padded.shape == (4, 3) and padded.dtype == np.int32


def test_checksum_and_contents_are_checked(dataset, monkeypatch):
    monkeypatch.setitem(imdb.CHECKSUMS, "imdb.npz", ("sha256", "0" * 64))
    with pytest.raises(DatasetError, match="fails its checksum: its sha256 is"):
        imdb.load_data()
    (x_train, _), _ = imdb.load_data(verify=False)
    assert len(x_train) == 4
    np.savez(dataset, x_train=_objects(TRAIN))
    with pytest.raises(DatasetError, match=r"lacks the arrays \['y_train', 'x_test', 'y_test'\]"):
        imdb.load_data(verify=False)
    dataset.write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match="could not be read as an .npz file"):
        imdb.load_data(verify=False)


def test_offline_without_files_is_one_clear_error(offline):
    with pytest.raises(DatasetError) as info:
        imdb.load_data()
    message = str(info.value)
    assert "imdb.npz was not found and could not be downloaded" in message
    assert "$HAT_DATASETS/imdb (HAT_DATASETS is not set)" in message
    assert str(offline / ".hat" / "datasets" / "imdb") in message
    assert "Fix: put Keras' imdb.npz" in message
    assert not (offline / ".hat" / "datasets" / "imdb" / "imdb.npz").exists()


def test_download_from_the_origin_is_verified(offline, tmp_path, monkeypatch):
    origin = tmp_path / "origin"
    digest = write_npz(origin / "imdb.npz")
    monkeypatch.setattr(imdb, "ORIGIN", origin.as_uri() + "/")
    monkeypatch.setitem(imdb.CHECKSUMS, "imdb.npz", ("sha256", "f" * 64))
    with pytest.raises(DatasetError, match="fails its checksum"):
        imdb.load_data()
    target = offline / ".hat" / "datasets" / "imdb" / "imdb.npz"
    assert not target.exists()  # a file that failed its checksum is not left behind
    monkeypatch.setitem(imdb.CHECKSUMS, "imdb.npz", ("sha256", digest))
    (x_train, _), _ = imdb.load_data()
    assert len(x_train) == 4 and target.is_file()


def test_word_index(offline, tmp_path, monkeypatch):
    folder = tmp_path / "words"
    folder.mkdir()
    file = folder / "imdb_word_index.json"
    file.write_text(json.dumps({"the": 1, "and": 2, "film": 19}))
    monkeypatch.setitem(
        imdb.CHECKSUMS, "imdb_word_index.json", ("md5", hashlib.md5(file.read_bytes()).hexdigest())
    )
    assert imdb.get_word_index(file) == {"the": 1, "and": 2, "film": 19}
    file.write_text("{}")
    with pytest.raises(DatasetError, match="its md5 is"):
        imdb.get_word_index(folder)


def test_bad_arguments(dataset):
    with pytest.raises(ValueError, match="num_words \\(or None\\) must be an int >= 1; got 0"):
        imdb.load_data(num_words=0)
    with pytest.raises(ValueError, match="skip_top must be an int >= 0; got -1"):
        imdb.load_data(skip_top=-1)
