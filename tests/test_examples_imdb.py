"""examples/imdb/main_lstm.py on a small file in Keras' imdb.npz format, and without data."""

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

from hat.datasets import imdb

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "imdb"


def _reviews(rng, n, word):
    """n reviews of 3 to 8 words, about 40% of them (and at least one) `word`, the label's
    clue; the rest noise among 20 other words (ranks 10..29)."""
    out = np.empty(n, dtype=object)
    for i in range(n):
        seq = rng.integers(10, 30, rng.integers(3, 9))
        seq[rng.random(len(seq)) < 0.4] = word
        seq[rng.integers(len(seq))] = word  # at least once
        out[i] = [int(w) for w in seq]
    return out


@pytest.fixture
def main_lstm(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HAT_DATASETS", raising=False)
    monkeypatch.setattr(imdb, "ORIGIN", (tmp_path / "no-origin").as_uri() + "/")
    import main_lstm

    yield main_lstm
    sys.modules.pop("main_lstm", None)


def test_trains_on_a_small_imdb_file(main_lstm, tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    y_train, y_test = np.arange(96) % 2, np.arange(64) % 2
    x_train = np.where(y_train == 1, _reviews(rng, 96, 4), _reviews(rng, 96, 5))
    x_test = np.where(y_test == 1, _reviews(rng, 64, 4), _reviews(rng, 64, 5))
    file = tmp_path / "imdb.npz"
    np.savez(file, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    monkeypatch.setitem(imdb.CHECKSUMS, "imdb.npz", ("sha256", digest))
    args = ["--data", str(file), "--epochs", "5", "--maxlen", "8", "--num-words", "40",
            "--batch-size", "16", "--verbose", "0"]  # fmt: skip
    accuracy = main_lstm.main(args)
    assert accuracy >= 0.85  # the clue word decides; chance is 0.5
    out = capsys.readouterr().out
    assert "Embedding" in out and "LSTM" in out and "test accuracy after 5 epochs" in out


def test_without_data_it_says_where_to_put_it(main_lstm, capsys):
    with pytest.raises(SystemExit) as info:
        main_lstm.main(["--verbose", "0"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "imdb.npz was not found" in err and ".hat/datasets/imdb" in err
    assert "Traceback" not in err
