"""Small models and data for fast tests."""

import numpy as np


def small_mlp(seed=0, n_in=20, n_hid=16, n_out=3, dropout=0.0, act="softmax"):
    from hat.layers.core import Dense, Dropout, InputLayer
    from hat.models import Sequential

    seq = Sequential()
    seq.add(InputLayer(n_in))
    seq.add(Dense(n_hid, act="relu"))
    if dropout:
        seq.add(Dropout(dropout))
    seq.add(Dense(n_out, act=act))
    return seq.combine(seed=seed)


def blobs(n=300, n_in=20, n_out=3, seed=0):
    """A separable toy problem: (x float32, one-hot y float32, labels int64)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_out, n)
    centers = rng.normal(0, 3, (n_out, n_in))
    x = (centers[labels] + rng.normal(0, 1, (n, n_in))).astype(np.float32)
    return x, np.eye(n_out, dtype=np.float32)[labels], labels
