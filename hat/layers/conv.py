"""Convolution layers on NCHW images: Conv2D (alias Convolution2D) and ZeroPadding2D."""

import math
import threading

import numpy as np

from hat import threads
from hat.kernels import sgemm, sgemm_nt
from hat.kernels.activations import LINEAR, SOFTMAX, grad_row
from hat.layers import conv_winograd
from hat.layers.activation_ops import activate, activation_grad, grad_kernels
from hat.layers.base import Layer, shape_with_batch
from hat.layers.core import WeightedLayer, _check_positive_int
from hat.threads import chunks_of, parallel_for

BORDER_MODES = ("valid", "same", "full")
"""The padding names `Conv2D(border_mode=...)` accepts; a (pad_h, pad_w) pair works too."""
ALGORITHMS = ("auto", "im2col", "winograd")
"""The values of `Conv2D(algorithm=...)`."""
# 'auto' takes Winograd from this many input channels, by kernel size: with fewer, its 36 or
# 64 GEMMs per chunk are too thin to beat one im2col GEMM. Measured (one layer forward +
# backward, alternating, 2026-11-23; im2col time / Winograd time): 5x5 on 28x28 at C = 1, 2,
# 3, 4, 8: 0.50, 1.03, 1.22, 1.55, 2.15; 3x3 on 13x13 at C = 4, 8, 16: 0.74, 0.96-0.98,
# 1.06, and at C = 8 on 28x28 1.29.
WINOGRAD_MIN_CHANNELS = {3: 8, 5: 3}
"""Kernel size -> the fewest input channels for which `algorithm="auto"` takes Winograd."""
# Bytes of one chunk's column matrix: the batch is convolved a few samples at a time so that
# the columns stay in cache between im2col and the GEMMs, instead of one 15.7 MB matrix.
# Measured (whole train steps, both CNNs): 1-2 MB best; 512 KB (one core's L2) 10-15% slower
# (more tasks, smaller GEMMs), 128 KB 25% slower, 4 MB 20-35% slower.
CHUNK_BYTES = 1 << 20
"""The size in bytes of one chunk's column matrix: Conv2D convolves its batch a few samples
at a time, each chunk a task on hat's thread pool."""


