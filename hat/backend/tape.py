"""The reverse-mode tape under `hat.backend`: symbolic Variables and their gradients.

    from hat.backend import tape as T
    with T.Tape() as t:
        v = t.watch(array)              # a Variable wrapping `array` (its value in v.value)
        out = fn(v)                     # K ops and operators on Variables record on t
    grads = t.gradient(out, [v], seed=dout)   # one ndarray per variable

Each op computes its value with numpy at once and records, for each input that leads back to a
watched array, a function from the gradient of its output to the gradient of that input (its
vector-Jacobian product). `gradient` walks the record backward once, from `out` down, skipping
the ops that do not lead to it. Ops record on the tape of their Variable inputs, so the `with`
block only scopes the work; a tape answers `gradient` once, then frees what it recorded.

A Variable is symbolic: it stands for a value inside a Lambda body or a loss function, so using
it where Python needs a bool or a number (`if v:`, `float(v)`, `np.asarray(v)`) raises a
TypeError. Its value, `v.value`, is a plain array, for looking at, not for differentiating.
"""

import sys

import numpy as np

__all__ = ["Tape", "Variable", "is_symbolic", "record", "value"]


class Variable:
    """A symbolic array: the value of a watched array or of a K op on one, recorded on a tape.

    Operators (+ - * / ** and unary -, comparisons, indexing) are K ops, so they record too;
    with `__array_ufunc__ = None`, numpy hands `array + variable` to the Variable as well.
    numpy functions that call a method (np.sum, np.mean, np.max, np.min, np.reshape,
    np.transpose) work; numpy's ufuncs (np.exp(v)) raise a TypeError: use K.exp.

    Users get Variables from `Tape.watch` and from ops; they do not build them.

    Args:
        value (np.ndarray): The array the Variable stands for.
        tape (Tape): The tape it is recorded on.
        index (int): Its slot on the tape; -1 when it depends on no watched array.
        op (str): The name of the op that made it, for messages.

    Attributes:
        value (np.ndarray): The array.
    """

    __slots__ = ("value", "_tape", "_index", "_op")
    __array_ufunc__ = None  # numpy defers to our reflected operators
    __hash__ = None  # == is elementwise, as for arrays

    def __init__(self, value: np.ndarray, tape: "Tape", index: int, op: str):
        self.value = value
        self._tape = tape
        self._index = index  # slot on the tape; -1: depends on no watched array
        self._op = op

    # -- what numpy arrays also have ---------------------------------------------------------
    @property
    def shape(self) -> tuple:
        """The shape of the value."""
        return self.value.shape

    @property
    def ndim(self) -> int:
        """The number of axes of the value."""
        return self.value.ndim

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the value."""
        return self.value.dtype

    @property
    def size(self) -> int:
        """The number of entries of the value."""
        return self.value.size

    @property
    def T(self) -> "Variable":  # noqa: N802  (numpy's name)
        """The transpose, as `K.transpose(self)`."""
        return _ops().transpose(self)

    def __len__(self) -> int:
        if self.value.ndim == 0:
            raise TypeError(f"len() of a 0-d {self!r}")
        return self.value.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"Variable(shape={self.value.shape}, dtype={self.value.dtype}, op={self._op})"

    # -- what a symbolic value cannot do --------------------------------------------------------
    def _concrete(self, what: str):
        raise TypeError(
            f"{what} of {self!r}: this is a symbolic value (inside a Lambda or a loss), "
            "recorded for differentiation; use K ops (K.gt, K.switch, K.cast) instead, or "
            ".value to look at its current array"
        )

    def __bool__(self):
        self._concrete("bool()")

    def __float__(self):
        self._concrete("float()")

    def __int__(self):
        self._concrete("int()")

    def __index__(self):
        self._concrete("use as an index")

    def __array__(self, dtype=None, copy=None):
        self._concrete("conversion to a numpy array")

    def __setitem__(self, index, item):
        raise TypeError(
            f"item assignment on {self!r}: Variables are immutable; build the result with "
            "K.concatenate, K.switch or arithmetic instead"
        )

    # -- operators: K ops ----------------------------------------------------------------------
    def __add__(self, other):
        return _ops().add(self, other)

    def __radd__(self, other):
        return _ops().add(other, self)

    def __sub__(self, other):
        return _ops().subtract(self, other)

    def __rsub__(self, other):
        return _ops().subtract(other, self)

    def __mul__(self, other):
        return _ops().multiply(self, other)

    def __rmul__(self, other):
        return _ops().multiply(other, self)

    def __truediv__(self, other):
        return _ops().divide(self, other)

    def __rtruediv__(self, other):
        return _ops().divide(other, self)

    def __pow__(self, other):
        return _ops().power(self, other)

    def __rpow__(self, other):
        return _ops().power(other, self)

    def __matmul__(self, other):
        return _ops().dot(self, other)

    def __rmatmul__(self, other):
        return _ops().dot(other, self)

    def __neg__(self):
        return _ops().negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _ops().abs(self)

    def __eq__(self, other):
        return _ops().eq(self, other)

    def __ne__(self, other):
        return _ops().neq(self, other)

    def __gt__(self, other):
        return _ops().gt(self, other)

    def __lt__(self, other):
        return _ops().lt(self, other)

    def __ge__(self, other):
        return _ops().ge(self, other)

    def __le__(self, other):
        return _ops().le(self, other)

    def __getitem__(self, index):
        return _ops().getitem(self, index)

    # -- numpy-style methods: also what np.sum(v), np.mean(v), np.reshape(v, ...) call --------
    def sum(self, axis=None, dtype=None, out=None, keepdims: bool = False) -> "Variable":
        """`K.sum(self, axis, keepdims)`; np.sum(variable) comes here too.

        Args:
            axis (None | int | tuple): Default None. The axes to reduce; None for all.
            dtype (str | None): Default None. Cast the result to this dtype.
            out (None): Default None. numpy's output argument; must be None.
            keepdims (bool): Default False. Keep the reduced axes with length 1.

        Returns:
            Variable: The sum.
        """
        return _reduced(_ops().sum, self, axis, dtype, out, keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims: bool = False) -> "Variable":
        """`K.mean(self, axis, keepdims)`; np.mean(variable) comes here too.

        Args:
            axis (None | int | tuple): Default None. The axes to reduce; None for all.
            dtype (str | None): Default None. Cast the result to this dtype.
            out (None): Default None. numpy's output argument; must be None.
            keepdims (bool): Default False. Keep the reduced axes with length 1.

        Returns:
            Variable: The mean.
        """
        return _reduced(_ops().mean, self, axis, dtype, out, keepdims)

    def max(self, axis=None, out=None, keepdims: bool = False) -> "Variable":
        """`K.max(self, axis, keepdims)`; np.max(variable) comes here too.

        Args:
            axis (None | int | tuple): Default None. The axes to reduce; None for all.
            out (None): Default None. numpy's output argument; must be None.
            keepdims (bool): Default False. Keep the reduced axes with length 1.

        Returns:
            Variable: The maximum.
        """
        return _reduced(_ops().max, self, axis, None, out, keepdims)

    def min(self, axis=None, out=None, keepdims: bool = False) -> "Variable":
        """`K.min(self, axis, keepdims)`; np.min(variable) comes here too.

        Args:
            axis (None | int | tuple): Default None. The axes to reduce; None for all.
            out (None): Default None. numpy's output argument; must be None.
            keepdims (bool): Default False. Keep the reduced axes with length 1.

        Returns:
            Variable: The minimum.
        """
        return _reduced(_ops().min, self, axis, None, out, keepdims)

    def reshape(self, *shape, order: str = "C") -> "Variable":
        """`K.reshape(self, shape)`; the shape as one tuple or as separate ints.

        Args:
            *shape (int | tuple): The new shape; one entry may be -1.
            order (str): Default "C". numpy's order argument; only "C" is supported.

        Returns:
            Variable: The reshaped value.

        Raises:
            ValueError: order is not "C".
        """
        if order != "C":
            raise ValueError(f"reshape of a Variable supports order='C' only; got {order!r}")
        return _ops().reshape(self, shape[0] if len(shape) == 1 else shape)

    def flatten(self) -> "Variable":
        """`K.flatten(self)`: all entries in one axis.

        Returns:
            Variable: The 1-D value.
        """
        return _ops().flatten(self)

    def transpose(self, *axes) -> "Variable":
        """`K.transpose(self, axes)`; the axes as one tuple, as separate ints, or none (reverse).

        Args:
            *axes (int | tuple): The permutation of the axes.

        Returns:
            Variable: The transposed value.
        """
        return _ops().transpose(self, (axes[0] if len(axes) == 1 else axes) or None)

    def astype(self, dtype) -> "Variable":
        """`K.cast(self, dtype)`.

        Args:
            dtype (str | numpy.dtype): The dtype to cast to.

        Returns:
            Variable: The cast value.
        """
        return _ops().cast(self, dtype)


def _reduced(op, x: Variable, axis, dtype, out, keepdims: bool) -> Variable:
    if out is not None:
        raise TypeError(f"out= is not supported for {x!r}: Variables are immutable")
    result = op(x, axis, keepdims)
    return result if dtype is None else _ops().cast(result, dtype)


def _ops():
    """The package hat.backend, where every op lives (it imports this module first)."""
    return sys.modules["hat.backend"]


class Tape:
    """Records K ops on Variables and differentiates them in reverse mode (module docstring)."""

    def __init__(self):
        # One slot per Variable that depends on a watched array: None for a watched array,
        # else the list of (input slot, vjp) of the op that made it. Slots are in creation
        # order, which is a topological order, so backward is one reverse sweep.
        self._slots: list = []
        self._dtypes: list = []
        self._done = False

    def __enter__(self) -> "Tape":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def watch(self, array) -> Variable:
        """A Variable for `array`, whose gradient `gradient` can then return.

        Args:
            array (numpy.ndarray): A floating-point array (not copied).

        Returns:
            Variable: The symbolic stand-in for `array`.

        Raises:
            TypeError: `array` is not a floating-point array, or is already a Variable.
            RuntimeError: This tape has already answered `gradient`.
        """
        if isinstance(array, Variable):
            raise TypeError(f"watch expects a numpy array; got {array!r}, already symbolic")
        values = np.asarray(array) if isinstance(array, np.ndarray) else None
        if values is None or values.dtype.kind != "f":
            raise TypeError(
                "watch expects a floating-point numpy array; got "
                f"{type(array).__name__} {_short(array)}"
            )
        return Variable(values, self, self._new_slot(None, values.dtype), "watch")

    def gradient(self, out, variables, seed=None) -> list:
        """The gradient of `out` with respect to each of `variables`, by one backward sweep.

        Args:
            out (Variable | numpy.ndarray | float): what to differentiate. A value that depends
                on no watched array (a plain number or array) has zero gradients.
            variables (list of Variable): The Variables to differentiate with respect to
                (watched arrays, or intermediate results of this tape).
            seed (numpy.ndarray | float | None): Default None. The gradient of the final
                scalar with respect to `out` (shaped as `out`, or broadcastable to it); None
                means 1.0 and needs a scalar `out`.

        Returns:
            list of numpy.ndarray: One fresh array per variable, with its shape and dtype;
            zeros for a variable that `out` does not depend on.

        Raises:
            TypeError: A variable is not a Variable of this tape, or `out` is a Variable of
                another tape.
            ValueError: seed is None while `out` is not a scalar, or it does not fit `out`.
            RuntimeError: This tape has already answered `gradient` once.
        """
        if self._done:
            raise RuntimeError("this Tape has already answered gradient(); use one tape per pass")
        variables = list(variables) if isinstance(variables, (list, tuple)) else [variables]
        for v in variables:
            if not isinstance(v, Variable) or v._tape is not self:
                raise TypeError(f"gradient expects Variables of this tape; got {_short(v)}")
        if isinstance(out, Variable) and out._tape is not self:
            raise TypeError(f"gradient: out {out!r} was recorded on another tape")
        self._done = True
        slots, self._slots = self._slots, []  # free the record whatever happens next
        if not isinstance(out, Variable) or out._index < 0:
            return [np.zeros(v.value.shape, v.value.dtype) for v in variables]
        seed = _seed(out, seed)
        dtypes = self._dtypes
        keep = {v._index for v in variables}
        grads = [None] * (out._index + 1)
        grads[out._index] = seed
        for i in range(out._index, -1, -1):
            g = grads[i]
            inputs = slots[i]
            if g is None or inputs is None:
                continue
            if i not in keep:
                grads[i] = None  # drop intermediate gradients as soon as they are spent
            for j, vjp in inputs:
                gj = vjp(g)
                if gj.dtype != dtypes[j]:  # a float32 input keeps float32 gradients
                    gj = gj.astype(dtypes[j])
                grads[j] = gj if grads[j] is None else grads[j] + gj
        handed_out: set[int] = set()
        results = []
        for v in variables:
            g = grads[v._index] if 0 <= v._index < len(grads) else None
            results.append(_fresh(g, v, seed, handed_out))
        return results

    def _new_slot(self, inputs, dtype) -> int:
        if self._done:
            raise RuntimeError(
                "this Tape has already answered gradient(); record a new pass on a new Tape"
            )
        self._slots.append(inputs)
        self._dtypes.append(dtype)
        return len(self._slots) - 1


def record(op: str, result, pairs) -> "Variable | np.ndarray":
    """The result of a K op: a Variable recorded on its inputs' tape, or `result` if none is.

    Args:
        op (str): The op's name, for messages and repr.
        result (numpy.ndarray): The value the op computed.
        pairs (iterable): (input, vjp) for each input; vjp maps the gradient of the result to
            the gradient of that input (shaped as the input), or is None where the op has none.

    Returns:
        Variable | numpy.ndarray: A Variable if an input is one, else `result`.

    Raises:
        ValueError: The inputs are Variables of different tapes.
    """
    tape = None
    inputs = []
    for x, vjp in pairs:
        if not isinstance(x, Variable):
            continue
        if tape is None:
            tape = x._tape
        elif x._tape is not tape:
            raise ValueError(f"{op}: its inputs were recorded on different tapes ({x!r})")
        if x._index >= 0 and vjp is not None:
            inputs.append((x._index, vjp))
    if tape is None:
        return result
    result = np.asarray(result)
    index = tape._new_slot(inputs, result.dtype) if inputs else -1
    return Variable(result, tape, index, op)


def _seed(out: Variable, seed) -> np.ndarray:
    if seed is None:
        if out.value.size != 1:
            raise ValueError(
                f"gradient: out has shape {out.value.shape}; give seed= (dL/dout, same shape) "
                "for a non-scalar out"
            )
        return np.ones(out.value.shape, out.value.dtype)
    seed = np.asarray(seed, dtype=out.value.dtype)
    try:
        return np.broadcast_to(seed, out.value.shape)
    except ValueError:
        raise ValueError(
            f"gradient: seed of shape {seed.shape} does not fit out of shape {out.value.shape}"
        ) from None


def _fresh(g, v: Variable, seed, handed_out: set) -> np.ndarray:
    """The gradient as an array that the caller owns: C-contiguous, the variable's dtype.

    A VJP may pass its incoming gradient through (x + y gives both the same array), so an
    array already handed out, the seed, a view or a numpy scalar is copied.
    """
    dtype = v.value.dtype
    if g is None:
        return np.zeros(v.value.shape, dtype)
    if (
        not isinstance(g, np.ndarray)
        or g is seed
        or id(g) in handed_out
        or g.base is not None
        or g.dtype != dtype
        or not g.flags.c_contiguous
    ):
        g = np.array(g, dtype=dtype, order="C")
    handed_out.add(id(g))
    return g


def is_symbolic(x) -> bool:
    """Whether `x` is a Variable (a symbolic value on a tape) rather than a plain value.

    Args:
        x (object): anything.

    Returns:
        bool: True for a Variable.
    """
    return isinstance(x, Variable)


def value(x):
    """The array behind `x`: a Variable's value, or `x` itself.

    Args:
        x (Variable | numpy.ndarray | float): A symbolic or plain value.

    Returns:
        numpy.ndarray | float: The plain value.
    """
    return x.value if isinstance(x, Variable) else x


def _short(x) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."
