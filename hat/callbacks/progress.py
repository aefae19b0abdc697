"""History and progress: what fit always attaches."""

import sys
import time

from hat.callbacks.base import Callback


class History(Callback):
    """What fit returns: the epoch-by-epoch logs and each batch's loss.

    fit calls History before the user's callbacks and keeps each epoch's logs dict itself, so
    the values that later callbacks add to it (Validation's, say) appear here too, and a
    checkpoint written by a later callback already holds the epoch it closes.

    Attributes:
        epoch (list[int]): The epochs trained, from 0, one entry per epoch.
        epoch_logs (list[dict]): Each epoch's logs, in order.
        batch_history (dict[str, list]): Per training batch: "epoch", "batch" (its index in the
            epoch), "loss" and "size" (its number of samples).

    Example:
        ```python
        history = md.fit(x, y, n_epochs=10)
        history.history["loss"]        # ten per-epoch means
        ```
    """

    def __init__(self):
        super().__init__()
        self.epoch: list[int] = []
        self.epoch_logs: list[dict] = []
        self.batch_history: dict[str, list] = {"epoch": [], "batch": [], "loss": [], "size": []}

    @property
    def history(self) -> dict[str, list]:
        """Per-epoch values by name: `{"loss": [...], "val_loss": [...], ...}`, Keras' layout."""
        values: dict[str, list] = {}
        for logs in self.epoch_logs:
            for key, value in logs.items():
                values.setdefault(key, []).append(value)
        return values

    def on_train_begin(self, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        for key in self.batch_history:
            self.batch_history[key].append(logs[key])

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        self.epoch_logs.append(logs if logs is not None else {})

    def get_state(self) -> dict:
        return {
            "epoch": self.epoch,
            "epoch_logs": self.epoch_logs,
            "batch_history": self.batch_history,
        }

    def set_state(self, state: dict) -> None:
        self.epoch = list(state["epoch"])
        self.epoch_logs = [dict(logs) for logs in state["epoch_logs"]]
        self.batch_history = {k: list(v) for k, v in state["batch_history"].items()}


class ProgbarLogger(Callback):
    """The progress display that fit attaches for verbose=1 and verbose=2.

    verbose=1: a tqdm bar per epoch with the running loss and samples/s, redrawn at most twice
    a second (one line in a terminal or a notebook); verbose=2: one line per epoch.

    Args:
        verbose (int): Default 1. 1 for the bar, 2 for a line per epoch (0: fit attaches none).
        n_batches (int): Default 0. Batches per epoch, the bar's length.
        n_epochs (int): Default 0. The last epoch's number, shown as "epoch 3/10".
    """

    def __init__(self, verbose: int = 1, n_batches: int = 0, n_epochs: int = 0):
        super().__init__()
        self.verbose, self.n_batches, self.n_epochs = verbose, n_batches, n_epochs
        self._bar = None

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._last_draw = time.perf_counter()
        self._seen, self._loss_sum = 0, 0.0
        if self.verbose == 1:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=self.n_batches,
                desc=f"epoch {epoch + 1}/{self.n_epochs}",
                unit="batch",
                leave=True,
                dynamic_ncols=True,
                mininterval=0.5,
                file=sys.stdout,
            )

    def on_batch_end(self, batch, logs=None):
        self._seen += logs["size"]
        self._loss_sum += logs["loss"] * logs["size"]
        if self._bar is None:
            return
        self._bar.update(1)
        now = time.perf_counter()
        if now - self._last_draw > 0.5:
            self._last_draw = now
            self._bar.set_postfix(self._postfix(now), refresh=False)

    def _postfix(self, now) -> dict:
        rate = self._seen / max(now - self._start, 1e-9)
        return {"loss": f"{self._loss_sum / max(self._seen, 1):.4f}", "samples/s": f"{rate:,.0f}"}

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        if self._bar is not None:
            self._bar.set_postfix(self._postfix(now), refresh=True)
            self._bar.close()
            self._bar = None
        elif self.verbose == 2:
            parts = [f"epoch {epoch + 1}/{self.n_epochs}", f"{now - self._start:.1f}s"]
            parts += [f"{k}: {v:.4f}" for k, v in (logs or {}).items() if isinstance(v, float)]
            parts.append(f"{self._seen / max(now - self._start, 1e-9):,.0f} samples/s")
            print(" - ".join(parts), flush=True)

    def on_train_end(self, logs=None):
        if self._bar is not None:  # training stopped mid-epoch
            self._bar.close()
            self._bar = None
