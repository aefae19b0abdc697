"""The dense-network layers: InputLayer, Dense, Dropout, Activation, Flatten, Reshape."""

import math

import numpy as np

from hat import activations, initializations, regularizations, threads
from hat.layers.activation_ops import activate, activation_grad, grad_kernels
from hat.layers.base import Layer, shape_with_batch


def _as_shape(value, what: str) -> tuple[int, ...]:
    shape = (value,) if isinstance(value, (int, np.integer)) else value
    if (
        not isinstance(shape, (tuple, list))
        or not shape
        or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in shape)
    ):
        raise TypeError(f"{what} must be an int or a tuple of ints; got {value!r}")
    return tuple(int(d) for d in shape)


def _check_positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{what} must be a positive int; got {value!r}")
    return int(value)


class InputLayer(Layer):
    """The model's entry: the shape of one sample (an int, or a tuple such as (1, 28, 28)).

    Args:
        in_shape (int | tuple[int, ...]): The shape of one sample, without the batch axis:
            784 for rows of pixels, (1, 28, 28) for single-channel images.
        name (str | None): Default None. The layer's name.

    Raises:
        TypeError: `in_shape` is not an int or a tuple of ints.
        ValueError: A size in `in_shape` is below 1.
    """

    def __init__(self, in_shape, name: str | None = None):
        super().__init__(name)
        self.in_shape = _as_shape(in_shape, "in_shape")
        if any(d < 1 for d in self.in_shape):
            raise ValueError(f"in_shape must hold positive sizes; got {self.in_shape}")

    def build(self, input_shape, rng, dtype=np.float32):
        return self.in_shape

    def forward(self, x, training):
        return x

    def backward(self, dy):
        return dy

    def get_config(self):
        return {"in_shape": self.in_shape, "name": self.name}


class WeightedLayer(Layer):
    """The base of Dense and Conv2D: weights W and b with their initializers, regularizers
    and trainable names, and Hat's `W_` and `b_` properties. Not used on its own.

    Args:
        name (str | None): Default None. The layer's name.
    """

    def _set_weight_options(
        self, act, init_type, W_init, b_init, W_reg, b_reg, trainable_params
    ) -> None:
        self.activation = activations.get(act)
        self.init_type = init_type
        self._init = initializations.get(init_type)
        self.W_init, self.b_init = W_init, b_init
        self.regularizers = {
            k: r
            for k, r in (("W", regularizations.get(W_reg)), ("b", regularizations.get(b_reg)))
            if r
        }
        if isinstance(trainable_params, str) or not all(
            isinstance(k, str) for k in trainable_params
        ):
            raise TypeError(f"trainable_params must be a list of names; got {trainable_params!r}")
        if set(trainable_params) - {"W", "b"}:
            raise ValueError(f"trainable_params may hold 'W' and 'b'; got {list(trainable_params)}")
        self.trainable_params = list(trainable_params)

    def _create_weights(self, W_shape, n_out: int, rng, dtype) -> None:
        self.params["W"] = _initial(self.W_init, W_shape, self._init, rng, dtype, "W")
        self.params["b"] = _initial(self.b_init, (n_out,), initializations.zeros, rng, dtype, "b")

    # The BatchNorm right after this layer, when the model folded it in for inference
    # (hat.layers.normalization.fold_batchnorms): forward(training=False) then computes
    # act(x W' + b') with W' = W * s, b' = (b - mean) * s + beta, s = gamma / sqrt(var + eps)
    # per output channel, and act the activation that BatchNorm applies, in one pass over the
    # output instead of three; the BatchNorm passes that output through. Only inside a
    # model's passes (threads.pool_active()): a layer's forward called on its own returns its
    # own output, as the layer contract says.
    folded_batchnorm = None
    folds_batchnorm = False  # whether forward applies folded_batchnorm (Dense, Conv2D)

    def _forward_weights(self, training: bool):
        """(W, b, activation spec) for this forward call: the layer's own, or at inference
        with a folded BatchNorm, the folded copies (recomputed every call: the optimizer and
        set_weights change the weights in place, and the fold costs a pass over W only)."""
        bn = self.folded_batchnorm
        if training or bn is None or not threads.pool_active():
            return self.params["W"], self.params["b"], self.activation
        W, b = self.params["W"], self.params["b"]
        scale, shift = bn.inference_scale_shift(b)  # (F,) each, in W's dtype
        per_channel = scale.reshape((1, -1) if W.ndim == 2 else (-1, 1, 1, 1))
        folded = self._buffer("W_folded", W.shape, W.dtype)
        np.multiply(W, per_channel, out=folded)
        spec = bn.fused_activation or activations.get("linear")
        bn.mark_folded_output(self)
        return folded, shift, spec

    def _weight_config(self) -> dict:
        return {
            "act": self.activation.name,
            "init_type": self.init_type,
            "W_reg": _reg_config(self.regularizers.get("W")),
            "b_reg": _reg_config(self.regularizers.get("b")),
            "trainable_params": list(self.trainable_params),
        }

    @property
    def W_(self):
        """The weight array W (Hat's name)."""
        return self.params["W"]

    @property
    def b_(self):
        """The bias array b (Hat's name)."""
        return self.params["b"]


