"""hat.metrics: accuracy, categorical_error and top-k with one-hot and sparse targets; names."""

import numpy as np
import pytest

from hat import losses, metrics

# Four samples, three classes; the argmax is right for samples 0, 1 and 3.
PRED = np.array(
    [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.5, 0.3, 0.2], [0.05, 0.15, 0.8]], dtype=np.float32
)
LABELS = np.array([0, 1, 2, 2])
ONEHOT = np.eye(3, dtype=np.float32)[LABELS]


@pytest.mark.parametrize("y_true", [ONEHOT, LABELS], ids=["one_hot", "sparse"])
def test_accuracy_and_error(y_true):
    assert metrics.accuracy(y_true, PRED) == pytest.approx(0.75)
    assert metrics.categorical_error(y_true, PRED) == pytest.approx(0.25)


@pytest.mark.parametrize("y_true", [ONEHOT, LABELS], ids=["one_hot", "sparse"])
def test_top_k_accuracy(y_true):
    # Sample 2's true class (2) has the lowest score: only k=3 finds it.
    assert metrics.top_k_accuracy(y_true, PRED, k=1) == pytest.approx(0.75)
    assert metrics.top_k_accuracy(y_true, PRED, k=2) == pytest.approx(0.75)
    assert metrics.top_k_accuracy(y_true, PRED, k=3) == pytest.approx(1.0)
    assert metrics.top_k_accuracy(y_true, PRED, k=10) == pytest.approx(1.0)


def test_accuracy_with_sparse_labels_in_a_column():
    # Keras-style (N, 1) class labels, as the sparse loss accepts them.
    assert metrics.accuracy(LABELS[:, None], PRED) == pytest.approx(0.75)
    assert metrics.top_k_accuracy(LABELS[:, None], PRED, k=1) == pytest.approx(0.75)


def test_binary_accuracy_thresholds_one_output_at_a_half():
    y_true = np.array([[1.0], [0.0], [1.0], [0.0]])
    y_pred = np.array([[0.9], [0.2], [0.4], [0.6]])
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(0.5)


def test_binary_accuracy_with_one_target_per_sample_in_a_vector():
    # y of shape (N,) for a one-output model, as Model.fit accepts it: all four are right.
    y_pred = np.array([[0.9], [0.8], [0.1], [0.7]])
    assert metrics.accuracy(np.array([1, 1, 0, 1]), y_pred) == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["accuracy", "acc", "categorical_accuracy"])
def test_accuracy_names(name):
    got_name, fn = metrics.get(name)
    assert got_name == name and fn(ONEHOT, PRED) == pytest.approx(0.75)


def test_categorical_error_name():
    assert metrics.get("categorical_error")[1](LABELS, PRED) == pytest.approx(0.25)


def test_top_k_names():
    name, fn = metrics.get("top_3_accuracy")
    assert name == "top_3_accuracy" and fn(LABELS, PRED) == pytest.approx(1.0)
    name, fn = metrics.get("top_1_accuracy")
    assert fn(ONEHOT, PRED) == pytest.approx(0.75)
    assert metrics.get("top_k_accuracy")[1](LABELS, PRED, k=2) == pytest.approx(0.75)


@pytest.mark.parametrize("name", ["categorical_crossentropy", "mse", "mean_absolute_error"])
def test_loss_names_are_metrics(name):
    got_name, fn = metrics.get(name)
    assert got_name == name
    assert fn(ONEHOT, PRED) == pytest.approx(losses.get(name).value(ONEHOT, PRED))


def test_sparse_loss_name_as_metric():
    _, fn = metrics.get("sparse_categorical_crossentropy")
    expected = -np.mean(np.log(PRED[np.arange(4), LABELS]))
    assert fn(LABELS, PRED) == pytest.approx(expected, rel=1e-6)


def test_a_callable_is_its_own_metric():
    def hits(y_true, y_pred):
        return 42.0

    assert metrics.get(hits) == ("hits", hits)


def test_unknown_name_lists_the_names():
    with pytest.raises(ValueError) as err:
        metrics.get("f1")
    message = str(err.value)
    assert "'f1'" in message
    for name in ("accuracy", "categorical_error", "top_<k>_accuracy", "mse"):
        assert name in message


def test_a_metric_of_the_wrong_type_is_rejected():
    with pytest.raises(TypeError, match="metric must be a name or a callable"):
        metrics.get(3)
