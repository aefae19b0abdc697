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
