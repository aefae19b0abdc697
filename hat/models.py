"""Sequential (the builder: add, combine) and Model (fit, predict, evaluate, ...)."""

import math
import warnings

import numpy as np

from hat import checks, losses, optimizers, threads
from hat import metrics as metrics_mod
from hat.layers.base import Layer, shape_with_batch
from hat.layers.core import InputLayer


class DivergenceWarning(RuntimeWarning):
    """Training met a NaN or Inf loss or gradient; the last good weights were kept."""


class Sequential:
    """A stack of layers, Hat-style: add() them in order, then combine() into a Model."""

    def __init__(self, layers=None):
        self.layers: list[Layer] = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer) -> "Sequential":
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a Layer; got {type(layer).__name__} {layer!r}")
        if not self.layers and not isinstance(layer, InputLayer):
            raise ValueError(
                f"the first layer must be an InputLayer that declares the sample shape; got "
                f"{type(layer).__name__}. Start with seq.add(InputLayer(784)), for example"
            )
        if self.layers and isinstance(layer, InputLayer):
            raise ValueError(
                f"only the first layer may be an InputLayer; got {layer!r} as layer "
                f"{len(self.layers)}"
            )
        if any(layer is other for other in self.layers):
            raise ValueError(f"{layer!r} was added twice; create a new layer instead")
        self.layers.append(layer)
        return self

    def combine(self, seed: int | None = None, dtype=np.float32) -> "Model":
        """Build every layer and return the Model. The seed defaults to a draw from np.random."""
        if not self.layers:
            raise ValueError("the Sequential is empty; add an InputLayer and some layers first")
        return Model(self.layers, seed=seed, dtype=dtype)

    compile = combine  # Hat 0.1's name


