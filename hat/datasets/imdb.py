"""IMDB movie reviews in Keras' format: imdb.npz (reviews as lists of word ranks, labels 0/1)
and imdb_word_index.json (word -> rank). Found as MNIST is: an explicit path, else
$HAT_DATASETS/imdb, then ~/.hat/datasets/imdb, else downloaded there; checksums verified.

load_data takes Keras' arguments and gives Keras' arrays for the same arguments: the same
shuffle (numpy's RandomState(seed)), the same marks (start_char, oov_char, index_from), the
same filtering, with one exception noted in its docstring.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from hat.datasets._files import DatasetError, download, home_folder, search_folders

__all__ = ["DatasetError", "get_word_index", "load_data"]

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
"""Where Keras serves the two files; a missing one is downloaded from here."""
# Keras' published checksums of the two files (a sha256, and an md5 for the word index).
CHECKSUMS = {
    "imdb.npz": ("sha256", "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"),
    "imdb_word_index.json": ("md5", "bfafd718b763782e994055a2d397834f"),
}
"""Keras' published checksum of each file: (algorithm, hex digest)."""
KEYS = ("x_train", "y_train", "x_test", "y_test")
"""The arrays imdb.npz holds."""


def load_data(
    path: str | os.PathLike = "imdb.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
    *,
    verify: bool = True,
) -> tuple:
    """Keras' imdb.load_data: 25,000 training and 25,000 test reviews as lists of word ids.

    A word's id is its frequency rank (1 = the most frequent word) plus index_from; ids
    0, 1 and 2 are left for padding, start_char and oov_char.

    Args:
        path (str | PathLike): Default "imdb.npz". A bare file name is looked for in
            $HAT_DATASETS/imdb and ~/.hat/datasets/imdb (downloaded into the latter when
            absent); a path with a folder in it, or a folder, is used as given (the download
            goes there).
        num_words (int | None): Default None. Keep the ids below num_words, replacing the
            others by oov_char (dropping them if oov_char is None), so that
            Embedding(num_words, ...) takes every id. None keeps every word (Keras also
            turned the single largest id into oov_char then; hat does not).
        skip_top (int): Default 0. Ids below skip_top count as out of vocabulary too (Keras
            compares the shifted ids, so start_char falls under it when skip_top >
            start_char; so does hat).
        maxlen (int | None): Default None. Keep only the reviews shorter than maxlen ids,
            start_char included (Keras' rule: a review of exactly maxlen ids is dropped
            too). pad_sequences then cuts or pads to one length.
        seed (int): Default 113. The seed of the shuffle of each split.
        start_char (int | None): Default 1. Id put in front of every review; None: none.
        oov_char (int | None): Default 2. Id of words outside [skip_top, num_words).
        index_from (int): Default 3. Added to every word rank.
        verify (bool): Default True. Check the file's checksum against Keras' published
            one (a file that is not Keras' imdb.npz fails; it is loaded with numpy's
            pickle support, so verify files from elsewhere before turning this off).

    Returns:
        tuple: ((x_train, y_train), (x_test, y_test)) as Keras gives them: x an object array
        of lists of ints, y an int64 array of 0 (negative) and 1 (positive).

    Raises:
        DatasetError: The file is missing and cannot be downloaded, fails its checksum, or
            lacks Keras' arrays.
        ValueError: A bad argument, or maxlen leaves no review in a split.
    """
    num_words = _optional_count(num_words, "num_words", 1)
    skip_top = _count(skip_top, "skip_top", 0)
    maxlen = _optional_count(maxlen, "maxlen", 1)
    start_char = _optional_count(start_char, "start_char", 0)
    oov_char = _optional_count(oov_char, "oov_char", 0)
    index_from = _count(index_from, "index_from", 0)
    seed = _count(seed, "seed", 0)
    file = locate(path, "imdb.npz", verify)
    # np.load unpickles a file that is not a zip archive: never hand it one.
    if not zipfile.is_zipfile(file):
        raise DatasetError(f"{file} could not be read as an .npz file: it is not a zip archive")
    try:
        with np.load(file, allow_pickle=True) as data:
            missing = [k for k in KEYS if k not in data.files]
            if missing:
                raise DatasetError(
                    f"{file} lacks the arrays {missing} of Keras' imdb.npz; it holds "
                    f"{sorted(data.files)}"
                )
            x_train, y_train, x_test, y_test = (data[k] for k in KEYS)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        if isinstance(err, DatasetError):
            raise
        raise DatasetError(f"{file} could not be read as an .npz file: {err}") from err
    rng = np.random.RandomState(seed)
    splits = []
    for x, y in ((x_train, y_train), (x_test, y_test)):
        order = np.arange(len(x))
        rng.shuffle(order)
        splits.append(([_shifted(x[i], start_char, index_from) for i in order], y[order]))
    if maxlen is not None:
        for i, (x, y) in enumerate(splits):
            keep = [j for j, seq in enumerate(x) if len(seq) < maxlen]
            if not keep:
                raise ValueError(
                    f"maxlen={maxlen} keeps no review of the {('training', 'test')[i]} split "
                    "(only reviews shorter than maxlen are kept); give a larger maxlen"
                )
            splits[i] = ([x[j] for j in keep], y[keep])
    out = []
    for x, y in splits:
        reviews = [_in_vocabulary(seq, skip_top, num_words, oov_char) for seq in x]
        array = np.empty(len(reviews), dtype=object)
        array[:] = reviews
        out.append((array, np.asarray(y, dtype=np.int64)))
    return tuple(out)


