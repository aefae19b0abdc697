"""Activations, Theano's elementwise crossentropies and Hat's small helpers (batch
normalization, moving average, ifelse, constants), on top of the ops in hat.backend.ops."""

import numpy as np

from hat.backend import ops, reduce_ops
from hat.backend.common import floatx
from hat.backend.ops import operand
from hat.backend.shape_ops import getitem
from hat.backend.tape import record, value


def softmax(x):
    """The softmax along the last axis.

    Args:
        x (array-like | Variable): The logits.

    Returns:
        numpy.ndarray | Variable: Probabilities that sum to 1 along the last axis.
    """
    x = operand(x, "softmax")
    xv = np.asarray(value(x))
    e = np.exp(xv - xv.max(axis=-1, keepdims=True))
    y = e / e.sum(axis=-1, keepdims=True)
    return record("softmax", y, ((x, lambda g: y * (g - (g * y).sum(axis=-1, keepdims=True))),))


def sigmoid(x):
    """1 / (1 + e**-x), elementwise (computed as 0.5 tanh(x/2) + 0.5, which cannot overflow).

    Args:
        x (array-like | Variable): The input.

    Returns:
        numpy.ndarray | Variable: Values in (0, 1).
    """
    x = operand(x, "sigmoid")
    y = 0.5 * np.tanh(0.5 * value(x)) + 0.5
    return record("sigmoid", y, ((x, lambda g: g * y * (1 - y)),))


def tanh(x):
    """The hyperbolic tangent, elementwise.

    Args:
        x (array-like | Variable): The input.

    Returns:
        numpy.ndarray | Variable: Values in (-1, 1).
    """
    x = operand(x, "tanh")
    y = np.tanh(value(x))
    return record("tanh", y, ((x, lambda g: g * (1 - y * y)),))


def hard_sigmoid(x):
    """Theano's piecewise-linear sigmoid, clip(0.2 x + 0.5, 0, 1).

    Args:
        x (array-like | Variable): The input.

    Returns:
        numpy.ndarray | Variable: Values in [0, 1].
    """
    return ops.clip(ops.add(ops.multiply(operand(x, "hard_sigmoid"), 0.2), 0.5), 0.0, 1.0)


def relu(x, alpha=0.0, max_value=None):
    """max(x, 0), with slope `alpha` below 0 and a cap at `max_value` (Hat's arguments).

    Args:
        x (array-like | Variable): The input.
        alpha (float): Default 0.0. The slope for x < 0 (leaky ReLU when > 0).
        max_value (float | None): Default None. The cap, if any.

    Returns:
        numpy.ndarray | Variable: The rectified values.

    Raises:
        TypeError: alpha or max_value is not a number.
    """
    x = operand(x, "relu")
    for name, number in (("alpha", alpha), ("max_value", max_value)):
        if number is not None and not isinstance(number, (int, float, np.number)):
            raise TypeError(f"K.relu: {name} must be a number; got {number!r}")
    xv = value(x)
    positive = xv > 0
    y = np.maximum(xv, 0) if alpha == 0 else np.where(positive, xv, alpha * xv)
    if max_value is not None:
        y = np.minimum(y, max_value)

    def dx(g):
        slope = positive if alpha == 0 else np.where(positive, 1.0, alpha)
        if max_value is not None:
            slope = slope * (y < max_value)
        return g * slope

    return record("relu", y, ((x, dx),))


def categorical_crossentropy(p_y_pred, y_gt):
    """-sum(y_gt log p_y_pred) over the last axis, per sample, as Theano's (no clipping here;
    hat.objectives clips and averages).

    Args:
        p_y_pred (array-like | Variable): Probabilities, (..., classes).
        y_gt (array-like | Variable): One-hot or soft targets of the same shape, or integer
            class indices of shape (...).

    Returns:
        numpy.ndarray | Variable: The crossentropy of each sample, shape (...).

    Raises:
        ValueError: y_gt fits neither form.
    """
    p = operand(p_y_pred, "categorical_crossentropy", "p_y_pred")
    y = operand(y_gt, "categorical_crossentropy", "y_gt")
    pv, yv = np.asarray(value(p)), np.asarray(value(y))
    if yv.shape == pv.shape:
        return ops.negative(reduce_ops.sum(ops.multiply(y, ops.log(p)), axis=-1))
    if yv.dtype.kind in "iu" and yv.shape == pv.shape[:-1]:
        picked = getitem(p, tuple(np.indices(yv.shape)) + (yv,))  # p[..., label]
        return ops.negative(ops.log(picked))
    raise ValueError(
        f"K.categorical_crossentropy: y_gt of shape {yv.shape} ({yv.dtype}) fits neither "
        f"one-hot targets {pv.shape} nor integer labels {pv.shape[:-1]}"
    )


