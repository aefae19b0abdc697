"""Pooling over time on (batch, time, features): windowed MaxPool1D and AvgPool1D, and the
global time poolings (Keras' GlobalAveragePooling1D / GlobalMaxPooling1D, Hat's
GlobalMeanTimePool / GlobalMaxPool), which take a mask (batch, time) of real steps."""

import numpy as np

from hat.layers.base import Layer, shape_with_batch
from hat.layers.conv1d import _one_int
from hat.layers.masks import as_mask, window_mask
from hat.layers.pooling import _split
from hat.threads import parallel_for


def _expect_sequence(layer, input_shape) -> None:
    if input_shape is None or len(input_shape) != 2:
        got = "nothing" if input_shape is None else f"shape {shape_with_batch(input_shape)}"
        raise ValueError(
            f"{type(layer).__name__} expects a 3-D input (batch, time, features); got {got}"
        )


class _Pool1D(Layer):
    """Windows of pool_size steps every strides steps (default: pool_size), per feature;
    floor mode (a last window that does not fit is left out), no padding.

    The 2-D pooling kernels do the work: (N, T, C) is viewed, without a copy, as one
    (T, C) image per sample, pooled by (pool_size, 1) windows. A mask passes on as the
    mask of the output steps whose window holds a real step; the values ignore it."""

    mode = "max"
    uses_thread_pool = True
    supports_masking = True

    def __init__(self, pool_size=2, strides=None, name: str | None = None, *, len_pool=None):
        if isinstance(pool_size, str) and name is None:  # Hat's order: (name, len_pool=)
            pool_size, name = 2, pool_size
        super().__init__(name)
        self.pool_size = _one_int(pool_size if len_pool is None else len_pool, "pool_size")
        self.strides = self.pool_size if strides is None else _one_int(strides, "strides")

    def build(self, input_shape, rng, dtype=np.float32) -> tuple:
        """The output shape for inputs of shape input_shape.

        Args:
            input_shape (tuple): (time, features).
            rng (numpy.random.Generator): unused (no parameters).
            dtype (numpy dtype, default float32): the model's float type.

        Returns:
            tuple: (t_out, features).

        Raises:
            ValueError: not (time, features), or pool_size longer than time.
        """
        _expect_sequence(self, input_shape)
        t, c = input_shape
        if self.pool_size > t:
            raise ValueError(
                f"{type(self).__name__}'s pool_size {self.pool_size} is longer than its input "
                f"of shape {shape_with_batch(input_shape)}"
            )
        return ((t - self.pool_size) // self.strides + 1, c)

    def _as_images(self, a: np.ndarray) -> np.ndarray:
        return a.reshape(a.shape[0], 1, a.shape[1], a.shape[2])

    def forward(self, x, training, mask=None) -> np.ndarray:
        """Each window's maximum or mean.

        Args:
            x (numpy.ndarray): (batch, time, features).
            training (bool): unused.
            mask (numpy.ndarray | None, default None): (batch, time), checked against x; the
                values ignore it (see compute_mask).

        Returns:
            numpy.ndarray: (batch, t_out, features), the layer's buffer.

        Raises:
            ValueError: a mask whose shape does not fit x.
        """
        from hat.kernels import pooling

        as_mask(self, mask, x)
        x = np.ascontiguousarray(x)
        k, s = self.pool_size, self.strides
        y = self._buffer("y", (x.shape[0],) + self.output_shape, x.dtype)
        x4, y4 = self._as_images(x), self._as_images(y)
        chunks = self._chunks = _split(x.shape[0])
        if self.mode == "max":
            argmax = self._argmax = self._buffer("argmax", y4.shape, np.int32)

        def task(i):
            s0, s1 = chunks[i]
            if self.mode == "max":
                pooling.maxpool_forward(x4[s0:s1], k, 1, s, 1, y4[s0:s1], argmax[s0:s1])
            else:
                pooling.avgpool_forward(x4[s0:s1], k, 1, s, 1, y4[s0:s1])

        parallel_for(task, len(chunks))
        return y

    def backward(self, dy) -> np.ndarray:
        """dL/dx from dL/dy.

        Args:
            dy (numpy.ndarray): (batch, t_out, features), dL/dy.

        Returns:
            numpy.ndarray: (batch, time, features).
        """
        from hat.kernels import pooling

        dy4 = self._as_images(np.ascontiguousarray(dy))
        dx = self._buffer("dx", (dy.shape[0],) + self.input_shape, dy.dtype)
        dx4, chunks = self._as_images(dx), self._chunks
        k, s = self.pool_size, self.strides

        def task(i):
            s0, s1 = chunks[i]
            if self.mode == "max":
                pooling.maxpool_backward(dy4[s0:s1], self._argmax[s0:s1], dx4[s0:s1])
            else:
                pooling.avgpool_backward(dy4[s0:s1], k, 1, s, 1, dx4[s0:s1])

        parallel_for(task, len(chunks))
        return dx

    def compute_mask(self, x, mask) -> np.ndarray | None:
        """The mask of the output steps.

        Args:
            x (numpy.ndarray): the input.
            mask (numpy.ndarray | None): the input's (batch, time) mask.

        Returns:
            numpy.ndarray | None: (batch, t_out), True where the window holds a real step.
        """
        return window_mask(mask, self.pool_size, self.strides, (0, 0), self.output_shape[0])

    def get_config(self) -> dict:
        """The constructor's arguments.

        Returns:
            dict: type(layer)(**config) rebuilds the layer.
        """
        return {"pool_size": self.pool_size, "strides": self.strides, "name": self.name}


class MaxPool1D(_Pool1D):
    """Each window's maximum per feature; backward sends a window's gradient to its first
    maximum. Hat's MaxPool1D(len_pool=k) is MaxPool1D(k).

    Args:
        pool_size (int, default 2): window length in steps (Hat: len_pool).
        strides (int | None, default None): steps between windows; pool_size if None.
        name (str | None, default None): the layer's name; the model gives one if None.
        len_pool (int | None, default None): Hat's name for pool_size.
    """

    mode = "max"


class AvgPool1D(_Pool1D):
    """Each window's mean per feature.

    Args:
        pool_size (int, default 2): window length in steps (Hat: len_pool).
        strides (int | None, default None): steps between windows; pool_size if None.
        name (str | None, default None): the layer's name; the model gives one if None.
        len_pool (int | None, default None): Hat's name for pool_size.
    """

    mode = "avg"


class _TimePool(Layer):
    """Mean or maximum over the real steps of (batch, time, features) -> (batch, features).

    The mask comes as forward(x, training, mask=mask) or, for a layer with n_inputs = 2, as
    forward([x, mask], training); then backward returns [dx, None]. No mask: every step is
    real. A sample with no real step gives zeros. The output has no mask."""

    mode = "mean"
    supports_masking = True

    def build(self, input_shape, rng, dtype=np.float32) -> tuple:
        """The output shape (features,) for (time, features) inputs, or for [x, mask].

        Args:
            input_shape (tuple): (time, features), or ((time, features), (time,)) for [x, mask].
            rng (numpy.random.Generator): unused (no parameters).
            dtype (numpy dtype, default float32): the model's float type.

        Returns:
            tuple: (features,).

        Raises:
            ValueError: shapes that are not (time, features) and (time,).
        """
        if input_shape and isinstance(input_shape[0], tuple) and len(input_shape) == 1:
            input_shape = input_shape[0]  # [x] alone: a Sequential's one input as a list
        if input_shape and isinstance(input_shape[0], tuple):  # [x, mask]
            if len(input_shape) != 2:
                raise ValueError(
                    f"{type(self).__name__} takes [x, mask]; got {len(input_shape)} inputs"
                )
            x_shape, mask_shape = input_shape
            _expect_sequence(self, x_shape)
            if tuple(mask_shape) != x_shape[:1]:
                raise ValueError(
                    f"{type(self).__name__}'s mask input must be (batch, time) = "
                    f"{shape_with_batch(x_shape[:1])}; got {shape_with_batch(mask_shape)}"
                )
            input_shape = x_shape
        _expect_sequence(self, input_shape)
        return (input_shape[1],)

    def _default_mask(self, x):
        return None

    def forward(self, x, training, mask=None) -> np.ndarray:
        """The mean or maximum over the real steps.

        Args:
            x (numpy.ndarray | list): (batch, time, features), [x, mask], or [x] (a
                Sequential's one input to a two-input layer: the mask comes from mask or x).
            training (bool): unused.
            mask (numpy.ndarray | None, default None): (batch, time), nonzero on real steps;
                None: every step is real (GlobalMeanTimePool(masking=True): the steps with a
                nonzero feature).

        Returns:
            numpy.ndarray: (batch, features), the layer's buffer; zeros for a sample with no
            real step.

        Raises:
            ValueError: a mask whose shape does not fit x, a list that is not [x, mask], or x
                not 3-D.
        """
        from hat.kernels import time_pooling as tp

        self._listed = len(x) if isinstance(x, (list, tuple)) else 0
        if self._listed:
            if self._listed not in (1, 2):
                raise ValueError(
                    f"{type(self).__name__} takes [x, mask]; got a list of {len(x)} inputs"
                )
            x, mask = (x[0], mask) if self._listed == 1 else x
        x = np.ascontiguousarray(x)
        if x.ndim != 3:
            raise ValueError(
                f"{type(self).__name__} expects (batch, time, features); got shape {x.shape}"
            )
        if mask is None:
            mask = self._default_mask(x)
        m = as_mask(self, mask, x)
        n, t, c = x.shape
        m = self._mask = tp.no_mask(n, x.dtype) if m is None else m
        y = self._buffer("y", (n, c), x.dtype)
        if self.mode == "mean":
            self._counts = self._buffer("counts", (n,), np.int64)
            tp.time_mean_forward(x, m, y, self._counts)
        else:
            self._argmax = self._buffer("argmax", (n, c), np.int64)
            tp.time_max_forward(x, m, y, self._argmax)
        self._x_shape = x.shape
        return y

    def backward(self, dy) -> np.ndarray | list:
        """dL/dx: dy spread evenly over the real steps (mean), or put on each feature's
        maximum (max).

        Args:
            dy (numpy.ndarray): (batch, features), dL/dy.

        Returns:
            numpy.ndarray | list: (batch, time, features), or [dx, None] after forward([x,
            mask]) ([dx] after forward([x])).
        """
        from hat.kernels import time_pooling as tp

        dy = np.ascontiguousarray(dy)
        dx = self._buffer("dx", self._x_shape, dy.dtype)
        if self.mode == "mean":
            tp.time_mean_backward(dy, self._mask, self._counts, dx)
        else:
            tp.time_max_backward(dy, self._argmax, dx)
        return [dx, None][: self._listed] if self._listed else dx

    def compute_mask(self, x, mask) -> np.ndarray | None:
        """No mask: the time axis is gone.

        Args:
            x (numpy.ndarray): the input.
            mask (numpy.ndarray | None): the input's mask.

        Returns:
            None: always.
        """
        return None


class GlobalAveragePooling1D(_TimePool):
    """The mean over the real steps (Keras' GlobalAveragePooling1D).

    Args:
        name (str | None, default None): the layer's name; the model gives one if None.
    """

    mode = "mean"


class GlobalMaxPooling1D(_TimePool):
    """The maximum over the real steps (Keras' GlobalMaxPooling1D); backward sends each
    feature's gradient to the first step holding its maximum.

    Args:
        name (str | None, default None): the layer's name; the model gives one if None.
    """

    mode = "max"


class GlobalMeanTimePool(_TimePool):
    """Hat's mean over time. masking=True makes it a two-input layer, [x, mask] (mask
    (batch, time), 1 on real steps), as in Hat's graph models; given one input, it takes the
    mask passed along by the layers before, or else counts a step as padding when all its
    features are zero (Hat's first rule, what zero-padded sequences give).

    Args:
        name (str | None, default None): the layer's name; the model gives one if None.
        masking (bool, default False): average over the real steps only (see above).
    """

    mode = "mean"

    def __init__(self, name: str | None = None, masking: bool = False):
        super().__init__(name)
        if not isinstance(masking, (bool, np.bool_)):
            raise TypeError(f"masking must be True or False; got {masking!r}")
        self.masking = bool(masking)
        self.n_inputs = 2 if self.masking else 1

    def _default_mask(self, x):
        return np.any(x != 0, axis=2) if self.masking else None

    def get_config(self) -> dict:
        """The constructor's arguments.

        Returns:
            dict: type(layer)(**config) rebuilds the layer.
        """
        return {"name": self.name, "masking": self.masking}


class GlobalMaxPool(_TimePool):
    """Hat's maximum along an axis, here the time axis of (batch, time, features).

    Args:
        name (str | None, default None): the layer's name; the model gives one if None.
        axis (int, default 1): the axis to reduce, counting the batch axis (Hat's
            convention); only the time axis, 1, is supported.

    Raises:
        ValueError: an axis other than 1.
    """

    mode = "max"

    def __init__(self, name: str | None = None, axis: int = 1):
        super().__init__(name)
        if axis not in (1, -2) or isinstance(axis, bool):
            raise ValueError(
                f"GlobalMaxPool reduces the time axis of (batch, time, features), axis=1; got "
                f"axis={axis!r}"
            )
        self.axis = 1

    def get_config(self) -> dict:
        """The constructor's arguments.

        Returns:
            dict: type(layer)(**config) rebuilds the layer.
        """
        return {"name": self.name, "axis": self.axis}


MaxPooling1D = MaxPool1D
"""Alias of `MaxPool1D`, Keras' name."""
AveragePooling1D = AvgPool1D
"""Alias of `AvgPool1D`, Keras' name."""
GlobalAvgPool1D = GlobalAveragePooling1D
"""Alias of `GlobalAveragePooling1D`."""
GlobalMaxPool1D = GlobalMaxPooling1D
"""Alias of `GlobalMaxPooling1D`."""