class Dense(WeightedLayer):
    """Fully connected: `y = act(x @ W + b)`, W of shape (n_in, n_out), b of shape (n_out,).

    The input is (batch, n_in); put `Flatten()` before Dense to feed it images.

    Args:
        n_out (int): The number of output units.
        act (str | callable): Default "linear". The activation, by name (`"relu"`,
            `"softmax"`, ... see `hat.activations.names()`) or a registered function.
        init_type (str | callable): Default "glorot_uniform". W's initializer, by name (see
            `hat.initializations.names()`) or a function `init(shape, rng, dtype)`.
        W_init (np.ndarray | None): Default None. An initial W of shape (n_in, n_out), used
            instead of `init_type`.
        b_init (np.ndarray | None): Default None. An initial b of shape (n_out,); zeros
            otherwise.
        W_reg (Regularization | None): Default None. A penalty on W, such as `L2(1e-4)`.
        b_reg (Regularization | None): Default None. A penalty on b.
        trainable_params (list[str]): Default ("W", "b"). The weights the optimizer updates;
            `["W"]` freezes b (at zero, before a BatchNorm).
        name (str | None): Default None. The layer's name.

    Raises:
        ValueError: `n_out` is not a positive int, `trainable_params` names something other
            than "W" and "b", or, at build, the input is not (batch, n_in) or `W_init` has
            the wrong shape.
        TypeError: `trainable_params` is not a list of names, or an option has the wrong
            type.
    """

    def __init__(
        self,
        n_out: int,
        act="linear",
        init_type="glorot_uniform",
        W_init=None,
        b_init=None,
        W_reg=None,
        b_reg=None,
        trainable_params=("W", "b"),
        name: str | None = None,
    ):
        super().__init__(name)
        self.n_out = _check_positive_int(n_out, "n_out")
        self._set_weight_options(act, init_type, W_init, b_init, W_reg, b_reg, trainable_params)

    def build(self, input_shape, rng, dtype=np.float32):
        self._expect_rank(input_shape, 2, "Add Flatten() before Dense to flatten it.")
        self._create_weights((input_shape[0], self.n_out), self.n_out, rng, dtype)
        return (self.n_out,)

    # The product runs on hat.threads' pool (OpenBLAS on one thread, the rows in two halves),
    # each thread adding the bias and applying the activation to its rows while they are in
    # its cache. A 2-thread OpenBLAS lost a factor whenever another process was busy: the
    # MLP's step ran 3-10x slower at a load of 7 (its threads spin-wait for each other).
    uses_thread_pool = True
    folds_batchnorm = True
    folded_dropout = None  # the Dropout after it that it applies itself (fold_dropouts)
    _drop_mask = None  # that Dropout's mask, (N, n_out), after a training forward

    def forward(self, x, training):
        z = self._buffer("y", (x.shape[0], self.n_out), x.dtype)  # (N, n_out)
        W, b, spec = self._forward_weights(training)
        self._x = x
        drop = self.folded_dropout
        self._drop_mask = None
        if drop is not None and training and drop.p_drop > 0:
            # the Dropout's mask drawn here, where the Dropout would draw it; each half of
            # the rows dropped on the thread that computed it, while it is in cache
            mask, flat = drop._mask_for(z), z.reshape(-1)

            def finish(r0, r1):
                activate(spec, z[r0:r1], b)
                drop._drop_range(flat, flat, mask, r0 * self.n_out, r1 * self.n_out)

            threads.matmul(x, W, z, finish)
            self._y, self._saved, self._drop_mask = z, None, mask.reshape(z.shape)
        elif spec.is_builtin:  # row by row: the same bits as one pass after the product
            threads.matmul(x, W, z, lambda r0, r1: activate(spec, z[r0:r1], b))
            self._y, self._saved = z, None
        else:
            threads.matmul(x, W, z)
            self._y, self._saved = activate(spec, z, b)
        return self._y

    def backward(self, dy, preactivation: bool = False):
        """Write the gradients of W and b into `grads` and return the input's gradient.

        Args:
            dy (np.ndarray): dL/dy, shape (batch, n_out).
            preactivation (bool): Default False. True when dy is already dL/dz, the gradient
                before the activation (the loss fused the softmax's gradient into its own).

        Returns:
            np.ndarray | None: dL/dx, shape (batch, n_in), or None when the model needs no
                input gradient (the first layer).
        """
        dz = self._buffer("dz", dy.shape, dy.dtype)
        db = self.grads["b"] if "b" in self.trainable_params else None
        spec = activations.get("linear") if preactivation else self.activation
        # with a folded Dropout, dy is its output's gradient and its mask rides along
        activation_grad(spec, self._y, self._saved, dy, dz, db, mask=self._drop_mask)
        products = []  # dW and dx in one hand-off to the pool (the bits of one at a time)
        if "W" in self.trainable_params:
            products.append((self._x.T, dz, self.grads["W"]))
        dx = None
        if self.needs_input_grad:
            dx = self._buffer("dx", self._x.shape, dy.dtype)
            products.append((dz, self.params["W"].T, dx))
        threads.matmul_many(products)
        return dx

    def backward_kernels(self):
        """See Layer.backward_kernels.

        Returns:
            list: The activation's gradient kernel (none for a user's activation), or the
                masked one when a Dropout is folded into the layer.
        """
        drop = self.folded_dropout
        return grad_kernels(self.activation, masked=drop is not None and drop.p_drop > 0)

    def get_config(self):
        return {"n_out": self.n_out, **self._weight_config(), "name": self.name}


