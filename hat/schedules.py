"""Learning-rate schedules: callables lr(iterations) -> float that optimizers accept as `lr`.

`iterations` is the number of updates already made, so the first step uses lr(0). Each
schedule has get_config(), which the model file stores.
"""

import math


class Schedule:
    """Base class of the schedules: a callable `lr(iterations) -> float` with a config.

    A subclass writes `__call__`; `get_config` records its attributes.
    """

    def __call__(self, iterations: int) -> float:
        raise NotImplementedError

    def get_config(self) -> dict:
        """The schedule's class name and arguments, as a model file records them.

        Returns:
            dict: `{"class_name": ..., **arguments}`, nested for a WarmUp's schedule.
        """
        config = {
            k: v.get_config() if isinstance(v, Schedule) else v for k, v in vars(self).items()
        }
        return {"class_name": type(self).__name__, **config}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


def _positive(name, value, allow_zero=False):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}; got {value!r}")
    return value


def _positive_int(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    return value


class StepDecay(Schedule):
    """initial_lr * gamma ** (iterations // step_size).

    Args:
        initial_lr (float): The first rate, > 0.
        step_size (int): Steps between two decays, >= 1.
        gamma (float): Default 0.1. The factor at each decay, > 0.

    Raises:
        ValueError: An argument is out of range.
    """

    def __init__(self, initial_lr: float, step_size: int, gamma: float = 0.1):
        self.initial_lr = _positive("initial_lr", initial_lr)
        self.step_size = _positive_int("step_size", step_size)
        self.gamma = _positive("gamma", gamma)

    def __call__(self, iterations):
        return self.initial_lr * self.gamma ** (iterations // self.step_size)


class ExponentialDecay(Schedule):
    """initial_lr * decay_rate ** (iterations / decay_steps); staircase floors the power.

    Args:
        initial_lr (float): The first rate, > 0.
        decay_steps (int): Steps over which the rate is multiplied by `decay_rate`, > 0.
        decay_rate (float): The factor per `decay_steps`, > 0.
        staircase (bool): Default False. Decay in steps (floor the power) instead of smoothly.

    Raises:
        ValueError: An argument is out of range.
    """

    def __init__(
        self, initial_lr: float, decay_steps: int, decay_rate: float, staircase: bool = False
    ):
        self.initial_lr = _positive("initial_lr", initial_lr)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.decay_rate = _positive("decay_rate", decay_rate)
        self.staircase = bool(staircase)

    def __call__(self, iterations):
        power = iterations / self.decay_steps
        return self.initial_lr * self.decay_rate ** (math.floor(power) if self.staircase else power)


class CosineDecay(Schedule):
    """Half a cosine from initial_lr down to alpha * initial_lr over decay_steps, then flat.

    Args:
        initial_lr (float): The first rate, > 0.
        decay_steps (int): Steps of the decay, > 0; the rate stays at its floor after them.
        alpha (float): Default 0.0. The floor, as a fraction of `initial_lr`, >= 0.

    Raises:
        ValueError: An argument is out of range.
    """

    def __init__(self, initial_lr: float, decay_steps: int, alpha: float = 0.0):
        self.initial_lr = _positive("initial_lr", initial_lr)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.alpha = _positive("alpha", alpha, allow_zero=True)

    def __call__(self, iterations):
        progress = min(iterations, self.decay_steps) / self.decay_steps
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.initial_lr * ((1 - self.alpha) * cosine + self.alpha)


class WarmUp(Schedule):
    """A linear ramp from lr/warmup_steps to the target over warmup_steps, then the target.

    The target is a constant lr or another schedule (which then counts from the end of the
    warm-up).

    Args:
        after (float | Schedule): The rate, or the schedule, that follows the warm-up.
        warmup_steps (int): Steps of the ramp, >= 1.

    Raises:
        TypeError: `after` is neither a number nor a Schedule.
        ValueError: `warmup_steps` is not an int >= 1.
    """

    def __init__(self, after, warmup_steps: int):
        if not (isinstance(after, Schedule) or isinstance(after, (int, float))):
            raise TypeError(f"WarmUp needs a learning rate or a Schedule; got {after!r}")
        self.after = after
        self.warmup_steps = _positive_int("warmup_steps", warmup_steps)

    def _target(self, iterations):
        return self.after(iterations) if isinstance(self.after, Schedule) else self.after

    def __call__(self, iterations):
        if iterations < self.warmup_steps:
            return self._target(0) * (iterations + 1) / self.warmup_steps
        return self._target(iterations - self.warmup_steps)


_CLASSES = {cls.__name__: cls for cls in (StepDecay, ExponentialDecay, CosineDecay, WarmUp)}


def from_config(config: dict) -> Schedule:
    """Rebuild a schedule from its get_config() (a model file's record).

    Args:
        config (dict): What `get_config()` returned.

    Returns:
        Schedule: The schedule.

    Raises:
        ValueError: The class name is unknown.
    """
    args = {
        k: from_config(v) if isinstance(v, dict) else v
        for k, v in config.items()
        if k != "class_name"
    }
    if config.get("class_name") not in _CLASSES:
        raise ValueError(
            f"unknown schedule {config.get('class_name')!r}; expected one of: "
            + ", ".join(sorted(_CLASSES))
        )
    return _CLASSES[config["class_name"]](**args)
