"""Weight penalties added to the training loss: L1, L2 and L1L2, passed as W_reg= or b_reg=."""

import numpy as np


class Regularization:
    """A penalty on one parameter array: value(W) adds to the loss, add_gradient adds to dW.

    Subclass it for your own penalty: write `value` and `add_gradient` (and `get_config` for
    model files).
    """

    def value(self, w: np.ndarray) -> float:
        """The penalty's value for a parameter array.

        Args:
            w (np.ndarray): The parameter array.

        Returns:
            float: What the penalty adds to the loss.
        """
        raise NotImplementedError

    def add_gradient(self, w: np.ndarray, dw: np.ndarray) -> None:
        """Add the penalty's gradient to a parameter's gradient, in place.

        Args:
            w (np.ndarray): The parameter array.
            dw (np.ndarray): Its gradient, same shape, added to in place.
        """
        raise NotImplementedError

    def penalty_kernels(self) -> list:
        """The numba kernels `penalize` calls, with their argument specs, so that a cold start
        compiles them ahead (see hat.layers.base.Layer.backward_kernels).

        Returns:
            list: (kernel, spec) pairs; none by default.
        """
        return []

    def penalize(self, w: np.ndarray, dw: np.ndarray | None) -> float:
        """value(w), and add_gradient(w, dw) unless dw is None: what training calls each step
        (subclasses may do both in one pass).

        Args:
            w (np.ndarray): The parameter array.
            dw (np.ndarray | None): Its gradient, added to in place; None: the value only.

        Returns:
            float: The penalty's value.
        """
        if dw is not None:
            self.add_gradient(w, dw)
        return self.value(w)

    def get_config(self) -> dict:
        """The penalty's class name and factors, as a model file records them.

        Returns:
            dict: Such as `{"class_name": "L2", "l2": 0.01}`.
        """
        return {"class_name": type(self).__name__, **vars(self)}


def _check_factor(name: str, value: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not np.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


class L1L2(Regularization):
    """l1 * sum(|W|) + l2 * sum(W ** 2): both penalties at once.

    Args:
        l1 (float): Default 0.01. The L1 factor, >= 0.
        l2 (float): Default 0.01. The L2 factor, >= 0 (the gradient adds 2 * l2 * W).

    Raises:
        ValueError: A factor is negative or not a finite number.
    """

    def __init__(self, l1: float = 0.01, l2: float = 0.01):
        self.l1 = _check_factor("l1", l1)
        self.l2 = _check_factor("l2", l2)

    def value(self, w):
        return float(self.l1 * np.abs(w).sum() + self.l2 * np.square(w).sum())

    def add_gradient(self, w, dw):
        if self.l1:
            dw += (self.l1 * np.sign(w)).astype(dw.dtype)
        if self.l2:
            dw += (2 * self.l2) * w

    def penalty_kernels(self):
        """See Regularization.penalty_kernels.

        Returns:
            list: The one-pass penalty kernel.
        """
        from hat.kernels.optim import l1l2_penalty

        return [(l1l2_penalty, "A1 A1 f f b")]

    def penalize(self, w, dw):
        """value(w), and add_gradient(w, dw) unless dw is None, in one numba pass.

        One pass instead of numpy's four temporaries (0.34 ms a step on the from-scratch CNN's
        188,000 dense weights; the kernel takes a fraction of that).

        Args:
            w (np.ndarray): The parameter array.
            dw (np.ndarray | None): Its gradient, added to in place; None: the value only.

        Returns:
            float: The penalty's value.
        """
        from hat.kernels.optim import l1l2_penalty

        grad = dw.reshape(-1) if dw is not None else w.reshape(-1)  # unused without dw
        return float(l1l2_penalty(w.reshape(-1), grad, self.l1, self.l2, dw is not None))


class L1(L1L2):
    """l1 * sum(|W|).

    Args:
        l1 (float): Default 0.01. The factor, >= 0.

    Raises:
        ValueError: `l1` is negative or not a finite number.
    """

    def __init__(self, l1: float = 0.01):
        super().__init__(l1=l1, l2=0.0)

    def get_config(self):
        return {"class_name": "L1", "l1": self.l1}


class L2(L1L2):
    """l2 * sum(W ** 2); its gradient is 2 * l2 * W, so L2(5e-4 / 2) is PyTorch's
    `weight_decay=5e-4` on SGD.

    Args:
        l2 (float): Default 0.01. The factor, >= 0.

    Raises:
        ValueError: `l2` is negative or not a finite number.
    """

    def __init__(self, l2: float = 0.01):
        super().__init__(l1=0.0, l2=l2)

    def get_config(self):
        return {"class_name": "L2", "l2": self.l2}


_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}


def get(reg) -> Regularization | None:
    """None, a Regularization, or its config dict ({'class_name': 'L2', 'l2': 0.01}).

    Args:
        reg (Regularization | dict | None): A penalty, a `get_config()` dict, or None.

    Returns:
        Regularization | None: The penalty, or None.

    Raises:
        TypeError: `reg` is none of those.
    """
    if reg is None or isinstance(reg, Regularization):
        return reg
    if isinstance(reg, dict) and reg.get("class_name") in _CLASSES:
        args = {k: v for k, v in reg.items() if k != "class_name"}
        return _CLASSES[reg["class_name"]](**args)
    raise TypeError(f"a regularizer must be L1(...), L2(...), L1L2(...) or None; got {reg!r}")