def get_word_index(
    path: str | os.PathLike = "imdb_word_index.json", *, verify: bool = True
) -> dict:
    """Keras' imdb.get_word_index: the dict word -> frequency rank (ids are rank + index_from).

    Args:
        path (str | PathLike): Default "imdb_word_index.json". Found as load_data's path is.
        verify (bool): Default True. Check the file's md5 against Keras' published one.

    Returns:
        dict: Word (str) -> rank (int), 1 for the most frequent word.

    Raises:
        DatasetError: The file is missing and cannot be downloaded, or fails its checksum.
    """
    file = locate(path, "imdb_word_index.json", verify)
    with open(file, encoding="utf-8") as f:
        return json.load(f)


def locate(path: str | os.PathLike, role: str, verify: bool = True) -> Path:
    """The file for `role` ('imdb.npz' or 'imdb_word_index.json'): found, or downloaded, and
    checked (see load_data's path).

    Args:
        path (str | PathLike): A bare file name (looked for in the dataset folders), a folder
            (holding `role`), or a file path.
        role (str): Which file: "imdb.npz" or "imdb_word_index.json".
        verify (bool): Default True. Check the file's checksum.

    Returns:
        Path: The file.

    Raises:
        DatasetError: The file is missing and cannot be downloaded, or fails its checksum.
    """
    given = Path(path).expanduser()
    if given.is_dir():
        given = given / role
    explicit = given.is_absolute() or len(given.parts) > 1
    folders = search_folders("imdb", None)
    candidates = [given] if explicit else [folder / given for folder in folders]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        target = given if explicit else home_folder("imdb") / given
        url = ORIGIN + role
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Checked before the rename: a file that fails is not left in place.
            download(url, target, (lambda file: _check(file, role)) if verify else None)
        except Exception as err:
            raise DatasetError(
                _not_found_message(role, candidates, explicit, target, url, err)
            ) from err
        return target
    if verify:
        _check(found, role)
    return found


def _check(file: Path, role: str) -> None:
    kind, expected = CHECKSUMS[role]
    digest = hashlib.new(kind)
    with open(file, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise DatasetError(
            f"{file} fails its checksum: its {kind} is {digest.hexdigest()}, expected "
            f"{expected} (Keras' {role}). The file is corrupt or not Keras' {role}: delete it "
            "and retry (it is downloaded again), or pass verify=False for a file you trust"
        )


def _shifted(seq, start_char, index_from) -> list[int]:
    ids = [int(w) + index_from for w in seq]
    return ids if start_char is None else [start_char] + ids


def _in_vocabulary(seq, skip_top, num_words, oov_char) -> list[int]:
    def inside(w):
        return skip_top <= w and (num_words is None or w < num_words)

    if oov_char is None:
        return [w for w in seq if inside(w)]
    return [w if inside(w) else oov_char for w in seq]


def _count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return int(value)


def _optional_count(value, name: str, minimum: int) -> int | None:
    return None if value is None else _count(value, f"{name} (or None)", minimum)


def _not_found_message(role, candidates, explicit, target, url, err) -> str:
    searched = [f"  {c}" for c in candidates]
    if not explicit and not os.environ.get("HAT_DATASETS"):
        searched.insert(0, "  $HAT_DATASETS/imdb (HAT_DATASETS is not set)")
    return (
        f"IMDB's {role} was not found and could not be downloaded.\n"
        "Looked for it in:\n" + "\n".join(searched) + "\n"
        f"Downloading {url} into {target} failed: {err}\n"
        f"Fix: put Keras' {role} (from {url}) in one of those folders (for instance "
        "~/.hat/datasets/imdb, or $HAT_DATASETS/imdb with HAT_DATASETS set), or pass its "
        "path to the loader (path=...)."
    )