def _pair(value, what: str) -> tuple[int, int]:
    """An int or a pair of positive ints."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"{what} must be an int or a pair of ints; got {value!r}")
    return tuple(_check_positive_int(v, what) for v in pair)


def _padding_pair(value, what: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in pair)
        or min(pair) < 0
    ):
        raise ValueError(f"{what} must be a pair of ints >= 0; got {value!r}")
    return (int(pair[0]), int(pair[1]))


def _expect_image(layer, input_shape) -> None:
    if input_shape is None or len(input_shape) != 3:
        got = "nothing" if input_shape is None else f"shape {shape_with_batch(input_shape)}"
        raise ValueError(
            f"{type(layer).__name__} expects a 4-D input (batch, channels, height, width); "
            f"got {got}. Use InputLayer((channels, height, width)) or Reshape first"
        )


def _zeroed_buffer(layer, key, shape, dtype) -> np.ndarray:
    """A reused buffer whose borders must stay zero: zeroed only when (re)allocated."""
    buf = layer._buffers.get(key)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = layer._buffers[key] = np.zeros(shape, dtype)
    return buf


class Conv2D(WeightedLayer):
    """2-D convolution (cross-correlation, as in PyTorch): y = act(conv(x, W) + b).

    W is (n_outfmaps, n_in, n_row, n_col). border_mode: 'valid' (no padding), 'full' (k - 1 on
    each side), 'same' (output size ceil(L / stride); an odd total padding puts the extra row
    or column at the bottom or right, as TensorFlow does; odd kernels at stride 1 get k // 2 on
    each side), or (pad_h, pad_w) on both sides. Output length: (L + pads - k) // stride + 1.

    algorithm: 'im2col' (columns and one GEMM per chunk; any shape), 'winograd' (stride 1 and a
    3x3 or 5x5 kernel only: 4x and 6.25x fewer multiplications, results within float32
    rounding of im2col's, see hat/kernels/winograd.py), or 'auto': Winograd where it applies
    and the input has at least WINOGRAD_MIN_CHANNELS[kernel size] channels (8 for 3x3, 3 for
    5x5), else im2col.

    The batch is convolved in chunks of a few samples on hat.threads' pool (see CHUNK_BYTES).
    With one input channel, stride 1 and ReLU or no activation, the im2col path reads the
    image directly instead of building columns (float32 where hat's own GEMM runs; the
    weights' gradient too when no input gradient is needed): hat/kernels/conv_direct.py.

    Args:
        n_outfmaps (int): The number of filters, the output's channels.
        n_row (int): The kernel's height.
        n_col (int): The kernel's width.
        act (str | callable): Default "linear". The activation, by name (see
            `hat.activations.names()`) or a registered function.
        init_type (str | callable): Default "glorot_uniform". W's initializer, by name (see
            `hat.initializations.names()`) or a function `init(shape, rng, dtype)`.
        border_mode (str | tuple[int, int]): Default "valid". "valid", "same", "full", or
            (pad_h, pad_w) zeros on each side, as above.
        strides (int | tuple[int, int]): Default (1, 1). The step between windows, rows and
            columns.
        W_init (np.ndarray | None): Default None. An initial W of shape
            (n_outfmaps, n_in, n_row, n_col), used instead of `init_type`.
        b_init (np.ndarray | None): Default None. An initial b of shape (n_outfmaps,);
            zeros otherwise.
        W_reg (Regularization | None): Default None. A penalty on W, such as `L2(1e-4)`.
        b_reg (Regularization | None): Default None. A penalty on b.
        trainable_params (list[str]): Default ("W", "b"). The weights the optimizer updates;
            `["W"]` freezes b (at zero, before a BatchNorm).
        name (str | None): Default None. The layer's name.
        algorithm (str): Default "auto". "auto", "im2col" or "winograd", as above.

    Raises:
        ValueError: A size is not a positive int, `border_mode` or `algorithm` is unknown,
            "winograd" is asked for a layer it cannot compute, or, at build, the input is
            not (batch, channels, height, width) or smaller than the kernel.
        TypeError: An option has the wrong type.
    """

    uses_thread_pool = True
    folds_batchnorm = True  # at inference, see WeightedLayer.folded_batchnorm
    # The MaxPool2D this layer computes in its own output pass at inference (see
    # hat.layers.pooling.fold_pools), or None.
    folded_pool = None

    def __init__(
        self,
        n_outfmaps: int,
        n_row: int,
        n_col: int,
        act="linear",
        init_type="glorot_uniform",
        border_mode="valid",
        strides=(1, 1),
        W_init=None,
        b_init=None,
        W_reg=None,
        b_reg=None,
        trainable_params=("W", "b"),
        name: str | None = None,
        algorithm: str = "auto",
    ):
        super().__init__(name)
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {ALGORITHMS}; got {algorithm!r}")
        self.algorithm = algorithm
        self.n_outfmaps = _check_positive_int(n_outfmaps, "n_outfmaps")
        self.n_row = _check_positive_int(n_row, "n_row")
        self.n_col = _check_positive_int(n_col, "n_col")
        self._set_weight_options(act, init_type, W_init, b_init, W_reg, b_reg, trainable_params)
        if isinstance(border_mode, str):
            if border_mode not in BORDER_MODES:
                raise ValueError(
                    f"border_mode must be one of {BORDER_MODES} or (pad_h, pad_w); "
                    f"got {border_mode!r}"
                )
            self.border_mode = border_mode
        else:
            self.border_mode = _padding_pair(border_mode, "border_mode")
        self.strides = _pair(strides, "strides")

    def _pads(self, size: int, k: int, stride: int) -> tuple[int, int]:
        """(before, after) padding along one axis."""
        mode = self.border_mode
        if mode == "valid":
            return 0, 0
        if mode == "full":
            return k - 1, k - 1
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        return total // 2, total - total // 2

    def build(self, input_shape, rng, dtype=np.float32):
        _expect_image(self, input_shape)
        n_in, h, w = input_shape
        kh, kw = self.n_row, self.n_col
        sh, sw = self.strides
        if isinstance(self.border_mode, tuple):
            ph, pw = self.border_mode
            self.pads = (ph, ph, pw, pw)
        else:
            self.pads = self._pads(h, kh, sh) + self._pads(w, kw, sw)
        hp, wp = h + self.pads[0] + self.pads[1], w + self.pads[2] + self.pads[3]
        if kh > hp or kw > wp:
            raise ValueError(
                f"Conv2D's {kh}x{kw} kernel is larger than its padded input {hp}x{wp} "
                f"(input shape {shape_with_batch(input_shape)}, border_mode "
                f"{self.border_mode!r})"
            )
        self.out_hw = ((hp - kh) // sh + 1, (wp - kw) // sw + 1)
        shape = (self.n_outfmaps, n_in, kh, kw)
        self._create_weights(shape, self.n_outfmaps, rng, dtype)
        self._winograd = (
            conv_winograd.Geometry(kh, self.out_hw, dtype) if self._takes_winograd(n_in) else None
        )
        return (self.n_outfmaps,) + self.out_hw

    def _takes_winograd(self, n_in: int) -> bool:
        fits = (
            self.strides == (1, 1)
            and self.n_row == self.n_col
            and self.n_row in conv_winograd.KERNEL_SIZES
        )
        if self.algorithm == "winograd" and not fits:
            raise ValueError(
                f"Conv2D's algorithm='winograd' takes stride 1 and a square kernel of size "
                f"{conv_winograd.KERNEL_SIZES}; got strides {self.strides} and a "
                f"{self.n_row}x{self.n_col} kernel"
            )
        if self.algorithm == "auto":
            return fits and n_in >= WINOGRAD_MIN_CHANNELS[self.n_row]
        return self.algorithm == "winograd"

    def _scratch(self, key: str, shape: tuple, dtype, zeroed: bool = False) -> np.ndarray:
        """A reused buffer per pool thread, grown to the largest chunk; shape: a view of it.
        zeroed: allocated as zeros (callers that write only interiors keep the borders zero,
        which stay at the same offsets in every view of the buffer)."""
        slot = (key, threading.get_ident())
        size = math.prod(shape)
        buf = self._buffers.get(slot)
        if buf is None or buf.size < size or buf.dtype != dtype:
            buf = self._buffers[slot] = (np.zeros if zeroed else np.empty)(size, dtype)
        return buf[:size].reshape(shape)

    def _fused_activation(self, spec=None) -> tuple[int, bool]:
        """(code, fused): the layout kernels apply elementwise built-in activations in their
        own pass; softmax and user activations (fused False) run on the whole output after."""
        spec = spec or self.activation
        fused = spec.is_builtin and spec.code != SOFTMAX
        return (spec.code if fused else LINEAR), fused

    def forward(self, x, training):
        W, b, spec = self._forward_weights(training)  # a folded BatchNorm's, at inference
        (code, fused), alpha = self._fused_activation(spec), spec.alpha
        # At inference in a model's passes (as for a folded BatchNorm), the folded pooling's
        # output, which the layers between pass through.
        pool = self.folded_pool
        if pool is not None and not (fused and not training and threads.pool_active()):
            pool = None
        if self._winograd is not None:
            z = conv_winograd.forward(self, x, training, code, alpha, W, b, pool)
        else:
            z = self._im2col_forward(x, training, code, alpha, W, b, pool)
        if pool is not None:
            pool.mark_folded_output(z)
        self._y, self._saved = (z, None) if fused else activate(spec, z)
        return self._y

    def backward(self, dy, preactivation: bool = False):
        """Write the gradients of W and b into `grads` and return the input's gradient.

        Args:
            dy (np.ndarray): dL/dy, shape (batch, n_outfmaps, out_height, out_width).
            preactivation (bool): Default False. True when dy is already dL/dz, the gradient
                before the activation (the loss fused the softmax's gradient into its own).

        Returns:
            np.ndarray | None: dL/dx, the input's shape, or None when the model needs no
                input gradient (the first layer).
        """
        dy = np.ascontiguousarray(dy)
        n, f, oh, ow = dy.shape
        (code, fused), alpha = self._fused_activation(), self.activation.alpha
        if preactivation:
            code = LINEAR
        elif not fused:
            dz = self._buffer("dz", dy.shape, dy.dtype)
            dy = activation_grad(self.activation, self._y, self._saved, dy, dz)
        dy3, y3 = dy.reshape(n, f, oh * ow), self._y.reshape(n, f, oh * ow)
        want_w = "W" in self.trainable_params
        # Per-chunk partial sums, added in chunk order below: the same bits whichever thread
        # ran which chunk.
        nb = f if "b" in self.trainable_params else 0
        db_parts = self._buffer("db_parts", (len(self._chunks), nb), dy.dtype)
        dx = self._buffer("dx", self._x_shape, dy.dtype) if self.needs_input_grad else None
        if self._winograd is not None:
            conv_winograd.backward(self, dy3, y3, code, alpha, db_parts, want_w, dx)
        elif want_w and dx is None and self._direct(code, dy.dtype) and self._cols is None:
            self._direct_backward(dy3, y3, code, db_parts)
        else:
            self._im2col_backward(dy3, y3, code, alpha, db_parts, want_w, dx)
        if nb:
            np.sum(db_parts, axis=0, out=self.grads["b"])
        return dx

    def backward_kernels(self):
        """See Layer.backward_kernels.

        Returns:
            list: The kernels of the layer's algorithm (Winograd or im2col), those for the
                input's gradient only when the model needs it.
        """
        from hat.kernels import conv

        calls = [] if self._fused_activation()[1] else grad_kernels(self.activation)
        dx = self.needs_input_grad
        padded = any(self.pads)
        if self._winograd is not None:
            kernels = self._winograd.kernels
            calls.append((kernels.grad_tiles, "A3 A3 i f i i i i A3 A1"))
            if dx:
                calls += [(kernels.input_grad_tiles, "A3 i i i A4"), (conv.crop_from, "A4 A4 i i")]
            return calls
        code = self._fused_activation()[0]  # LINEAR where the activation runs apart
        if "W" in self.trainable_params and not dx and self._direct(code, self.params["W"].dtype):
            from hat.kernels import conv_direct

            if code != LINEAR:  # _direct_backward's dz pass
                calls.append((grad_row, "A1 A1 i f A1"))
            return calls + [(conv_direct.conv1_weight_grad, "A4 A4 A2 A1")]
        calls.append((conv.nchw_to_rows, "A3 A3 i f A2 A1"))
        if dx:
            calls.append((conv.col2im, "A2 i i i i i i A4"))
            if padded:
                calls.append((conv.crop_from, "A4 A4 i i"))
        return calls

    def inference_kernels(self):
        """See Layer.inference_kernels.

        Returns:
            list: With a folded pool (fold_pools), the kernels that pool in the output pass.
        """
        from hat.kernels import conv_direct, conv_pool

        if self.folded_pool is None:
            return []
        if self._winograd is not None:
            return [(self._winograd.kernels.output_tiles_pooled, "A3 A1 i f i i i A3")]
        code, fused = self._fused_activation(self._pooled_activation())
        if fused and self._direct(code, self.params["W"].dtype):
            return [(conv_direct.conv1_pooled, "A4 A4 A1 i A4")]
        return [
            (conv_pool.im2col_pooled, "A4 i i i i A2"),
            (conv_pool.bias_act_max4, "A2 A1 i f A3"),
        ]

    def _pooled_activation(self):
        """The activation a folded pooling's forward applies: a folded BatchNorm's fused one
        (or linear), else the layer's own (as _forward_weights at inference)."""
        from hat import activations

        bn = self.folded_batchnorm
        if bn is None:
            return self.activation
        return bn.fused_activation or activations.get("linear")

    def _im2col_forward(self, x, training, code, alpha, W, b, pool=None):
        """act(conv(x, W) + b) into the "y" buffer (N, F, OH, OW) by columns and GEMMs, the
        activation applied only when fused (code; else LINEAR); with pool (a folded 2x2
        MaxPool2D), its pooling of that into pool's "y" buffer instead (_pooled_task)."""
        from hat.kernels import conv

        n, c, h, w = x.shape
        top, bottom, left, right = self.pads
        padded = bool(top or bottom or left or right)
        if padded:
            xp = _zeroed_buffer(self, "xp", (n, c, h + top + bottom, w + left + right), x.dtype)
        else:
            xp = np.ascontiguousarray(x)
        (oh, ow), f = self.out_hw, self.n_outfmaps
        kh, kw, plane = self.n_row, self.n_col, oh * ow
        ckk = c * kh * kw
        W2 = W.reshape(f, ckk)
        if pool is not None:
            z = pool._buffer("y", (n,) + pool.output_shape, x.dtype)
            task, chunks = self._pooled_task(x, xp, W2, b, code, alpha, z)
            parallel_for(task, len(chunks))
            self._xp, self._x_shape, self._chunks, self._cols = xp, x.shape, None, None
            return z
        z = self._buffer("y", (n, f, oh, ow), x.dtype)
        if self._direct(code, x.dtype):
            return self._direct_forward(x, xp, W, b, code, z)
        z3 = z.reshape(n, f, plane)
        chunks = chunks_of(n, ckk * plane * x.itemsize, CHUNK_BYTES)
        # Training keeps every chunk's columns for the backward pass (im2col once a step, not
        # twice; each chunk's block is contiguous): 15.7 MB for the 16->32 5x5 layer at b50.
        kept = self._buffer("cols", (ckk * n * plane,), x.dtype) if training else None

        def task(i):
            s0, s1 = chunks[i]
            if padded:
                conv.pad_into(x[s0:s1], xp[s0:s1], top, left)
            shape = (ckk, (s1 - s0) * plane)  # (C*kh*kw, n*P)
            if kept is None:
                cols = self._scratch("cols", shape, x.dtype)
            else:
                cols = kept[ckk * s0 * plane : ckk * s1 * plane].reshape(shape)
            conv.im2col(xp[s0:s1], kh, kw, *self.strides, oh, ow, cols)
            # One GEMM per sample, written straight into NCHW (columns of sample s are the
            # block cols[:, s*P:(s+1)*P]): no (F, n*P) result to move afterwards.
            per_sample = cols.reshape(ckk, s1 - s0, plane).transpose(1, 0, 2)
            sgemm.matmul(W2, per_sample, out=z3[s0:s1])
            conv.bias_activate_nchw(z3[s0:s1], b, code, alpha)

        parallel_for(task, len(chunks))
        self._xp, self._x_shape, self._chunks, self._cols = xp, x.shape, chunks, kept
        return z

    def _direct(self, code, dtype) -> bool:
        """Whether the im2col path reads the image directly instead (one input channel, stride
        1, ReLU or linear in the output pass; hat/kernels/conv_direct.py)."""
        from hat.kernels import conv_direct

        return conv_direct.applies(dtype, self.params["W"].shape[1], self.strides, code)

    def _direct_forward(self, x, xp, W, b, code, z):
        """act(conv(x, W) + b) into z (N, F, OH, OW) by conv_direct.conv1_forward on the pool:
        no columns, in training none kept either (the direct weight gradient reads the
        image)."""
        from hat.kernels import conv_direct

        task, chunks = self._direct_task(conv_direct.conv1_forward, x, xp, W, b, code, z)
        parallel_for(task, len(chunks))
        self._xp, self._x_shape, self._chunks, self._cols = xp, x.shape, chunks, None
        return z

    def _direct_task(self, kernel, x, xp, W, b, code, z):
        """(task, chunks): kernel(xp, W, b, code, z) of conv_direct.py over chunks of about
        CHUNK_BYTES of z, each chunk's padding copied in its own task."""
        from hat.kernels import conv

        top, left = self.pads[0], self.pads[2]
        W = np.ascontiguousarray(W.reshape(W.shape[0], 1, self.n_row, self.n_col))
        b = np.ascontiguousarray(b)
        chunks = chunks_of(x.shape[0], z[0].size * z.itemsize, CHUNK_BYTES)

        def task(i):
            s0, s1 = chunks[i]
            if xp is not x:
                conv.pad_into(x[s0:s1], xp[s0:s1], top, left)
            kernel(xp[s0:s1], W, b, code, z[s0:s1])

        return task, chunks

    def _direct_backward(self, dy3, y3, code, db_parts):
        """dL/dW into grads["W"] and the bias's per-chunk sums into db_parts (empty: not
        wanted) by conv_direct.conv1_weight_grad over each chunk of _direct_forward's."""
        from hat.kernels import conv_direct

        n, f = dy3.shape[:2]
        shape = (n, f) + self.out_hw
        dy, y, xp, chunks = dy3.reshape(shape), y3.reshape(shape), self._xp, self._chunks
        dW_parts = self._buffer("dW_parts", (len(chunks), f, self.n_row * self.n_col), dy.dtype)
        if db_parts.shape[1] != f:  # no bias gradient wanted: the kernel's sums go to scratch
            db_parts = self._buffer("db_scratch", (len(chunks), f), dy.dtype)

        def task(i):
            s0, s1 = chunks[i]
            dz = dy[s0:s1]
            if code != LINEAR:  # through ReLU's slope, once (the tiles read dz per kernel row)
                dz = self._scratch("direct_dz", dz.shape, dz.dtype)
                grad_row(dy[s0:s1].reshape(-1), y[s0:s1].reshape(-1), code, 0.0, dz.reshape(-1))
            conv_direct.conv1_weight_grad(xp[s0:s1], dz, dW_parts[i], db_parts[i])

        parallel_for(task, len(chunks))
        np.sum(dW_parts, axis=0, out=self.grads["W"].reshape(dW_parts.shape[1:]))

    def _pooled_task(self, x, xp, W2, b, code, alpha, z):
        """The chunk task of an inference forward with a folded 2x2 max pooling: columns
        grouped by window position, one GEMM for the chunk into scratch sized to stay in
        cache, and bias, activation and maximum from there into z (N, F, OH // 2, OW // 2);
        see hat/kernels/conv_pool.py (one input channel: conv_direct.conv1_pooled). Returns
        (task, the batch's chunks)."""
        from hat.kernels import conv, conv_direct, conv_pool

        n, c = x.shape[:2]
        f, ph, pw = z.shape[1:]
        top, left = self.pads[0], self.pads[2]
        if self._direct(code, x.dtype):  # the same bits, no columns
            return self._direct_task(conv_direct.conv1_pooled, x, xp, W2, b, code, z)
        ckk, block = W2.shape[1], 4 * ph * pw  # a sample's columns: 4 blocks of ph * pw
        chunks = chunks_of(n, (ckk + f) * block * x.itemsize, CHUNK_BYTES)
        z3 = z.reshape(n, f, ph * pw)

        def task(i):
            s0, s1 = chunks[i]
            if xp is not x:
                conv.pad_into(x[s0:s1], xp[s0:s1], top, left)
            cols = self._scratch("cols", (ckk, (s1 - s0) * block), x.dtype)
            conv_pool.im2col_pooled(xp[s0:s1], self.n_row, self.n_col, ph, pw, cols)
            out = self._scratch("z", (f, (s1 - s0) * block), x.dtype)
            sgemm.matmul(W2, cols, out=out, short_k=True)  # one GEMM: the whole chunk
            conv_pool.bias_act_max4(out, b, code, alpha, z3[s0:s1])

        return task, chunks

    def _im2col_backward(self, dy3, y3, code, alpha, db_parts, want_w, dx):
        """dL/dx into dx (None: not wanted), dL/dW into grads["W"] if want_w, the bias's
        per-chunk sums into db_parts; dy3, y3: (N, F, OH * OW)."""
        from hat.kernels import conv

        n, f, plane = dy3.shape
        (oh, ow), kh, kw = self.out_hw, self.n_row, self.n_col
        ckk = self._x_shape[1] * kh * kw
        chunks, W2 = self._chunks, self.params["W"].reshape(f, ckk)
        kept = self._cols  # forward(training=True)'s columns, or None
        dW_parts = self._buffer("dW_parts", (len(chunks), f, ckk) if want_w else (0,), dy3.dtype)
        top, bottom, left, right = self.pads
        padded = bool(top or bottom or left or right)
        xp = self._xp
        if dx is not None and padded:
            dxp = self._buffer("dxp", xp.shape, dy3.dtype)

        def task(t):
            i = len(chunks) - 1 - t  # last first: forward wrote its columns last (in cache)
            s0, s1 = chunks[i]
            m = (s1 - s0) * plane
            dzt = self._scratch("zt", (f, m), dy3.dtype)  # (F, n*P)
            conv.nchw_to_rows(dy3[s0:s1], y3[s0:s1], code, alpha, dzt, db_parts[i])
            if kept is not None:
                cols = kept[ckk * s0 * plane : ckk * s1 * plane].reshape(ckk, m)
            else:  # forward ran in inference mode: build the columns again
                cols = self._scratch("cols", (ckk, m), dy3.dtype)
                conv.im2col(xp[s0:s1], kh, kw, *self.strides, oh, ow, cols)
            if want_w:
                sgemm_nt.matmul_nt(dzt, cols, out=dW_parts[i])  # both along the pixels
            if dx is not None:
                sgemm.matmul(W2.T, dzt, out=cols)  # the columns are spent: their gradient
                if padded:
                    conv.col2im(cols, kh, kw, *self.strides, oh, ow, dxp[s0:s1])
                    conv.crop_from(dxp[s0:s1], dx[s0:s1], top, left)
                else:
                    conv.col2im(cols, kh, kw, *self.strides, oh, ow, dx[s0:s1])

        parallel_for(task, len(chunks))
        if want_w:
            np.sum(dW_parts, axis=0, out=self.grads["W"].reshape(f, ckk))

    def get_config(self):
        return {
            "n_outfmaps": self.n_outfmaps,
            "n_row": self.n_row,
            "n_col": self.n_col,
            "border_mode": self.border_mode,
            "strides": self.strides,
            **self._weight_config(),
            "name": self.name,
            "algorithm": self.algorithm,
        }


Convolution2D = Conv2D
"""Alias of `Conv2D`, Hat's name (also importable from `hat.layers.cnn`)."""


class ZeroPadding2D(Layer):
    """Zeros around each image: padding=(pad_h, pad_w) rows and columns on each side.

    Args:
        padding (int | tuple[int, int]): Default (1, 1). Rows (top and bottom) and columns
            (left and right) of zeros added on each side.
        name (str | None): Default None. The layer's name. Hat's order,
            `ZeroPadding2D(name, padding)`, works too.

    Raises:
        ValueError: A padding is negative, or, at build, the input is not
            (batch, channels, height, width).
    """

    def __init__(self, padding=(1, 1), name: str | None = None):
        if isinstance(padding, str) and not isinstance(name, str):  # Hat's order: (name, padding)
            padding, name = (1, 1) if name is None else name, padding
        super().__init__(name)
        self.padding = _padding_pair(padding, "padding")

    def build(self, input_shape, rng, dtype=np.float32):
        _expect_image(self, input_shape)
        c, h, w = input_shape
        ph, pw = self.padding
        return (c, h + 2 * ph, w + 2 * pw)

    def forward(self, x, training):
        from hat.kernels import conv

        y = _zeroed_buffer(self, "y", (x.shape[0],) + self.output_shape, x.dtype)
        conv.pad_into(x, y, *self.padding)
        return y

    def backward(self, dy):
        from hat.kernels import conv

        dx = self._buffer("dx", (dy.shape[0],) + self.input_shape, dy.dtype)
        conv.crop_from(dy, dx, *self.padding)
        return dx

    def get_config(self):
        return {"padding": self.padding, "name": self.name}
