"""Arithmetic, comparisons and elementwise functions: each a numpy forward and, beside it, the
VJP of each input (see hat.backend.tape); and the argument checks that every op shares. On
plain arrays an op is numpy and records nothing."""

import numpy as np

from hat.backend.common import _FLOATX
from hat.backend.tape import Variable, record, value


# -- argument checks, shared by every op ------------------------------------------------------
def operand(x, op: str, arg: str = "x"):
    """`x` as an op takes it: a Variable, a numeric array or a Python/numpy number.

    Python numbers stay Python numbers, so that `v * 2.0` keeps a float32 `v` float32 (numpy
    treats them as weak, where a 0-d float64 array would promote).

    Args:
        x (object): The argument received.
        op (str): The op's name, for the message.
        arg (str): Default "x". The argument's name, for the message.

    Returns:
        Variable | numpy.ndarray | number: `x`, lists and tuples made arrays.

    Raises:
        TypeError: `x` is not numeric (a string, None, an object array...).
    """
    if isinstance(x, (Variable, int, float, np.number, np.bool_)):
        return x
    if isinstance(x, np.ndarray) and x.dtype.kind in "biuf":
        return x
    if isinstance(x, (list, tuple)):
        try:
            array = np.asarray(x)
        except ValueError:
            array = None
        if array is not None and array.dtype.kind in "biuf":
            return array
    text = repr(x)
    text = text if len(text) <= 60 else text[:57] + "..."
    raise TypeError(
        f"K.{op}: {arg} must be a numeric array, a number or a symbolic Variable; "
        f"got {type(x).__name__} {text}"
    )


def reduced_axes(axis, ndim: int, op: str) -> tuple:
    """`axis` as a sorted tuple of non-negative axes (all of them for None).

    Args:
        axis (None | int | tuple | list): The axes an op reduces.
        ndim (int): The number of axes of its input.
        op (str): The op's name, for the message.

    Returns:
        tuple: The axes.

    Raises:
        TypeError: `axis` is not None, an int or a sequence of ints.
        ValueError: An axis is out of range or repeated.
    """
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in items):
        raise TypeError(f"K.{op}: axis must be None, an int or a tuple of ints; got {axis!r}")
    axes = []
    for a in items:
        if not -ndim <= a < ndim:
            raise ValueError(f"K.{op}: axis {a} is out of range for an input with {ndim} axes")
        axes.append(int(a) % ndim)
    if len(set(axes)) != len(axes):
        raise ValueError(f"K.{op}: axis {axis!r} repeats an axis")
    return tuple(sorted(axes))


def unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """`g` summed over the axes that broadcasting added to an input of `shape`.

    Args:
        g (numpy.ndarray): a gradient shaped as a broadcast result.
        shape (tuple): The shape of the input before broadcasting.

    Returns:
        numpy.ndarray: The gradient of that input, of `shape`.
    """
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1
    )
    return np.reshape(g.sum(axis=axes, keepdims=True), shape)


def _binary(op: str, x, y, result, dx, dy):
    """Record an elementwise op of two broadcast inputs; dx, dy give unreduced gradients."""
    xs, ys = np.shape(value(x)), np.shape(value(y))
    return record(
        op,
        result,
        ((x, lambda g: unbroadcast(dx(g), xs)), (y, lambda g: unbroadcast(dy(g), ys))),
    )


# -- arithmetic -------------------------------------------------------------------------------
def add(x, y):
    """x + y, broadcast.

    Args:
        x (array-like | Variable): The first term.
        y (array-like | Variable): The second term.

    Returns:
        numpy.ndarray | Variable: The sum.
    """
    x, y = operand(x, "add", "x"), operand(y, "add", "y")
    return _binary("add", x, y, value(x) + value(y), lambda g: g, lambda g: g)


def subtract(x, y):
    """x - y, broadcast.

    Args:
        x (array-like | Variable): The minuend.
        y (array-like | Variable): The subtrahend.

    Returns:
        numpy.ndarray | Variable: The difference.
    """
    x, y = operand(x, "subtract", "x"), operand(y, "subtract", "y")
    return _binary("subtract", x, y, value(x) - value(y), lambda g: g, lambda g: -g)


def multiply(x, y):
    """x * y elementwise, broadcast.

    Args:
        x (array-like | Variable): The first factor.
        y (array-like | Variable): The second factor.

    Returns:
        numpy.ndarray | Variable: The product.
    """
    x, y = operand(x, "multiply", "x"), operand(y, "multiply", "y")
    xv, yv = value(x), value(y)
    return _binary("multiply", x, y, xv * yv, lambda g: g * yv, lambda g: g * xv)


