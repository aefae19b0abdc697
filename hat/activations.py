"""Activation functions, by name (Hat's names) or as callables.

The numpy functions here are for direct use and for reference; layers run the fused numba
kernel that `get` points them to. A user's own activation needs its gradient too, so it is
registered with `register(fn, grad)`.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def linear(x: np.ndarray) -> np.ndarray:
    """The identity: x unchanged.

    Args:
        x (np.ndarray): The input, any shape.

    Returns:
        np.ndarray: The output, same shape.
    """
    return x


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0). The layers' kernel differs on non-finite input only: it keeps it
    non-finite (NaN stays NaN, -inf becomes NaN), so that a diverged value is never hidden
    behind a 0.

    Args:
        x (np.ndarray): The input, any shape.

    Returns:
        np.ndarray: The output, same shape.
    """
    return np.maximum(x, 0)


def leaky_relu(x: np.ndarray, alpha: float = 0.2) -> np.ndarray:
    """x where x > 0, else alpha * x.

    Args:
        x (np.ndarray): The input, any shape.
        alpha (float): Default 0.2. The slope for negative inputs (the layers use 0.2).

    Returns:
        np.ndarray: The output, same shape.
    """
    return np.where(x > 0, x, alpha * x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)).

    Args:
        x (np.ndarray): The input, any shape.

    Returns:
        np.ndarray: The output, same shape.
    """
    return 1 / (1 + np.exp(-x))


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    """Theano's (and Hat's) piecewise-linear sigmoid: clip(0.2 x + 0.5, 0, 1).

    Args:
        x (np.ndarray): The input, any shape.

    Returns:
        np.ndarray: The output, same shape.
    """
    return np.clip(0.2 * x + 0.5, 0, 1)


def tanh(x: np.ndarray) -> np.ndarray:
    """The hyperbolic tangent.

    Args:
        x (np.ndarray): The input, any shape.

    Returns:
        np.ndarray: The output, same shape.
    """
    return np.tanh(x)


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax along the last axis: exp(x) / sum(exp(x)), computed stably.

    Args:
        x (np.ndarray): The input; each row along the last axis becomes probabilities.

    Returns:
        np.ndarray: The output, same shape, each last-axis row summing to 1.
    """
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class ActivationSpec:
    """What a layer needs to run an activation: a kernel code, or a user's pair of functions.

    `get` returns one; layers keep it as `layer.activation`.

    Args:
        name (str): The activation's name.
        code (int): Default -1. The built-in kernel's code; -1 for a user's function.
        alpha (float): Default 0.0. leaky_relu's slope.
        forward (callable | None): Default None. A user's `fn(x) -> y`.
        backward (callable | None): Default None. A user's `grad(x, y, dy) -> dx`.
    """

    name: str
    code: int = -1  # kernel code from hat.kernels.activations; -1 for a user's function
    alpha: float = 0.0
    forward: Callable | None = None  # user's fn(x) -> y
    backward: Callable | None = None  # user's grad(x, y, dy) -> dx

    @property
    def is_builtin(self) -> bool:
        """Whether the activation runs as one of hat's numba kernels."""
        return self.code >= 0


# Codes match hat.kernels.activations (kept as literals so this module does not import numba).
_BUILTIN = {
    "linear": (linear, 0),
    "relu": (relu, 1),
    "leaky_relu": (leaky_relu, 2),
    "sigmoid": (sigmoid, 3),
    "hard_sigmoid": (hard_sigmoid, 4),
    "tanh": (tanh, 5),
    "softmax": (softmax, 6),
}
_ALPHA = {"leaky_relu": 0.2}
_USER: dict[str, ActivationSpec] = {}


def register(fn: Callable, grad: Callable, name: str | None = None) -> Callable:
    """Make `fn` usable as `act=`. grad(x, y, dy) returns dL/dx, where y = fn(x).

    Args:
        fn (callable): `fn(x) -> y`, elementwise or along the last axis.
        grad (callable): `grad(x, y, dy) -> dx`, the gradient through `fn`.
        name (str | None): Default None. The name layers accept; `fn.__name__` when None.

    Returns:
        callable: `fn`, so that `register` works as a decorator's body.

    Raises:
        TypeError: `fn` or `grad` is not callable.
        ValueError: The name is a built-in activation's.
    """
    if not callable(fn) or not callable(grad):
        raise TypeError(f"register expects two callables (fn, grad); got {fn!r} and {grad!r}")
    name = name or fn.__name__
    if name in _BUILTIN:
        raise ValueError(f"activation name {name!r} is built in; choose another name")
    _USER[name] = ActivationSpec(name=name, forward=fn, backward=grad)
    return fn


def names() -> list[str]:
    """The activation names layers accept: the built-in ones, then the registered ones.

    Returns:
        list[str]: "hard_sigmoid", "leaky_relu", "linear", "relu", ...
    """
    return sorted(_BUILTIN) + sorted(_USER)


def get(act: "str | Callable | ActivationSpec") -> ActivationSpec:
    """Resolve an activation given by name, by one of this module's functions, or registered.

    Args:
        act (str | callable | ActivationSpec): A name from `names()`, one of this module's
            functions, a registered function, or a spec (returned as is).

    Returns:
        ActivationSpec: What the layer runs.

    Raises:
        ValueError: The name is unknown.
        TypeError: A callable that was not registered, or neither a name nor a callable.
    """
    if isinstance(act, ActivationSpec):
        return act
    if callable(act):
        for name, (fn, _) in _BUILTIN.items():
            if act is fn:
                return get(name)
        for spec in _USER.values():
            if act is spec.forward:
                return spec
        raise TypeError(
            f"activation {act!r} is a callable that hat cannot differentiate; register it first "
            "with hat.activations.register(fn, grad), or use one of: " + ", ".join(names())
        )
    if isinstance(act, str):
        if act in _BUILTIN:
            return ActivationSpec(name=act, code=_BUILTIN[act][1], alpha=_ALPHA.get(act, 0.0))
        if act in _USER:
            return _USER[act]
        raise ValueError(f"unknown activation {act!r}; expected one of: " + ", ".join(names()))
    raise TypeError(f"act must be a name or a callable; got {type(act).__name__} {act!r}")
