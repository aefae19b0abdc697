"""The fit loop: argument checks, batches, shuffling, callbacks, progress, resuming."""

import math
import signal
import threading
import time
import warnings

import numpy as np

from hat import checks, losses, optimizers
from hat import metrics as metrics_mod
from hat.callbacks import CallbackList, History, ProgbarLogger
from hat.models import DivergenceWarning


def fit_loop(
    model,
    x,
    y,
    *,
    batch_size,
    n_epochs,
    loss_func,
    optimizer,
    clip,
    callbacks,
    shuffle,
    verbose,
    epochs,
    validation_data,
    validation_split,
    initial_epoch,
    metrics,
    allow_nonfinite,
    resume_from,
    augment,
) -> History:
    loss = losses.get(loss_func or model.loss or "categorical_crossentropy")
    optimizer = optimizers.get(optimizer or model.optimizer or optimizers.SGD(0.01, rho=0.9))
    if clip is not None:
        clip = optimizers._check_number("clip", clip, 0.0, inclusive=False)
    if metrics is not None:
        model.train_metrics = metrics_mod.get_list(metrics)
    x = checks.as_batch_array(x, "x", model.input_shape, model.dtype)
    y = checks.check_targets(y, x.shape[0], loss, model.output_shape, model.dtype)
    if not allow_nonfinite:
        checks.check_finite(x, "x")
        if y.dtype.kind == "f":
            checks.check_finite(y, "y")
    x, y, val = _split_validation(x, y, validation_data, validation_split, model, loss)
    if val is not None and validation_data is not None and not allow_nonfinite:
        checks.check_finite(val[0], "validation x")
        if val[1].dtype.kind == "f":
            checks.check_finite(val[1], "validation y")
    batch_size = min(checks.positive_int(batch_size, "batch_size"), x.shape[0])
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2; got {verbose!r}")
    if callbacks is not None and not isinstance(callbacks, (list, tuple)):
        raise TypeError(
            f"callbacks must be a list of Callback instances; got {type(callbacks).__name__}. "
            f"Write callbacks=[{type(callbacks).__name__}(...)]"
        )
    callbacks = list(callbacks or [])
    if augment is not None and not callable(augment):
        raise TypeError(f"augment must be a callable (batch_x, rng) -> batch_x; got {augment!r}")

    record = None
    if resume_from is not None:
        from hat import io

        record = io.read_checkpoint(resume_from, model, optimizer)
        optimizer = record["optimizer"]
    elif initial_epoch is not None:
        model.epoch = checks.non_negative_int(initial_epoch, "initial_epoch")
    target = _target_epoch(model, n_epochs, epochs, record)

    model.loss, model.optimizer = loss, optimizer
    model.stop_training = False
    model.fit_target_epoch = target
    n_batches = math.ceil(x.shape[0] / batch_size)
    history = History()
    progress = [ProgbarLogger(verbose, n_batches, target)] if verbose else []
    cbs = CallbackList(progress + [history] + callbacks, model)
    model.history, model.active_callbacks = history, callbacks
    if record is not None:
        _restore_callbacks(record, callbacks, history)

    resumed_progress = record["epoch_progress"] if record else None
    cbs.on_train_begin({})
    interrupt = _InterruptAtBatchEnd()
    run = _Run(model, x, y, batch_size, loss, optimizer, clip, shuffle, augment, cbs, interrupt)
    try:
        while model.epoch < target and not model.stop_training and not interrupt.requested:
            epoch = model.epoch
            cbs.on_epoch_begin(epoch, {})
            start = time.perf_counter()
            logs = _run_epoch(run, resumed_progress)
            resumed_progress = None
            model.tr_time += time.perf_counter() - start
            if val is not None:
                logs.update(_validation_logs(model, val, loss, batch_size))
            model.epoch += 1
            model.epoch_progress = None
            cbs.on_epoch_end(epoch, logs)
        cbs.on_train_end({})
    finally:
        interrupt.restore()
        model.active_callbacks = []
    if interrupt.requested:
        raise KeyboardInterrupt(
            "fit stopped at the end of a batch; the model and its History hold every finished batch"
        )
    return history


def _stop_diverged(model, batch: int, value: float) -> None:
    model.stop_training = True
    warnings.warn(
        f"training stopped at epoch {model.epoch + 1}, batch {batch + 1}: the loss is {value}; "
        f"first non-finite: {model.divergence}. The weights are those of the last good step. "
        "Lower the learning rate, or clip gradients (clip=, clipnorm=)",
        DivergenceWarning,
        stacklevel=4,
    )


