"""Metrics: f(y_true, y_pred) -> float over a whole set. Any loss name is a metric too.

Targets may be one-hot rows or class indices; a metric tells them apart by their rank.
"""

import re
from collections.abc import Callable

import numpy as np

from hat import losses


def _class_indices(y_true, y_pred: np.ndarray) -> np.ndarray:
    """Class indices from one-hot rows (same width as y_pred) or labels, flat or in a column."""
    y_true = np.asarray(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == y_pred.shape[-1]:
        return y_true.argmax(axis=-1)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return y_true.astype(np.int64)


def accuracy(y_true, y_pred) -> float:
    """Share of samples whose most probable class is the true one (threshold 0.5 for 1 output).

    Args:
        y_true (np.ndarray): One-hot rows (N, classes), or class indices (N,) or (N, 1).
        y_pred (np.ndarray): Predicted probabilities (N, classes), or (N, 1) for one output.

    Returns:
        float: The accuracy, in [0, 1].
    """
    if y_pred.shape[-1] == 1:
        y_true = np.asarray(y_true).reshape(y_pred.shape)
        return float(((y_pred > 0.5) == (y_true > 0.5)).mean())
    return float((y_pred.argmax(axis=-1) == _class_indices(y_true, y_pred)).mean())


def categorical_error(y_true, y_pred) -> float:
    """Hat's metric: 1 - accuracy.

    Args:
        y_true (np.ndarray): One-hot rows (N, classes), or class indices (N,) or (N, 1).
        y_pred (np.ndarray): Predicted probabilities (N, classes), or (N, 1) for one output.

    Returns:
        float: The error rate, in [0, 1].
    """
    return 1.0 - accuracy(y_true, y_pred)


def top_k_accuracy(y_true, y_pred, k: int = 5) -> float:
    """Share of samples whose true class is among the k most probable.

    Args:
        y_true (np.ndarray): One-hot rows (N, classes), or class indices (N,) or (N, 1).
        y_pred (np.ndarray): Predicted probabilities (N, classes), or (N, 1) for one output.
        k (int): Default 5. How many of the most probable classes count.

    Returns:
        float: The accuracy, in [0, 1].
    """
    labels = _class_indices(y_true, y_pred)
    k = min(k, y_pred.shape[-1])
    top = np.argpartition(y_pred, -k, axis=-1)[..., -k:]
    return float((top == labels[..., None]).any(axis=-1).mean())


_METRICS: dict[str, Callable] = {
    "accuracy": accuracy,
    "acc": accuracy,
    "categorical_accuracy": accuracy,
    "categorical_error": categorical_error,
    "top_k_accuracy": top_k_accuracy,
}


def names() -> list[str]:
    """The metric names `get` accepts: the metrics here, "top_<k>_accuracy", every loss.

    Returns:
        list[str]: The names.
    """
    return sorted(_METRICS) + ["top_<k>_accuracy"] + losses.names()


def get_list(metrics) -> list[tuple[str, Callable]]:
    """[(name, fn), ...] for a list of metrics (names or callables).

    Args:
        metrics (list[str | callable]): The metrics, as `get` takes each.

    Returns:
        list[tuple[str, callable]]: Each metric's name and function.

    Raises:
        TypeError: `metrics` is not a list (a single name must be written `[name]`).
        ValueError: A name is unknown.
    """
    if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
        raise TypeError(
            f"metrics must be a list of names or callables; got {type(metrics).__name__} "
            f"{metrics!r}. Write metrics=[{metrics!r}]"
        )
    return [get(m) for m in metrics]


def get(metric: "str | Callable") -> tuple[str, Callable]:
    """(name, fn) for a metric given by name, as a loss name, or as a callable f(y_true, y_pred).

    Args:
        metric (str | callable): A name from `names()` (such as "accuracy" or
            "top_3_accuracy"), or `f(y_true, y_pred) -> float`.

    Returns:
        tuple[str, callable]: The name logged (`val_<name>` on validation data) and the function.

    Raises:
        TypeError: Neither a name nor a callable.
        ValueError: The name is unknown.
    """
    if callable(metric) and not isinstance(metric, str):
        return getattr(metric, "name", getattr(metric, "__name__", "metric")), metric
    if not isinstance(metric, str):
        raise TypeError(f"a metric must be a name or a callable; got {metric!r}")
    if metric in _METRICS:
        return metric, _METRICS[metric]
    match = re.fullmatch(r"top_(\d+)_accuracy", metric)
    if match:
        k = int(match.group(1))
        return metric, lambda y_true, y_pred: top_k_accuracy(y_true, y_pred, k)
    if metric in losses.names():
        return metric, losses.get(metric).value
    raise ValueError(f"unknown metric {metric!r}; expected one of: " + ", ".join(names()))