def fold_dropouts(nodes, ends=()) -> int:
    """Let each Dense apply the Dropout after it in its own passes, in training: the mask
    drawn and applied to each half of the rows on the thread that computed them, and in
    backward the mask and the activation's slope in one pass (one pass over the activations
    fewer each way; 0.27 ms of dropout's backward passes a step in bench_mlp's MLP).

    A Dropout folds when its input is a Dense's output that it alone reads, not a model
    output, each called once, the Dropout's node right after the Dense's (so that its draw
    from the model's generator comes at the same point), and the Dense's activation a
    built-in whose slope depends on its output's sign only (linear, relu, leaky_relu; the
    Dense then keeps only the dropped output). The values are the separate layers' (the same
    products in the same order); a dropped unit's gradient may be +0 where it was -0.
    Folds from an earlier call are undone first.

    Args:
        nodes (list[hat.graph.Node]): the model's nodes in topological order.
        ends (list[hat.graph.Node]): Default (). Nodes whose values leave the model.

    Returns:
        int: the number of folded dropouts.
    """
    from hat.graph import Uses
    from hat.kernels.activations import LEAKY_RELU, LINEAR, RELU

    uses = Uses(nodes, ends)
    for node in nodes:
        if isinstance(node.layer, Dense):
            node.layer.folded_dropout = None
        if isinstance(node.layer, Dropout):
            node.layer.folded_into = None
    folded = 0
    for before, node in zip(nodes, nodes[1:], strict=False):
        drop, dense = node.layer, before.layer
        if not (isinstance(drop, Dropout) and isinstance(dense, Dense)):
            continue
        spec = dense.activation
        if not (
            node.inputs == [before]
            and uses.alone(before)
            and uses.called_once(node)
            and not uses.is_end(node)
            and spec.is_builtin
            and spec.code in (LINEAR, RELU, LEAKY_RELU)
        ):
            continue
        dense.folded_dropout, drop.folded_into = drop, dense
        folded += 1
    return folded


def _reg_config(reg):
    return None if reg is None else reg.get_config()


def _initial(given, shape, init, rng, dtype, what):
    """The user's initial array (checked against the shape) or a draw from the initializer."""
    if given is None:
        return np.ascontiguousarray(init(shape, rng, dtype), dtype=dtype)
    if isinstance(given, str):
        raise TypeError(
            f"{what}_init must be an array of shape {shape}; got the string {given!r}. To "
            "draw the weights from an initializer by name, use init_type="
        )
    arr = np.asarray(given)
    if arr.shape != shape:
        raise ValueError(f"{what}_init must have shape {shape}; got {arr.shape}")
    return np.array(arr, dtype=dtype)