def binary_crossentropy(p_y_pred, y_gt):
    """-(y_gt log p + (1 - y_gt) log(1 - p)) elementwise, as Theano's (no clipping here).

    Args:
        p_y_pred (array-like | Variable): probabilities.
        y_gt (array-like | Variable): Targets in [0, 1], broadcastable to p_y_pred.

    Returns:
        numpy.ndarray | Variable: The elementwise crossentropy.
    """
    p = operand(p_y_pred, "binary_crossentropy", "p_y_pred")
    y = operand(y_gt, "binary_crossentropy", "y_gt")
    hit = ops.multiply(y, ops.log(p))
    miss = ops.multiply(ops.subtract(1.0, y), ops.log(ops.subtract(1.0, p)))
    return ops.negative(ops.add(hit, miss))


def batch_normalization(inputs, gamma, beta, mean, var, eps):
    """(inputs - mean) / sqrt(var + eps) * gamma + beta, broadcast (Hat's helper).

    Args:
        inputs (array-like | Variable): The values to normalize.
        gamma (array-like | Variable): The scale.
        beta (array-like | Variable): The shift.
        mean (array-like | Variable): The mean to subtract.
        var (array-like | Variable): The variance to divide by (its square root).
        eps (float): Added to var.

    Returns:
        numpy.ndarray | Variable: The normalized values.
    """
    centred = ops.subtract(operand(inputs, "batch_normalization", "inputs"), mean)
    scale = ops.divide(gamma, ops.sqrt(ops.add(var, eps)))
    return ops.add(ops.multiply(centred, scale), beta)


def moving_average(running_val, val, momentum):
    """momentum * running_val + (1 - momentum) * val (Hat's helper).

    Args:
        running_val (array-like | Variable): The running value.
        val (array-like | Variable): The new value.
        momentum (float): The weight of the running value.

    Returns:
        numpy.ndarray | Variable: The updated average.
    """
    return ops.add(ops.multiply(momentum, running_val), ops.multiply(1 - momentum, val))


def ifelse(condition, op1, op2):
    """op1 if the scalar condition holds, else op2 (Hat's helper). On a Variable condition the
    choice follows its current value, and the gradient flows into the branch chosen.

    Args:
        condition (bool | array-like | Variable): A scalar condition.
        op1 (object): The result when it holds.
        op2 (object): The result otherwise.

    Returns:
        object: op1 or op2, unchanged.

    Raises:
        ValueError: condition is not a scalar.
    """
    c = np.asarray(value(operand(condition, "ifelse", "condition")))
    if c.size != 1:
        raise ValueError(f"K.ifelse: condition must be a scalar; got shape {c.shape}")
    return op1 if bool(c.reshape(())) else op2


def zeros(shape, dtype=None):
    """A plain array of zeros.

    Args:
        shape (int | tuple): Its shape.
        dtype (str | None): Default None. Its dtype; None for floatx() ('float32').

    Returns:
        numpy.ndarray: The zeros.
    """
    return np.zeros(shape, dtype or floatx())


def ones(shape, dtype=None):
    """A plain array of ones.

    Args:
        shape (int | tuple): Its shape.
        dtype (str | None): Default None. Its dtype; None for floatx() ('float32').

    Returns:
        numpy.ndarray: The ones.
    """
    return np.ones(shape, dtype or floatx())


def zeros_like(x):
    """Zeros of x's shape and dtype: a plain array, since it depends on no value of x.

    Args:
        x (array-like | Variable): The model.

    Returns:
        numpy.ndarray: The zeros.
    """
    return np.zeros_like(np.asarray(value(operand(x, "zeros_like"))))


def ones_like(x):
    """Ones of x's shape and dtype: a plain array, since it depends on no value of x.

    Args:
        x (array-like | Variable): The model.

    Returns:
        numpy.ndarray: The ones.
    """
    return np.ones_like(np.asarray(value(operand(x, "ones_like"))))


def ndim(x) -> int:
    """The number of axes of x.

    Args:
        x (array-like | Variable): The input.

    Returns:
        int: x.ndim.
    """
    return np.ndim(value(operand(x, "ndim")))


def format_data(value, dtype=None):
    """A plain array of `value` in `dtype` (Hat's helper).

    Args:
        value (array-like): The data.
        dtype (str | None): Default None. The dtype; None for floatx() ('float32').

    Returns:
        numpy.ndarray: The data as an array.
    """
    return np.asarray(operand(value, "format_data", "value"), dtype or floatx())


def get_value(x):
    """The array behind x: a Variable's current value, or x itself (Hat's name).

    Args:
        x (array-like | Variable): The input.

    Returns:
        numpy.ndarray: The value.
    """
    return value(x)
