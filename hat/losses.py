"""Losses by name (Hat's `loss_func=` names) or as objects.

Every loss averages over samples and sums over the last axis, as Hat's objectives did (so `mse`
is the squared distance per sample, not Keras' mean over every entry). The functions take
(y_true, y_pred) in numpy and serve as metrics; training runs the kernel behind each Loss.
A loss of your own subclasses Loss and implements `value` and `gradient`.
"""

from collections.abc import Callable

import numpy as np

from hat.backend import epsilon


def categorical_crossentropy(y_true, y_pred):
    p = np.clip(y_pred, epsilon(), 1 - epsilon())
    return float(-(y_true * np.log(p)).sum(axis=-1).mean())


def sparse_categorical_crossentropy(y_true, y_pred):
    labels = np.asarray(y_true).astype(np.int64).reshape(-1)
    rows = np.asarray(y_pred).reshape(-1, np.shape(y_pred)[-1])
    p = np.clip(rows[np.arange(labels.shape[0]), labels], epsilon(), 1 - epsilon())
    return float(-np.log(p).mean())


def binary_crossentropy(y_true, y_pred):
    p = np.clip(y_pred, epsilon(), 1 - epsilon())
    return float(-(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)).sum(axis=-1).mean())


def mse(y_true, y_pred):
    return float(np.square(y_pred - y_true).sum(axis=-1).mean())


def mae(y_true, y_pred):
    return float(np.abs(y_pred - y_true).sum(axis=-1).mean())


class Loss:
    """A training loss. Subclasses give `value` (numpy) and `gradient` (dL/dy_pred, numpy)."""

    name = "loss"
    sparse_targets = False  # True when y_true holds class indices, not one row per output
    fused_activation: str | None = None  # output activation whose gradient the kernel fuses in

    def __call__(self, y_true, y_pred) -> float:
        return self.value(y_true, y_pred)

    def value(self, y_true, y_pred) -> float:
        raise NotImplementedError

    def gradient(self, y_true, y_pred) -> np.ndarray:
        raise NotImplementedError

    def value_and_grad(self, y_true, y_pred, dy) -> float:
        """The loss, with dL/dy_pred written into dy."""
        dy[...] = self.gradient(y_true, y_pred)
        return self.value(y_true, y_pred)

    def fused_value_and_grad(self, y_true, y_pred, dz) -> float:
        """The loss, with dL/dz written into dz, z being the input of `fused_activation`."""
        raise NotImplementedError


def _kernels():
    from hat.kernels import losses  # numba loads on first use, not at import

    return losses


def _rows(a):
    """The kernels take (rows, last axis): a sequence output (N, T, K) is N*T rows of K."""
    a = np.asarray(a)
    return a if a.ndim == 2 else a.reshape(-1, a.shape[-1])


class CategoricalCrossentropy(Loss):
    name = "categorical_crossentropy"
    fused_activation = "softmax"

    def value(self, y_true, y_pred):
        return categorical_crossentropy(y_true, y_pred)

    def value_and_grad(self, y_true, y_pred, dy):
        return _kernels().categorical_crossentropy(
            _rows(y_pred), _rows(y_true), epsilon(), _rows(dy)
        )

    def fused_value_and_grad(self, y_true, y_pred, dz):
        return _kernels().softmax_crossentropy(_rows(y_pred), _rows(y_true), epsilon(), _rows(dz))


class SparseCategoricalCrossentropy(Loss):
    name = "sparse_categorical_crossentropy"
    sparse_targets = True
    fused_activation = "softmax"

    def value(self, y_true, y_pred):
        return sparse_categorical_crossentropy(y_true, y_pred)

    def value_and_grad(self, y_true, y_pred, dy):
        return _kernels().sparse_categorical_crossentropy(
            _rows(y_pred), _labels(y_true), epsilon(), _rows(dy)
        )

    def fused_value_and_grad(self, y_true, y_pred, dz):
        return _kernels().sparse_softmax_crossentropy(
            _rows(y_pred), _labels(y_true), epsilon(), _rows(dz)
        )


def _labels(y_true) -> np.ndarray:
    """Labels as the kernels take them: flat int64 (no copy when they already are)."""
    return np.asarray(y_true).astype(np.int64, copy=False).reshape(-1)


class BinaryCrossentropy(Loss):
    name = "binary_crossentropy"
    fused_activation = "sigmoid"

    def value(self, y_true, y_pred):
        return binary_crossentropy(y_true, y_pred)

    def value_and_grad(self, y_true, y_pred, dy):
        return _kernels().binary_crossentropy(_rows(y_pred), _rows(y_true), epsilon(), _rows(dy))

    def fused_value_and_grad(self, y_true, y_pred, dz):
        return _kernels().sigmoid_binary_crossentropy(
            _rows(y_pred), _rows(y_true), epsilon(), _rows(dz)
        )


class MeanSquaredError(Loss):
    name = "mse"

    def value(self, y_true, y_pred):
        return mse(y_true, y_pred)

    def value_and_grad(self, y_true, y_pred, dy):
        return _kernels().mean_squared_error(_rows(y_pred), _rows(y_true), _rows(dy))


class MeanAbsoluteError(Loss):
    name = "mae"

    def value(self, y_true, y_pred):
        return mae(y_true, y_pred)

    def value_and_grad(self, y_true, y_pred, dy):
        return _kernels().mean_absolute_error(_rows(y_pred), _rows(y_true), _rows(dy))


_LOSSES = {
    categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
    mse: MeanSquaredError,
    mae: MeanAbsoluteError,
}
_BY_NAME = {fn.__name__: cls for fn, cls in _LOSSES.items()}
_BY_NAME.update(mean_squared_error=MeanSquaredError, mean_absolute_error=MeanAbsoluteError)


def names() -> list[str]:
    return sorted(_BY_NAME)


def get(loss: "str | Callable | Loss") -> Loss:
    """A Loss from a name, one of this module's functions, a Loss class or instance."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if isinstance(loss, str):
        if loss in _BY_NAME:
            return _BY_NAME[loss]()
        raise ValueError(f"unknown loss {loss!r}; expected one of: " + ", ".join(names()))
    if callable(loss):
        if loss in _LOSSES:
            return _LOSSES[loss]()
        raise TypeError(
            f"loss {loss!r} is a plain callable, which hat cannot differentiate; subclass "
            "hat.losses.Loss (value and gradient) or use one of: " + ", ".join(names())
        )
    raise TypeError(f"loss_func must be a name or a Loss; got {type(loss).__name__} {loss!r}")
