"""Optimizers. Each updates the model's flat parameter buffer with one fused numba kernel.

The update formulas are torch.optim's (the parity tests hold them to it). SGD keeps Hat's
`rho` as another name for `momentum`, Adadelta Hat's `rou` for `rho`. `weight_decay` is an L2
term added to the gradient, except in AdamW, where it is decoupled. State is a plain dict of
arrays (`optimizer.state`), so that a model file can hold it.
"""

import math

import numpy as np

from hat import threads

# Parameters from which an update is split among the pool's threads.
PARALLEL_MIN = 1 << 16
"""From this many parameters an update is split among the pool's threads."""


def _check_number(name: str, value, low: float = 0.0, inclusive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number; got {type(value).__name__} {value!r}")
    value = float(value)
    ok = value >= low if inclusive else value > low
    if not math.isfinite(value) or not ok:
        bound = ">=" if inclusive else ">"
        raise ValueError(f"{name} must be a finite number {bound} {low}; got {value!r}")
    return value


def _check_fraction(name: str, value) -> float:
    """A decay rate: a number in [0, 1)."""
    value = _check_number(name, value)
    if value >= 1:
        raise ValueError(f"{name} must be in [0, 1); got {value!r}")
    return value


class Optimizer:
    """Base class: gradient clipping, the step counter, state, config.

    Every optimizer updates the model's parameters as one flat buffer. Its state (moments,
    velocities, the step count) is a dict of arrays in `state`, saved in model files.

    Args:
        lr (float | callable): Default 0.01. The learning rate, > 0, or a schedule
            `lr(iterations) -> float` (see `hat.schedules`).
        clipnorm (float | None): Default None. Scale each variable's gradient down to this L2
            norm when it is longer.
        clipvalue (float | None): Default None. Clip every gradient value to
            [-clipvalue, clipvalue].
        global_clipnorm (float | None): Default None. Scale all gradients together down to
            this L2 norm.
        weight_decay (float): Default 0.0. An L2 term `weight_decay * param` added to each
            gradient (decoupled from it in AdamW).

    Raises:
        TypeError: A hyperparameter is not a number.
        ValueError: A hyperparameter is not finite or out of range (lr <= 0, a clip <= 0,
            weight_decay < 0).

    Attributes:
        state (dict[str, np.ndarray]): The per-parameter arrays and "iterations".
    """

    slots: tuple[str, ...] = ()  # names of the per-parameter state arrays
    """The names of the per-parameter state arrays (Adam's "m" and "v", ...)."""

    def __init__(
        self, lr=0.01, clipnorm=None, clipvalue=None, global_clipnorm=None, weight_decay=0.0
    ):
        if callable(lr):
            self.lr = lr  # a schedule: lr(iterations) -> float
        else:
            self.lr = _check_number("lr", lr, 0.0, inclusive=False)
        self.clipnorm = None if clipnorm is None else _check_number("clipnorm", clipnorm, 0, False)
        self.clipvalue = (
            None if clipvalue is None else _check_number("clipvalue", clipvalue, 0, False)
        )
        self.global_clipnorm = (
            None
            if global_clipnorm is None
            else _check_number("global_clipnorm", global_clipnorm, 0, False)
        )
        self.weight_decay = _check_number("weight_decay", weight_decay)
        self.state: dict[str, np.ndarray] = {}

    @property
    def iterations(self) -> int:
        """The number of update steps taken."""
        return int(self.state["iterations"]) if "iterations" in self.state else 0

    def current_lr(self) -> float:
        """The learning rate of the next step (a schedule evaluated at `iterations`).

        Returns:
            float: The rate.

        Raises:
            ValueError: A schedule returned a negative or non-finite rate.
        """
        lr = self.lr(self.iterations) if callable(self.lr) else self.lr
        return _check_number("the learning rate from the schedule", lr, 0.0)

    def build(self, size: int, dtype=np.float32) -> None:
        """Create zeroed state for a flat buffer of `size` parameters.

        Args:
            size (int): The number of parameters.
            dtype (np.dtype): Default np.float32. The state arrays' dtype.
        """
        self.state = {name: np.zeros(size, dtype) for name in self.slots}
        self.state["iterations"] = np.zeros((), np.int64)

    def reset(self) -> None:
        """Hat's name: forget the state (it is rebuilt at the next update)."""
        self.state = {}

    def update(self, params: np.ndarray, grads: np.ndarray, segments=(), clip=None) -> None:
        """One step on the flat buffers, in place.

        Args:
            params (np.ndarray): The flat parameter buffer, updated in place.
            grads (np.ndarray): The gradients, same shape; clipping scales them in place.
            segments (list[tuple[int, int]]): Default (). (start, stop) of each variable in the
                buffer, for clipnorm.
            clip (float | None): Default None. fit's element-wise clip (Hat's); it combines with
                clipvalue (the tighter wins).
        """
        if not self._state_fits(params):
            self.build(params.shape[0], params.dtype)
        self._clip_norms(grads, segments)
        clipvalue = min(c for c in (self.clipvalue, clip, math.inf) if c is not None)
        lr = self.current_lr()  # a schedule sees the steps taken so far: lr(0) for the first
        self.state["iterations"] += 1
        clipvalue = 0.0 if clipvalue == math.inf else clipvalue
        # Every update here is elementwise, so the buffer's parts can run on hat.threads' pool
        # with the same bits as one pass. It is bound by memory: Adam over 648,010 parameters
        # took 1.85 ms on one core and 1.0 ms on two. Only while OpenBLAS is held to one thread
        # (models with conv or pooling layers): otherwise its threads, spinning after the last
        # GEMM, take the cores (no gain on the MLP, measured).
        n = params.shape[0]
        pooled = n >= PARALLEL_MIN and threads.pool_held()
        parts = threads.num_threads() if pooled else 1
        cuts = [n * k // parts for k in range(parts + 1)]

        def part(i):
            a, b = cuts[i], cuts[i + 1]
            slots = {name: self.state[name][a:b] for name in self.slots}
            self._apply(params[a:b], grads[a:b], slots, lr, clipvalue)

        threads.parallel_for(part, parts)

    def _state_fits(self, params) -> bool:
        if "iterations" not in self.state:
            return False
        return all(
            self.state[name].shape == params.shape and self.state[name].dtype == params.dtype
            for name in self.slots
        )

    def _clip_norms(self, grads, segments) -> None:
        if self.global_clipnorm is not None:
            norm = float(np.sqrt(np.dot(grads, grads)))
            if norm > self.global_clipnorm:
                grads *= grads.dtype.type(self.global_clipnorm / norm)
        if self.clipnorm is not None:
            for start, stop in segments:
                g = grads[start:stop]
                norm = float(np.sqrt(np.dot(g, g)))
                if norm > self.clipnorm:
                    g *= g.dtype.type(self.clipnorm / norm)

    kernel_spec = None  # (name in hat.kernels.optim, argument spec) of _apply's kernel

    def update_kernels(self) -> list:
        """The numba kernel that `update` calls, with its argument spec, so that a cold start
        compiles it ahead (see hat.layers.base.Layer.backward_kernels).

        Returns:
            list: (kernel, spec) pairs; none for an optimizer without a kernel.
        """
        if self.kernel_spec is None:
            return []
        name, spec = self.kernel_spec
        return [(getattr(_kernels(), name), spec)]

    def _apply(self, params, grads, slots, lr, clipvalue) -> None:
        """Update params (a slice of the flat buffer) in place; slots: the state arrays of the
        same slice, by name."""
        raise NotImplementedError

    def get_config(self) -> dict:
        """The constructor's arguments, as a model file records them.

        Returns:
            dict: Hyperparameters by name; a schedule as its own config dict.
        """
        config = {k: v for k, v in vars(self).items() if k != "state"}
        if callable(self.lr):
            config["lr"] = getattr(self.lr, "get_config", lambda: repr(self.lr))()
        return config

    def get_updates(self, params, grads):
        """Hat's name: one update step over lists of parameter and gradient arrays, in place.

        Args:
            params (list[np.ndarray]): The parameter arrays, updated in place.
            grads (list[np.ndarray]): Their gradients, in the same order and shapes.

        Raises:
            ValueError: The lists differ in length.
        """
        if len(params) != len(grads):
            raise ValueError(
                f"get_updates needs one gradient per parameter; got {len(params)} "
                f"parameters and {len(grads)} gradients"
            )
        flat_params = np.concatenate([np.ravel(p) for p in params])
        flat_grads = np.concatenate([np.ravel(g) for g in grads]).astype(flat_params.dtype)
        bounds = np.cumsum([0] + [np.size(p) for p in params])
        self.update(flat_params, flat_grads, list(zip(bounds[:-1], bounds[1:], strict=True)))
        for p, start, stop in zip(params, bounds[:-1], bounds[1:], strict=True):
            p[...] = flat_params[start:stop].reshape(p.shape)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _kernels():
    from hat.kernels import optim  # numba loads on first use, not at import

    return optim


class SGD(Optimizer):
    """SGD with momentum (Hat's `rho` is another name for it) and optional Nesterov.

    The update is torch.optim.SGD's: `v = momentum * v + g`, then `p -= lr * v` (Nesterov:
    `p -= lr * (g + momentum * v)`).

    Args:
        lr (float | callable): Default 0.01. The learning rate, > 0, or a schedule
            `lr(iterations) -> float` such as `hat.schedules.CosineDecay`.
        momentum (float): Default 0.0. The velocity's decay, in [0, 1).
        nesterov (bool): Default False. Nesterov's momentum; needs momentum > 0.
        rho (float | None): Default None. Hat's name for `momentum`; overrides it when given.
        **kwargs (float | None): `clipnorm`, `clipvalue`, `global_clipnorm` and
            `weight_decay`, as for `Optimizer`.

    Raises:
        TypeError: A hyperparameter is not a number.
        ValueError: A hyperparameter is out of range (a decay rate outside [0, 1), a
            negative eps).
    """

    slots = ("velocity",)
    kernel_spec = ("sgd_update", "A1 A1 A1 f f b f f")

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, rho=None, **kwargs):
        super().__init__(lr, **kwargs)
        name = "momentum" if rho is None else "rho"
        self.momentum = _check_fraction(name, momentum if rho is None else rho)
        if nesterov and self.momentum == 0:
            raise ValueError(f"nesterov=True needs a momentum > 0; got momentum={self.momentum}")
        self.nesterov = bool(nesterov)

    def _apply(self, params, grads, slots, lr, clipvalue):
        _kernels().sgd_update(
            params,
            grads,
            slots["velocity"],
            lr,
            self.momentum,
            self.nesterov,
            self.weight_decay,
            clipvalue,
        )


class Adam(Optimizer):
    """Adam (torch.optim.Adam's update, bias-corrected moments).

    Args:
        lr (float | callable): Default 0.001. The learning rate, > 0, or a schedule
            `lr(iterations) -> float` such as `hat.schedules.CosineDecay`.
        beta1 (float): Default 0.9. The first moment's decay, in [0, 1).
        beta2 (float): Default 0.999. The second moment's decay, in [0, 1).
        eps (float): Default 1e-8. Added to the second moment's square root, >= 0.
        **kwargs (float | None): `clipnorm`, `clipvalue`, `global_clipnorm` and
            `weight_decay`, as for `Optimizer`.

    Raises:
        TypeError: A hyperparameter is not a number.
        ValueError: A hyperparameter is out of range (a decay rate outside [0, 1), a
            negative eps).
    """

    slots = ("m", "v")
    kernel_spec = ("adam_update", "A1 A1 A1 A1 f f f f i f b f")
    decoupled = False

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, **kwargs):
        super().__init__(lr, **kwargs)
        self.beta1 = _check_fraction("beta1", beta1)
        self.beta2 = _check_fraction("beta2", beta2)
        self.eps = _check_number("eps", eps)

    def _apply(self, params, grads, slots, lr, clipvalue):
        _kernels().adam_update(
            params,
            grads,
            slots["m"],
            slots["v"],
            lr,
            self.beta1,
            self.beta2,
            self.eps,
            self.iterations,
            self.weight_decay,
            self.decoupled,
            clipvalue,
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.01, as in PyTorch).

    Args:
        lr (float | callable): Default 0.001. The learning rate, > 0, or a schedule
            `lr(iterations) -> float` such as `hat.schedules.CosineDecay`.
        beta1 (float): Default 0.9. The first moment's decay, in [0, 1).
        beta2 (float): Default 0.999. The second moment's decay, in [0, 1).
        eps (float): Default 1e-8. Added to the second moment's square root, >= 0.
        weight_decay (float): Default 0.01. Each step also multiplies the parameters by
            `1 - lr * weight_decay`.
        **kwargs (float | None): `clipnorm`, `clipvalue` and `global_clipnorm`, as for `Optimizer`.

    Raises:
        TypeError: A hyperparameter is not a number.
        ValueError: A hyperparameter is out of range (a decay rate outside [0, 1), a
            negative eps).
    """

    decoupled = True

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, **kwargs):
        super().__init__(lr, beta1, beta2, eps, weight_decay=weight_decay, **kwargs)


class RMSprop(Optimizer):
    """RMSprop (torch.optim.RMSprop's update, without momentum).

    Args:
        lr (float | callable): Default 0.001. The learning rate, > 0, or a schedule
            `lr(iterations) -> float` such as `hat.schedules.CosineDecay`.
        rho (float): Default 0.9. The squared gradients' decay, in [0, 1).
        eps (float): Default 1e-8. Added to the root mean square, >= 0.
        **kwargs (float | None): `clipnorm`, `clipvalue`, `global_clipnorm` and
            `weight_decay`, as for `Optimizer`.

    Raises:
        TypeError: A hyperparameter is not a number.
        ValueError: A hyperparameter is out of range (a decay rate outside [0, 1), a
            negative eps).
    """

    slots = ("square_avg",)
    kernel_spec = ("rmsprop_update", "A1 A1 A1 f f f f f")

    def __init__(self, lr=0.001, rho=0.9, eps=1e-8, **kwargs):
        super().__init__(lr, **kwargs)
        self.rho = _check_fraction("rho", rho)
        self.eps = _check_number("eps", eps)

    def _apply(self, params, grads, slots, lr, clipvalue):
        _kernels().rmsprop_update(
            params,
            grads,
            slots["square_avg"],
            lr,
            self.rho,
            self.eps,
            self.weight_decay,
            clipvalue,
        )


Rmsprop = RMSprop  # Hat's spelling
"""Alias of `RMSprop`, Hat's spelling."""


class Adagrad(Optimizer):
    """Adagrad (torch.optim.Adagrad's update).

    Args:
        lr (float | callable): Default 0.01. The learning rate, > 0, or a schedule
            `lr(iterations) -> float` such as `hat.schedules.CosineDecay`.
        eps (float): Default 1e-6. Added to the root of the summed squares, >= 0.
        **kwargs (float | None): `clipnorm`, `clipvalue`, `global_clipnorm` and
            `weight_decay`, as for `Optimizer`.

    Raises:
        TypeError: A hyperparameter is not a number.
        ValueError: A hyperparameter is out of range (a decay rate outside [0, 1), a
            negative eps).
    """

    slots = ("sum_sq",)
    kernel_spec = ("adagrad_update", "A1 A1 A1 f f f f")

    def __init__(self, lr=0.01, eps=1e-6, **kwargs):
        super().__init__(lr, **kwargs)
        self.eps = _check_number("eps", eps)

    def _apply(self, params, grads, slots, lr, clipvalue):
        _kernels().adagrad_update(
            params,
            grads,
            slots["sum_sq"],
            lr,
            self.eps,
            self.weight_decay,
            clipvalue,
        )


class Adadelta(Optimizer):
    """Adadelta; Hat spelled its decay `rou`, which is accepted too.

    Args:
        lr (float | callable): Default 1.0. The learning rate, > 0, or a schedule
            `lr(iterations) -> float` such as `hat.schedules.CosineDecay`.
        rho (float): Default 0.95. The decay of both running averages, in [0, 1).
        eps (float): Default 1e-8. Added inside both square roots, >= 0.
        rou (float | None): Default None. Hat's name for `rho`; overrides it when given.
        **kwargs (float | None): `clipnorm`, `clipvalue`, `global_clipnorm` and
            `weight_decay`, as for `Optimizer`.

    Raises:
        TypeError: A hyperparameter is not a number.
        ValueError: A hyperparameter is out of range (a decay rate outside [0, 1), a
            negative eps).
    """

    slots = ("square_avg", "acc_delta")
    kernel_spec = ("adadelta_update", "A1 A1 A1 A1 f f f f f")

    def __init__(self, lr=1.0, rho=0.95, eps=1e-8, rou=None, **kwargs):
        super().__init__(lr, **kwargs)
        self.rho = _check_fraction("rho" if rou is None else "rou", rho if rou is None else rou)
        self.eps = _check_number("eps", eps)

    def _apply(self, params, grads, slots, lr, clipvalue):
        _kernels().adadelta_update(
            params,
            grads,
            slots["square_avg"],
            slots["acc_delta"],
            lr,
            self.rho,
            self.eps,
            self.weight_decay,
            clipvalue,
        )


_BY_NAME = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "adadelta": Adadelta,
}


