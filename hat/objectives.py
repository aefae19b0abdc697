"""Hat's objectives: losses written with hat.backend, **prediction first**: f(y_pred, y_gt).

This is Hat's argument order, the reverse of hat.losses and Keras (y_true, y_pred):

    import hat.objectives as obj
    obj.categorical_crossentropy(p, y)       # p predicted, y the targets
    hat.losses.categorical_crossentropy(y, p)   # the same value, Keras' order

Each value is a mean over samples of a sum over the last axis (so `mse` is the squared distance
per sample, as in hat.losses); a 1-D argument is one sample. Probabilities are clipped to
[1e-7, 1 - 1e-7], and the divergences clip both arguments to [1e-7, inf), as Hat did. On
arrays a function returns a float; on Variables (inside a loss function `loss(md)` or a Lambda)
it returns a scalar Variable that the tape differentiates. `get(name)` gives a function by name;
`loss_func='mse'` strings in `fit` resolve through hat.losses, which computes the same values.
"""

from collections.abc import Callable

import numpy as np

import hat.backend as K
from hat.backend import tape as T

_EPSILON = 1e-7  # Hat's final value (1e-8 underflowed in some objectives)


def _result(x):
    """A float for plain inputs, the scalar Variable itself for symbolic ones."""
    return x if T.is_symbolic(x) else float(x)


def categorical_crossentropy(p_y_pred, y_gt):
    """Mean over samples of -sum(y_gt log p) over the last axis, p clipped to [1e-7, 1 - 1e-7].

    Args:
        p_y_pred (array-like | Variable): Predicted probabilities, (..., classes).
        y_gt (array-like | Variable): One-hot (or soft) targets of the same shape.

    Returns:
        float | Variable: The loss.
    """
    p = K.clip(p_y_pred, _EPSILON, 1.0 - _EPSILON)
    return _result(K.mean(K.categorical_crossentropy(p, y_gt)))


def sparse_categorical_crossentropy(p_y_pred, y_gt):
    """categorical_crossentropy with class indices as targets.

    Args:
        p_y_pred (array-like | Variable): Predicted probabilities, (n, classes).
        y_gt (array-like): Class indices (ints, or floats holding ints), (n,) or (n, 1).

    Returns:
        float | Variable: The loss.

    Raises:
        ValueError: y_gt does not hold one integer label per sample.
    """
    shape = np.shape(K.get_value(p_y_pred))
    labels = np.asarray(K.get_value(y_gt))
    if (
        labels.dtype.kind not in "iuf"
        or labels.size != int(np.prod(shape[:-1]))
        or not np.all((labels == np.round(labels)) & (labels >= 0) & (labels < shape[-1]))
    ):
        raise ValueError(
            "sparse_categorical_crossentropy: y_gt must hold one integer label in "
            f"[0, {shape[-1]}) per sample (shape {shape[:-1]}); got shape {labels.shape} "
            f"({labels.dtype})"
        )
    labels = labels.astype(np.int64).reshape(shape[:-1])
    p = K.clip(p_y_pred, _EPSILON, 1.0 - _EPSILON)
    return _result(K.mean(K.categorical_crossentropy(p, labels)))


def binary_crossentropy(p_y_pred, y_gt):
    """Mean over samples of the sum over the last axis of -(y log p + (1 - y) log(1 - p)).

    Args:
        p_y_pred (array-like | Variable): Predicted probabilities, p clipped to
            [1e-7, 1 - 1e-7].
        y_gt (array-like | Variable): Targets in [0, 1] of the same shape.

    Returns:
        float | Variable: The loss.
    """
    p = K.clip(p_y_pred, _EPSILON, 1.0 - _EPSILON)
    return _result(K.mean(K.sum(K.binary_crossentropy(p, y_gt), axis=-1)))


def mse(y_pred, y_gt):
    """Mean over samples of the squared distance, sum((y_pred - y_gt)**2) over the last axis.

    Args:
        y_pred (array-like | Variable): The predictions.
        y_gt (array-like | Variable): The targets, broadcastable to y_pred.

    Returns:
        float | Variable: The loss.
    """
    return _result(K.mean(K.sum(K.sqr(K.subtract(y_pred, y_gt)), axis=-1)))


def norm_lp(y_pred, y_gt, norm):
    """Mean over samples of sum(|y_pred - y_gt| ** norm) over the last axis.

    Args:
        y_pred (array-like | Variable): The predictions.
        y_gt (array-like | Variable): The targets, broadcastable to y_pred.
        norm (float): The exponent p (1 for norm_l1, 2 for mse).

    Returns:
        float | Variable: The loss.
    """
    _check_number(norm, "norm_lp", "norm")
    return _result(K.mean(K.sum(K.power(K.abs(K.subtract(y_pred, y_gt)), norm), axis=-1)))


def norm_l1(y_pred, y_gt):
    """Mean over samples of sum(|y_pred - y_gt|) over the last axis: `norm_lp` with norm 1.

    Args:
        y_pred (array-like | Variable): The predictions.
        y_gt (array-like | Variable): The targets, broadcastable to y_pred.

    Returns:
        float | Variable: The loss.
    """
    return norm_lp(y_pred, y_gt, 1.0)


