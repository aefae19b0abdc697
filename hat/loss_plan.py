"""How fit's `loss_func` turns a model's outputs and targets into a value and output gradients.

Three kinds, as Hat and Keras take them:
- a name or Loss (one for every output, summed) or a list with one per output: the numba
  kernels, with the output activation's gradient fused in where the output allows it;
- Hat's `loss_func(md)`: a function of the model that reads `md.out_nodes_`, `md.any_nodes_`
  and `md.gt_nodes_` (symbolic values on hat.backend's tape) and returns a scalar;
- Keras' `loss(y_true, y_pred)` of one's own, written with hat.backend: applied to each output
  on the tape and summed.
"""

import inspect

import numpy as np

from hat import checks, losses


def takes_model(fn) -> bool:
    """Whether a callable is Hat's f(md) (one required argument) rather than f(y_true, y_pred)."""
    return _required_args(fn) == 1


def _required_args(fn) -> int:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return 2
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(
        1
        for p in signature.parameters.values()
        if p.kind in kinds and p.default is inspect.Parameter.empty
    )


def _is_builtin(loss) -> bool:
    return (
        isinstance(loss, (str, losses.Loss))
        or (isinstance(loss, type) and issubclass(loss, losses.Loss))
        or loss in losses._LOSSES
    )


class LossPlan:
    """The resolved loss_func of one fit (or evaluate) call."""

    def __init__(self, loss_func, n_outputs: int):
        self.per_output: list[losses.Loss] | None = None
        self.function = None
        self.takes_model = False
        if isinstance(loss_func, (list, tuple)):
            if len(loss_func) != n_outputs:
                raise ValueError(
                    f"loss_func is a list of {len(loss_func)} losses; the model has {n_outputs} "
                    "outputs. Give one loss per output, or one loss for all"
                )
            self.per_output = [losses.get(loss) for loss in loss_func]
        elif _is_builtin(loss_func):
            self.per_output = [losses.get(loss_func)] * n_outputs
        elif callable(loss_func):
            if _required_args(loss_func) not in (1, 2):
                raise TypeError(
                    f"loss_func {loss_func!r} must take the model (Hat's loss_func(md)) or "
                    "(y_true, y_pred) as Keras' losses do"
                )
            self.function = loss_func
            self.takes_model = takes_model(loss_func)
        else:
            raise TypeError(
                f"loss_func must be a name, a Loss, a list of them, or a callable; got "
                f"{type(loss_func).__name__} {loss_func!r}"
            )
        self.name = (
            self.per_output[0].name
            if self.per_output and len(set(map(type, self.per_output))) == 1
            else getattr(self.function, "__name__", "loss")
        )

    @property
    def loss(self) -> losses.Loss | None:
        """The single Loss when every output has the same one (what model.loss reports)."""
        if self.per_output and len(set(map(type, self.per_output))) == 1:
            return self.per_output[0]
        return None

    # -- targets -------------------------------------------------------------------------
    def check_targets(self, ys: list, n: int, model) -> list[np.ndarray]:
        """Each target checked against its output, or (for Hat's f(md)) only its length."""
        if self.per_output is None:  # a function of ours: each target needs only its length
            return [checks.sample_array(y, "y" if len(ys) == 1 else f"y[{i}]", n, model.dtype)
                    for i, y in enumerate(ys)]  # fmt: skip
        shapes = model.output_shapes
        return [
            checks.check_targets(y, n, loss, shape, model.dtype)
            for y, loss, shape in zip(ys, self.per_output, shapes, strict=True)
        ]

    # -- training ------------------------------------------------------------------------
    def value_and_seeds(self, model, ys: list) -> tuple[float, dict, frozenset]:
        """The loss on the last forward pass, and dL/d(value) for the nodes it read."""
        if self.per_output is not None:
            return self._kernel_losses(model, ys)
        return self._tape_loss(model, ys)

    def _kernel_losses(self, model, ys):
        values = model._program.values
        total, seeds, pre = 0.0, {}, set()
        for o, (loss, y) in enumerate(zip(self.per_output, ys, strict=True)):
            i = model._out_steps[o]
            out = values[i]
            grad = model._grad_buffer(o, out)
            if model._fusable_output(o, loss):
                total += loss.fused_value_and_grad(y, out, grad)
                pre.add(i)
            else:
                total += loss.value_and_grad(y, out, grad)
            _add_seed(seeds, i, grad)
        return total, seeds, frozenset(pre)

    def _tape_loss(self, model, ys):
        from hat.backend import tape as T

        values = model._program.values
        steps = model._out_steps + model._any_steps
        with T.Tape() as t:
            watched = [t.watch(values[i]) for i in steps]
            outs, anys = watched[: len(model._out_steps)], watched[len(model._out_steps) :]
            result = self._call(model, outs, anys, ys)
        if not T.is_symbolic(result):
            raise TypeError(
                f"the loss function {getattr(self.function, '__name__', self.function)!r} "
                f"returned {result!r:.60}, which does not depend on the model's outputs; write "
                "it with hat.backend (K) operations on what it reads"
            )
        value = _scalar(result, self.function)
        seeds: dict = {}
        for i, grad in zip(steps, t.gradient(result, watched), strict=True):
            _add_seed(seeds, i, grad)
        return value, seeds, frozenset()

    def _call(self, model, outs, anys, ys):
        if self.takes_model:
            with model._reading_nodes(outs, anys, ys):
                return self.function(model)
        total = 0.0
        for y, out in zip(ys, outs, strict=True):
            total = total + self.function(y, out)
        return total

    # -- evaluation ----------------------------------------------------------------------
    def value(self, model, ys: list, preds: list, anys: list) -> float:
        """The loss on given predictions (numpy, no tape)."""
        if self.per_output is not None:
            return float(
                sum(loss.value(y, p) for loss, y, p in zip(self.per_output, ys, preds, strict=True))
            )
        return _scalar(self._call(model, preds, anys, ys), self.function)


def _add_seed(seeds: dict, i: int, grad: np.ndarray) -> None:
    seeds[i] = grad if i not in seeds else seeds[i] + grad


def _scalar(result, fn) -> float:
    from hat.backend import tape as T

    arr = np.asarray(T.value(result))
    if arr.size != 1:
        raise ValueError(
            f"the loss function {getattr(fn, '__name__', fn)!r} returned shape {arr.shape}; a "
            "loss must be a scalar (take K.mean or K.sum over the batch)"
        )
    return float(arr.reshape(()))
