"""Which way is better for a monitored value, and by how much it must move to count."""

import math


class Monitor:
    """Tracks the best value of logs[monitor]; mode 'auto' maximises accuracies, else minimises.

    The shared part of ModelCheckpoint, EarlyStopping and ReduceLROnPlateau.

    Args:
        monitor (str): The logged value to watch, such as "val_loss".
        mode (str): Default "auto". "min", "max", or "auto": "max" for names holding "acc",
            else "min".
        min_delta (float): Default 0.0. The least change that counts as an improvement (its
            sign is ignored).
        baseline (float | None): Default None. The value to beat first; None: inf or -inf.

    Raises:
        TypeError: `monitor` is not a non-empty string.
        ValueError: `mode` is not "auto", "min" or "max".

    Attributes:
        best (float): The best value so far.
    """

    def __init__(
        self,
        monitor: str,
        mode: str = "auto",
        min_delta: float = 0.0,
        baseline: float | None = None,
    ):
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"monitor must be the name of a logged value; got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}")
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(float(min_delta))
        self.best = baseline if baseline is not None else (math.inf if mode == "min" else -math.inf)

    def value(self, logs: dict, owner: str) -> float | None:
        """The monitored value, or None (with a note) when this epoch did not log it.

        Args:
            logs (dict): The epoch's logs.
            owner (str): The callback's name, for the note.

        Returns:
            float | None: `logs[monitor]`, or None when absent.
        """
        value = (logs or {}).get(self.monitor)
        if value is None:
            available = ", ".join(sorted(logs or {})) or "nothing"
            print(
                f"{owner}: '{self.monitor}' is not in the logs (they hold {available}); "
                "skipping this epoch",
                flush=True,
            )
        return value

    def improves(self, value: float) -> bool:
        """Whether a value beats the best by more than min_delta (NaN never does).

        Args:
            value (float | None): The epoch's monitored value.

        Returns:
            bool: True when it is an improvement.
        """
        if value is None or math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def get_state(self) -> dict:
        """The state a checkpoint keeps.

        Returns:
            dict: `{"best": best}`.
        """
        return {"best": self.best}

    def set_state(self, state: dict) -> None:
        """Take back the state `get_state` returned.

        Args:
            state (dict): A dict holding "best".
        """
        self.best = state["best"]
