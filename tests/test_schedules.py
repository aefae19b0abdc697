"""Learning-rate schedules: values, configs, checks, and their use as an optimizer's lr."""

import json
import math

import h5py
import numpy as np
import pytest

from hat import schedules
from hat.callbacks import LambdaCallback
from hat.io import ModelFileError
from hat.models import load_model
from hat.optimizers import SGD, Adam
from hat.schedules import CosineDecay, ExponentialDecay, StepDecay, WarmUp
from tests.helpers.toy import blobs, small_mlp


def values(schedule, iterations):
    return [schedule(i) for i in iterations]


def test_step_decay():
    s = StepDecay(0.1, step_size=10, gamma=0.5)
    assert values(s, [0, 1, 9, 10, 19, 20, 25]) == pytest.approx(
        [0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rel=1e-15
    )
    assert StepDecay(1.0, 3)(7) == pytest.approx(0.01, rel=1e-15)  # default gamma 0.1


def test_exponential_decay():
    s = ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5)
    assert values(s, [0, 50, 100, 150, 300]) == pytest.approx(
        [0.1, 0.1 / math.sqrt(2), 0.05, 0.05 / math.sqrt(2), 0.0125], rel=1e-12
    )
    assert s(1) < s(0)  # smooth: every step decays


def test_exponential_decay_staircase():
    s = ExponentialDecay(0.1, decay_steps=100, decay_rate=0.5, staircase=True)
    assert values(s, [0, 50, 99, 100, 150, 199, 200]) == pytest.approx(
        [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025], rel=1e-15
    )


def test_cosine_decay():
    s = CosineDecay(0.1, decay_steps=100)
    assert values(s, [0, 50, 100, 200]) == pytest.approx([0.1, 0.05, 0.0, 0.0], abs=1e-15)
    assert s(25) == pytest.approx(0.05 * (1 + math.cos(math.pi / 4)), rel=1e-12)


def test_cosine_decay_alpha():
    s = CosineDecay(0.1, decay_steps=100, alpha=0.1)
    # from 0.1 down to alpha * 0.1 = 0.01, then flat
    assert values(s, [0, 50, 100, 150]) == pytest.approx([0.1, 0.055, 0.01, 0.01], rel=1e-12)
    cosine = 0.5 * (1 + math.cos(math.pi * 0.25))
    assert s(25) == pytest.approx(0.1 * (0.9 * cosine + 0.1), rel=1e-12)


def test_warmup_to_a_constant():
    s = WarmUp(0.1, warmup_steps=4)
    assert values(s, [0, 1, 2, 3, 4, 100]) == pytest.approx(
        [0.025, 0.05, 0.075, 0.1, 0.1, 0.1], rel=1e-12
    )


def test_warmup_wrapping_a_schedule():
    s = WarmUp(StepDecay(0.1, step_size=10, gamma=0.5), warmup_steps=5)
    # a ramp up to the wrapped schedule's first value; the schedule then counts from 0
    assert values(s, [0, 4, 5, 14, 15, 25]) == pytest.approx(
        [0.02, 0.1, 0.1, 0.1, 0.05, 0.025], rel=1e-12
    )


ALL = [
    StepDecay(0.1, step_size=10, gamma=0.5),
    ExponentialDecay(0.2, decay_steps=30, decay_rate=0.9, staircase=True),
    ExponentialDecay(0.2, decay_steps=30, decay_rate=0.9),
    CosineDecay(0.3, decay_steps=50, alpha=0.05),
    WarmUp(0.01, warmup_steps=7),
    WarmUp(CosineDecay(0.3, decay_steps=50), warmup_steps=7),
]


@pytest.mark.parametrize("schedule", ALL, ids=repr)
def test_config_round_trip(schedule):
    config = schedule.get_config()
    assert config["class_name"] == type(schedule).__name__
    config = json.loads(json.dumps(config))  # what a model file holds
    rebuilt = schedules.from_config(config)
    assert type(rebuilt) is type(schedule)
    assert rebuilt.get_config() == schedule.get_config()
    iterations = [0, 1, 6, 7, 29, 30, 31, 49, 50, 51, 200]
    assert values(rebuilt, iterations) == values(schedule, iterations)


