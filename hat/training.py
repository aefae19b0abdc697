"""The fit loop: argument checks, batches, shuffling, callbacks, progress."""

import math
import time

import numpy as np

from hat import checks, losses, optimizers
from hat import metrics as metrics_mod
from hat.callbacks import CallbackList, History, ProgbarLogger


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
) -> History:
    loss = losses.get(loss_func or model.loss or "categorical_crossentropy")
    optimizer = optimizers.get(optimizer or model.optimizer or optimizers.SGD(0.01, rho=0.9))
    if clip is not None:
        clip = optimizers._check_number("clip", clip, 0.0, inclusive=False)
    if metrics is not None:
        model.train_metrics = [metrics_mod.get(m) for m in metrics]
    x = checks.as_batch_array(x, "x", model.input_shape, model.dtype)
    y = checks.check_targets(y, x.shape[0], loss, model.output_shape, model.dtype)
    if not allow_nonfinite:
        checks.check_finite(x, "x")
        if y.dtype.kind == "f":
            checks.check_finite(y, "y")
    x, y, val = _split_validation(x, y, validation_data, validation_split, model, loss)
    batch_size = min(checks.positive_int(batch_size, "batch_size"), x.shape[0])
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2; got {verbose!r}")
    if initial_epoch is not None:
        model.epoch = _non_negative_int(initial_epoch, "initial_epoch")
    if epochs is not None:  # Keras: train up to epoch number `epochs`
        n_epochs = _non_negative_int(epochs, "epochs") - model.epoch
        if n_epochs < 1:
            raise ValueError(
                f"epochs={epochs} leaves nothing to train: the model has already "
                f"trained {model.epoch} epochs"
            )
    n_epochs = checks.positive_int(n_epochs, "n_epochs")

    model.loss, model.optimizer = loss, optimizer
    model.stop_training = False
    n_batches = math.ceil(x.shape[0] / batch_size)
    history = History()
    progress = [ProgbarLogger(verbose, n_batches, model.epoch + n_epochs)] if verbose else []
    cbs = CallbackList(progress + list(callbacks or []) + [history], model)
    model.history = history
    if not hasattr(model, "tr_time"):
        model.tr_time = 0.0

    batch_x = np.empty((batch_size,) + x.shape[1:], x.dtype)  # reused by every batch
    batch_y = np.empty((batch_size,) + y.shape[1:], y.dtype)
    cbs.on_train_begin({})
    for _ in range(n_epochs):
        if model.stop_training:
            break
        epoch = model.epoch
        cbs.on_epoch_begin(epoch, {})
        start = time.perf_counter()
        logs = _run_epoch(model, x, y, batch_x, batch_y, loss, optimizer, clip, shuffle, cbs)
        model.tr_time += time.perf_counter() - start
        if val is not None:
            logs.update(_validation_logs(model, val, loss, batch_size))
        model.epoch += 1
        cbs.on_epoch_end(epoch, logs)
    cbs.on_train_end({})
    return history


def _run_epoch(model, x, y, batch_x, batch_y, loss, optimizer, clip, shuffle, cbs) -> dict:
    n, batch_size = x.shape[0], batch_x.shape[0]
    order = model.rng.permutation(n) if shuffle else None
    loss_sum, seen = 0.0, 0
    metric_sums = {name: 0.0 for name, _ in model.train_metrics}
    for batch, start in enumerate(range(0, n, batch_size)):
        stop = min(start + batch_size, n)
        size = stop - start
        if order is None:
            xb, yb = x[start:stop], y[start:stop]
        else:
            xb, yb = batch_x[:size], batch_y[:size]
            np.take(x, order[start:stop], axis=0, out=xb)
            np.take(y, order[start:stop], axis=0, out=yb)
        cbs.on_batch_begin(batch, {"batch": batch, "size": size})
        value, out = model._train_step(xb, yb, loss, optimizer, clip)
        loss_sum += value * size
        seen += size
        for name, fn in model.train_metrics:
            metric_sums[name] += fn(yb, out) * size
        cbs.on_batch_end(batch, {"epoch": model.epoch, "batch": batch, "size": size, "loss": value})
        if model.stop_training:
            break
    logs = {"loss": loss_sum / seen}
    logs.update({name: total / seen for name, total in metric_sums.items()})
    return logs


def _split_validation(x, y, validation_data, validation_split, model, loss):
    """(x, y, (val_x, val_y) or None). validation_split takes the last share of the data,
    before shuffling, as Keras does."""
    if validation_data is not None and validation_split:
        raise ValueError("give validation_data or validation_split, not both")
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (x_val, y_val)")
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


def _non_negative_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be an int >= 0; got {value!r}")
    return int(value)
