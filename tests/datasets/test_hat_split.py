"""hat.datasets.mnist.load_hat_split: Hat's three splits, as float32 rows in [0, 1]."""

from __future__ import annotations

import numpy as np

from hat.datasets import mnist
from tests.datasets.test_mnist import make_dataset, offline  # noqa: F401 (a fixture)


def test_hat_split_layout(tmp_path, offline, monkeypatch):  # noqa: F811
    arrays = make_dataset(tmp_path / "data", label=4)
    monkeypatch.setattr(mnist, "N_VALID", 2)  # the look-alike has 6 training images, not 60,000
    tr_X, tr_y, va_X, va_y, te_X, te_y = mnist.load_hat_split(tmp_path / "data", verify=False)
    images = arrays["train-images-idx3-ubyte"].reshape(6, 20) / np.float32(255)
    assert [len(a) for a in (tr_X, tr_y, va_X, va_y, te_X, te_y)] == [4, 4, 2, 2, 2, 2]
    for x in (tr_X, va_X, te_X):
        assert x.dtype == np.float32 and x.flags.c_contiguous and 0 <= x.min() <= x.max() <= 1
    np.testing.assert_array_equal(tr_X, images[:4])
    np.testing.assert_array_equal(va_X, images[4:])
    np.testing.assert_array_equal(
        te_X, arrays["t10k-images-idx3-ubyte"].reshape(2, 20) / np.float32(255)
    )
    assert tr_y.dtype == np.int64 and set(np.concatenate([tr_y, va_y, te_y])) == {4}
