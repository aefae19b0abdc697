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
    """-sum(y_true * log(y_pred)) over the last axis, y_pred clipped to [eps, 1 - eps].

    Args:
        y_true (np.ndarray): The targets, one-hot rows (or probabilities) of y_pred's shape.
        y_pred (np.ndarray): The predictions, (batch, ..., n).

    Returns:
        float: The mean over the samples (and the steps of a sequence output).
    """
    p = np.clip(y_pred, epsilon(), 1 - epsilon())
    return float(-(y_true * np.log(p)).sum(axis=-1).mean())


def sparse_categorical_crossentropy(y_true, y_pred):
    """-log(y_pred[i, label_i]) per sample, the probability clipped to [eps, 1 - eps].

    Args:
        y_true (np.ndarray): The class indices, ints or whole floats, one per row of y_pred:
            (batch,) or (batch, 1), or (batch, T) for a sequence output.
        y_pred (np.ndarray): The predicted probabilities, (batch, n_classes) or
            (batch, T, n_classes).

    Returns:
        float: The mean over the samples (and the steps of a sequence output).
    """
    labels = np.asarray(y_true).astype(np.int64).reshape(-1)
    rows = np.asarray(y_pred).reshape(-1, np.shape(y_pred)[-1])
    p = np.clip(rows[np.arange(labels.shape[0]), labels], epsilon(), 1 - epsilon())
    return float(-np.log(p).mean())


def binary_crossentropy(y_true, y_pred):
    """-(t log p + (1 - t) log(1 - p)) summed over the last axis, p clipped to [eps, 1 - eps].

    Args:
        y_true (np.ndarray): The targets in [0, 1], of y_pred's shape.
        y_pred (np.ndarray): The predictions, (batch, ..., n).

    Returns:
        float: The mean over the samples (and the steps of a sequence output).
    """
    p = np.clip(y_pred, epsilon(), 1 - epsilon())
    return float(-(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)).sum(axis=-1).mean())


def mse(y_true, y_pred):
    """The squared distance per sample: (y_pred - y_true)^2 summed over the last axis.

    Args:
        y_true (np.ndarray): The targets, of y_pred's shape.
        y_pred (np.ndarray): The predictions, (batch, ..., n).

    Returns:
        float: The mean over the samples (and the steps of a sequence output).
    """
    return float(np.square(y_pred - y_true).sum(axis=-1).mean())


def mae(y_true, y_pred):
    """The absolute distance per sample: |y_pred - y_true| summed over the last axis.

    Args:
        y_true (np.ndarray): The targets, of y_pred's shape.
        y_pred (np.ndarray): The predictions, (batch, ..., n).

    Returns:
        float: The mean over the samples (and the steps of a sequence output).
    """
    return float(np.abs(y_pred - y_true).sum(axis=-1).mean())


class Loss:
    """A training loss. Subclasses give `value` (numpy) and `gradient` (dL/dy_pred, numpy).

    A Loss is called like its function: `loss(y_true, y_pred) -> float`.

    Attributes:
        name (str): The loss's name in logs and model files.
        sparse_targets (bool): True when y_true holds class indices, not one row per output.
        fused_activation (str | None): The output activation whose gradient
            `fused_value_and_grad` takes in one kernel, or None.
    """

    name = "loss"
    sparse_targets = False  # True when y_true holds class indices, not one row per output
    fused_activation: str | None = None  # output activation whose gradient the kernel fuses in

    def __call__(self, y_true, y_pred) -> float:
        return self.value(y_true, y_pred)

    def value(self, y_true, y_pred) -> float:
        """The loss on a batch.

        Args:
            y_true (np.ndarray): The targets.
            y_pred (np.ndarray): The predictions, (batch, ...).

        Returns:
            float: The mean over the samples (and the steps of a sequence output).

        Raises:
            NotImplementedError: A subclass did not implement it.
        """
        raise NotImplementedError

    def gradient(self, y_true, y_pred) -> np.ndarray:
        """dL/dy_pred on a batch (of the mean loss, so scaled by 1 / batch).

        Args:
            y_true (np.ndarray): The targets.
            y_pred (np.ndarray): The predictions, (batch, ...).

        Returns:
            np.ndarray: The gradient, of y_pred's shape.

        Raises:
            NotImplementedError: A subclass did not implement it.
        """
        raise NotImplementedError

    def value_and_grad(self, y_true, y_pred, dy) -> float:
        """The loss, with dL/dy_pred written into dy (one kernel in the built-in losses).

        Args:
            y_true (np.ndarray): The targets.
            y_pred (np.ndarray): The predictions, (batch, ...).
            dy (np.ndarray): Written: dL/dy_pred, of y_pred's shape and dtype.

        Returns:
            float: The mean loss over the samples.
        """
        dy[...] = self.gradient(y_true, y_pred)
        return self.value(y_true, y_pred)

    def fused_value_and_grad(self, y_true, y_pred, dz) -> float:
        """The loss, with dL/dz written into dz, z being the input of `fused_activation`.

        Args:
            y_true (np.ndarray): The targets.
            y_pred (np.ndarray): The activation's output, (batch, ...).
            dz (np.ndarray): Written: dL/dz, of y_pred's shape and dtype.

        Returns:
            float: The mean loss over the samples.

        Raises:
            NotImplementedError: The loss has no fused form (fused_activation is None).
        """
        raise NotImplementedError


def _kernels():
    from hat.kernels import losses  # numba loads on first use, not at import

    return losses


def _rows(a):
    """The kernels take (rows, last axis): a sequence output (N, T, K) is N*T rows of K."""
    a = np.asarray(a)
    return a if a.ndim == 2 else a.reshape(-1, a.shape[-1])


class CategoricalCrossentropy(Loss):
    """Categorical crossentropy on one-hot targets ("categorical_crossentropy"), fused with
    softmax."""

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
    """Categorical crossentropy on class indices ("sparse_categorical_crossentropy"), fused
    with softmax."""

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
    """Binary crossentropy on targets in [0, 1] ("binary_crossentropy"), fused with sigmoid."""

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
    """The squared distance per sample ("mse", "mean_squared_error")."""

    name = "mse"

    def value(self, y_true, y_pred):
        return mse(y_true, y_pred)

    def value_and_grad(self, y_true, y_pred, dy):
        return _kernels().mean_squared_error(_rows(y_pred), _rows(y_true), _rows(dy))


class MeanAbsoluteError(Loss):
    """The absolute distance per sample ("mae", "mean_absolute_error")."""

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
    """The loss names that `get` takes.

    Returns:
        list[str]: The names, sorted.
    """
    return sorted(_BY_NAME)


def get(loss: "str | Callable | Loss") -> Loss:
    """A Loss from a name, one of this module's functions, a Loss class or instance.

    Args:
        loss (str | callable | Loss | type): A name (see `names()`), one of this module's
            functions, a Loss subclass (instantiated) or a Loss (returned as it is).

    Returns:
        Loss: The loss.

    Raises:
        ValueError: The name is unknown; the message lists the names.
        TypeError: `loss` is a plain callable (hat cannot differentiate it) or of another
            type.
    """
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
