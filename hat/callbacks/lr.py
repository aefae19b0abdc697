"""Learning-rate callbacks: ReduceLROnPlateau and LearningRateScheduler."""

from hat.callbacks.base import Callback
from hat.callbacks.monitor import Monitor
from hat.checks import non_negative_int


def _set_lr(model, value: float, owner: str) -> None:
    if callable(model.optimizer.lr):
        raise ValueError(
            f"{owner} cannot change a learning rate that is a schedule "
            f"({model.optimizer.lr!r}); use one or the other"
        )
    model.optimizer.lr = float(value)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by `factor` when the monitored value stops improving.

    Args:
        monitor (str): Default "val_loss". The logged value to watch.
        factor (float): Default 0.1. The multiplier, in (0, 1).
        patience (int): Default 10. Epochs without improvement before reducing.
        mode (str): Default "auto". "min", "max", or "auto": "max" for names holding "acc",
            else "min".
        min_delta (float): Default 1e-4. The least change that counts as an improvement.
        cooldown (int): Default 0. Epochs to wait after a reduction before counting again.
        min_lr (float): Default 0.0. The learning rate's floor.
        verbose (int): Default 0. 1 prints a line for each reduction.

    Raises:
        ValueError: `factor` is not in (0, 1), `patience` or `cooldown` is not an int >= 0,
            `mode` is invalid, or, in training, the optimizer's learning rate is a schedule.
        TypeError: `monitor` is not a name.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        verbose: int = 0,
    ):
        super().__init__()
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < 1:
            raise ValueError(f"factor must be a number in (0, 1); got {factor!r}")
        non_negative_int(patience, "patience")
        non_negative_int(cooldown, "cooldown")
        self.tracker = Monitor(monitor, mode, min_delta)
        self.factor, self.patience, self.cooldown = float(factor), patience, cooldown
        self.min_lr, self.verbose = float(min_lr), verbose
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        value = self.tracker.value(logs, "ReduceLROnPlateau")
        if value is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.tracker.improves(value):
            self.tracker.best, self.wait = float(value), 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            old = self.model.optimizer.current_lr()
            new = max(old * self.factor, self.min_lr)
            if new < old:
                _set_lr(self.model, new, "ReduceLROnPlateau")
                if self.verbose:
                    print(f"ReduceLROnPlateau: lr {old:.3g} -> {new:.3g} after epoch {epoch + 1}")
            self.cooldown_counter, self.wait = self.cooldown, 0

    def get_state(self) -> dict:
        return {
            **super().get_state(),
            **self.tracker.get_state(),
            "wait": self.wait,
            "cooldown_counter": self.cooldown_counter,
        }

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self.tracker.set_state(state)
        self.wait, self.cooldown_counter = state["wait"], state["cooldown_counter"]


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of each epoch to schedule(epoch, lr) (Keras').

    Each epoch's logs then hold the rate used, as `lr`.

    Args:
        schedule (callable): `schedule(epoch, lr) -> new_lr`, epoch counted from 0, lr the
            current rate.
        verbose (int): Default 0. 1 prints the rate at each epoch.

    Raises:
        TypeError: `schedule` is not callable.
        ValueError: In training, the schedule returns something other than a number >= 0, or
            the optimizer's learning rate is itself a schedule.
    """

    def __init__(self, schedule, verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule must be a callable (epoch, lr) -> lr; got {schedule!r}")
        self.schedule, self.verbose = schedule, verbose

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        lr = self.schedule(epoch, self.model.optimizer.current_lr())
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr >= 0:
            raise ValueError(
                f"the schedule returned {lr!r} for epoch {epoch}; expected a learning rate >= 0"
            )
        _set_lr(self.model, lr, "LearningRateScheduler")
        if self.verbose:
            print(f"LearningRateScheduler: lr = {lr:.3g} for epoch {epoch + 1}", flush=True)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = self.model.optimizer.current_lr()
