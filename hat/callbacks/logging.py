"""Logging callbacks: CSVLogger, TerminateOnNaN, LambdaCallback, PlotHistory."""

import csv
import math
import os

from hat.callbacks.base import Callback


class CSVLogger(Callback):
    """Writes one row per epoch (epoch, then every logged value) to a CSV file.

    append=True continues an existing file (for a resumed run); the columns are fixed by the
    first row written.

    Args:
        filename (str | os.PathLike): The CSV file.
        separator (str): Default ",". The column separator.
        append (bool): Default False. Continue an existing file instead of replacing it.
    """

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.separator, self.append = separator, append
        self.keys: list[str] | None = None

    def on_train_begin(self, logs=None):
        from hat.distributed import writes_here

        self._writes = writes_here()  # in an MPI job, rank 0 alone writes
        if self._writes and not self.append and os.path.exists(self.filename):
            os.remove(self.filename)
        if self.append and os.path.exists(self.filename):
            with open(self.filename, newline="") as f:
                header = next(csv.reader(f, delimiter=self.separator), None)
            self.keys = header[1:] if header else None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
        if not getattr(self, "_writes", True):
            return
        new_file = not os.path.exists(self.filename)
        with open(self.filename, "a", newline="") as f:
            writer = csv.writer(f, delimiter=self.separator)
            if new_file:
                writer.writerow(["epoch", *self.keys])
            writer.writerow([epoch, *(logs.get(k, "") for k in self.keys)])


class TerminateOnNaN(Callback):
    """Stops training at the first batch whose loss is NaN or Inf.

    It prints, and keeps in `report`, where the loss went non-finite and the first layer whose
    output or gradient did. It takes no arguments.

    Attributes:
        report (str | None): The message, once training was stopped.
    """

    def __init__(self):
        super().__init__()
        self.report: str | None = None

    def on_train_begin(self, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            where = self.model.first_nonfinite_layer() or self.model.divergence
            self.report = (
                f"TerminateOnNaN: the loss became {loss} at epoch "
                f"{self.model.epoch + 1}, batch {batch + 1}"
                + (f"; first non-finite: {where}" if where else "")
            )
            print(self.report, flush=True)
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions: on_epoch_end=lambda epoch, logs: ..., and so on.

    Example:
        ```python
        LambdaCallback(on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
        ```

    Args:
        **hooks (callable): Functions by hook name, each called as the hook is:
            `on_train_begin(logs)`, `on_train_end(logs)`, `on_epoch_begin(epoch, logs)`,
            `on_epoch_end(epoch, logs)`, `on_batch_begin(batch, logs)`,
            `on_batch_end(batch, logs)`. A hook given None is skipped.

    Raises:
        TypeError: A name is not one of those hooks, or a value is not callable.
    """

    HOOKS = (
        "on_train_begin",
        "on_train_end",
        "on_epoch_begin",
        "on_epoch_end",
        "on_batch_begin",
        "on_batch_end",
    )
    """The hook names LambdaCallback accepts."""

    def __init__(self, **hooks):
        super().__init__()
        unknown = set(hooks) - set(self.HOOKS)
        if unknown:
            raise TypeError(f"LambdaCallback takes {', '.join(self.HOOKS)}; got {sorted(unknown)}")
        for name, fn in hooks.items():
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable; got {fn!r}")
        self.hooks = {k: v for k, v in hooks.items() if v is not None}

    def on_train_begin(self, logs=None):
        self._run("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._run("on_train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._run("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._run("on_epoch_end", epoch, logs)

    def on_batch_begin(self, batch, logs=None):
        self._run("on_batch_begin", batch, logs)

    def on_batch_end(self, batch, logs=None):
        self._run("on_batch_end", batch, logs)

    def _run(self, hook, *args):
        if hook in self.hooks:
            self.hooks[hook](*args)


class PlotHistory(Callback):
    """A PNG of the loss and metric curves (train and validation), redrawn after every epoch.

    Needs matplotlib (`pip install matplotlib`).

    Args:
        path (str | os.PathLike): Default "history.png". The image file; folders are created.

    Raises:
        ImportError: matplotlib is not installed.
    """

    def __init__(self, path="history.png"):
        super().__init__()
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise ImportError("PlotHistory needs matplotlib: pip install matplotlib") from None
        self.path = os.fspath(path)

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        from hat.distributed import writes_here

        if writes_here():  # in an MPI job, rank 0 alone writes
            plot_history(self.model.history, self.path)


_SPLITS = (
    ("val_", "validation"),
    ("tr_", "train (inference)"),
    ("va_", "validation (Hat)"),
    ("te_", "test"),
)


def _panel_and_label(key: str) -> tuple[str, str]:
    """'val_loss' -> ('loss', 'validation'), 'te_accuracy' -> ('accuracy', 'test'), ..."""
    for prefix, label in _SPLITS:
        if key.startswith(prefix):
            return key[len(prefix) :], label
    return key, "train"


def plot_history(history, path) -> None:
    """Draw a History's per-epoch curves: one panel per quantity, one line per split (train,
    validation, and the tr_/va_/te_ values that Hat's Validation adds).

    Args:
        history (History): What `fit` returned.
        path (str | os.PathLike): The PNG to write; folders are created.

    Raises:
        ImportError: matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: dict[str, list] = {}
    for key, values in history.history.items():
        if key != "lr":
            name, label = _panel_and_label(key)
            panels.setdefault(name, []).append((label, values))
    names = sorted(panels)
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.5), squeeze=False)
    epochs = [e + 1 for e in history.epoch]
    for ax, name in zip(axes[0], names, strict=True):
        for label, values in panels[name]:
            ax.plot(epochs[-len(values) :], values, marker="o", label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
