"""Ops that move entries without computing on them: reshaping, axes, tiling, joining,
indexing. Each VJP moves the gradient back the same way (a scatter-add for indexing)."""

import numpy as np

from hat.backend.ops import operand, reduced_axes
from hat.backend.tape import Variable, record, value


def _array(x, op: str, arg: str = "x"):
    x = operand(x, op, arg)
    return x, np.asarray(value(x))


def _larger(a: int, b: int) -> int:
    return a if a >= b else b


def _ints(values, op: str, arg: str) -> tuple:
    items = values if isinstance(values, (tuple, list)) else (values,)
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in items):
        raise TypeError(f"K.{op}: {arg} must be an int or a tuple of ints; got {values!r}")
    return tuple(int(n) for n in items)


def reshape(x, shape):
    """x with a new shape (one entry may be -1).

    Args:
        x (array-like | Variable): The input.
        shape (int | tuple): The new shape.

    Returns:
        numpy.ndarray | Variable: The reshaped values.
    """
    x, xv = _array(x, "reshape")
    y = np.reshape(xv, _ints(shape, "reshape", "shape"))
    return record("reshape", y, ((x, lambda g: np.reshape(g, xv.shape)),))


def flatten(x, ndim: int = 1):
    """x with its last axes merged so that `ndim` remain (Theano's flatten; 1: fully flat).

    Args:
        x (array-like | Variable): The input.
        ndim (int): Default 1. The number of axes of the result; 2 keeps the batch axis.

    Returns:
        numpy.ndarray | Variable: The flattened values.

    Raises:
        ValueError: ndim is not between 1 and the number of axes of x.
    """
    x, xv = _array(x, "flatten")
    if not isinstance(ndim, (int, np.integer)) or not 1 <= ndim <= _larger(xv.ndim, 1):
        raise ValueError(f"K.flatten: ndim must be an int in [1, {xv.ndim}]; got {ndim!r}")
    return reshape(x, xv.shape[: ndim - 1] + (-1,))


def batch_flatten(x):
    """x as (batch, everything else): `flatten(x, 2)`, Keras' name.

    Args:
        x (array-like | Variable): The input, with a batch axis first.

    Returns:
        numpy.ndarray | Variable: The 2-D values.
    """
    return flatten(x, 2)


def transpose(x, axes=None):
    """x with its axes permuted (reversed for None).

    Args:
        x (array-like | Variable): The input.
        axes (tuple | None): Default None. The new order of the axes.

    Returns:
        numpy.ndarray | Variable: The transposed values.
    """
    x, xv = _array(x, "transpose")
    order = tuple(range(xv.ndim))[::-1] if axes is None else _ints(axes, "transpose", "axes")
    y = np.transpose(xv, order)
    inverse = tuple(np.argsort(order))
    return record("transpose", y, ((x, lambda g: np.transpose(g, inverse)),))


def swapaxes(x, axis1: int, axis2: int):
    """x with two axes exchanged.

    Args:
        x (array-like | Variable): The input.
        axis1 (int): The first axis.
        axis2 (int): The second axis.

    Returns:
        numpy.ndarray | Variable: The values with the axes swapped.
    """
    x, xv = _array(x, "swapaxes")
    a, b = _ints((axis1, axis2), "swapaxes", "axis1 and axis2")
    y = np.swapaxes(xv, a, b)
    return record("swapaxes", y, ((x, lambda g: np.swapaxes(g, a, b)),))


def expand_dims(x, axis: int):
    """x with a new axis of length 1 at `axis`.

    Args:
        x (array-like | Variable): The input.
        axis (int): Where the new axis goes.

    Returns:
        numpy.ndarray | Variable: The values with one more axis.
    """
    x, xv = _array(x, "expand_dims")
    return reshape(x, np.expand_dims(xv, _ints(axis, "expand_dims", "axis")).shape)


def squeeze(x, axis=None):
    """x without its axes of length 1 (those in `axis`, or all).

    Args:
        x (array-like | Variable): The input.
        axis (None | int | tuple): Default None. The axes to drop.

    Returns:
        numpy.ndarray | Variable: The values with fewer axes.
    """
    x, xv = _array(x, "squeeze")
    axes = None if axis is None else reduced_axes(axis, xv.ndim, "squeeze")
    return reshape(x, np.squeeze(xv, axes).shape)


def broadcast(x, x_ndim: int, bc_axis):
    """x with new axes of length 1 at the positions `bc_axis` of the result (Hat's helper:
    `broadcast(b, 1, (0, 2, 3))` makes a per-channel vector (C,) a (1, C, 1, 1) array).

    Args:
        x (array-like | Variable): The input.
        x_ndim (int): The number of axes of x.
        bc_axis (tuple): The axes to insert, as positions in the result.

    Returns:
        numpy.ndarray | Variable: The values with len(bc_axis) more axes.

    Raises:
        ValueError: x does not have x_ndim axes.
    """
    x, xv = _array(x, "broadcast")
    if xv.ndim != x_ndim:
        raise ValueError(f"K.broadcast: x has {xv.ndim} axes, not x_ndim={x_ndim}")
    inserted = _ints(bc_axis, "broadcast", "bc_axis")
    shape = iter(xv.shape)
    return reshape(
        x, tuple(1 if i in inserted else next(shape) for i in range(xv.ndim + len(inserted)))
    )


