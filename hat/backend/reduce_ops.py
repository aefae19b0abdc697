"""Reductions (sum, mean, max, min, prod, var, std, argmax, argmin) and the dot product, each
with its VJP beside it (see hat.backend.tape)."""

import math

import numpy as np

from hat.backend.ops import multiply, operand, reduced_axes, sqr, sqrt, subtract
from hat.backend.tape import Variable, record, value


def _kept_shape(shape: tuple, axes: tuple) -> tuple:
    """The shape of a reduction with keepdims=True."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


# -- reductions -------------------------------------------------------------------------------
def sum(x, axis=None, keepdims: bool = False):
    """The sum over `axis`.

    Args:
        x (array-like | Variable): The input.
        axis (None | int | tuple): Default None. The axes to reduce; None for all.
        keepdims (bool): Default False. Keep the reduced axes with length 1.

    Returns:
        numpy.ndarray | Variable: The sum.
    """
    x = operand(x, "sum")
    xv = np.asarray(value(x))
    axes = reduced_axes(axis, xv.ndim, "sum")
    kept = _kept_shape(xv.shape, axes)
    y = np.sum(xv, axis=axes, keepdims=keepdims)
    return record("sum", y, ((x, lambda g: np.broadcast_to(np.reshape(g, kept), xv.shape)),))


def mean(x, axis=None, keepdims: bool = False):
    """The mean over `axis`.

    Args:
        x (array-like | Variable): The input.
        axis (None | int | tuple): Default None. The axes to reduce; None for all.
        keepdims (bool): Default False. Keep the reduced axes with length 1.

    Returns:
        numpy.ndarray | Variable: The mean.
    """
    x = operand(x, "mean")
    xv = np.asarray(value(x))
    axes = reduced_axes(axis, xv.ndim, "mean")
    kept = _kept_shape(xv.shape, axes)
    count = math.prod(xv.shape[a] for a in axes)
    y = np.mean(xv, axis=axes, keepdims=keepdims)
    return record(
        "mean", y, ((x, lambda g: np.broadcast_to(np.reshape(g, kept) / count, xv.shape)),)
    )


def _grouped(xv: np.ndarray, axes: tuple) -> np.ndarray:
    """xv with the reduced axes moved last and merged into one: (kept..., reduced)."""
    moved = np.moveaxis(xv, axes, tuple(range(xv.ndim - len(axes), xv.ndim)))
    return moved.reshape(moved.shape[: xv.ndim - len(axes)] + (-1,))


def _ungrouped(grouped: np.ndarray, xv: np.ndarray, axes: tuple) -> np.ndarray:
    """The inverse of _grouped, for an array of grouped's shape."""
    kept = [n for i, n in enumerate(xv.shape) if i not in axes]
    moved = grouped.reshape(tuple(kept) + tuple(xv.shape[a] for a in axes))
    return np.moveaxis(moved, tuple(range(xv.ndim - len(axes), xv.ndim)), axes)


def _extremum(op: str, reduce, arg, x, axis, keepdims):
    x = operand(x, op)
    xv = np.asarray(value(x))
    axes = reduced_axes(axis, xv.ndim, op)
    y = reduce(xv, axis=axes, keepdims=keepdims)

    def dx(g):
        flat = _grouped(xv, axes)  # (kept..., reduced)
        first = arg(flat, axis=-1)[..., None]  # the first extremum of each group
        gflat = np.zeros(flat.shape, np.result_type(g))
        np.put_along_axis(gflat, first, np.reshape(g, first.shape), axis=-1)
        return _ungrouped(gflat, xv, axes)

    return record(op, y, ((x, dx),))


def max(x, axis=None, keepdims: bool = False):
    """The maximum over `axis`; the gradient goes to the first maximum of each group.

    Args:
        x (array-like | Variable): The input.
        axis (None | int | tuple): Default None. The axes to reduce; None for all.
        keepdims (bool): Default False. Keep the reduced axes with length 1.

    Returns:
        numpy.ndarray | Variable: The maximum.
    """
    return _extremum("max", np.max, np.argmax, x, axis, keepdims)


def min(x, axis=None, keepdims: bool = False):
    """The minimum over `axis`; the gradient goes to the first minimum of each group.

    Args:
        x (array-like | Variable): The input.
        axis (None | int | tuple): Default None. The axes to reduce; None for all.
        keepdims (bool): Default False. Keep the reduced axes with length 1.

    Returns:
        numpy.ndarray | Variable: The minimum.
    """
    return _extremum("min", np.min, np.argmin, x, axis, keepdims)