class Model:
    """A trained or trainable stack of built layers, with one random generator of its own.

    All randomness (initial weights, dropout, shuffling) comes from `self.rng`, whose seed is
    drawn from numpy's global state unless given: np.random.seed(1515) makes a script repeat.
    """

    def __init__(self, layers: list[Layer], seed: int | None = None, dtype=np.float32):
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an int or None; got {type(seed).__name__} {seed!r}")
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(
                f"dtype must be float32 or float64 (the kernels' types); got {self.dtype}"
            )
        if not isinstance(layers, (list, tuple)) or not all(
            isinstance(layer, Layer) for layer in layers
        ):
            raise TypeError(f"Model expects a list of Layer instances; got {layers!r:.200}")
        self.layers = list(layers)
        self.epoch = 0  # epochs trained so far; carries over between fit calls, as in Hat
        self.iteration = 0
        self.stop_training = False
        self.history = None
        self.loss = None
        self.optimizer = None
        self.train_metrics: list = []
        self.tr_time = 0.0  # seconds spent in training epochs (Hat's tr_time_)
        # Set by fit while it runs, so that a checkpoint records where the run is:
        self.fit_target_epoch: int | None = None
        self.epoch_progress: dict | None = None
        self.active_callbacks: list = []
        self.divergence: str | None = None  # where values last went non-finite in training
        self._build()

    # -- construction ----------------------------------------------------------------------
    def _build(self) -> None:
        if not self.layers or not isinstance(self.layers[0], InputLayer):
            got = type(self.layers[0]).__name__ if self.layers else "no layers"
            raise ValueError(
                f"the first layer must be an InputLayer that declares the sample shape; got {got}"
                ". Start with InputLayer(784), for example"
            )
        shape, previous = None, None
        for index, layer in enumerate(self.layers):
            if layer.name is None:
                layer.name = f"{type(layer).__name__}_{index}"
            try:
                shape = layer.setup(shape, self.rng, self.dtype)
            except ValueError as err:
                after = (
                    f"{previous.name}, whose output shape is {shape_with_batch(shape)}"
                    if previous
                    else "the start"
                )
                raise ValueError(f"layer {layer.name} cannot follow {after}: {err}") from None
            previous = layer
        names = [layer.name for layer in self.layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"layer names must be unique; {duplicates} appear more than once")
        # Backward stops at the first layer with trainable params, and that layer skips its
        # input gradient (a whole GEMM in the first Dense).
        trainable = [i for i, layer in enumerate(self.layers) if layer.trainable]
        self._first_trainable = trainable[0] if trainable else len(self.layers)
        for layer in self.layers:
            layer.needs_input_grad = True
        if trainable:
            self.layers[self._first_trainable].needs_input_grad = False
        self._fuse_activations()
        self._flatten_parameters()
        # Conv and pooling layers split their work on hat.threads' pool: the model's passes
        # then hold OpenBLAS to one thread.
        self._uses_pool = threads.uses_pool(self.layers)

    def _fuse_activations(self) -> None:
        """BatchNorm followed by an elementwise built-in Activation: BatchNorm applies it in its
        own passes and the Activation passes values through (the same numbers, two fewer
        passes over the tensor each way). Not for the last layer, whose gradient the loss
        may already have taken (preactivation)."""
        from hat.kernels.activations import SOFTMAX
        from hat.layers.core import Activation
        from hat.layers.normalization import BatchNorm

        for layer in self.layers:
            if isinstance(layer, BatchNorm):
                layer.fused_activation = None
            if isinstance(layer, Activation):
                layer.fused = False
        for before, layer in zip(self.layers[:-2], self.layers[1:-1], strict=True):
            spec = getattr(layer, "activation", None)
            if (
                isinstance(before, BatchNorm)
                and isinstance(layer, Activation)
                and spec.is_builtin
                and spec.code != SOFTMAX
            ):
                before.fused_activation, layer.fused = spec, True

    def _flatten_parameters(self) -> None:
        """Move trainable params and their grads into two flat buffers (views stay in layers),
        so the optimizer updates everything in one kernel call."""
        entries = [(layer, key) for layer in self.layers for key in layer.trainable]
        size = sum(layer.params[key].size for layer, key in entries)
        self._flat_params = np.zeros(size, self.dtype)
        self._flat_grads = np.zeros(size, self.dtype)
        self._segments = []
        start = 0
        for layer, key in entries:
            value = layer.params[key]
            stop = start + value.size
            self._flat_params[start:stop] = value.reshape(-1)
            layer.params[key] = self._flat_params[start:stop].reshape(value.shape)
            layer.grads[key] = self._flat_grads[start:stop].reshape(value.shape)
            self._segments.append((start, stop))
            start = stop

    @property
    def input_shape(self) -> tuple:
        return self.layers[0].output_shape

    @property
    def output_shape(self) -> tuple:
        return self.layers[-1].output_shape

    # Hat's read-only properties
    @property
    def epoch_(self) -> int:
        return self.epoch

    @property
    def iter_(self) -> int:
        return self.iteration

    def find_layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r}; the layers are {[la.name for la in self.layers]}")

    # -- the passes ------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        with threads.single_threaded_blas(self._uses_pool):
            for layer in self.layers:
                x = layer.forward(x, training)
        return x

    def backward(self, dy: np.ndarray, preactivation: bool = False) -> None:
        last = self.layers[-1]
        dy = last.backward(dy, preactivation=True) if preactivation else last.backward(dy)
        for layer in reversed(self.layers[self._first_trainable : -1]):
            dy = layer.backward(dy)

    def _fuses_output(self, loss) -> bool:
        act = getattr(self.layers[-1], "activation", None)
        return act is not None and act.is_builtin and act.name == loss.fused_activation

    def _train_step(self, x, y, loss, optimizer, clip) -> tuple[float, np.ndarray, bool]:
        """One forward/backward/update on a batch: (loss, the batch's output, updated?).

        A step whose loss or gradients are not finite makes no update, so the weights stay
        those of the last good step; `divergence` then says where the values broke.
        """
        with (
            np.errstate(all="ignore"),  # non-finite values are caught and reported below
            threads.single_threaded_blas(self._uses_pool),
        ):
            return self._checked_step(x, y, loss, optimizer, clip)

    def _checked_step(self, x, y, loss, optimizer, clip):
        out = self.forward(x, training=True)
        grad = self._output_grad_buffer(out)
        if self._fuses_output(loss):
            value = loss.fused_value_and_grad(y, out, grad)
            self.backward(grad, preactivation=True)
        else:
            value = loss.value_and_grad(y, out, grad)
            self.backward(grad)
        value = float(value + self._apply_regularizers())
        if not (math.isfinite(value) and math.isfinite(float(self._flat_grads.sum()))):
            self.divergence = self.first_nonfinite_layer() or "the loss"
            return value, out, False
        optimizer.update(self._flat_params, self._flat_grads, self._segments, clip)
        self.iteration += 1
        return value, out, True

    def _output_grad_buffer(self, out):
        buf = getattr(self, "_dy", None)
        if buf is None or buf.shape != out.shape:
            buf = self._dy = np.empty_like(out)
        return buf

    def _apply_regularizers(self) -> float:
        penalty = 0.0
        for layer in self.layers:
            for key, reg in layer.regularizers.items():
                grad = layer.grads[key] if key in layer.trainable else None
                penalty += reg.penalize(layer.params[key], grad)
        return penalty

    # -- the public API --------------------------------------------------------------------
    def compile(self, optimizer=None, loss=None, metrics=None) -> "Model":
        """Keras' compile: defaults for fit's optimizer, loss and train metrics (all optional)."""
        if optimizer is not None:
            self.optimizer = optimizers.get(optimizer)
        if loss is not None:
            self.loss = losses.get(loss)
        if metrics is not None:
            self.train_metrics = metrics_mod.get_list(metrics)
        return self

    def fit(
        self,
        x,
        y,
        batch_size=100,
        n_epochs=10,
        loss_func=None,
        optimizer=None,
        clip=None,
        callbacks=None,
        shuffle=True,
        verbose=1,
        *,
        epochs=None,
        validation_data=None,
        validation_split=0.0,
        initial_epoch=None,
        metrics=None,
        allow_nonfinite=False,
        resume_from=None,
        augment=None,
    ):
        """Train; returns a History. n_epochs (Hat) counts epochs to add; epochs (Keras) is the
        epoch number to stop at. loss_func and optimizer default to compile()'s, else to
        Hat's defaults ('categorical_crossentropy', SGD(lr=0.01, rho=0.9)).

        resume_from: a checkpoint written during an earlier fit with the same arguments
        (ModelCheckpoint, SaveModel or save): training continues where it was saved, mid-epoch
        included, and ends with the weights that an uninterrupted run would have.

        augment: a callable (batch_x, rng) -> batch_x applied to each training batch, such as
        hat.preprocessing.RandomShift(2); it draws from the model's generator."""
        from hat.training import fit_loop

        arguments = dict(locals())
        del arguments["self"], arguments["fit_loop"]
        return fit_loop(self, **arguments)

    def train_on_batch(self, x, y, loss_func=None, optimizer=None, clip=None) -> float:
        """One update on one batch; loss and optimizer default to the last fit's or compile's."""
        loss = losses.get(loss_func or self.loss or "categorical_crossentropy")
        optimizer = optimizers.get(optimizer or self.optimizer or optimizers.SGD(0.01, rho=0.9))
        self.loss, self.optimizer = loss, optimizer
        x = checks.as_batch_array(x, "x", self.input_shape, self.dtype)
        y = checks.check_targets(y, x.shape[0], loss, self.output_shape, self.dtype)
        value, _, updated = self._train_step(x, y, loss, optimizer, clip)
        if not updated:
            warnings.warn(
                f"the loss is {value} and the batch made no update; first non-finite: "
                f"{self.divergence}",
                DivergenceWarning,
                stacklevel=2,
            )
        return value

    def predict(self, x, batch_size: int | None = 100) -> np.ndarray:
        """Outputs in inference mode (dropout off), batch by batch; batch_size=None: one batch."""
        x = checks.as_batch_array(x, "x", self.input_shape, self.dtype)
        n = x.shape[0]
        batch_size = n if batch_size is None else checks.positive_int(batch_size, "batch_size")
        out = np.empty((n,) + self.output_shape, self.dtype)
        for start in range(0, n, batch_size):
            out[start : start + batch_size] = self.forward(x[start : start + batch_size], False)
        return out

    def evaluate(self, x, y, batch_size: int | None = 100, metrics=None, return_dict=False):
        """Metrics on (x, y) in inference mode. Default metrics: the training loss, then the
        fit/compile metrics. Returns a float for one metric, else a list (or a dict)."""
        if metrics is None:
            if self.loss is None:
                raise ValueError("evaluate needs metrics=[...] (the model has no loss yet)")
            metrics = [self.loss.name] + [name for name, _ in self.train_metrics]
        named = metrics_mod.get_list(metrics)
        loss = self.loss or losses.get("categorical_crossentropy")
        if any(name == "sparse_categorical_crossentropy" for name, _ in named):
            loss = losses.get("sparse_categorical_crossentropy")
        pred = self.predict(x, batch_size)
        y = _targets_for_metrics(y, pred.shape[0], loss, self.output_shape, self.dtype)
        results = {name: float(fn(y, pred)) for name, fn in named}
        if return_dict:
            return results
        values = list(results.values())
        return values[0] if len(values) == 1 else values

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print) -> None:
        """Hat's table: layer name, output shape, parameter count; then the totals."""
        rule = "-" * 60
        print_fn("---------- summary -----------")
        print_fn(f"{'layer_name':<20}{'out_shape':<20}{'n_params':<20}")
        print_fn(rule)
        for layer in self.layers:
            shape = str(shape_with_batch(layer.output_shape))
            print_fn(f"{layer.name:<20}{shape:<20}{layer.count_params():<20,}")
        print_fn(rule)
        trainable = sum(layer.params[k].size for layer in self.layers for k in layer.trainable)
        total = self.count_params()
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {total - trainable:,}")

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every layer's params, then its state, in layer order."""
        return [
            v.copy()
            for layer in self.layers
            for v in (*layer.params.values(), *layer.state.values())
        ]

    def set_weights(self, weights) -> None:
        targets = [
            v for layer in self.layers for v in (*layer.params.values(), *layer.state.values())
        ]
        names = [
            f"{layer.name}.{key}" for layer in self.layers for key in (*layer.params, *layer.state)
        ]
        if len(weights) != len(targets):
            raise ValueError(
                f"set_weights expects {len(targets)} arrays; got {len(weights)}. In order: "
                + ", ".join(names)
            )
        for i, (target, value) in enumerate(zip(targets, weights, strict=True)):
            value = np.asarray(value)
            if value.shape != target.shape:
                raise ValueError(
                    f"weight {i} has shape {value.shape}; the model expects {target.shape} "
                    f"for {names[i]}"
                )
            target[...] = value  # in place: the flat buffers stay shared

    def save(self, path, include_optimizer: bool = True) -> None:
        """Everything needed to resume training exactly, in one HDF5 file (see docs/saving.md)."""
        from hat import io

        io.save(self, path, include_optimizer)

    def save_weights(self, path) -> None:
        """Only the layers' params and state."""
        from hat import io

        io.save_weights(self, path)

    def load_weights(self, path) -> None:
        """Weights from a weights or model file; layer names and shapes must match."""
        from hat import io

        io.load_weights(self, path)

    def first_nonfinite_layer(self) -> str | None:
        """The first layer whose last output, or whose gradient, holds NaN or Inf (a diagnosis
        after a loss went non-finite); None when all are finite."""
        for layer in self.layers:
            buf = layer._buffers.get("y")
            if buf is not None and not np.isfinite(buf).all():
                return f"the output of {layer.name}"
        for layer in reversed(self.layers):
            for key, grad in layer.grads.items():
                if not np.isfinite(grad).all():
                    return f"the gradient of {layer.name}.{key}"
        return None


def _targets_for_metrics(y, n, loss, output_shape, dtype):
    """Targets as given: one-hot rows or class labels (metrics accept either)."""
    arr = np.asarray(y)
    if output_shape[-1] > 1 and arr.ndim == 1:
        loss = losses.get("sparse_categorical_crossentropy")
    elif loss.sparse_targets:
        loss = losses.get("categorical_crossentropy")
    return checks.check_targets(arr, n, loss, output_shape, dtype)


def load_model(path) -> Model:
    """A model saved with Model.save or hat.serializations.save."""
    from hat import io

    return io.load(path)