def tile(x, reps, ndim=None):
    """x repeated `reps` times along each axis, as numpy's tile.

    Args:
        x (array-like | Variable): The input.
        reps (int | tuple): The repetitions per axis.
        ndim (int | None): Default None. The number of axes of the result (Theano's
            argument); by default the larger of x's and len(reps).

    Returns:
        numpy.ndarray | Variable: The tiled values.

    Raises:
        ValueError: ndim is smaller than x's number of axes or than len(reps).
    """
    x, xv = _array(x, "tile")
    reps = _ints(reps, "tile", "reps")
    d = _larger(xv.ndim, len(reps))
    if ndim is not None:
        if ndim < d:
            raise ValueError(f"K.tile: ndim={ndim} is below the {d} axes that x and reps need")
        d = ndim
    shape = (1,) * (d - xv.ndim) + xv.shape
    reps = (1,) * (d - len(reps)) + reps
    y = np.tile(np.reshape(xv, shape), reps)

    def dx(g):
        # (r0, n0, r1, n1, ...): sum over the repetition axes
        split = np.reshape(g, tuple(n for pair in zip(reps, shape, strict=True) for n in pair))
        return np.reshape(split.sum(axis=tuple(range(0, 2 * d, 2))), xv.shape)

    return record("tile", y, ((x, dx),))


def repeat(x, n_repeats, axis=None):
    """Each entry of x repeated along `axis` (of the flattened x for None), as numpy's repeat.

    Args:
        x (array-like | Variable): The input.
        n_repeats (int | array-like): The repetitions, one number or one per entry on axis.
        axis (int | None): Default None. The axis to repeat along.

    Returns:
        numpy.ndarray | Variable: The repeated values.

    Raises:
        TypeError: n_repeats is not an int or an array of ints.
        ValueError: axis is out of range.
    """
    x, xv = _array(x, "repeat")
    counts = np.asarray(n_repeats)
    if counts.dtype.kind not in "iu":
        raise TypeError(f"K.repeat: n_repeats must be ints; got {n_repeats!r}")
    source = xv.reshape(-1) if axis is None else xv
    ax = 0 if axis is None else reduced_axes(axis, xv.ndim, "repeat")[0]
    y = np.repeat(source, counts, axis=ax)

    def dx(g):
        # the entry each output came from, then a scatter-add along the axis
        origin = np.repeat(np.arange(source.shape[ax]), counts)
        moved = np.moveaxis(g, ax, 0)
        total = np.zeros((source.shape[ax],) + moved.shape[1:], g.dtype)
        np.add.at(total, origin, moved)
        return np.reshape(np.moveaxis(total, 0, ax), xv.shape)

    return record("repeat", y, ((x, dx),))


def concatenate(inputs, axis: int = 0):
    """The inputs joined along an existing axis (Hat's argument names).

    Args:
        inputs (list): Arrays and Variables, equal in shape except along axis.
        axis (int): Default 0. The axis to join along.

    Returns:
        numpy.ndarray | Variable: The joined values.

    Raises:
        TypeError: inputs is not a list or tuple.
    """
    items, values = _sequence(inputs, "concatenate", "inputs")
    y = np.concatenate(values, axis=axis)
    ax = reduced_axes(axis, y.ndim, "concatenate")[0]
    pairs = []
    start = 0
    for item, v in zip(items, values, strict=True):
        index = (slice(None),) * ax + (slice(start, start + v.shape[ax]),)
        pairs.append((item, lambda g, index=index: g[index]))
        start += v.shape[ax]
    return record("concatenate", y, pairs)


def stack(tensors, axis: int = 0):
    """The tensors joined along a new axis (Hat's argument names).

    Args:
        tensors (list): Arrays and Variables of one shape.
        axis (int): Default 0. The position of the new axis in the result.

    Returns:
        numpy.ndarray | Variable: The stacked values.

    Raises:
        TypeError: tensors is not a list or tuple.
    """
    items, values = _sequence(tensors, "stack", "tensors")
    y = np.stack(values, axis=axis)
    ax = reduced_axes(axis, y.ndim, "stack")[0]
    pairs = [(item, lambda g, i=i: np.take(g, i, axis=ax)) for i, item in enumerate(items)]
    return record("stack", y, pairs)


def _sequence(inputs, op: str, arg: str):
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise TypeError(f"K.{op}: {arg} must be a non-empty list of arrays; got {inputs!r}")
    items = [operand(x, op, f"{arg}[{i}]") for i, x in enumerate(inputs)]
    return items, [np.asarray(value(x)) for x in items]


def getitem(x, index):
    """x[index], as numpy indexes: ints, slices, None, Ellipsis, integer and boolean arrays.

    The VJP scatters the gradient back, adding where an integer array repeats an entry. This
    is what `variable[index]` calls.

    Args:
        x (array-like | Variable): The input.
        index (object): a numpy index; Variables in it are used by value (no gradient).

    Returns:
        numpy.ndarray | Variable: The selected values.
    """
    x, xv = _array(x, "getitem")
    parts = index if isinstance(index, tuple) else (index,)
    parts = tuple(_index_part(p) for p in parts)
    index = parts if isinstance(index, tuple) else parts[0]
    y = xv[index]
    repeats_possible = any(isinstance(p, np.ndarray) and p.dtype.kind in "iu" for p in parts)

    def dx(g):
        grad = np.zeros(xv.shape, np.result_type(g))
        if repeats_possible:
            np.add.at(grad, index, g)
        else:
            grad[index] = g
        return grad

    return record("getitem", y, ((x, dx),))


def _index_part(part):
    if isinstance(part, Variable):
        part = part.value
    if isinstance(part, list):
        part = np.asarray(part)
    if isinstance(part, np.ndarray) and part.dtype.kind not in "iub":
        raise TypeError(f"K.getitem: an index array must hold ints or bools; got {part.dtype}")
    return part