def divide(x, y):
    """x / y elementwise, broadcast.

    Args:
        x (array-like | Variable): The numerator.
        y (array-like | Variable): The denominator.

    Returns:
        numpy.ndarray | Variable: The quotient.
    """
    x, y = operand(x, "divide", "x"), operand(y, "divide", "y")
    xv, yv = value(x), value(y)
    z = xv / yv
    return _binary("divide", x, y, z, lambda g: g / yv, lambda g: -g * z / yv)


def power(x, a):
    """x ** a elementwise, broadcast (Hat's argument names).

    The gradient with respect to a Variable exponent is x**a log(x), defined for x > 0.

    Args:
        x (array-like | Variable): The base.
        a (array-like | Variable | float): The exponent.

    Returns:
        numpy.ndarray | Variable: The power.
    """
    x, a = operand(x, "power", "x"), operand(a, "power", "a")
    xv, av = value(x), value(a)
    z = xv**av
    return _binary(
        "power", x, a, z, lambda g: g * av * xv ** (av - 1), lambda g: g * z * np.log(xv)
    )


def negative(x):
    """-x.

    Args:
        x (array-like | Variable): The input.

    Returns:
        numpy.ndarray | Variable: Its negation.
    """
    x = operand(x, "negative")
    return record("negative", -value(x), ((x, lambda g: -g),))


def maximum(x, y):
    """The elementwise maximum of x and y, broadcast; on a tie the gradient goes to x.

    Args:
        x (array-like | Variable): The first input.
        y (array-like | Variable): The second input.

    Returns:
        numpy.ndarray | Variable: The larger of each pair.
    """
    x, y = operand(x, "maximum", "x"), operand(y, "maximum", "y")
    xv, yv = value(x), value(y)
    return _binary(
        "maximum", x, y, np.maximum(xv, yv), lambda g: g * (xv >= yv), lambda g: g * (xv < yv)
    )


def minimum(x, y):
    """The elementwise minimum of x and y, broadcast; on a tie the gradient goes to x.

    Args:
        x (array-like | Variable): The first input.
        y (array-like | Variable): The second input.

    Returns:
        numpy.ndarray | Variable: The smaller of each pair.
    """
    x, y = operand(x, "minimum", "x"), operand(y, "minimum", "y")
    xv, yv = value(x), value(y)
    return _binary(
        "minimum", x, y, np.minimum(xv, yv), lambda g: g * (xv <= yv), lambda g: g * (xv > yv)
    )


# -- comparisons: 0/1 floats, as Theano's, with no gradient ------------------------------------
def _compare(op: str, ufunc, a, b):
    a, b = operand(a, op, "a"), operand(b, op, "b")
    av, bv = value(a), value(b)
    dtype = np.result_type(av, bv)
    result = ufunc(av, bv).astype(dtype if dtype.kind == "f" else _FLOATX)
    return record(op, result, ((a, None), (b, None)))


def eq(a, b):
    """1.0 where a == b, else 0.0 (broadcast); no gradient.

    Args:
        a (array-like | Variable): The first input.
        b (array-like | Variable): The second input.

    Returns:
        numpy.ndarray | Variable: 0/1 floats (the inputs' float dtype, else float32).
    """
    return _compare("eq", np.equal, a, b)


def neq(a, b):
    """1.0 where a != b, else 0.0 (broadcast); no gradient.

    Args:
        a (array-like | Variable): The first input.
        b (array-like | Variable): The second input.

    Returns:
        numpy.ndarray | Variable: 0/1 floats (the inputs' float dtype, else float32).
    """
    return _compare("neq", np.not_equal, a, b)


def gt(a, b):
    """1.0 where a > b, else 0.0 (broadcast); no gradient.

    Args:
        a (array-like | Variable): The first input.
        b (array-like | Variable): The second input.

    Returns:
        numpy.ndarray | Variable: 0/1 floats (the inputs' float dtype, else float32).
    """
    return _compare("gt", np.greater, a, b)


def lt(a, b):
    """1.0 where a < b, else 0.0 (broadcast); no gradient.

    Args:
        a (array-like | Variable): The first input.
        b (array-like | Variable): The second input.

    Returns:
        numpy.ndarray | Variable: 0/1 floats (the inputs' float dtype, else float32).
    """
    return _compare("lt", np.less, a, b)


def ge(a, b):
    """1.0 where a >= b, else 0.0 (broadcast); no gradient.

    Args:
        a (array-like | Variable): The first input.
        b (array-like | Variable): The second input.

    Returns:
        numpy.ndarray | Variable: 0/1 floats (the inputs' float dtype, else float32).
    """
    return _compare("ge", np.greater_equal, a, b)


def le(a, b):
    """1.0 where a <= b, else 0.0 (broadcast); no gradient.

    Args:
        a (array-like | Variable): The first input.
        b (array-like | Variable): The second input.

    Returns:
        numpy.ndarray | Variable: 0/1 floats (the inputs' float dtype, else float32).
    """
    return _compare("le", np.less_equal, a, b)


