"""Model.evaluate: metrics by name, f(y_true, y_pred), or Hat's f(md), in inference mode."""

import numpy as np

from hat import checks, losses
from hat import metrics as metrics_mod
from hat.loss_plan import takes_model


def evaluate(model, x, y, batch_size, metrics) -> dict:
    """{metric name: value} on (x, y); see Model.evaluate."""
    if metrics is None:
        metrics = default_metrics(model)
    if isinstance(metrics, str) or not isinstance(metrics, (list, tuple)):
        metrics = metrics_mod.get_list(metrics)  # raises the clear error for a bare name
    named = [_resolve(m) for m in metrics]
    xs = model._inputs(x)
    n = xs[0].shape[0]
    of_model = [(name, fn) for name, fn, md in named if md]
    pairs = [(name, fn) for name, fn, md in named if not md]
    results: dict = {}
    needs_any = bool(of_model)
    preds, anys = model._predict_all(xs, batch_size, with_any=needs_any)
    if pairs:
        ys = checks.as_list(y, "y", len(preds), "outputs")
        sparse = any(name == "sparse_categorical_crossentropy" for name, _ in pairs)
        for o, (target, pred) in enumerate(zip(ys, preds, strict=True)):
            loss = losses.get("sparse_categorical_crossentropy") if sparse else model.loss
            target = targets_for_metrics(target, n, loss, pred.shape[1:], model.dtype)
            prefix = f"{model.out_nodes[o].layer.name}_" if len(preds) > 1 else ""
            for name, fn in pairs:
                results[prefix + name] = float(fn(target, pred))
    if of_model:
        ys = list(y) if isinstance(y, (list, tuple)) and _arrays(y) else [y]
        ys = [checks.sample_array(t, f"y[{i}]", n, model.dtype) for i, t in enumerate(ys)]
        results.update(batch_means(model, of_model, preds, anys, ys, batch_size))
    return {name: results[name] for name in _ordered(named, results, len(preds))}


def _resolve(metric) -> tuple:
    """(name, fn, is Hat's f(md)) for a name, a callable, or a (name, fn) pair."""
    if isinstance(metric, tuple) and len(metric) == 2 and isinstance(metric[0], str):
        name, fn = metric
    elif callable(metric) and not isinstance(metric, str) and takes_model(metric):
        name, fn = getattr(metric, "__name__", "metric"), metric
    else:
        name, fn = metrics_mod.get(metric)
    return name, fn, takes_model(fn) and not isinstance(metric, str)


def default_metrics(model) -> list:
    """The training loss (by name, or Hat's function of the model), then the train metrics."""
    if model.loss_func is None and model.loss is None:
        raise ValueError("evaluate needs metrics=[...] (the model has no loss yet)")
    first = model.loss_func if callable(model.loss_func) and model.loss is None else None
    if first is None:
        first = model.loss.name if model.loss is not None else model.loss_func
    return [first] + list(model.train_metrics)


def batch_means(model, functions, preds, anys, ys, batch_size) -> dict:
    """Hat's metrics of the model: each function's value per batch, weighted by batch size."""
    n = preds[0].shape[0]
    size = n if batch_size is None else batch_size
    sums = dict.fromkeys((name for name, _ in functions), 0.0)
    for start in range(0, n, size):
        part = slice(start, start + size)
        count = min(size, n - start)
        with model._reading_nodes(
            [p[part] for p in preds], [a[part] for a in anys], [t[part] for t in ys]
        ):
            for name, fn in functions:
                sums[name] += _scalar(fn(model), name) * count
    return {name: total / n for name, total in sums.items()}


def targets_for_metrics(y, n, loss, output_shape, dtype):
    """Targets as given: one-hot rows or class labels (metrics accept either)."""
    arr = np.asarray(y)
    loss = loss or losses.get("categorical_crossentropy")
    if output_shape[-1] > 1 and arr.ndim == 1:
        loss = losses.get("sparse_categorical_crossentropy")
    elif loss.sparse_targets:
        loss = losses.get("categorical_crossentropy")
    return checks.check_targets(arr, n, loss, output_shape, dtype)


def _ordered(named, results, n_outputs) -> list:
    if n_outputs == 1:
        return list(dict.fromkeys(name for name, _, _ in named))
    return list(results)


def _arrays(values) -> bool:
    return all(isinstance(v, np.ndarray) for v in values)


def _scalar(value, name) -> float:
    arr = np.asarray(value)
    if arr.size != 1:
        raise ValueError(f"the metric {name!r} returned shape {arr.shape}; expected a scalar")
    return float(arr.reshape(()))
