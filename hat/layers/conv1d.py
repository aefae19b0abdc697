"""1-D convolution over time: Conv1D (Hat's Convolution1D) on (batch, time, channels)."""

import numpy as np

from hat import activations, initializations, threads
from hat.layers.activation_ops import activate, activation_grad, grad_kernels
from hat.layers.base import shape_with_batch
from hat.layers.core import WeightedLayer, _check_positive_int, _initial
from hat.layers.embedding import _either
from hat.layers.masks import as_mask, window_mask

BORDER_MODES = ("valid", "same", "full", "causal")
"""The named paddings Conv1D takes (besides an int or a pair)."""


def _one_int(value, what: str) -> int:
    """A positive int, or a 1-tuple of one (Keras writes kernel_size=(3,))."""
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    return _check_positive_int(value, what)


def _border_mode(value):
    if isinstance(value, str):
        if value not in BORDER_MODES:
            raise ValueError(
                f"border_mode (padding) must be one of {BORDER_MODES}, an int or a pair of "
                f"ints (steps before, after); got {value!r}"
            )
        return value
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)
        or min(pair) < 0
    ):
        raise ValueError(
            f"border_mode (padding) must be one of {BORDER_MODES}, an int or a pair of ints "
            f">= 0; got {value!r}"
        )
    return (int(pair[0]), int(pair[1]))


