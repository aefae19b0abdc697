"""Batch normalization (alias BN), after Dense (per feature) or Conv2D (per channel)."""

import math

import numpy as np

from hat.graph import Uses
from hat.initializations import ones, zeros
from hat.kernels.activations import LINEAR
from hat.layers.base import Layer, shape_with_batch
from hat.layers.core import _initial
from hat.threads import num_threads, parallel_for

# Elements from which BatchNorm splits its channels among the pool's threads: the BN-CNN's
# conv layers (1.4M and 0.4M values at batch 64) gain; its dense one (9,600) would not.
PARALLEL_MIN = 1 << 16
"""From this many input values, BatchNorm splits its channels among the pool's threads."""


def _reduction_axes(value) -> tuple[int, ...] | None:
    if value is None:
        return None
    axes = (value,) if isinstance(value, (int, np.integer)) else value
    if (
        not isinstance(axes, (tuple, list))
        or not axes
        or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes)
    ):
        raise TypeError(f"axis must be an int or a tuple of ints (the reduced axes); got {value!r}")
    return tuple(int(a) for a in axes)


class BatchNorm(Layer):
    """y = gamma * (x - mean) / sqrt(var + eps) + beta, statistics per feature or channel.

    axis (or Hat's axes) names the REDUCED axes, batch axis included: 0 after Dense, (0, 2, 3)
    after Conv2D; by default inferred from the input's rank. Training normalizes by the batch's
    mean and biased variance and moves the running statistics as
    running = momentum * running + (1 - momentum) * batch (PyTorch's momentum is 1 - this
    one: momentum=0.99 here is torch's momentum=0.01), taking the unbiased batch variance for
    running_var as PyTorch does. Inference uses the running statistics. trainable=False
    freezes gamma, beta and the running statistics, and the layer then always runs in
    inference mode (Keras 3's semantics).

    Args:
        axis (int | tuple[int, ...] | None): Default None. The reduced axes, batch axis
            included; None: 0 for (batch, features) inputs, (0, 2, 3) for images.
        momentum (float): Default 0.99. The running statistics' decay, in [0, 1].
        eps (float): Default 1e-3. Added to the variance before the square root, > 0.
        gamma_init (np.ndarray | None): Default None. An initial gamma (one value per
            feature or channel); ones otherwise.
        beta_init (np.ndarray | None): Default None. An initial beta; zeros otherwise.
        running_mean_init (np.ndarray | None): Default None. An initial running mean; zeros
            otherwise.
        running_var_init (np.ndarray | None): Default None. An initial running variance;
            ones otherwise.
        trainable_params (list[str]): Default ("gamma", "beta"). Which of gamma and beta
            the optimizer updates.
        trainable (bool): Default True. False freezes the layer: its weights and running
            statistics stay put and it always runs in inference mode.
        name (str | None): Default None. The layer's name.
        axes (int | tuple[int, ...] | None): Default None. Hat's name for `axis`.

    Raises:
        ValueError: Both `axis` and `axes` are given and differ, `momentum` is not in
            [0, 1], `eps` is not positive, `trainable_params` names something else, or, at
            build, the input shape does not suit `axis`.
        TypeError: `axis`, `trainable_params` or `trainable` has the wrong type.
    """

    def __init__(
        self,
        axis=None,
        momentum: float = 0.99,
        eps: float = 1e-3,
        gamma_init=None,
        beta_init=None,
        running_mean_init=None,
        running_var_init=None,
        trainable_params=("gamma", "beta"),
        trainable: bool = True,
        name: str | None = None,
        axes=None,
    ):
        super().__init__(name)
        if axis is not None and axes is not None and _reduction_axes(axis) != _reduction_axes(axes):
            raise ValueError(f"give axis or axes, not both; got axis={axis!r}, axes={axes!r}")
        self.axis = _reduction_axes(axis if axis is not None else axes)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)):
            raise ValueError(f"momentum must be a number in [0, 1]; got {momentum!r}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be a number in [0, 1]; got {momentum!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"eps must be a number > 0; got {eps!r}")
        self.momentum, self.eps = float(momentum), float(eps)
        self.inits = {
            "gamma": gamma_init,
            "beta": beta_init,
            "running_mean": running_mean_init,
            "running_var": running_var_init,
        }
        if isinstance(trainable_params, str) or not all(
            isinstance(k, str) for k in trainable_params
        ):
            raise TypeError(f"trainable_params must be a list of names; got {trainable_params!r}")
        if set(trainable_params) - {"gamma", "beta"}:
            raise ValueError(
                f"trainable_params may hold 'gamma' and 'beta'; got {list(trainable_params)}"
            )
        if not isinstance(trainable, (bool, np.bool_)):
            raise TypeError(f"trainable must be True or False; got {trainable!r}")
        self.frozen = not trainable
        self._trainable_params = list(trainable_params)
        self.trainable_params = [] if self.frozen else list(trainable_params)

    def build(self, input_shape, rng, dtype=np.float32):
        if input_shape is None:
            raise ValueError("BatchNorm needs an input shape; got nothing")
        rank = len(input_shape) + 1
        axes = (
            self.axis
            if self.axis is not None
            else (0,)
            if rank == 2
            else (0,) + tuple(range(2, rank))
        )
        axes = tuple(sorted({a % rank if -rank <= a < rank else a for a in axes}))
        kept = [a for a in range(rank) if a not in axes]
        if (
            any(not 0 <= a < rank for a in axes)
            or 0 not in axes
            or not kept
            or kept != list(range(kept[0], kept[-1] + 1))
        ):
            raise ValueError(
                f"BatchNorm reduces over axes {self.axis} of its input of shape "
                f"{shape_with_batch(input_shape)}: they must include the batch axis 0 and leave "
                "one run of adjacent axes, such as 0 for (batch, features) or (0, 2, 3) for "
                "(batch, channels, height, width)"
            )
        full = (None,) + tuple(input_shape)
        self._kept_axes = kept
        self._view = (math.prod(full[a] for a in kept), math.prod(full[kept[-1] + 1 :]))
        shape = tuple(full[a] for a in kept)
        defaults = {"gamma": ones, "beta": zeros, "running_mean": zeros, "running_var": ones}
        for key, init in defaults.items():
            target = self.state if key.startswith("running") else self.params
            target[key] = _initial(self.inits[key], shape, init, rng, dtype, key)
        return tuple(input_shape)

    # Set by the model when an elementwise Activation follows this layer (see
    # Model._fuse_activations): forward applies it and backward takes its gradient, in the
    # same passes over the tensor, and the Activation layer passes values through.
    fused_activation = None
    # Set by hat.distributed during a distributed fit: training then normalizes by the
    # statistics of the global batch, summed over every shard (hat/distributed/batchnorm.py).
    stats_exchange = None
    # The Dense or Conv2D that computes this layer at inference (fold_batchnorms), or None.
    folded_into = None

    def _channel_split(self, x3) -> list[tuple[int, int]]:
        """Channel ranges for the pool's threads: one per thread for a large tensor, else one
        (the hand-off costs more than it saves). A channel's numbers never depend on this."""
        c = x3.shape[1]
        parts = min(c, num_threads()) if x3.size >= PARALLEL_MIN else 1
        cuts = [c * k // parts for k in range(parts + 1)]
        return list(zip(cuts[:-1], cuts[1:], strict=True))

    def _activation_code(self) -> tuple[int, float]:
        spec = self.fused_activation
        return (LINEAR, 0.0) if spec is None else (spec.code, spec.alpha)

    def inference_scale_shift(self, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What folds this layer's inference into the Dense or Conv2D before it (see
        WeightedLayer.folded_batchnorm), per channel, computed in float64.

        Args:
            bias (np.ndarray): the bias of the layer before, shape (channels,).

        Returns:
            tuple[np.ndarray, np.ndarray]: s = gamma / sqrt(running_var + eps) and
            (bias - running_mean) * s + beta, in bias's dtype.
        """
        gamma = self.params["gamma"].reshape(-1).astype(np.float64)
        mean = self.state["running_mean"].reshape(-1).astype(np.float64)
        var = self.state["running_var"].reshape(-1).astype(np.float64)
        scale = gamma / np.sqrt(var + self.eps)
        shift = (bias.astype(np.float64) - mean) * scale + self.params["beta"].reshape(-1)
        return scale.astype(bias.dtype), shift.astype(bias.dtype)

    def mark_folded_output(self, layer) -> None:
        """Say that `layer` is about to return an output with this layer folded in:
        forward(that output, training=False) then passes it through.

        Args:
            layer (Layer): the Dense or Conv2D before this layer; its last output (`_y`) is
                the array that forward passes through.
        """
        self._folded_from = layer

    def forward(self, x, training):
        from hat.kernels import normalization as kernels

        folded_from, self._folded_from = getattr(self, "_folded_from", None), None
        if folded_from is not None and not training and x is getattr(folded_from, "_y", None):
            return x  # normalized (and activated) by the layer before, in its own pass
        c, b = self._view
        x3 = np.ascontiguousarray(x).reshape(-1, c, b)  # (A, C, B)
        y = self._buffer("y", x.shape, x.dtype)
        y3 = y.reshape(x3.shape)
        # Backward needs xhat; inference does not (predict's batches are large). Two keys, so
        # that a predict between training steps does not make the training buffer reallocate.
        key, shape = ("xhat", x3.shape) if training else ("no_xhat", (0, c, b))
        xhat = self._xhat = self._buffer(key, shape, x.dtype)
        inv_std = self._inv_std = self._buffer("inv_std", (c,), np.float64)
        self._batch_stats = training and not self.frozen
        gamma, beta = self.params["gamma"].reshape(-1), self.params["beta"].reshape(-1)
        mean, var = self.state["running_mean"].reshape(-1), self.state["running_var"].reshape(-1)
        act, alpha = self._activation_code()
        split = self._split = self._channel_split(x3)
        if self._batch_stats:
            if x3.shape[0] * b < 2:
                raise ValueError(
                    f"BatchNorm needs more than one value per channel in training; got input "
                    f"shape {x.shape}. Use a batch of at least 2 samples"
                )
            if self.stats_exchange is not None:
                from hat.distributed import batchnorm as global_batch

                global_batch.forward(self, x3, y3, xhat, inv_std, act, alpha)
                self._y, self._x3, self._split = y, x3, [(0, c)]
                return y
            work = self._buffer("work", (2, c), np.float64)

            def task(i):
                kernels.batchnorm_forward_train(
                    x3, gamma, beta, self.eps, self.momentum, mean, var, True, act, alpha,
                    xhat, inv_std, y3, work, *split[i],
                )  # fmt: skip
        else:

            def task(i):
                kernels.batchnorm_forward_infer(
                    x3, gamma, beta, self.eps, mean, var, act, alpha, xhat, inv_std, y3,
                    *split[i],
                )  # fmt: skip

        parallel_for(task, len(split))
        self._y, self._x3 = y, x3
        return y

    def backward(self, dy):
        from hat.kernels import normalization as kernels

        c, b = self._view
        dy3 = np.ascontiguousarray(dy).reshape(-1, c, b)
        sums = {}
        for key in ("gamma", "beta"):
            sums[key] = (
                self.grads[key].reshape(-1)
                if key in self.trainable_params
                else self._buffer(f"d{key}", (c,), dy.dtype)
            )
        if self.needs_input_grad:
            dx = self._buffer("dx", dy.shape, dy.dtype)
            dx3 = dx.reshape(dy3.shape)
        else:
            dx, dx3 = None, self._buffer("no_dx", (0, c, b), dy.dtype)
        act, alpha = self._activation_code()
        dz = self._buffer("dz", dy3.shape if act != LINEAR else (0, c, b), dy.dtype)
        y3, gamma, split = self._y.reshape(dy3.shape), self.params["gamma"].reshape(-1), self._split
        work = self._buffer("backward_work", (2, c), np.float64)
        xhat = self._xhat
        if self._batch_stats and self.stats_exchange is not None:
            from hat.distributed import batchnorm as global_batch

            global_batch.backward(self, dy3, y3, act, alpha, xhat, sums["gamma"], sums["beta"],
                                  dz, dx3, work)  # fmt: skip
            return dx
        if xhat.shape[0] != dy3.shape[0]:  # forward ran in inference mode and kept no xhat
            mean = self.state["running_mean"].reshape(1, c, 1)
            xhat = (self._x3 - mean) * self._inv_std.astype(dy.dtype).reshape(1, c, 1)

        def task(i):
            kernels.batchnorm_backward(
                dy3, y3, act, alpha, xhat, gamma, self._inv_std, self._batch_stats,
                sums["gamma"], sums["beta"], dz, dx3, work, *split[i],
            )  # fmt: skip

        parallel_for(task, len(split))
        return dx

    def backward_kernels(self):
        """See Layer.backward_kernels.

        Returns:
            list: The backward kernel (none when the statistics are exchanged between
                processes, whose path differs).
        """
        from hat.kernels import normalization as kernels

        if self.stats_exchange is not None:
            return []
        return [(kernels.batchnorm_backward, "A3 A3 i f A3 A1 D1 b A1 A1 A3 A3 D2 i i")]

    def inference_kernels(self):
        """See Layer.inference_kernels.

        Returns:
            list: The kernel that normalizes by the running statistics, unless the layer
                before computes this one (fold_batchnorms).
        """
        from hat.kernels import normalization as kernels

        if self.folded_into is not None:
            return []
        return [(kernels.batchnorm_forward_infer, "A3 A1 A1 f A1 A1 i f A3 D1 A3 i i")]

    def get_config(self):
        return {
            "axis": self.axis,
            "momentum": self.momentum,
            "eps": self.eps,
            "trainable_params": list(self._trainable_params),
            "trainable": not self.frozen,
            "name": self.name,
        }


BN = BatchNorm
"""Alias of `BatchNorm`, Hat's name."""


def fold_batchnorms(nodes, ends=()) -> int:
    """Fold each BatchNorm into the Dense or Conv2D that feeds it, for inference.

    A pair folds when the BatchNorm's only input is that layer's output, nothing else reads
    that output and it is not a model output, each layer is called once, the layer's
    activation is linear, and the BatchNorm normalizes over its channels (axis 1). Training is
    unchanged; in a model's passes with training off, the pair then runs as one pass (see
    WeightedLayer.folded_batchnorm). Pairs folded by an earlier call are undone first.

    Args:
        nodes (list[hat.graph.Node]): the model's nodes in topological order, each with
            `layer` and `inputs`.
        ends (list[hat.graph.Node]): Default (). Nodes whose values leave the model.

    Returns:
        int: the number of folded pairs.
    """
    uses = Uses(nodes, ends)
    for node in nodes:
        if getattr(node.layer, "folds_batchnorm", False):
            node.layer.folded_batchnorm = None
        if isinstance(node.layer, BatchNorm):
            node.layer.folded_into = None
    folded = 0
    for node in nodes:
        after = node.layer
        if not isinstance(after, BatchNorm) or len(node.inputs) != 1:
            continue
        parent = node.inputs[0]
        before = parent.layer
        if (
            getattr(before, "folds_batchnorm", False)
            and before.activation.name == "linear"
            and uses.alone(parent)
            and uses.called_once(node)
            and after._kept_axes == [1]
            and after.output_shape == before.output_shape
        ):
            before.folded_batchnorm, after.folded_into = after, before
            folded += 1
    return folded