# Elements from which an elementwise pass is split among the pool's threads (inside a model's
# passes only, where OpenBLAS is held to one thread and the pool's threads are free).
POOL_MIN_ELEMENTS = 1 << 16


def _pool_parts(n: int) -> list[tuple[int, int]]:
    parts = threads.num_threads() if n >= POOL_MIN_ELEMENTS and threads.pool_active() else 1
    return threads.split_range(n, parts)


class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability p_drop, scale the rest.

    The kept units are multiplied by 1 / (1 - p_drop), so inference (`predict`, `evaluate`)
    passes the input through unchanged. The masks come from the model's generator: the same
    seed drops the same units.

    Args:
        p_drop (float): Default 0.1. The probability of zeroing a unit, in [0, 1).
        name (str | None): Default None. The layer's name.

    Raises:
        ValueError: `p_drop` is not a number in [0, 1).
    """

    sample_offset = 0  # the batch's first sample's index in its global batch (distributed)

    def __init__(self, p_drop: float = 0.1, name: str | None = None):
        super().__init__(name)
        if (
            isinstance(p_drop, bool)
            or not isinstance(p_drop, (int, float))
            or not (0 <= p_drop < 1)
        ):
            raise ValueError(f"p_drop must be a number in [0, 1); got {p_drop!r}")
        self.p_drop = float(p_drop)

    def build(self, input_shape, rng, dtype=np.float32):
        self.rng = rng
        return input_shape

    folded_into = None  # the Dense that applies this dropout in its own passes (training)

    def forward(self, x, training):
        self._training = training and self.p_drop > 0
        if not self._training or self.folded_into is not None:
            return x  # folded: the Dense's output arrives dropped
        y = self._buffer("y", x.shape, x.dtype)
        mask = self._mask_for(x)
        flat_x, flat_y = x.reshape(-1), y.reshape(-1)
        parts = _pool_parts(x.size)

        def part(i):
            a, b = parts[i]
            self._drop_range(flat_x, flat_y, mask, a, b)

        threads.parallel_for(part, len(parts))
        return y

    def _mask_for(self, x):
        """Draw this call's key (one draw from the model's generator: seeding and checkpoints
        carry it) and return the mask buffer that _drop_range fills."""
        # Unit i of sample j gets the hash of key + (j * units + i) * GOLDEN, where j counts
        # from the batch's start: hat.distributed sets sample_offset to a shard's first
        # sample, so a sample's mask does not depend on which rank computes it.
        from hat.kernels.dropout import GOLDEN

        raw = int(self.rng.bit_generator.random_raw())
        offset = self.sample_offset * (x.size // max(x.shape[0], 1))
        self._key = (raw + offset * GOLDEN) % (1 << 64)
        return self._buffer("mask", (x.size,), x.dtype)

    def _drop_range(self, flat_x, flat_y, mask, a, b):
        """Units a:b of the call: flat_y = flat_x * mask, the mask drawn for them (in place
        when flat_y is flat_x). Unit a hashes key + a * GOLDEN: the same mask for any split."""
        from hat.kernels.dropout import GOLDEN, dropout_forward

        start = np.uint64((self._key + a * GOLDEN) % (1 << 64))
        dropout_forward(flat_x[a:b], start, self.p_drop, flat_y[a:b], mask[a:b])

    def backward(self, dy):
        if not self._training or self.folded_into is not None:
            return dy  # folded: the Dense multiplies by the mask in its own backward pass
        from hat.kernels.dropout import multiply

        dx = self._buffer("dx", dy.shape, dy.dtype)
        flat_dy, flat_dx, mask = dy.reshape(-1), dx.reshape(-1), self._buffers["mask"]
        parts = _pool_parts(dy.size)

        def part(i):
            a, b = parts[i]
            multiply(flat_dy[a:b], mask[a:b], flat_dx[a:b])

        threads.parallel_for(part, len(parts))
        return dx

    def get_config(self):
        return {"p_drop": self.p_drop, "name": self.name}

    def backward_kernels(self):
        """See Layer.backward_kernels.

        Returns:
            list: The kernel that multiplies the gradient by the mask.
        """
        from hat.kernels.dropout import multiply

        folded = self.folded_into is not None
        return [(multiply, "A1 A1 A1")] if self.p_drop > 0 and not folded else []


class Activation(Layer):
    """An activation on its own (softmax runs along the last axis).

    Use it after a layer built without one, for example `Conv2D(..., act="linear")`, then
    `BatchNorm()`, then `Activation("relu")`.

    Args:
        act_func (str | callable): Default "linear". The activation, by name (see
            `hat.activations.names()`) or a registered function.
        name (str | None): Default None. The layer's name.

    Raises:
        ValueError: `act_func` names no known activation.
    """

    # True when the model fused this activation into the BatchNorm before it, which then
    # applies it (Model._fuse_activations): values and gradients pass through unchanged.
    fused = False

    def __init__(self, act_func="linear", name: str | None = None):
        super().__init__(name)
        self.activation = activations.get(act_func)

    def forward(self, x, training):
        if self.fused:
            return x
        y = self._buffer("y", x.shape, x.dtype)
        y[...] = x
        self._y, self._saved = activate(self.activation, y)
        return self._y

    def backward(self, dy, preactivation: bool = False):
        """Return the input's gradient.

        Args:
            dy (np.ndarray): dL/dy, same shape as the output.
            preactivation (bool): Default False. True when dy is already the gradient before
                the activation (the loss fused it), which then passes through.

        Returns:
            np.ndarray: dL/dx, same shape as the input.
        """
        if preactivation or self.fused:
            return dy
        dx = self._buffer("dx", dy.shape, dy.dtype)
        return activation_grad(self.activation, self._y, self._saved, dy, dx)

    def backward_kernels(self):
        """See Layer.backward_kernels.

        Returns:
            list: The activation's gradient kernel (none when a BatchNorm applies it).
        """
        return [] if self.fused else grad_kernels(self.activation)

    def get_config(self):
        return {"act_func": self.activation.name, "name": self.name}


class Flatten(Layer):
    """Flattens each sample to one axis: (batch, C, H, W) becomes (batch, C * H * W).

    Args:
        ndim (int): Default 2. The output's number of axes, batch included (Hat's argument);
            only 2 is supported.
        name (str | None): Default None. The layer's name.

    Raises:
        ValueError: `ndim` is not 2.
    """

    def __init__(self, ndim: int = 2, name: str | None = None):
        super().__init__(name)
        if ndim != 2:
            raise ValueError(f"Flatten supports ndim=2 (batch, features) only; got {ndim!r}")
        self.ndim = ndim

    def build(self, input_shape, rng, dtype=np.float32):
        return (math.prod(input_shape),)

    def forward(self, x, training):
        return x.reshape(x.shape[0], -1)

    def backward(self, dy):
        return dy.reshape((dy.shape[0],) + self.input_shape)

    def get_config(self):
        return {"ndim": self.ndim, "name": self.name}


class Reshape(Layer):
    """Reshapes each sample to `out_shape` (one size may be -1, inferred).

    Args:
        out_shape (int | tuple[int, ...]): The shape of one output sample, without the
            batch axis, such as (1, 28, 28).
        name (str | None): Default None. The layer's name.

    Raises:
        TypeError: `out_shape` is not an int or a tuple of ints.
        ValueError: A size is below 1 (other than one -1), or, at build, the input's size
            does not fit `out_shape`.
    """

    def __init__(self, out_shape, name: str | None = None):
        super().__init__(name)
        self.out_shape = _as_shape(out_shape, "out_shape")
        if sum(d == -1 for d in self.out_shape) > 1 or any(
            d < 1 and d != -1 for d in self.out_shape
        ):
            raise ValueError(f"out_shape needs positive sizes and at most one -1; got {out_shape}")

    def build(self, input_shape, rng, dtype=np.float32):
        size = math.prod(input_shape)
        known = math.prod(d for d in self.out_shape if d != -1)
        shape = tuple(size // known if d == -1 else d for d in self.out_shape)
        if math.prod(shape) != size:
            raise ValueError(
                f"Reshape cannot turn an input of shape {shape_with_batch(input_shape)} "
                f"({size} values per sample) into {shape_with_batch(self.out_shape)}"
            )
        return shape

    def forward(self, x, training):
        return x.reshape((x.shape[0],) + self.output_shape)

    def backward(self, dy):
        return dy.reshape((dy.shape[0],) + self.input_shape)

    def get_config(self):
        return {"out_shape": self.out_shape, "name": self.name}


# Hat kept these in hat.layers.core; they live in their own modules.
from hat.layers.lambda_layer import Lambda  # noqa: E402, F401
from hat.layers.merge import Merge  # noqa: E402, F401
