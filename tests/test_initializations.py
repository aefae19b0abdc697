"""hat.initializations: shapes, dtypes, scales, repeatability, names."""

import numpy as np
import pytest

from hat import initializations as init

NAMES = [
    "zeros",
    "ones",
    "uniform",
    "normal",
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "orthogonal",
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(20, 30), (8, 3, 3, 3), (7,)])
@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_and_repeatability(name, shape, dtype):
    fn = init.get(name)
    a = fn(shape, np.random.default_rng(5), dtype)
    b = fn(shape, np.random.default_rng(5), dtype)
    assert a.shape == shape and a.dtype == dtype
    assert np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    if name not in ("zeros", "ones"):
        c = fn(shape, np.random.default_rng(6), dtype)
        assert not np.array_equal(a, c)


def test_zeros_and_ones():
    assert np.all(init.zeros((3, 4), None) == 0)
    assert np.all(init.ones((3, 4), None) == 1)


@pytest.mark.parametrize(
    "shape, fan_in, fan_out", [((200, 300), 200, 300), ((16, 8, 3, 3), 72, 144)]
)
def test_glorot_uniform_limit(shape, fan_in, fan_out):
    limit = np.sqrt(6 / (fan_in + fan_out))
    w = init.glorot_uniform(shape, np.random.default_rng(0))
    assert np.abs(w).max() <= limit
    assert np.abs(w).max() > 0.99 * limit  # the draw fills its range
    assert w.std() == pytest.approx(limit / np.sqrt(3), rel=0.03)


def test_glorot_normal_std():
    w = init.glorot_normal((300, 500), np.random.default_rng(0), np.float64)
    assert w.std() == pytest.approx(np.sqrt(2 / 800), rel=0.02)
    assert abs(w.mean()) < 0.02 * w.std()


@pytest.mark.parametrize("shape, fan_in", [((400, 300), 400), ((32, 16, 3, 3), 144)])
def test_he_normal_std(shape, fan_in):
    w = init.he_normal(shape, np.random.default_rng(1), np.float64)
    # 120,000 or 4,608 draws: the std's relative error is about 1/sqrt(2n).
    assert w.std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.05)


def test_he_uniform_limit_and_std():
    w = init.he_uniform((400, 300), np.random.default_rng(2), np.float64)
    limit = np.sqrt(6 / 400)
    assert np.abs(w).max() <= limit
    assert w.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)


def test_uniform_and_normal_default_scale():
    u = init.uniform((100, 100), np.random.default_rng(0))
    assert np.abs(u).max() <= 0.01
    assert init.normal((300, 300), np.random.default_rng(0)).std() == pytest.approx(0.01, rel=0.02)


@pytest.mark.parametrize("shape", [(50, 20), (20, 50), (30, 30)])
def test_orthogonal_rows_or_columns_are_orthonormal_times_the_gain(shape):
    w = init.orthogonal(shape, np.random.default_rng(3), np.float64) / 1.1
    small = min(shape)
    gram = w.T @ w if shape[0] >= shape[1] else w @ w.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)


def test_orthogonal_conv_kernel_flattens_to_orthonormal_rows():
    w = init.orthogonal((8, 4, 3, 3), np.random.default_rng(3), np.float64).reshape(8, -1) / 1.1
    np.testing.assert_allclose(w @ w.T, np.eye(8), atol=1e-12)


def test_get_passes_callables_through_and_rejects_unknown_names():
    def custom(shape, rng, dtype=np.float32):
        return np.full(shape, 3, dtype)

    assert init.get(custom) is custom
    with pytest.raises(ValueError) as err:
        init.get("xavier")
    assert "'xavier'" in str(err.value)
    for name in NAMES:
        assert name in str(err.value)