def prod(x, axis=None, keepdims: bool = False):
    """The product over `axis`; the gradient is exact where entries are zero.

    Args:
        x (array-like | Variable): The input.
        axis (None | int | tuple): Default None. The axes to reduce; None for all.
        keepdims (bool): Default False. Keep the reduced axes with length 1.

    Returns:
        numpy.ndarray | Variable: The product.
    """
    x = operand(x, "prod")
    xv = np.asarray(value(x))
    axes = reduced_axes(axis, xv.ndim, "prod")
    y = np.prod(xv, axis=axes, keepdims=keepdims)

    def dx(g):
        flat = _grouped(xv, axes)
        ones = np.ones(flat.shape[:-1] + (1,), flat.dtype)
        # d prod / d x_k = (product of the entries before k) * (product of those after k)
        before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
        gflat = np.reshape(g, flat.shape[:-1] + (1,)) * before * after
        return _ungrouped(gflat, xv, axes)

    return record("prod", y, ((x, dx),))


def var(x, axis=None, keepdims: bool = False):
    """The variance over `axis` (divided by the count, as Theano and numpy).

    Args:
        x (array-like | Variable): The input.
        axis (None | int | tuple): Default None. The axes to reduce; None for all.
        keepdims (bool): Default False. Keep the reduced axes with length 1.

    Returns:
        numpy.ndarray | Variable: The variance.
    """
    x = operand(x, "var")
    if not isinstance(x, Variable):
        return np.var(x, axis=reduced_axes(axis, np.ndim(x), "var"), keepdims=keepdims)
    centred = subtract(x, mean(x, axis, keepdims=True))
    return mean(sqr(centred), axis, keepdims)


def std(x, axis=None, keepdims: bool = False):
    """The standard deviation over `axis` (the square root of `var`).

    Args:
        x (array-like | Variable): The input.
        axis (None | int | tuple): Default None. The axes to reduce; None for all.
        keepdims (bool): Default False. Keep the reduced axes with length 1.

    Returns:
        numpy.ndarray | Variable: The standard deviation.
    """
    x = operand(x, "std")
    if not isinstance(x, Variable):
        return np.std(x, axis=reduced_axes(axis, np.ndim(x), "std"), keepdims=keepdims)
    return sqrt(var(x, axis, keepdims))


def _arg_extremum(op: str, fn, x, axis):
    x = operand(x, op)
    xv = np.asarray(value(x))
    if axis is not None:
        axis = reduced_axes(axis, xv.ndim, op)
        if len(axis) != 1:
            raise TypeError(f"K.{op}: axis must be None or one int; got {axis!r}")
        axis = axis[0]
    return record(op, np.asarray(fn(xv, axis=axis)), ((x, None),))


def argmax(x, axis=None):
    """The index of the first maximum along `axis` (of the flattened x for None); no gradient.

    Args:
        x (array-like | Variable): The input.
        axis (None | int): Default None. The axis to search.

    Returns:
        numpy.ndarray | Variable: int64 indices.
    """
    return _arg_extremum("argmax", np.argmax, x, axis)


def argmin(x, axis=None):
    """The index of the first minimum along `axis` (of the flattened x for None); no gradient.

    Args:
        x (array-like | Variable): The input.
        axis (None | int): Default None. The axis to search.

    Returns:
        numpy.ndarray | Variable: int64 indices.
    """
    return _arg_extremum("argmin", np.argmin, x, axis)


# -- products ---------------------------------------------------------------------------------
def dot(X, Y):
    """numpy's dot product, for X of any rank and Y of rank 0, 1 or 2 (Hat's argument names).

    On Variables, `X @ Y` is this op too (the same as numpy's matmul for these ranks).

    Args:
        X (array-like | Variable): The left operand, (..., k).
        Y (array-like | Variable): The right operand, (k,) or (k, m).

    Returns:
        numpy.ndarray | Variable: X·Y, (...) or (..., m).

    Raises:
        ValueError: Y has more than 2 axes while an operand is a Variable.
    """
    X, Y = operand(X, "dot", "X"), operand(Y, "dot", "Y")
    xv, yv = np.asarray(value(X)), np.asarray(value(Y))
    z = np.dot(xv, yv)
    if not isinstance(X, Variable) and not isinstance(Y, Variable):
        return z
    if xv.ndim == 0 or yv.ndim == 0:
        return multiply(X, Y)
    if yv.ndim > 2:
        raise ValueError(
            f"K.dot: Y has shape {yv.shape}; on Variables Y must have 1 or 2 axes "
            "(reshape, or use K.sum(X * Y, axis))"
        )
    rows = xv.reshape(-1, xv.shape[-1])  # (prod(...), k)

    def dX(g):
        return np.multiply.outer(g, yv) if yv.ndim == 1 else g @ yv.T

    def dY(g):
        return rows.T @ np.reshape(g, (rows.shape[0],) + yv.shape[1:])

    return record("dot", z, ((X, dX), (Y, dY)))