class Conv1D(WeightedLayer):
    """1-D convolution (cross-correlation, as PyTorch's and Keras'): y = act(conv(x, W) + b).

    Input and output are (batch, time, channels), as Keras' Conv1D and Hat's Convolution1D
    input; Hat's Convolution1D gave (batch, n_outfmaps, time) out, which no 1-D layer after it
    took, so hat keeps time second throughout: Embedding -> Conv1D -> MaxPool1D ->
    GlobalMaxPooling1D -> Dense composes. W is (n_outfmaps, len_filter, n_in), Hat's filter
    shape without Theano's singleton axis; PyTorch's Conv1d weight is W.transpose(0, 2, 1)
    and Keras' kernel W.transpose(1, 2, 0). Hat's W took two layouts in 2016, both read by
    hat.legacy (docs/hat.md has the mapping): (n_outfmaps, 1, len_filter, n_in) before
    October, (n_outfmaps, n_in, len_filter, 1) after, each flipped by Theano's conv2d. Named
    initializers see Keras' fans (fan_in = len_filter * n_in, fan_out = len_filter *
    n_outfmaps).

    Output length: (T + pads - len_filter) // stride + 1. A mask passes through as the mask of
    the output steps whose window holds a real step; the values ignore it, as Keras' do.

    Args:
        n_outfmaps (int): number of filters, the output channels (Keras: filters).
        len_filter (int): window length in steps (Keras: kernel_size).
        act (str | callable, default 'linear'): activation (Keras: activation).
        init_type (str | callable, default 'glorot_uniform'): initializer of W.
        border_mode (str | int | pair, default 'valid'): padding (Keras: padding). 'valid'
            none; 'same' an output of ceil(T / stride) steps (an odd total puts the extra
            step at the end, as TensorFlow does); 'full' len_filter - 1 on each side;
            'causal' len_filter - 1 before (output t sees inputs up to t); an int p on each
            side; or (before, after).
        stride (int, default 1): steps between windows (Keras: strides).
        W_init (array | None, default None): initial W of shape (n_outfmaps, len_filter, n_in).
        b_init (array | None, default None): initial b of shape (n_outfmaps,); zeros if None.
        W_reg (Regularization | None, default None): penalty on W.
        b_reg (Regularization | None, default None): penalty on b.
        trainable_params (sequence of str): Default ("W", "b"). The params the optimizer
            updates.
        name (str | None, default None): the layer's name; the model gives one if None.
        filters (int | None, default None): Keras' name for n_outfmaps.
        kernel_size (int | tuple | None, default None): Keras' name for len_filter.
        padding (str | int | None, default None): Keras' name for border_mode.
        strides (int | tuple | None, default None): Keras' name for stride.
        activation (str | callable | None, default None): Keras' name for act.

    Raises:
        ValueError: a bad size, border_mode or stride, or Hat's and Keras' names disagree.
    """

    supports_masking = True
    # Its products run as halves on hat's pool with OpenBLAS on one thread (threads.matmul),
    # as Conv2D's do: a 2-thread OpenBLAS beside another busy process ran this layer's step
    # 10x slower (343 ms against 35 on one thread, load 9 on 2 cores).
    uses_thread_pool = True

    def __init__(
        self,
        n_outfmaps: int | None = None,
        len_filter: int | None = None,
        act="linear",
        init_type="glorot_uniform",
        border_mode="valid",
        stride=1,
        W_init=None,
        b_init=None,
        W_reg=None,
        b_reg=None,
        trainable_params=("W", "b"),
        name: str | None = None,
        *,
        filters: int | None = None,
        kernel_size=None,
        padding=None,
        strides=None,
        activation=None,
    ):
        super().__init__(name)
        self.n_outfmaps = _one_int(
            _either(n_outfmaps, filters, "n_outfmaps", "filters"), "n_outfmaps (filters)"
        )
        self.len_filter = _one_int(
            _either(len_filter, kernel_size, "len_filter", "kernel_size"),
            "len_filter (kernel_size)",
        )
        act = act if activation is None else activation
        self._set_weight_options(act, init_type, W_init, b_init, W_reg, b_reg, trainable_params)
        self.border_mode = _border_mode(border_mode if padding is None else padding)
        self.stride = _one_int(stride if strides is None else strides, "stride (strides)")

    def _pads(self, t: int) -> tuple[int, int]:
        k, mode = self.len_filter, self.border_mode
        if isinstance(mode, tuple):
            return mode
        if mode == "valid":
            return 0, 0
        if mode == "full":
            return k - 1, k - 1
        if mode == "causal":
            return k - 1, 0
        out = -(-t // self.stride)
        total = max((out - 1) * self.stride + k - t, 0)
        return total // 2, total - total // 2

    def build(self, input_shape, rng, dtype=np.float32) -> tuple:
        """Create W and b for inputs of shape input_shape (no batch axis).

        Args:
            input_shape (tuple): (time, n_in).
            rng (numpy.random.Generator): the model's generator, for the initial weights.
            dtype (numpy dtype, default float32): the model's float type.

        Returns:
            tuple: the shape of one output sample.

        Raises:
            ValueError: an input shape the layer cannot take.
        """
        self._expect_rank(
            input_shape, 3, "Conv1D takes (batch, time, channels); Embedding gives it."
        )
        t, n_in = input_shape
        self.pads = self._pads(t)
        padded = t + sum(self.pads)
        if self.len_filter > padded:
            raise ValueError(
                f"Conv1D's len_filter {self.len_filter} is longer than its padded input of "
                f"{padded} steps (input shape {shape_with_batch(input_shape)}, border_mode "
                f"{self.border_mode!r})"
            )
        self.t_out = (padded - self.len_filter) // self.stride + 1
        f, k = self.n_outfmaps, self.len_filter
        init = self._init
        if isinstance(self.init_type, str):
            # Drawn in Conv2D's (n_out, n_in, kh, kw) shape, so the fans are Keras'; the
            # draws are independent, so reading them in W's order changes no distribution.
            def init(shape, rng, dtype):
                return self._init((f, n_in, k, 1), rng, dtype).reshape(shape)

        self.params["W"] = _initial(self.W_init, (f, k, n_in), init, rng, dtype, "W")
        self.params["b"] = _initial(self.b_init, (f,), initializations.zeros, rng, dtype, "b")
        return (self.t_out, f)

    def forward(self, x, training, mask=None) -> np.ndarray:
        """act(conv(x, W) + b).

        Args:
            x (numpy.ndarray): (batch, time, n_in).
            training (bool): unused (the same computation either way).
            mask (numpy.ndarray | None, default None): (batch, time), checked against x; the
                values ignore it (see compute_mask).

        Returns:
            numpy.ndarray: (batch, t_out, n_outfmaps), the layer's buffer.

        Raises:
            ValueError: a mask whose shape does not fit x.
        """
        from hat.kernels.conv1d import im2col_1d

        as_mask(self, mask, x)
        n, t, c = x.shape
        before, after = self.pads
        if before or after:
            xp = self._buffers.get("xp")
            if xp is None or xp.shape != (n, t + before + after, c) or xp.dtype != x.dtype:
                xp = self._buffers["xp"] = np.zeros((n, t + before + after, c), x.dtype)
            xp[:, before : before + t] = x  # the borders stay zero
        else:
            xp = np.ascontiguousarray(x)
        f, width, m = self.n_outfmaps, self.len_filter * c, n * self.t_out
        cols = self._cols = self._buffer("cols", (n, self.t_out, width), x.dtype)
        im2col_1d(xp, self.stride, cols)
        z = self._buffer("y", (n, self.t_out, f), x.dtype)
        threads.matmul(
            cols.reshape(m, width), self.params["W"].reshape(f, width).T, z.reshape(m, f)
        )
        self._x_shape = x.shape
        self._y, self._saved = activate(self.activation, z, self.params["b"])
        return self._y

    def backward(self, dy, preactivation: bool = False) -> np.ndarray | None:
        """dL/dx, and dL/dW and dL/db into grads. The columns kept by forward are spent here
        (they hold their gradient after).

        Args:
            dy (numpy.ndarray): (batch, t_out, n_outfmaps), dL/dy.
            preactivation (bool, default False): dy is already dL/dz, the gradient at the
                activation's input (the loss fused the activation's gradient).

        Returns:
            numpy.ndarray | None: (batch, time, n_in), or None when needs_input_grad is False.
        """
        from hat.kernels.conv1d import col2im_1d

        dy = np.ascontiguousarray(dy)
        n, t, c = self._x_shape
        f, width, m = self.n_outfmaps, self.len_filter * c, n * self.t_out
        dz = self._buffer("dz", dy.shape, dy.dtype)
        db = self.grads["b"] if "b" in self.trainable_params else None
        spec = activations.get("linear") if preactivation else self.activation
        activation_grad(spec, self._y, self._saved, dy, dz, db)
        dz2, cols2 = dz.reshape(m, f), self._cols.reshape(m, width)
        W2 = self.params["W"].reshape(f, width)
        if "W" in self.trainable_params:
            threads.matmul(dz2.T, cols2, self.grads["W"].reshape(f, width))
        if not self.needs_input_grad:
            return None
        threads.matmul(dz2, W2, cols2)  # the columns' gradient, in their own buffer
        dx = self._buffer("dx", self._x_shape, dy.dtype)
        before, after = self.pads
        if before or after:
            dxp = self._buffer("dxp", (n, t + before + after, c), dy.dtype)
            col2im_1d(self._cols, self.stride, dxp)
            dx[...] = dxp[:, before : before + t]
        else:
            col2im_1d(self._cols, self.stride, dx)
        return dx

    def compute_mask(self, x, mask) -> np.ndarray | None:
        """The mask of the output steps.

        Args:
            x (numpy.ndarray): the input.
            mask (numpy.ndarray | None): the input's (batch, time) mask.

        Returns:
            numpy.ndarray | None: (batch, t_out), True where the step's window holds a real
            step; None without a mask.
        """
        return window_mask(mask, self.len_filter, self.stride, self.pads, self.t_out)

    def backward_kernels(self):
        """See Layer.backward_kernels.

        Returns:
            list: The activation's gradient kernel and, when the input needs a gradient, the
                kernel that adds the columns' gradient back onto the steps.
        """
        from hat.kernels.conv1d import col2im_1d

        calls = grad_kernels(self.activation)
        return calls + ([(col2im_1d, "A3 i A3")] if self.needs_input_grad else [])

    def get_config(self) -> dict:
        """The constructor's arguments, by Hat's names.

        Returns:
            dict: Conv1D(**config) rebuilds the layer.
        """
        return {
            "n_outfmaps": self.n_outfmaps,
            "len_filter": self.len_filter,
            "border_mode": self.border_mode,
            "stride": self.stride,
            **self._weight_config(),
            "name": self.name,
        }


Convolution1D = Conv1D
"""Alias of `Conv1D`, Hat's name."""