# -- elementwise functions --------------------------------------------------------------------
def exp(x):
    """e ** x elementwise.

    Args:
        x (array-like | Variable): The input.

    Returns:
        numpy.ndarray | Variable: The exponential.
    """
    x = operand(x, "exp")
    y = np.exp(value(x))
    return record("exp", y, ((x, lambda g: g * y),))


def log(x):
    """The natural logarithm, elementwise.

    Args:
        x (array-like | Variable): The input (positive).

    Returns:
        numpy.ndarray | Variable: The logarithm.
    """
    x = operand(x, "log")
    xv = value(x)
    return record("log", np.log(xv), ((x, lambda g: g / xv),))


def sqrt(x):
    """The square root, elementwise.

    Args:
        x (array-like | Variable): The input (non-negative).

    Returns:
        numpy.ndarray | Variable: The square root.
    """
    x = operand(x, "sqrt")
    y = np.sqrt(value(x))
    return record("sqrt", y, ((x, lambda g: g / (2 * y)),))


def sqr(x):
    """x ** 2 elementwise (Hat's name).

    Args:
        x (array-like | Variable): The input.

    Returns:
        numpy.ndarray | Variable: The square.
    """
    x = operand(x, "sqr")
    xv = value(x)
    return record("sqr", np.square(xv), ((x, lambda g: 2 * g * xv),))


def abs(x):
    """|x| elementwise; the gradient at 0 is 0.

    Args:
        x (array-like | Variable): The input.

    Returns:
        numpy.ndarray | Variable: The absolute value.
    """
    x = operand(x, "abs")
    xv = value(x)
    return record("abs", np.abs(xv), ((x, lambda g: g * np.sign(xv)),))


def clip(x, min_, max_):
    """x limited to [min_, max_] (Hat's argument names); None leaves a side open.

    The gradient passes where min_ <= x <= max_; a Variable bound gets it where x lies beyond.

    Args:
        x (array-like | Variable): The input.
        min_ (array-like | Variable | float | None): The lower bound.
        max_ (array-like | Variable | float | None): The upper bound.

    Returns:
        numpy.ndarray | Variable: The clipped values.
    """
    x = operand(x, "clip")
    lo = None if min_ is None else operand(min_, "clip", "min_")
    hi = None if max_ is None else operand(max_, "clip", "max_")
    xv, lov, hiv = value(x), value(lo), value(hi)
    y = np.clip(xv, lov, hiv)
    xs, open_below, open_above = np.shape(xv), lo is None, hi is None

    def dx(g):  # captures no Variable, so the tape holds no reference cycle
        inside = np.ones(xs, bool) if open_below else xv >= lov
        if not open_above:
            inside = inside & (xv <= hiv)
        return unbroadcast(g * inside, xs)

    return record(
        "clip",
        y,
        (
            (x, dx),
            (lo, lambda g: unbroadcast(g * (xv < lov), np.shape(lov))),
            (hi, lambda g: unbroadcast(g * (xv > hiv), np.shape(hiv))),
        ),
    )


def switch(condition, then_expression, else_expression):
    """Elementwise choice, as numpy's `where`: then_expression where condition is true.

    The condition has no gradient; each branch gets the gradient where it was chosen.

    Args:
        condition (array-like | Variable): Nonzero where the first branch is taken.
        then_expression (array-like | Variable): The values where condition holds.
        else_expression (array-like | Variable): The values elsewhere.

    Returns:
        numpy.ndarray | Variable: The chosen values, broadcast.
    """
    c = operand(condition, "switch", "condition")
    a = operand(then_expression, "switch", "then_expression")
    b = operand(else_expression, "switch", "else_expression")
    cv, av, bv = value(c) != 0, value(a), value(b)
    y = np.where(cv, av, bv)
    return record(
        "switch",
        y,
        (
            (c, None),
            (a, lambda g: unbroadcast(np.where(cv, g, 0), np.shape(av))),
            (b, lambda g: unbroadcast(np.where(cv, 0, g), np.shape(bv))),
        ),
    )


def cast(x, type):
    """x as dtype `type`; differentiable from float to float, constant otherwise.

    Args:
        x (array-like | Variable): The input.
        type (str | numpy.dtype): The dtype ('float32', 'int64', ...).

    Returns:
        numpy.ndarray | Variable: The cast values.

    Raises:
        TypeError: `type` is not a numpy dtype.
    """
    x = operand(x, "cast")
    try:
        dtype = np.dtype(type)
    except TypeError:
        raise TypeError(
            f"K.cast: type must be a numpy dtype such as 'float32'; got {type!r}"
        ) from None
    xv = np.asarray(value(x))
    differentiable = dtype.kind == "f" and xv.dtype.kind == "f"
    return record("cast", xv.astype(dtype), ((x, (lambda g: g) if differentiable else None),))