def _positive(y_pred, y_gt):
    return K.clip(y_pred, _EPSILON, np.inf), K.clip(y_gt, _EPSILON, np.inf)


def kl_divergence(y_pred, y_gt):
    """The generalised Kullback-Leibler divergence of y_pred from y_gt:
    sum(y_gt log(y_gt / y_pred) - y_gt + y_pred) over the last axis, mean over samples.

    Both are clipped to [1e-7, inf). Hat's sparse autoencoder compares a mean activation (1-D,
    one sample) with a target sparsity: `kl_divergence(K.mean(h, axis=0), 0.05 * np.ones(n))`.

    Args:
        y_pred (array-like | Variable): The predictions (non-negative).
        y_gt (array-like | Variable): The targets (non-negative), broadcastable to y_pred.

    Returns:
        float | Variable: The divergence.
    """
    p, y = _positive(y_pred, y_gt)
    return _result(K.mean(K.sum(y * K.log(y / p) - y + p, axis=-1)))


def is_divergence(y_pred, y_gt):
    """The Itakura-Saito divergence: sum(y_gt / y_pred - log(y_gt / y_pred) - 1) over the last
    axis, mean over samples; both clipped to [1e-7, inf).

    Args:
        y_pred (array-like | Variable): The predictions (non-negative).
        y_gt (array-like | Variable): The targets (non-negative), broadcastable to y_pred.

    Returns:
        float | Variable: The divergence.
    """
    p, y = _positive(y_pred, y_gt)
    ratio = y / p
    return _result(K.mean(K.sum(ratio - K.log(ratio) - 1.0, axis=-1)))


def beta_divergence(y_pred, y_gt, beta):
    """The beta divergence, sum(y^b + (b - 1) p^b - b y p^(b - 1)) / (b (b - 1)) over the last
    axis, mean over samples (p = y_pred, y = y_gt, both clipped to [1e-7, inf)).

    Args:
        y_pred (array-like | Variable): The predictions (non-negative).
        y_gt (array-like | Variable): The targets (non-negative), broadcastable to y_pred.
        beta (float): b, not 0 or 1 (their limits are is_divergence and kl_divergence).

    Returns:
        float | Variable: The divergence.

    Raises:
        ValueError: beta is 0 or 1.
    """
    _check_number(beta, "beta_divergence", "beta")
    if beta in (0, 1):
        raise ValueError(
            f"beta_divergence: beta must not be 0 or 1 (got {beta!r}); use is_divergence "
            "for 0 and kl_divergence for 1"
        )
    p, y = _positive(y_pred, y_gt)
    terms = K.power(y, beta) + (beta - 1) * K.power(p, beta) - beta * y * K.power(p, beta - 1)
    return _result(K.mean(K.sum(terms / (beta * (beta - 1)), axis=-1)))


def categorical_error(p_y_pred, y_gt):
    """The share of samples whose most probable class is not the target's (no gradient).

    Args:
        p_y_pred (array-like | Variable): Predicted probabilities, (..., classes).
        y_gt (array-like | Variable): One-hot targets of the same shape, or class indices.

    Returns:
        float | Variable: The error rate, in [0, 1].
    """
    predicted = K.argmax(p_y_pred, axis=-1)
    shape, target_shape = np.shape(K.get_value(p_y_pred)), np.shape(K.get_value(y_gt))
    if target_shape == shape:
        target = K.argmax(y_gt, axis=-1)
    else:
        target = K.reshape(K.cast(y_gt, "int64"), np.shape(K.get_value(predicted)))
    return _result(K.mean(K.cast(K.neq(predicted, target), "float64")))  # exact shares


def _check_number(x, op: str, arg: str) -> None:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.number)):
        raise TypeError(f"{op}: {arg} must be a number; got {type(x).__name__} {x!r}")


_OBJECTIVES = {
    f.__name__: f
    for f in (
        categorical_crossentropy,
        sparse_categorical_crossentropy,
        binary_crossentropy,
        mse,
        norm_lp,
        norm_l1,
        kl_divergence,
        is_divergence,
        beta_divergence,
        categorical_error,
    )
}


def names() -> list[str]:
    """The names that `get` knows.

    Returns:
        list of str: Sorted names.
    """
    return sorted(_OBJECTIVES)


def get(loss: "str | Callable") -> Callable:
    """The objective function of this module named `loss` (a callable is returned as it is).

    Args:
        loss (str | Callable): A name such as 'categorical_crossentropy', or a function.

    Returns:
        Callable: The function, which takes (y_pred, y_gt).

    Raises:
        ValueError: The name is unknown.
        TypeError: loss is neither a string nor callable.
    """
    if isinstance(loss, str):
        if loss in _OBJECTIVES:
            return _OBJECTIVES[loss]
        raise ValueError(f"unknown objective {loss!r}; expected one of: " + ", ".join(names()))
    if callable(loss):
        return loss
    raise TypeError(f"get expects an objective's name; got {type(loss).__name__} {loss!r}")
