"""hat.preprocessing: sparse_to_categorical and categorical_to_sparse."""

import numpy as np
import pytest

from hat.preprocessing import categorical_to_sparse, sparse_to_categorical


def test_one_hot_rows():
    out = sparse_to_categorical([2, 0, 1], 3)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0, 0, 1], [1, 0, 0], [0, 1, 0]])


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.float32, np.float64])
def test_round_trip(dtype):
    labels = np.random.default_rng(0).integers(0, 10, 200)
    onehot = sparse_to_categorical(labels.astype(dtype), 10)
    assert onehot.shape == (200, 10)
    np.testing.assert_array_equal(onehot.sum(axis=1), 1.0)
    back = categorical_to_sparse(onehot)
    assert back.dtype == np.int64
    np.testing.assert_array_equal(back, labels)


def test_keeps_the_label_shape():
    labels = np.array([[0, 1], [2, 1]])
    out = sparse_to_categorical(labels, 3)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(categorical_to_sparse(out), labels)


def test_empty_labels():
    assert sparse_to_categorical(np.array([], dtype=np.int64), 4).shape == (0, 4)


def test_categorical_to_sparse_takes_the_argmax_of_probabilities():
    probs = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    np.testing.assert_array_equal(categorical_to_sparse(probs), [1, 0])


@pytest.mark.parametrize("labels", [[0, 3], [-1, 1], [0, 10]])
def test_out_of_range_labels_are_rejected(labels):
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\] for n_out=3"):
        sparse_to_categorical(labels, 3)


@pytest.mark.parametrize("labels", [[0.5, 1.0], [np.nan, 1.0], [np.inf]])
def test_non_integer_floats_are_rejected(labels):
    with pytest.raises(ValueError, match="integer class labels"):
        sparse_to_categorical(np.array(labels), 3)


def test_non_numeric_labels_are_rejected():
    with pytest.raises(TypeError, match="dtype"):
        sparse_to_categorical(np.array(["a", "b"]), 3)


@pytest.mark.parametrize("n_out", [0, -2, 2.0, "3", None])
def test_bad_n_out_is_rejected(n_out):
    with pytest.raises(ValueError, match="n_out must be a positive int"):
        sparse_to_categorical([0, 1], n_out)


@pytest.mark.parametrize("bad", [np.float64(1.0), np.zeros((3, 0))])
def test_categorical_to_sparse_rejects_inputs_without_classes(bad):
    with pytest.raises(ValueError, match="rows of class scores"):
        categorical_to_sparse(bad)


def test_random_shift_moves_each_image_and_fills_zeros():
    from hat.preprocessing import RandomShift

    x = np.arange(3 * 2 * 5 * 5, dtype=np.float32).reshape(3, 2, 5, 5) + 1
    rng = np.random.default_rng(0)
    out = RandomShift(2)(x, rng)
    shifts = np.random.default_rng(0).integers(-2, 3, (3, 2))  # the same draws
    for n, (dy, dx) in enumerate(shifts):
        expected = np.zeros_like(x[n])
        src = x[n][:, max(0, -dy) : 5 - max(0, dy), max(0, -dx) : 5 - max(0, dx)]
        expected[
            :, max(0, dy) : max(0, dy) + src.shape[1], max(0, dx) : max(0, dx) + src.shape[2]
        ] = src
        np.testing.assert_array_equal(out[n], expected)


