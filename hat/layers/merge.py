"""Layers that merge several inputs: Concatenate, Add, Subtract, Multiply, Average, Maximum,
and Hat's Merge. Each takes the list of its inputs and returns one gradient per input."""

import numpy as np

from hat.layers.base import Layer, shape_with_batch


class _Merge(Layer):
    """Elementwise merges: every input has the same shape."""

    n_inputs = None

    def build(self, input_shape, rng, dtype=np.float32):
        shapes = [tuple(s) for s in input_shape]
        if any(s != shapes[0] for s in shapes):
            shown = ", ".join(str(shape_with_batch(s)) for s in shapes)
            raise ValueError(f"{type(self).__name__} needs inputs of one shape; got {shown}")
        return shapes[0]

    def _output(self, xs):
        return self._buffer("y", xs[0].shape, xs[0].dtype)

    def _grads(self, count, like):
        return [self._buffer(f"dx{i}", like.shape, like.dtype) for i in range(count)]

    def _fold(self, ufunc, x):
        """ufunc applied across the inputs, into the layer's output buffer."""
        y = ufunc(x[0], x[1], out=self._output(x))
        for other in x[2:]:
            ufunc(y, other, out=y)
        return y


class Add(_Merge):
    """The sum of its inputs, called on a list of two or more of one shape: `Add()([a, b])`.

    Args:
        name (str | None): Default None. The layer's name.

    Raises:
        GraphError: At the call, it gets fewer than two inputs, or inputs of different shapes.
    """

    def forward(self, x, training):
        self._count = len(x)
        return self._fold(np.add, x)

    def backward(self, dy):
        return [dy] * self._count  # read-only: the model never writes into a gradient it got


class Subtract(_Merge):
    """The first input minus the second, called on a list of two of one shape.

    Args:
        name (str | None): Default None. The layer's name.

    Raises:
        GraphError: At the call, it gets other than two inputs, or inputs of different shapes.
    """

    n_inputs = 2

    def forward(self, x, training):
        return np.subtract(x[0], x[1], out=self._output(x))

    def backward(self, dy):
        return [dy, np.negative(dy, out=self._buffer("dx1", dy.shape, dy.dtype))]


class Multiply(_Merge):
    """The elementwise product of its inputs, called on a list of two or more of one shape.

    Args:
        name (str | None): Default None. The layer's name.

    Raises:
        GraphError: At the call, it gets fewer than two inputs, or inputs of different shapes.
    """

    def forward(self, x, training):
        self._x = x
        return self._fold(np.multiply, x)

    def backward(self, dy):
        grads = self._grads(len(self._x), dy)
        for i, grad in enumerate(grads):
            grad[...] = dy
            for j, other in enumerate(self._x):
                if j != i:
                    grad *= other
        return grads


class Average(_Merge):
    """The mean of its inputs, called on a list of two or more of one shape.

    Args:
        name (str | None): Default None. The layer's name.

    Raises:
        GraphError: At the call, it gets fewer than two inputs, or inputs of different shapes.
    """

    def forward(self, x, training):
        y = Add.forward(self, x, training)
        y *= y.dtype.type(1 / len(x))
        return y

    def backward(self, dy):
        grad = self._buffer("dx", dy.shape, dy.dtype)
        np.multiply(dy, dy.dtype.type(1 / self._count), out=grad)
        return [grad] * self._count


class Maximum(_Merge):
    """The elementwise maximum; the gradient goes to the first input that holds it.

    Called on a list of two or more inputs of one shape.

    Args:
        name (str | None): Default None. The layer's name.

    Raises:
        GraphError: At the call, it gets fewer than two inputs, or inputs of different shapes.
    """

    def forward(self, x, training):
        y = self._output(x)
        which = self._buffer("which", x[0].shape, np.int64)
        y[...] = x[0]
        which[...] = 0
        for i, other in enumerate(x[1:], start=1):
            larger = other > y
            y[larger] = other[larger]
            which[larger] = i
        self._count = len(x)
        return y

    def backward(self, dy):
        which = self._buffers["which"]
        grads = self._grads(self._count, dy)
        for i, grad in enumerate(grads):
            np.multiply(dy, which == i, out=grad)
        return grads


class Concatenate(Layer):
    """Joins its inputs along `axis` (Keras' convention: the batch axis is 0, so the default -1
    and axis=1 are the features of 2-D inputs and the channels of images).

    Args:
        axis (int): Default -1. The axis to join on, counting the batch axis as 0; any other
            axis, negative from the end.
        name (str | None): Default None. The layer's name.

    Raises:
        ValueError: `axis` is 0 or not an int.
        GraphError: At the call, it gets fewer than two inputs, `axis` is outside their
            rank, or they differ on another axis.
    """

    n_inputs = None

    def __init__(self, axis: int = -1, name: str | None = None):
        super().__init__(name)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or axis == 0:
            raise ValueError(
                f"axis must be a non-zero int (0 is the batch axis, which cannot be joined); "
                f"got {axis!r}"
            )
        self.axis = int(axis)

    def build(self, input_shape, rng, dtype=np.float32):
        shapes = [tuple(s) for s in input_shape]
        rank = len(shapes[0]) + 1
        if not -rank <= self.axis < rank or any(len(s) != len(shapes[0]) for s in shapes):
            shown = ", ".join(str(shape_with_batch(s)) for s in shapes)
            raise ValueError(f"Concatenate(axis={self.axis}) cannot join {shown}")
        self._feature_axis = (self.axis % rank) - 1  # in the sample shape
        rest = [s[: self._feature_axis] + s[self._feature_axis + 1 :] for s in shapes]
        if any(r != rest[0] for r in rest):
            shown = ", ".join(str(shape_with_batch(s)) for s in shapes)
            raise ValueError(
                f"Concatenate(axis={self.axis}) needs inputs that match on every other axis; "
                f"got {shown}"
            )
        self._sizes = [s[self._feature_axis] for s in shapes]
        joined = list(shapes[0])
        joined[self._feature_axis] = sum(self._sizes)
        return tuple(joined)

    def forward(self, x, training):
        axis = self._feature_axis + 1
        shape = list(x[0].shape)
        shape[axis] = sum(self._sizes)
        y = self._buffer("y", tuple(shape), x[0].dtype)
        np.concatenate(x, axis=axis, out=y)
        return y

    def backward(self, dy):
        axis = self._feature_axis + 1
        grads, start = [], 0
        for i, size in enumerate(self._sizes):
            shape = dy.shape[:axis] + (size,) + dy.shape[axis + 1 :]
            part = self._buffer(f"dx{i}", shape, dy.dtype)
            part[...] = dy[(slice(None),) * axis + (slice(start, start + size),)]
            grads.append(part)  # contiguous, as the kernels take them
            start += size
        return grads

    def get_config(self):
        return {"axis": self.axis, "name": self.name}


class Merge(Concatenate):
    """Hat's Merge: concatenates 2-D inputs on their features (Concatenate(axis=-1)).

    Args:
        name (str | None): Default None. The layer's name.

    Raises:
        GraphError: At the call, it gets fewer than two inputs, or inputs whose other axes
            differ.
    """

    def __init__(self, name: str | None = None):
        super().__init__(axis=-1, name=name)

    def get_config(self):
        return {"name": self.name}