def test_nested_config():
    config = WarmUp(StepDecay(0.1, 10), warmup_steps=3).get_config()
    assert config == {
        "class_name": "WarmUp",
        "after": {"class_name": "StepDecay", "initial_lr": 0.1, "step_size": 10, "gamma": 0.1},
        "warmup_steps": 3,
    }


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: StepDecay(0, 10), ValueError, "initial_lr"),
        (lambda: StepDecay(-0.1, 10), ValueError, "initial_lr"),
        (lambda: StepDecay(True, 10), ValueError, "initial_lr"),
        (lambda: StepDecay(0.1, 0), ValueError, "step_size"),
        (lambda: StepDecay(0.1, 10, gamma=-1), ValueError, "gamma"),
        (lambda: ExponentialDecay(0.1, 0, 0.5), ValueError, "decay_steps"),
        (lambda: ExponentialDecay(0.1, 10, -0.5), ValueError, "decay_rate"),
        (lambda: ExponentialDecay(float("nan"), 10, 0.5), ValueError, "initial_lr"),
        (lambda: CosineDecay(0.1, 10, alpha=-0.1), ValueError, "alpha"),
        (lambda: CosineDecay(0.1, float("inf")), ValueError, "decay_steps"),
        (lambda: WarmUp("0.1", 5), TypeError, "WarmUp needs a learning rate or a Schedule"),
        (lambda: WarmUp(0.1, 0), ValueError, "warmup_steps"),
        (lambda: schedules.from_config({"class_name": "Linear"}), ValueError, "'Linear'"),
        (lambda: schedules.from_config({"initial_lr": 0.1}), ValueError, "unknown schedule"),
    ],
)
def test_arguments_checked(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_fractional_step_size_is_refused():
    """StepDecay(0.1, step_size=0.5) passes the '> 0' check, then int() makes it 0: the
    schedule must refuse it when built, not raise ZeroDivisionError at the first step."""
    with pytest.raises(ValueError, match="step_size"):
        StepDecay(0.1, step_size=0.5)(3)


# -- a schedule as an optimizer's lr -------------------------------------------------------
def batch():
    x, y, _ = blobs(n=20)
    return x, y


def test_first_step_uses_lr_of_zero_then_lr_of_one():
    x, y = batch()
    md = small_mlp()
    schedule = StepDecay(0.1, step_size=1, gamma=0.1)  # lr(0) = 0.1, lr(1) = 0.01
    optimizer = SGD(schedule)
    for step, lr in enumerate([0.1, 0.01]):
        assert optimizer.current_lr() == pytest.approx(lr, rel=1e-15)
        before = md.get_weights()
        md.train_on_batch(x, y, optimizer=optimizer)
        grads = [g.copy() for layer in md.layers for g in layer.grads.values()]
        after = md.get_weights()
        assert len(after) == len(grads) == 4
        for old, new, grad in zip(before, after, grads, strict=True):
            assert np.abs(lr * grad).max() > 1e-4  # far above float32 rounding
            # param -= lr * grad, up to float32 rounding of the result
            np.testing.assert_allclose(new, old - lr * grad.astype(np.float64), rtol=0, atol=1e-7)
        assert optimizer.iterations == step + 1


def test_schedule_drives_every_step_of_fit():
    x, y, _ = blobs(n=60)
    md = small_mlp()
    schedule = WarmUp(0.05, warmup_steps=4)
    seen = []
    probe = LambdaCallback(on_batch_begin=lambda b, logs: seen.append(md.optimizer.current_lr()))
    md.fit(x, y, batch_size=20, n_epochs=2, optimizer=SGD(schedule), callbacks=[probe], verbose=0)
    assert seen == [schedule(i) for i in range(6)]


def test_schedule_survives_save_and_load(tmp_path):
    x, y = batch()
    md = small_mlp()
    schedule = WarmUp(CosineDecay(0.05, decay_steps=20, alpha=0.1), warmup_steps=3)
    md.fit(x, y, batch_size=5, n_epochs=2, optimizer=Adam(schedule), verbose=0)
    path = tmp_path / "m.h5"
    md.save(path)
    with h5py.File(path, "r") as f:
        config = json.loads(f["optimizer"].attrs["config"])
    assert config["lr"] == schedule.get_config()

    loaded = load_model(path)
    lr = loaded.optimizer.lr
    assert type(lr) is WarmUp and type(lr.after) is CosineDecay
    assert lr.get_config() == schedule.get_config()
    assert loaded.optimizer.iterations == md.optimizer.iterations == 8
    assert loaded.optimizer.current_lr() == md.optimizer.current_lr() == schedule(8)
    # both continue with the same steps
    md.train_on_batch(x[:5], y[:5])
    loaded.train_on_batch(x[:5], y[:5], loss_func="categorical_crossentropy")
    for a, b in zip(md.get_weights(), loaded.get_weights(), strict=True):
        assert np.array_equal(a, b)


def test_a_plain_callable_lr_cannot_be_restored(tmp_path):
    x, y = batch()
    md = small_mlp()
    md.fit(x, y, batch_size=10, n_epochs=1, optimizer=SGD(lambda it: 0.01), verbose=0)
    md.save(tmp_path / "m.h5")
    with pytest.raises(ModelFileError, match="plain callable"):
        load_model(tmp_path / "m.h5")
