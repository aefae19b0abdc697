"""Pooling layers on NCHW images: MaxPool2D, AvgPool2D, GlobalAvgPool2D, and Hat's Pool2D."""

import numpy as np

from hat.graph import Uses
from hat.layers.base import Layer, shape_with_batch
from hat.layers.conv import _expect_image, _pair
from hat.threads import num_threads, parallel_for


def _split(n: int) -> list[tuple[int, int]]:
    """The batch in one chunk per pool thread (samples are independent: any split gives the
    same bits)."""
    parts = min(n, num_threads())
    cuts = [n * k // parts for k in range(parts + 1)]
    return list(zip(cuts[:-1], cuts[1:], strict=True))


class _Pool2D(Layer):
    """Windows of pool_size moved by strides (default: pool_size); floor mode, no padding."""

    mode = "max"
    uses_thread_pool = True
    # The Conv2D that computes this pooling in its own output pass at inference (fold_pools),
    # or None; _folded_output: the array it last wrote here, which forward then passes through.
    folded_into = None
    _folded_output = None

    def __init__(self, pool_size=(2, 2), strides=None, name: str | None = None):
        super().__init__(name)
        self.pool_size = _pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else _pair(strides, "strides")

    def build(self, input_shape, rng, dtype=np.float32):
        _expect_image(self, input_shape)
        c, h, w = input_shape
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        if ph > h or pw > w:
            raise ValueError(
                f"{type(self).__name__}'s pool_size {self.pool_size} does not fit its input of "
                f"shape {shape_with_batch(input_shape)}"
            )
        return (c, (h - ph) // sh + 1, (w - pw) // sw + 1)

    def mark_folded_output(self, y: np.ndarray) -> None:
        """Say that the Conv2D this layer is folded into has written this layer's output, y:
        forward(y, training=False) then passes it through.

        Args:
            y (np.ndarray): the pooled output, in this layer's "y" buffer.
        """
        self._folded_output = y

    def forward(self, x, training):
        from hat.kernels import pooling

        folded, self._folded_output = self._folded_output, None
        if folded is not None and x is folded and not training:
            self._x, self._argmax_kept = None, False  # nothing to back-propagate through
            return x
        x = np.ascontiguousarray(x)
        y = self._buffer("y", (x.shape[0],) + self.output_shape, x.dtype)
        chunks = self._chunks = _split(x.shape[0])
        # Only backward reads argmax: inference (predict's large batches) keeps one sample's
        # worth per task, as scratch.
        key, rows = ("argmax", y.shape[0]) if training else ("argmax_scratch", len(chunks))
        argmax = self._argmax = self._buffer(key, (rows,) + y.shape[1:], np.int32)

        def task(i):
            s0, s1 = chunks[i]
            arg = argmax[s0:s1] if training else argmax[i : i + 1]
            if self.mode == "max" and self.pool_size == self.strides == (2, 2):
                if training:
                    pooling.maxpool2x2_forward(x[s0:s1], y[s0:s1], arg)
                else:  # no argmax to keep
                    pooling.maxpool2x2_values(x[s0:s1], y[s0:s1])
            elif self.mode == "max":
                pooling.maxpool_forward(x[s0:s1], *self.pool_size, *self.strides, y[s0:s1], arg)
            else:
                pooling.avgpool_forward(x[s0:s1], *self.pool_size, *self.strides, y[s0:s1])

        parallel_for(task, len(chunks))
        self._x, self._argmax_kept = x, training
        return y

    def backward(self, dy):
        from hat.kernels import pooling

        if self._x is None:
            raise RuntimeError(
                f"{self.name}'s last forward ran folded into {self.folded_into.name} at "
                f"inference (training=False), which keeps nothing to back-propagate through; "
                f"run the forward pass with training=True before backward"
            )
        if self.mode == "max" and not self._argmax_kept:  # forward ran in inference mode
            self.forward(self._x, training=True)
        dy = np.ascontiguousarray(dy)
        dx = self._buffer("dx", (dy.shape[0],) + self.input_shape, dy.dtype)
        chunks = self._chunks

        def task(i):
            s0, s1 = chunks[i]
            if self.mode == "max":
                pooling.maxpool_backward(dy[s0:s1], self._argmax[s0:s1], dx[s0:s1])
            else:
                pooling.avgpool_backward(dy[s0:s1], *self.pool_size, *self.strides, dx[s0:s1])

        parallel_for(task, len(chunks))
        return dx

    def backward_kernels(self):
        """See Layer.backward_kernels.

        Returns:
            list: The pooling mode's backward kernel.
        """
        from hat.kernels import pooling

        if self.mode == "max":
            return [(pooling.maxpool_backward, "A4 I4 A4")]
        return [(pooling.avgpool_backward, "A4 i i i i A4")]

    def inference_kernels(self):
        """See Layer.inference_kernels.

        Returns:
            list: The values-only 2x2 max pooling, unless a Conv2D computes this pool.
        """
        from hat.kernels import pooling

        if self.folded_into is None and _folds_into_conv(self):
            return [(pooling.maxpool2x2_values, "A4 A4")]
        return []

    def get_config(self):
        return {"pool_size": self.pool_size, "strides": self.strides, "name": self.name}


class MaxPool2D(_Pool2D):
    """Each window's maximum. Backward sends a window's gradient to its first maximum (in
    row-major order, as PyTorch does), never splitting it among tied values.

    Windows that do not fit at the right or bottom edge are dropped (floor mode, no padding):
    a 11x11 map pools to 5x5 with 2x2 windows.

    Args:
        pool_size (int | tuple[int, int]): Default (2, 2). The window's height and width.
        strides (int | tuple[int, int] | None): Default None. The step between windows;
            None: `pool_size` (windows side by side).
        name (str | None): Default None. The layer's name.

    Raises:
        ValueError: A size is not a positive int, or, at build, the input is not
            (batch, channels, height, width) or smaller than the window.
    """

    mode = "max"


class AvgPool2D(_Pool2D):
    """Each window's mean (floor mode, no padding).

    Args:
        pool_size (int | tuple[int, int]): Default (2, 2). The window's height and width.
        strides (int | tuple[int, int] | None): Default None. The step between windows;
            None: `pool_size` (windows side by side).
        name (str | None): Default None. The layer's name.

    Raises:
        ValueError: A size is not a positive int, or, at build, the input is not
            (batch, channels, height, width) or smaller than the window.
    """

    mode = "avg"


class Pool2D(_Pool2D):
    """Hat's pooling layer: `MaxPool2D` or `AvgPool2D` chosen by `pool_mode`.

    Args:
        pool_size (int | tuple[int, int]): Default (2, 2). The window's height and width.
        pool_mode (str): Default "max". "max" or "avg".
        strides (int | tuple[int, int] | None): Default None. The step between windows;
            None: `pool_size`.
        name (str | None): Default None. The layer's name.

    Raises:
        ValueError: `pool_mode` is neither "max" nor "avg", a size is not a positive int,
            or, at build, the input does not fit.
    """

    def __init__(self, pool_size=(2, 2), pool_mode="max", strides=None, name: str | None = None):
        super().__init__(pool_size, strides, name)
        if pool_mode not in ("max", "avg"):
            raise ValueError(f"pool_mode must be 'max' or 'avg'; got {pool_mode!r}")
        self.mode = pool_mode

    def get_config(self):
        return {"pool_mode": self.mode, **super().get_config()}


class GlobalAvgPool2D(Layer):
    """The mean of each channel over the whole image: (N, C, H, W) -> (N, C).

    Args:
        name (str | None): Default None. The layer's name.

    Raises:
        ValueError: At build, the input is not (batch, channels, height, width).
    """

    def build(self, input_shape, rng, dtype=np.float32):
        _expect_image(self, input_shape)
        return (input_shape[0],)

    def forward(self, x, training):
        from hat.kernels import pooling

        n, c = x.shape[:2]
        y = self._buffer("y", (n, c), x.dtype)
        pooling.global_avgpool_forward(np.ascontiguousarray(x).reshape(n, c, -1), y)
        return y

    def backward(self, dy):
        from hat.kernels import pooling

        dx = self._buffer("dx", (dy.shape[0],) + self.input_shape, dy.dtype)
        pooling.global_avgpool_backward(np.ascontiguousarray(dy), dx.reshape(dx.shape[:2] + (-1,)))
        return dx


def _folds_into_conv(pool) -> bool:
    """A max pooling of 2x2 windows side by side."""
    if not isinstance(pool, _Pool2D):
        return False
    return pool.mode == "max" and pool.pool_size == pool.strides == (2, 2)


def fold_pools(nodes, ends=()) -> int:
    """Let each Conv2D compute the 2x2 max pooling after it in its own output pass, at
    inference: each chunk of the batch is convolved into a per-thread scratch and pooled from
    there while it is in cache, so the full-size convolution output (86 MB for cnn_bn's first
    layer at 1,000 images) is never written or read again.

    A MaxPool2D with 2x2 windows side by side folds when its input comes from a Conv2D through
    layers that pass values through at inference (a BatchNorm folded into the Conv2D, an
    Activation fused into that BatchNorm), each link's output read by the next layer alone and
    not a model output, each layer called once, and the Conv2D has strides (1, 1) and applies
    its activation in its own output pass (a built-in other than softmax).

    The values are the separate layers' bit for bit where both run the same products: always
    on the Winograd path, and on the im2col path wherever hat's GEMM runs both (see
    hat/kernels/conv_pool.py). A layer with fewer than 16 column rows (one input channel, a
    3x3 kernel) differs in the last bits: unfolded, its product runs on numpy's GEMM
    (sgemm.MIN_K), folded on hat's, which is the faster into a chunk's output in cache.
    Call after fold_batchnorms and Model._fuse_activations; pools folded by an earlier call
    are undone first.

    Args:
        nodes (list[hat.graph.Node]): the model's nodes in topological order.
        ends (list[hat.graph.Node]): Default (). Nodes whose values leave the model.

    Returns:
        int: the number of folded pools.
    """
    from hat.kernels.activations import SOFTMAX
    from hat.layers.conv import Conv2D
    from hat.layers.core import Activation
    from hat.layers.normalization import BatchNorm

    uses = Uses(nodes, ends)
    for node in nodes:
        if isinstance(node.layer, Conv2D):
            node.layer.folded_pool = None
        if isinstance(node.layer, _Pool2D):
            node.layer.folded_into = None
    folded = 0
    for node in nodes:
        pool = node.layer
        if not (_folds_into_conv(pool) and len(node.inputs) == 1 and uses.called_once(node)):
            continue
        link = node.inputs[0]
        while uses.alone(link) and len(link.inputs) == 1:
            layer, before = link.layer, link.inputs[0].layer
            passes = (isinstance(layer, Activation) and layer.fused) or (
                isinstance(layer, BatchNorm) and getattr(before, "folded_batchnorm", None) is layer
            )
            if not passes:
                break
            link = link.inputs[0]
        conv = link.layer
        if not (isinstance(conv, Conv2D) and conv.strides == (1, 1) and uses.alone(link)):
            continue
        bn = conv.folded_batchnorm
        spec = conv.activation if bn is None else bn.fused_activation or conv.activation
        if spec.is_builtin and spec.code != SOFTMAX:
            conv.folded_pool, pool.folded_into = pool, conv
            folded += 1
    return folded


MaxPooling2D = MaxPool2D
"""Alias of `MaxPool2D`, Keras' name."""
AveragePooling2D = AvgPool2D
"""Alias of `AvgPool2D`, Keras' name."""
GlobalAveragePooling2D = GlobalAvgPool2D
"""Alias of `GlobalAvgPool2D`, Keras' name."""