def test_random_shift_is_repeatable_and_checks_its_input():
    from hat.preprocessing import RandomShift

    x = np.random.default_rng(1).random((4, 1, 6, 6), dtype=np.float32)
    a = RandomShift(1)(x, np.random.default_rng(5)).copy()
    b = RandomShift(1)(x, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(RandomShift(0)(x, np.random.default_rng(0)), x)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        RandomShift(1)(x.reshape(4, 36), np.random.default_rng(0))
    with pytest.raises(ValueError, match="max_shift"):
        RandomShift(-1)


def test_fit_applies_augment_to_training_batches_only():
    from hat.layers.core import Dense, Flatten, InputLayer
    from hat.models import Sequential

    seen = []

    def augment(batch, rng):
        seen.append(batch.shape)
        return batch * 0  # erases the inputs: training then learns nothing from them

    md = Sequential([InputLayer((1, 4, 4)), Flatten(), Dense(2, act="softmax")]).combine(seed=0)
    x = np.random.default_rng(0).random((30, 1, 4, 4), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[np.arange(30) % 2]
    w_before = md.layers[2].W_.copy()
    md.fit(x, y, batch_size=10, n_epochs=1, augment=augment, verbose=0, validation_data=(x, y))
    assert seen == [(10, 1, 4, 4)] * 3  # not applied to validation
    np.testing.assert_array_equal(md.layers[2].W_, w_before)  # zero inputs: dW == 0
    with pytest.raises(TypeError, match="augment"):
        md.fit(x, y, augment="shift", verbose=0)


def _affine(x, params):
    from hat.kernels.augment import affine_images

    out = np.full_like(x, np.nan)
    affine_images(x, np.asarray(params, dtype=np.float64), out)
    return out


def test_affine_kernel_turns_shifts_and_scales_as_stated():
    x = np.random.default_rng(2).random((2, 3, 5, 5)).astype(np.float32)
    turn = np.deg2rad(90.0)
    np.testing.assert_array_equal(_affine(x, [[1, 0, 0, 0]] * 2), x)  # identity
    np.testing.assert_allclose(  # 90 degrees counter-clockwise, as np.rot90
        _affine(x, [[np.cos(turn), np.sin(turn), 0, 0]] * 2), np.rot90(x, axes=(2, 3)), atol=1e-6
    )
    shifted = _affine(x, [[1, 0, 1, -2]] * 2)  # one down, two left: RandomShift's kernel
    from hat.kernels.augment import shift_images

    expected = np.empty_like(x)
    shift_images(x, np.array([[1, -2]] * 2), expected)
    np.testing.assert_array_equal(shifted, expected)
    half = _affine(x, [[1, 0, 0.5, 0]] * 2)[:, :, 1:]  # half a pixel down: the mean of rows
    np.testing.assert_allclose(half, (x[:, :, 1:] + x[:, :, :-1]) / 2, rtol=1e-6)
    big = _affine(np.ones((1, 1, 5, 5), np.float32), [[0.5, 0, 0, 0]])  # scale 2: no edge
    np.testing.assert_array_equal(big, 1)


def test_random_affine_draws_within_its_bounds_and_is_repeatable():
    from hat.preprocessing import RandomAffine

    x = np.random.default_rng(1).random((64, 1, 9, 9), dtype=np.float32)
    a = RandomAffine(15, shift=1.5, zoom=0.1)(x, np.random.default_rng(5)).copy()
    b = RandomAffine(15, shift=1.5, zoom=0.1)(x, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, x) and np.isfinite(a).all()
    np.testing.assert_array_equal(RandomAffine(0, shift=0)(x, np.random.default_rng(0)), x)
    # A turn alone keeps the centre pixel of an odd-sized image.
    turned = RandomAffine(30, shift=0)(x, np.random.default_rng(3))
    np.testing.assert_allclose(turned[:, :, 4, 4], x[:, :, 4, 4], rtol=1e-6)
    assert RandomAffine(5, 1, 0.2).get_config() == {"rotation": 5.0, "shift": 1.0, "zoom": 0.2}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rotation": -1}, "rotation must be a number in"),
        ({"rotation": 200}, "rotation must be a number in"),
        ({"shift": -0.5}, "shift must be a number >= 0"),
        ({"zoom": 0.9}, "zoom must be a number in"),
        ({"rotation": True}, "rotation must be"),
    ],
)
def test_random_affine_rejects_bad_settings(kwargs, match):
    from hat.preprocessing import RandomAffine

    with pytest.raises(ValueError, match=match):
        RandomAffine(**kwargs)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        RandomAffine()(np.zeros((2, 9)), np.random.default_rng(0))
