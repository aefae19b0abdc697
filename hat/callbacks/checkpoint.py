"""ModelCheckpoint and EarlyStopping: both remember their best value across a resume."""

import os

import numpy as np

from hat.callbacks.base import Callback
from hat.callbacks.monitor import Monitor
from hat.checks import non_negative_int


class ModelCheckpoint(Callback):
    """Saves the model (or its weights) every epoch or every save_freq batches.

    filepath may hold {epoch} (1-based, as Keras) and any logged value, e.g.
    "ckpt/{epoch:02d}-{val_loss:.3f}.h5". With save_best_only, a file is written only when the
    monitored value improves, and the best value survives a resume, so a better file is never
    overwritten by a worse one. Full-model files hold everything needed to resume exactly
    (`fit(..., resume_from=path)`).

    Args:
        filepath (str | os.PathLike): Where to write, a format string as above; folders are
            created.
        monitor (str): Default "val_loss". The logged value to watch (`loss`, `val_loss`,
            `val_accuracy`, ...).
        mode (str): Default "auto". "min", "max", or "auto": "max" for names holding "acc",
            else "min".
        save_best_only (bool): Default False. Write only when `monitor` improves.
        save_weights_only (bool): Default False. Write `save_weights`'s file (weights only)
            instead of the full model.
        save_freq (str | int): Default "epoch". "epoch", or a number of batches between saves.
        verbose (int): Default 0. 1 prints a line for each file written.
        initial_value_threshold (float | None): Default None. With save_best_only, a value the
            first file must beat.

    Raises:
        TypeError: `filepath` is not a path, or `monitor` is not a name.
        ValueError: `save_freq` or `mode` is invalid, or, when saving, `filepath` names a
            value that is not logged.

    Attributes:
        last_saved (str | None): The path of the last file written.
    """

    writes_checkpoints = True  # fit runs it after the other callbacks

    def __init__(
        self,
        filepath,
        monitor: str = "val_loss",
        mode: str = "auto",
        save_best_only: bool = False,
        save_weights_only: bool = False,
        save_freq="epoch",
        verbose: int = 0,
        initial_value_threshold: float | None = None,
    ):
        super().__init__()
        if not isinstance(filepath, (str, os.PathLike)):
            raise TypeError(f"filepath must be a path; got {filepath!r}")
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1
        ):
            raise ValueError(
                f"save_freq must be 'epoch' or a number of batches >= 1; got {save_freq!r}"
            )
        self.filepath = os.fspath(filepath)
        self.tracker = Monitor(monitor, mode, baseline=initial_value_threshold)
        self.save_best_only, self.save_weights_only = save_best_only, save_weights_only
        self.save_freq, self.verbose = save_freq, verbose
        self.last_saved: str | None = None

    @property
    def best(self) -> float:
        """The best monitored value so far (inf or -inf before the first)."""
        return self.tracker.best

    def on_train_begin(self, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch" and self.model.iteration % self.save_freq == 0:
            self._save(self.model.epoch + 1, logs or {})  # the epoch in progress, 1-based

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch + 1, logs or {})

    def _save(self, epoch: int, logs: dict) -> None:
        if self.save_best_only:
            value = self.tracker.value(logs, "ModelCheckpoint")
            if not self.tracker.improves(value):
                return
            self.tracker.best = float(value)
        path = self._format_path(epoch, logs)
        from hat.distributed import writes_here

        if not writes_here():  # in an MPI job, rank 0 alone writes
            self.last_saved = path
            return
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        self.last_saved = path
        if self.verbose:
            print(f"ModelCheckpoint: saved {path}", flush=True)

    def _format_path(self, epoch: int, logs: dict) -> str:
        try:
            return self.filepath.format(**{**logs, "epoch": epoch})
        except KeyError as err:
            raise ValueError(
                f"ModelCheckpoint filepath {self.filepath!r} names {err}, which is "
                f"not logged; logged values: {sorted(logs)}"
            ) from None

    def get_state(self) -> dict:
        return {**super().get_state(), **self.tracker.get_state(), "last_saved": self.last_saved}

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self.tracker.set_state(state)
        self.last_saved = state.get("last_saved")


class EarlyStopping(Callback):
    """Stops training when the monitored value has not improved for `patience` epochs.

    Args:
        monitor (str): Default "val_loss". The logged value to watch (`loss`, `val_loss`,
            `val_accuracy`, ...).
        mode (str): Default "auto". "min", "max", or "auto": "max" for names holding "acc",
            else "min".
        min_delta (float): Default 0.0. The least change that counts as an improvement.
        patience (int): Default 0. Epochs without improvement before stopping.
        baseline (float | None): Default None. A value to beat; training stops if it is not
            beaten within `patience` epochs.
        restore_best_weights (bool): Default False. On stopping, put back the weights of the
            best epoch.
        start_from_epoch (int): Default 0. Epochs to wait before watching (a warm-up).
        verbose (int): Default 0. 1 prints a line when it stops or restores.

    Raises:
        TypeError: `monitor` is not a name.
        ValueError: `mode` is invalid, or `patience` or `start_from_epoch` is not an int >= 0.

    Attributes:
        stopped_epoch (int | None): The epoch (from 0) after which training stopped.
        best_epoch (int | None): The epoch (from 0) of the best value.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
        verbose: int = 0,
    ):
        super().__init__()
        non_negative_int(patience, "patience")
        non_negative_int(start_from_epoch, "start_from_epoch")
        self.tracker = Monitor(monitor, mode, min_delta, baseline)
        self.patience, self.start_from_epoch = patience, start_from_epoch
        self.restore_best_weights, self.verbose = restore_best_weights, verbose
        self.wait = 0
        self.stopped_epoch = None
        self.best_epoch = None
        self.best_weights: list[np.ndarray] | None = None

    @property
    def best(self) -> float:
        """The best monitored value so far (inf or -inf before the first)."""
        return self.tracker.best

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_from_epoch:
            return
        value = self.tracker.value(logs, "EarlyStopping")
        if value is None:
            return
        if self.tracker.improves(value):
            self.tracker.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.verbose:
                print(
                    f"EarlyStopping: no improvement of {self.tracker.monitor} for "
                    f"{self.wait} epochs; stopping after epoch {epoch + 1}",
                    flush=True,
                )
            if self.restore_best_weights and self.best_weights is not None:
                self.model.set_weights(self.best_weights)
                if self.verbose:
                    print(f"EarlyStopping: restored the weights of epoch {self.best_epoch + 1}")

    def get_state(self) -> dict:
        state = {
            **super().get_state(),
            **self.tracker.get_state(),
            "wait": self.wait,
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
        }
        if self.best_weights is not None:
            state["best_weights"] = self.best_weights
        return state

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self.tracker.set_state(state)
        self.wait, self.best_epoch = state["wait"], state["best_epoch"]
        self.stopped_epoch = state["stopped_epoch"]
        self.best_weights = state.get("best_weights")