def get(optimizer) -> Optimizer:
    """An Optimizer instance, or a name ('adam', 'sgd', ...) for one with default settings.

    Args:
        optimizer (Optimizer | str): An instance (returned as is) or a name: "sgd", "adam",
            "adamw", "rmsprop", "adagrad", "adadelta" (any case).

    Returns:
        Optimizer: The optimizer.

    Raises:
        TypeError: An Optimizer class was given instead of an instance.
        ValueError: The name is unknown.
    """
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in _BY_NAME:
        return _BY_NAME[optimizer.lower()]()
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be an Optimizer instance or a name; got the class "
            f"{optimizer.__name__}. Write {optimizer.__name__}() (or {optimizer.__name__}(lr=...))"
        )
    raise ValueError(
        f"unknown optimizer {optimizer!r}; expected an Optimizer instance or one of: "
        + ", ".join(sorted(_BY_NAME))
    )


def from_config(class_name: str, config: dict) -> Optimizer:
    """Rebuild an optimizer from its class name and get_config() (a model file's record).

    Args:
        class_name (str): "SGD", "Adam", "AdamW", "RMSprop", "Adagrad" or "Adadelta".
        config (dict): What `get_config()` returned.

    Returns:
        Optimizer: A new optimizer with those settings (and empty state).

    Raises:
        ValueError: The class is unknown, or the learning rate was a plain callable that a
            file cannot hold.
    """
    classes = {cls.__name__: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta)}
    if class_name not in classes:
        raise ValueError(
            f"unknown optimizer class {class_name!r}; expected one of: "
            + ", ".join(sorted(classes))
        )
    config = dict(config)
    if isinstance(config.get("lr"), dict):
        from hat import schedules

        config["lr"] = schedules.from_config(config["lr"])
    elif isinstance(config.get("lr"), str):
        raise ValueError(
            f"the optimizer's learning rate was a plain callable ({config['lr']}), "
            "which a file cannot hold; pass the optimizer to fit again"
        )
    return classes[class_name](**config)
