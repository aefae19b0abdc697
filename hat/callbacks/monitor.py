"""Which way is better for a monitored value, and by how much it must move to count."""

import math


class Monitor:
    """Tracks the best value of logs[monitor]; mode 'auto' maximises accuracies, else minimises."""

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
        """The monitored value, or None (with a note) when this epoch did not log it."""
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
        if value is None or math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def get_state(self) -> dict:
        return {"best": self.best}

    def set_state(self, state: dict) -> None:
        self.best = state["best"]