class _InterruptAtBatchEnd:
    """Ctrl-C during fit: finish the current batch, close the epoch and the callbacks
    (on_train_end, so a checkpoint can be written), then raise KeyboardInterrupt. A second
    Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self._previous = None
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
        ):  # respect an ignore
            self._previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame):
        self.requested = True
        signal.signal(signal.SIGINT, self._previous)

    def restore(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _target_epoch(model, n_epochs, epochs, record) -> int:
    """The epoch number at which this fit stops."""
    if epochs is not None:  # Keras: train up to epoch number `epochs`
        target = checks.non_negative_int(epochs, "epochs")
        if target <= model.epoch:
            raise ValueError(
                f"epochs={epochs} leaves nothing to train: the model has already "
                f"trained {model.epoch} epochs"
            )
        return target
    if record is not None and record["fit_target_epoch"] is not None:
        return record["fit_target_epoch"]  # the interrupted fit's own target
    return model.epoch + checks.positive_int(n_epochs, "n_epochs")


def _restore_callbacks(record, callbacks, history) -> None:
    saved = record["callbacks"]
    for index, callback in enumerate(callbacks):
        state = saved.get(f"{index}_{type(callback).__name__}")
        if state is not None:
            callback.set_state(state)
    if record["history"] is not None:
        history.set_state(record["history"])


class _Run:
    """What every epoch of one fit call shares, with the batch buffers it reuses."""

    def __init__(
        self, model, x, y, batch_size, loss, optimizer, clip, shuffle, augment, cbs, interrupt
    ):
        self.model, self.x, self.y = model, x, y
        self.loss, self.optimizer, self.clip = loss, optimizer, clip
        self.shuffle, self.augment, self.cbs, self.interrupt = shuffle, augment, cbs, interrupt
        self.batch_x = np.empty((batch_size,) + x.shape[1:], x.dtype)  # reused by every batch
        self.batch_y = np.empty((batch_size,) + y.shape[1:], y.dtype)


def _run_epoch(run: _Run, resumed: dict | None = None) -> dict:
    """One epoch (or the rest of one, when resuming); returns its logs. A callback that stops
    training mid-epoch ends the epoch there, as in Keras: it counts, with the batches seen."""
    model, x, y, cbs = run.model, run.x, run.y, run.cbs
    n, batch_size = x.shape[0], run.batch_x.shape[0]
    if resumed is not None:
        order = resumed.get("order")
        sums = dict(resumed["sums"])
        first_batch = int(resumed["next_batch"])
    else:
        order = model.rng.permutation(n) if run.shuffle else None
        sums = {"loss": 0.0, "seen": 0, **{name: 0.0 for name, _ in model.train_metrics}}
        first_batch = 0
    for batch in range(first_batch, math.ceil(n / batch_size)):
        start = batch * batch_size
        stop = min(start + batch_size, n)
        size = stop - start
        if order is None:
            xb, yb = x[start:stop], y[start:stop]
        else:
            xb, yb = run.batch_x[:size], run.batch_y[:size]
            np.take(x, order[start:stop], axis=0, out=xb)
            np.take(y, order[start:stop], axis=0, out=yb)
        if run.augment is not None:
            xb = run.augment(xb, model.rng)
        cbs.on_batch_begin(batch, {"batch": batch, "size": size})
        value, out, updated = model._train_step(xb, yb, run.loss, run.optimizer, run.clip)
        sums["loss"] += value * size
        sums["seen"] += size
        for name, fn in model.train_metrics:
            sums[name] += fn(yb, out) * size
        # Where the run stands, for a checkpoint written by on_batch_end:
        model.epoch_progress = {"next_batch": batch + 1, "sums": dict(sums)}
        if order is not None:
            model.epoch_progress["order"] = order
        cbs.on_batch_end(batch, {"epoch": model.epoch, "batch": batch, "size": size, "loss": value})
        if not updated:
            _stop_diverged(model, batch, value)
        if model.stop_training or run.interrupt.requested:
            break
    seen = sums.pop("seen")
    return {name: total / seen for name, total in sums.items()}


def _split_validation(x, y, validation_data, validation_split, model, loss):
    """(x, y, (val_x, val_y) or None). validation_split takes the last share of the data,
    before shuffling, as Keras does."""
    if validation_data is not None and validation_split:
        raise ValueError("give validation_data or validation_split, not both")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            got = (
                f"{type(validation_data).__name__} of shape {validation_data.shape}"
                if isinstance(validation_data, np.ndarray)
                else f"{type(validation_data).__name__} {validation_data!r:.80}"
            )
            raise ValueError(f"validation_data must be a pair (x_val, y_val); got {got}")
        vx = checks.as_batch_array(
            validation_data[0], "validation x", model.input_shape, model.dtype
        )
        vy = checks.check_targets(
            validation_data[1], vx.shape[0], loss, model.output_shape, model.dtype
        )
        return x, y, (vx, vy)
    if not validation_split:
        return x, y, None
    if not isinstance(validation_split, float) or not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be a float in (0, 1); got {validation_split!r}")
    n_val = int(x.shape[0] * validation_split)
    if n_val < 1 or n_val >= x.shape[0]:
        raise ValueError(
            f"validation_split={validation_split} of {x.shape[0]} samples leaves no "
            "training or no validation data"
        )
    cut = x.shape[0] - n_val
    return x[:cut], y[:cut], (x[cut:], y[cut:])


def _validation_logs(model, val, loss, batch_size) -> dict:
    pred = model.predict(val[0], batch_size)
    logs = {"val_loss": loss.value(val[1], pred)}
    for name, fn in model.train_metrics:
        logs[f"val_{name}"] = float(fn(val[1], pred))
    return logs
