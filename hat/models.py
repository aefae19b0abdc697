"""Sequential (the builder: add, combine) and Model (fit, predict, evaluate, ...)."""

import contextlib
import inspect
import math
import warnings

import numpy as np

from hat import checks, graph, optimizers, threads
from hat import metrics as metrics_mod
from hat.layers.base import Layer, shape_with_batch
from hat.layers.core import InputLayer, fold_dropouts
from hat.layers.normalization import fold_batchnorms
from hat.layers.pooling import fold_pools
from hat.loss_plan import LossPlan


class DivergenceWarning(RuntimeWarning):
    """Training met a NaN or Inf loss or gradient; the last good weights were kept."""


class Sequential:
    """A stack of layers, Hat-style: add() them in order, then combine() into a Model.

    Args:
        layers (list[Layer] | None): Default None. Layers to add() at once, in order; the first
            must be an InputLayer.

    Raises:
        TypeError: An entry of `layers` is not a Layer.
        ValueError: The first layer is not an InputLayer, a later one is, or a layer appears
            twice.

    Attributes:
        layers (list[Layer]): The layers added so far.
    """

    def __init__(self, layers=None):
        self.layers: list[Layer] = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer) -> "Sequential":
        """Append a layer to the stack.

        Args:
            layer (Layer): The next layer; the first one added must be an InputLayer that
                declares the sample shape, and no later one may be.

        Returns:
            Sequential: This stack, so that calls chain.

        Raises:
            TypeError: `layer` is not a Layer.
            ValueError: The first layer is not an InputLayer, a later one is, or `layer` was
                added already.
        """
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
        """Build every layer and return the Model (Hat 0.1's `compile` is the same method).

        Args:
            seed (int | None): Default None. The seed of the model's generator (initial
                weights, dropout, shuffling); None draws one from numpy's global state, so
                np.random.seed(...) makes a script repeat.
            dtype (np.dtype): Default np.float32. The parameters' and activations' dtype,
                float32 or float64.

        Returns:
            Model: The chain of the layers, built.

        Raises:
            ValueError: The stack is empty, dtype is not float32 or float64, or a layer
                cannot follow the one before it (its input shape does not fit).
            TypeError: `seed` is not an int or None.
        """
        if not self.layers:
            raise ValueError("the Sequential is empty; add an InputLayer and some layers first")
        return Model(self.layers, seed=seed, dtype=dtype)

    compile = combine  # Hat 0.1's name


class Model:
    """A graph of layers, trained and run as one: Hat's Model(in_layers, out_layers, any_layers)
    and Keras' Model(inputs=, outputs=); Sequential.combine() builds the chain case.

    All randomness (initial weights, dropout, shuffling) comes from `self.rng`, whose seed is
    drawn from numpy's global state unless given: np.random.seed(1515) makes a script repeat.
    A list of layers alone (Model([InputLayer(4), Dense(3)])) is the chain of those layers.

    Args:
        in_layers (Node | InputLayer | list | None): Default None. Hat's inputs: the
            InputLayers (or their nodes), one per array of x; or a list of layers alone,
            which is the chain of those layers.
        out_layers (Node | list | None): Default None. Hat's outputs: the nodes that layer
            calls returned, one per array of y.
        any_layers (Node | list | None): Default None. Hat's extra nodes, computed with the
            outputs and readable by a loss or metric function through `md.any_nodes_`.
        seed (int | None): Default None. The seed of `self.rng` (initial weights, dropout,
            shuffling); None draws one from numpy's global state.
        dtype (np.dtype): Default np.float32. The parameters' and activations' dtype, float32
            or float64.
        inputs (Node | InputLayer | list | None): Default None. Keras' name for in_layers
            (keyword only; give one of the two).
        outputs (Node | list | None): Default None. Keras' name for out_layers (keyword
            only).

    Raises:
        TypeError: Inputs or outputs are missing, both Hat's and Keras' names are given, an
            entry is not a node or an InputLayer, or `seed` is not an int or None.
        ValueError: dtype is not float32 or float64, layer names repeat, there is no input
            or no output, or a layer's input shape does not fit.
        GraphError: The layers form a cycle, an output depends on an input not listed, an
            input is not an InputLayer, or a shared layer is called on two shapes.

    Attributes:
        layers (list[Layer]): Every layer, in the order the model runs them.
        rng (np.random.Generator): The model's generator.
        epoch (int): Epochs trained so far (carries over between fit calls).
        history (History | None): The History of the last fit.
    """

    def __init__(
        self,
        in_layers=None,
        out_layers=None,
        any_layers=None,
        seed: int | None = None,
        dtype=np.float32,
        *,
        inputs=None,
        outputs=None,
    ):
        self._set_seed(seed, dtype)
        in_nodes, out_nodes, any_nodes = _resolve_nodes(
            in_layers, out_layers, any_layers, inputs, outputs
        )
        self.epoch = 0  # epochs trained so far; carries over between fit calls, as in Hat
        self.iteration = 0
        self.stop_training = False
        self.history = None
        self.loss = None
        self.loss_func = None  # what fit was last given (a name, a Loss, a list or a function)
        self.optimizer = None
        self.train_metrics: list = []
        self.tr_time = 0.0  # seconds spent in training epochs (Hat's tr_time_)
        # Set by fit while it runs, so that a checkpoint records where the run is:
        self.fit_target_epoch: int | None = None
        self.epoch_progress: dict | None = None
        self.active_callbacks: list = []
        self.divergence: str | None = None  # where values last went non-finite in training
        self._symbolic = None  # (outs, anys, gts) while a loss or metric function reads them
        self._build(in_nodes, out_nodes, any_nodes)

    def _set_seed(self, seed, dtype) -> None:
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

    # -- construction ----------------------------------------------------------------------
    def _build(self, in_nodes, out_nodes, any_nodes) -> None:
        from hat.passes import Program

        self.in_nodes, self.out_nodes, self.any_nodes = in_nodes, out_nodes, any_nodes
        self.nodes = graph.topological_order(in_nodes, out_nodes + any_nodes)
        self.layers: list[Layer] = []
        for node in self.nodes:
            if not any(node.layer is seen for seen in self.layers):
                self.layers.append(node.layer)
        for index, layer in enumerate(self.layers):
            if layer.name is None:
                layer.name = f"{type(layer).__name__}_{index}"
        names = [layer.name for layer in self.layers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"layer names must be unique; {duplicates} appear more than once")
        runners = self._setup_layers()
        self._fuse_activations()
        ends = self.out_nodes + self.any_nodes
        # Inference passes only; they leave nothing to back-propagate through (see backward).
        self._folds = fold_batchnorms(self.nodes, ends) + fold_pools(self.nodes, ends)
        fold_dropouts(self.nodes, ends)  # training's: the Dense applies the Dropout after it
        self._flatten_parameters()
        self._program = Program(self.nodes, runners)
        index = self._program.index
        self._in_steps = [index[id(n)] for n in in_nodes]
        self._out_steps = [index[id(n)] for n in out_nodes]
        self._any_steps = [index[id(n)] for n in any_nodes]
        self._grad_buffers: dict[int, np.ndarray] = {}
        self._fusable: dict[tuple, bool] = {}  # (output, loss's fused activation) -> fuse?
        # Conv and pooling layers split their work on hat.threads' pool: the model's passes
        # then hold OpenBLAS to one thread.
        self._uses_pool = threads.uses_pool(self.layers)

    def _setup_layers(self) -> dict[int, Layer]:
        """Build each layer once, in order, from the model's generator; a layer met again (a
        shared layer's later call) gets a runner that shares its parameters."""
        from hat.passes import node_runner

        runners: dict[int, Layer] = {}
        built: dict[int, object] = {}
        for node in self.nodes:
            layer = node.layer
            shapes = [p.output_shape for p in node.inputs]
            shape = None if not node.inputs else shapes if graph.takes_list(layer) else shapes[0]
            if id(layer) in built:
                first = built[id(layer)]
                if graph._shape_key(first) != graph._shape_key(shape):
                    raise graph.GraphError(
                        f"the shared layer {layer.name} is called on {graph._show(first)} and "
                        f"on {graph._show(shape)}; its calls must take the same shape"
                    )
                runners[id(node)] = node_runner(layer)
                node.output_shape = layer.output_shape
                continue
            kept = _weights_of(layer, shape, self.dtype)
            try:
                layer.setup(shape, self.rng, self.dtype)
            except ValueError as err:
                raise ValueError(
                    f"layer {layer.name} cannot follow {_after(node)}: {err}"
                ) from None
            for kind, arrays in (kept or {}).items():  # built by another model: its weights
                for key, value in arrays.items():
                    getattr(layer, kind)[key][...] = value
            layer._built_for = (graph._shape_key(shape), self.dtype)
            built[id(layer)] = shape
            runners[id(node)] = layer
            node.output_shape = layer.output_shape
        return runners

    def _fuse_activations(self) -> None:
        """BatchNorm followed by an elementwise built-in Activation that alone reads it:
        BatchNorm applies it in its own passes and the Activation passes values through (the
        same numbers, two fewer passes over the tensor each way). Not for an output, whose
        gradient the loss may already have taken (preactivation)."""
        from hat.kernels.activations import SOFTMAX
        from hat.layers.core import Activation
        from hat.layers.normalization import BatchNorm

        for layer in self.layers:
            if isinstance(layer, BatchNorm):
                layer.fused_activation = None
            if isinstance(layer, Activation):
                layer.fused = False
        readers: dict[int, list] = {}
        calls: dict[int, int] = {}
        for node in self.nodes:
            calls[id(node.layer)] = calls.get(id(node.layer), 0) + 1
            for parent in node.inputs:
                readers.setdefault(id(parent), []).append(node)
        ends = {id(n) for n in self.out_nodes + self.any_nodes}
        for node in self.nodes:
            layer, spec = node.layer, getattr(node.layer, "activation", None)
            if not (isinstance(layer, Activation) and node.inputs and id(node) not in ends):
                continue
            before = node.inputs[0]
            if (
                isinstance(before.layer, BatchNorm)
                and len(readers.get(id(before), [])) == 1
                and id(before) not in ends
                and calls[id(layer)] == 1
                and calls[id(before.layer)] == 1
                and spec.is_builtin
                and spec.code != SOFTMAX
            ):
                before.layer.fused_activation, layer.fused = spec, True

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
        """The sample shape of the (first) input."""
        return self.in_nodes[0].output_shape

    @property
    def output_shape(self) -> tuple:
        """The sample shape of the (first) output."""
        return self.out_nodes[0].output_shape

    @property
    def input_shapes(self) -> list[tuple]:
        """The sample shape of each input, in order."""
        return [n.output_shape for n in self.in_nodes]

    @property
    def output_shapes(self) -> list[tuple]:
        """The sample shape of each output, in order."""
        return [n.output_shape for n in self.out_nodes]

    # Hat's read-only properties
    @property
    def epoch_(self) -> int:
        """Hat's name for `epoch`: the epochs trained so far."""
        return self.epoch

    @property
    def iter_(self) -> int:
        """Hat's name for `iteration`: the updates made so far."""
        return self.iteration

    @property
    def tr_time_(self) -> float:
        """Hat's name for `tr_time`: the seconds spent in training epochs."""
        return self.tr_time

    @property
    def in_layers_(self) -> list[Layer]:
        """The input layers, in order."""
        return [n.layer for n in self.in_nodes]

    @property
    def in_nodes_(self) -> list:
        """The input nodes, in order."""
        return list(self.in_nodes)

    @property
    def out_nodes_(self) -> list:
        """Inside a loss or metric function: the outputs' values (symbolic while training).
        Elsewhere: the output nodes."""
        return list(self._symbolic[0]) if self._symbolic else list(self.out_nodes)

    @property
    def any_nodes_(self) -> list:
        """Like out_nodes_, for the nodes given as any_layers."""
        return list(self._symbolic[1]) if self._symbolic else list(self.any_nodes)

    @property
    def gt_nodes_(self) -> list:
        """Inside a loss or metric function: the targets of the batch, one per y.

        Raises:
            AttributeError: Read outside a loss or metric function.
        """
        if self._symbolic is None:
            raise AttributeError(
                "gt_nodes_ holds the targets, which exist only while a loss or metric function "
                "runs (inside fit, evaluate or Validation)"
            )
        return list(self._symbolic[2])

    @contextlib.contextmanager
    def _reading_nodes(self, outs, anys, gts):
        previous, self._symbolic = self._symbolic, (outs, anys, gts)
        try:
            yield
        finally:
            self._symbolic = previous

    def find_layer(self, name: str) -> Layer:
        """The layer of a name.

        Args:
            name (str): The layer's name (given, or the default `ClassName_index`).

        Returns:
            Layer: The layer.

        Raises:
            KeyError: No layer has that name; the message lists the names.
        """
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r}; the layers are {[la.name for la in self.layers]}")

    # -- the passes ------------------------------------------------------------------------
    def forward(self, x, training: bool):
        """Run the graph on one batch.

        Args:
            x (np.ndarray | list[np.ndarray]): The batch, one array per input (a list for
                several inputs), already of the model's dtype.
            training (bool): Whether training behaviour is on (dropout, batch statistics).

        Returns:
            np.ndarray | list[np.ndarray]: The output, a list for several outputs.
        """
        xs = x if isinstance(x, list) else [x]
        with threads.single_threaded_blas(self._uses_pool):
            self._program.forward(xs, training)
        outs = [self._program.values[i] for i in self._out_steps]
        return outs[0] if len(outs) == 1 else outs

    def backward(self, dy, preactivation: bool = False) -> None:
        """Back-propagate from the last forward, filling every layer's grads.

        Args:
            dy (np.ndarray | list[np.ndarray]): dL/d(output), a list for several outputs.
            preactivation (bool): Default False. Whether dy is already the gradient before
                the outputs' activations (a loss fused with them).

        Raises:
            RuntimeError: The last forward ran with training=False in a model with folded
                layers (see hat.layers.normalization.fold_batchnorms, pooling.fold_pools).
        """
        if not self._program.last_training and self._folds:
            raise RuntimeError(
                f"backward follows a forward with training=False, in which {self._folds} "
                f"layer(s) ran folded into the layer before them (a BatchNorm, or a 2x2 "
                f"MaxPool2D computed by its Conv2D), keeping nothing to back-propagate "
                f"through; run forward with training=True first"
            )
        dys = dy if isinstance(dy, list) else [dy]
        seeds = dict(zip(self._out_steps, dys, strict=True))
        pre = frozenset(self._out_steps) if preactivation else frozenset()
        self._program.backward(seeds, pre)

    def _fusable_output(self, o: int, loss) -> bool:
        """Whether output o's activation gradient can be fused into its loss: a built-in
        activation matching the loss, on an output that nothing else reads. Asked every step,
        so the answer is kept (the graph is fixed at construction)."""
        key = (o, loss.fused_activation)
        known = self._fusable.get(key)
        if known is None:
            known = self._fusable[key] = self._check_fusable(o, loss)
        return known

    def _check_fusable(self, o: int, loss) -> bool:
        step = self._program.steps[self._out_steps[o]]
        act = getattr(step.runner, "activation", None)
        alone = step.consumers == 0 and self._out_steps.count(step.index) == 1
        alone = alone and step.index not in self._any_steps
        return (
            alone
            and act is not None
            and act.is_builtin
            and act.name == loss.fused_activation
            and hasattr(step.runner, "backward")
            and "preactivation" in inspect.signature(step.runner.backward).parameters
        )

    def _claim_parameters(self) -> None:
        """Point the layers at this model's flat buffers again if another model built on the
        same layers has taken them (each model trains through its own buffers)."""
        for layer in self.layers:
            for key in layer.trainable:
                if layer.params[key].base is not self._flat_params:
                    self._flatten_parameters()
                    return

    def _train_step(self, xs, ys, plan, optimizer, clip) -> tuple[float, list, bool]:
        """One forward/backward/update on a batch: (loss, the batch's outputs, updated?).

        A step whose loss or gradients are not finite makes no update, so the weights stay
        those of the last good step; `divergence` then says where the values broke.
        """
        self._claim_parameters()
        with (
            np.errstate(all="ignore"),  # non-finite values are caught and reported below
            threads.single_threaded_blas(self._uses_pool),
        ):
            return self._checked_step(xs, ys, plan, optimizer, clip)

    def _checked_step(self, xs, ys, plan, optimizer, clip):
        program = self._program
        if not program.ahead_checked:
            self._compile_ahead(optimizer)
        program.forward(xs, training=True)
        value, seeds, pre = plan.value_and_seeds(self, ys)
        program.backward(seeds, pre)
        if program.ahead is not None:
            program.ahead.wait("regularizers")
        value = float(value + self._apply_regularizers())
        outs = [program.values[i] for i in self._out_steps]
        if not (math.isfinite(value) and math.isfinite(float(self._flat_grads.sum()))):
            self.divergence = self.first_nonfinite_layer() or "the loss"
            program.ahead = None
            return value, outs, False
        if program.ahead is not None:
            program.ahead.wait("optimizer")
            program.ahead = None
        optimizer.update(self._flat_params, self._flat_grads, self._segments, clip)
        self.iteration += 1
        program.trained_steps += 1
        if program.trained_steps in (1, 16, 256):  # once the spin loops are cached (compiled
            threads.enable_spin()  # last by a cold start's helper): a few looks, then no more
        return value, outs, True

    def _compile_ahead(self, optimizer) -> None:
        """At the first training step: start compiling the kernels that backward, the
        regularizers and the optimizer will call, where numba's cache lacks them, in a helper
        process while forward runs (hat.kernels.ahead); listed in the order the step needs them,
        after those of inference (Layer.inference_kernels), which the helper compiles last.
        Not for a distributed shard's step (its optimizer only keeps the gradients): the
        ranks already keep the cores busy."""
        from hat.kernels import ahead

        program = self._program
        program.ahead_checked = True
        if not hasattr(optimizer, "update_kernels"):
            return

        def typed(calls):
            return [(kernel, ahead.signature(spec, self.dtype)) for kernel, spec in calls]

        # First in the list, so last in the helper's order: no step waits for them; the first
        # predict finds them in the cache.
        inference = [c for step in program.steps for c in step.runner.inference_kernels()]
        groups = [("predict", typed(inference))] + [
            (step.index, typed(step.runner.backward_kernels()))
            for step in reversed(program.steps)
            if step.needs_grad and not step.is_input
        ]
        penalties = [
            call
            for layer in self.layers
            for reg in layer.regularizers.values()
            for call in reg.penalty_kernels()
        ]
        groups.append(("regularizers", typed(penalties)))
        groups.append(("optimizer", typed(optimizer.update_kernels())))
        # The pool's spin loops last of all: no step waits for them (see _checked_step).
        from hat.kernels import spin

        groups.insert(0, ("spin", typed(spin.KERNELS)))
        program.ahead = ahead.start(groups)

    def _grad_buffer(self, o: int, out):
        buf = self._grad_buffers.get(o)
        if buf is None or buf.shape != out.shape or buf.dtype != out.dtype:
            buf = self._grad_buffers[o] = np.empty_like(out)
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
        """Keras' compile: defaults for fit's optimizer, loss and train metrics (all optional).

        Args:
            optimizer (str | Optimizer | None): Default None. fit's default optimizer, by name
                (see `hat.optimizers`) or an instance; None keeps the current one.
            loss (str | Loss | callable | list | None): Default None. fit's default loss: a
                name or Loss (for every output), a list of them (one per output), Hat's
                `loss(md)` or Keras' `loss(y_true, y_pred)`; None keeps the current one.
            metrics (list | None): Default None. The metrics fit reports each epoch, by name
                or as functions; None keeps the current ones.

        Returns:
            Model: This model, so that calls chain.

        Raises:
            ValueError: An optimizer, loss or metric name is unknown, or a list of losses
                does not have one per output.
            TypeError: An entry is of the wrong type.
        """
        if optimizer is not None:
            self.optimizer = optimizers.get(optimizer)
        if loss is not None:
            plan = LossPlan(loss, len(self.out_nodes))
            self.loss_func, self.loss = loss, plan.loss
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
        distributed=False,
        shards=None,
    ):
        """Train the model; n_epochs (Hat) counts epochs to add, epochs (Keras) is the epoch
        number to stop at. loss_func and optimizer default to compile()'s or the last fit's,
        else to Hat's defaults ('categorical_crossentropy', SGD(lr=0.01, rho=0.9)).

        Args:
            x (np.ndarray | list[np.ndarray]): The training inputs, (n, *input_shape), one
                array per input (a list for several inputs).
            y (np.ndarray | list[np.ndarray]): The targets, one array per output (a list for
                several outputs); class indices or one-hot rows, as the loss expects.
            batch_size (int): Default 100. Samples per update (the global batch when
                distributed); capped at the number of samples.
            n_epochs (int): Default 10. Hat's count of epochs to train in this call.
            loss_func (str | Loss | callable | list | None): Default None. A name or Loss (for
                every output, summed), a list of them (one per output), Hat's function of the
                model `loss_func(md)`, or Keras' `loss(y_true, y_pred)`; None: compile's.
            optimizer (str | Optimizer | None): Default None. By name or an instance; None:
                compile's or the last fit's, else SGD(lr=0.01, rho=0.9).
            clip (float | None): Default None. Hat's element-wise gradient clip, > 0 (it
                combines with the optimizer's clipvalue; the tighter wins).
            callbacks (list[Callback] | None): Default None. Callbacks run after the progress
                bar and the History.
            shuffle (bool): Default True. Whether to draw a new order of the samples each
                epoch (from the model's generator).
            verbose (int): Default 1. 0 silent, 1 a progress bar, 2 one line per epoch.
            epochs (int | None): Default None. Keras' epoch number to stop at; it replaces
                n_epochs when given (keyword only, as are the arguments below).
            validation_data (tuple | None): Default None. A pair (x_val, y_val) evaluated at
                each epoch's end (`val_loss`, `val_<metric>` in the logs).
            validation_split (float): Default 0.0. The share in (0, 1) of the samples, taken
                from the end before shuffling, held out for validation instead.
            initial_epoch (int | None): Default None. Set the model's epoch counter first
                (Keras' resume by hand); ignored with resume_from.
            metrics (list | None): Default None. Training metrics reported each epoch,
                replacing compile's.
            allow_nonfinite (bool): Default False. Accept NaN or Inf in x and y (otherwise
                refused up front).
            resume_from (str | PathLike | None): Default None. A checkpoint written during an
                earlier fit with the same arguments (ModelCheckpoint, SaveModel or save):
                training continues where it was saved, mid-epoch included, and ends with the
                weights that an uninterrupted run would have.
            augment (callable | None): Default None. `augment(batch_x, rng) -> batch_x`
                applied to each training batch, such as hat.preprocessing.RandomShift(2); it
                draws from the model's generator. Models with one input only.
            distributed (bool | Context): Default False. True, or a hat.distributed.Context,
                trains data-parallel over MPI when run under mpiexec (on one rank outside
                it): every rank holds the whole model and data, computes its shards of each
                global batch, and all ranks make the same update; rank 0 alone writes and
                prints. See docs/distributed.md.
            shards (int | None): Default None. With distributed, the fixed number of equal
                pieces each global batch is cut into, a multiple of the number of ranks that
                divides batch_size; None is the number of ranks. For a fixed value the weights
                are bit for bit the same on any number of ranks.

        Returns:
            History: The per-epoch logs (loss, metrics, validation), also `self.history`.

        Raises:
            ValueError: The data do not fit the model's inputs and outputs, hold NaN or Inf,
                an argument is out of range (batch_size, n_epochs, epochs, verbose, clip,
                validation_split), validation_data and validation_split are both given,
                shards is given without distributed or does not fit the ranks and batch, the
                ranks disagree on the model or data, or resume_from belongs to another model.
            TypeError: callbacks is not a list, augment is not callable, distributed is not
                a bool or a Context, or an argument is of the wrong type.
            ImportError: distributed=True and mpi4py is not installed.
            KeyboardInterrupt: Ctrl-C stopped fit at the end of a batch (the model and its
                History hold every finished batch).
        """
        from hat.training import fit_loop

        arguments = dict(locals())
        del arguments["self"], arguments["fit_loop"]
        return fit_loop(self, **arguments)

    def _plan(self, loss_func) -> LossPlan:
        """The loss to use: the one given, else compile's or the last fit's, else Hat's."""
        chosen = loss_func if loss_func is not None else self.loss_func
        return LossPlan(
            chosen if chosen is not None else "categorical_crossentropy", len(self.out_nodes)
        )

    def _inputs(self, x, name: str = "x") -> list[np.ndarray]:
        xs = checks.as_list(x, name, len(self.in_nodes), "inputs")
        arrays = [
            checks.as_batch_array(v, name if len(xs) == 1 else f"{name}[{i}]", shape, self.dtype)
            for i, (v, shape) in enumerate(zip(xs, self.input_shapes, strict=True))
        ]
        counts = {a.shape[0] for a in arrays}
        if len(counts) > 1:
            raise ValueError(
                f"the inputs hold different numbers of samples: {[a.shape[0] for a in arrays]}"
            )
        return arrays

    def _targets(self, y, plan: LossPlan, n: int) -> list[np.ndarray]:
        count = None if plan.takes_model else len(self.out_nodes)
        if count is None:  # Hat's loss_func(md): as many targets as it reads
            ys = list(y) if isinstance(y, (list, tuple)) and _arrays(y) else [y]
        else:
            ys = checks.as_list(y, "y", count, "outputs")
        return plan.check_targets(ys, n, self)

    def train_on_batch(self, x, y, loss_func=None, optimizer=None, clip=None) -> float:
        """One update on one batch; loss and optimizer default to the last fit's or compile's.

        Args:
            x (np.ndarray | list[np.ndarray]): The batch's inputs, one array per input.
            y (np.ndarray | list[np.ndarray]): The batch's targets, one array per output.
            loss_func (str | Loss | callable | list | None): Default None. As in fit; None:
                the last fit's or compile's, else categorical crossentropy.
            optimizer (str | Optimizer | None): Default None. As in fit; None: the current
                one, else SGD(lr=0.01, rho=0.9).
            clip (float | None): Default None. Hat's element-wise gradient clip.

        Returns:
            float: The batch's loss, with the regularizers' penalty, before the update.

        Raises:
            ValueError: The batch does not fit the model's inputs and outputs.
            TypeError: An argument is of the wrong type.

        Warns:
            DivergenceWarning: The loss or a gradient is not finite; no update was made.
        """
        plan = self._plan(loss_func)
        optimizer = optimizers.get(optimizer or self.optimizer or optimizers.SGD(0.01, rho=0.9))
        self.loss_func = loss_func if loss_func is not None else self.loss_func
        self.loss, self.optimizer = plan.loss, optimizer
        xs = self._inputs(x)
        ys = self._targets(y, plan, xs[0].shape[0])
        value, _, updated = self._train_step(xs, ys, plan, optimizer, clip)
        if not updated:
            warnings.warn(
                f"the loss is {value} and the batch made no update; first non-finite: "
                f"{self.divergence}",
                DivergenceWarning,
                stacklevel=2,
            )
        return value

    def predict(self, x, batch_size: int | None = 100):
        """Outputs in inference mode (dropout off), batch by batch.

        Args:
            x (np.ndarray | list[np.ndarray]): The inputs, (n, *input_shape), one array per
                input.
            batch_size (int | None): Default 100. Samples per forward pass; None: one batch.

        Returns:
            np.ndarray | list[np.ndarray]: The outputs, (n, *output_shape); a list with one
                array per output when the model has several.

        Raises:
            ValueError: x does not fit the model's inputs, or batch_size is not positive.
        """
        outs, _ = self._predict_all(self._inputs(x), batch_size, with_any=False)
        return outs[0] if len(outs) == 1 else outs

    def _predict_all(self, xs, batch_size, with_any: bool):
        """(outputs, any_layers' values) on every sample, as lists of arrays."""
        n = xs[0].shape[0]
        batch_size = n if batch_size is None else checks.positive_int(batch_size, "batch_size")
        steps = self._out_steps + (self._any_steps if with_any else [])
        shapes = [self._program.steps[i].node.output_shape for i in steps]
        results = [np.empty((n,) + shape, self.dtype) for shape in shapes]
        for start in range(0, n, batch_size):
            self.forward([a[start : start + batch_size] for a in xs], False)
            for result, i in zip(results, steps, strict=True):
                result[start : start + batch_size] = self._program.values[i]
        k = len(self._out_steps)
        return results[:k], results[k:]

    def evaluate(self, x, y, batch_size: int | None = 100, metrics=None, return_dict=False):
        """Metrics on (x, y) in inference mode, averaged over batches weighted by their size.

        Args:
            x (np.ndarray | list[np.ndarray]): The inputs, one array per input.
            y (np.ndarray | list[np.ndarray]): The targets, one array per output.
            batch_size (int | None): Default 100. Samples per forward pass; None: one batch.
            metrics (list | None): Default None. Names, `f(y_true, y_pred)` or Hat's `f(md)`;
                None: the training loss, then the fit/compile metrics.
            return_dict (bool): Default False. Return a dict of name to value.

        Returns:
            float | list[float] | dict[str, float]: A float for one metric, else a list in
                order (or the dict).

        Raises:
            ValueError: The data do not fit the model, a metric name is unknown or returns no
                scalar, or no metric is given to a model that has no loss yet.
        """
        from hat.evaluation import evaluate

        results = evaluate(self, x, y, batch_size, metrics)
        if return_dict:
            return results
        values = list(results.values())
        return values[0] if len(values) == 1 else values

    def count_params(self) -> int:
        """The number of parameters of every layer, trainable or not.

        Returns:
            int: The count.
        """
        return sum(layer.count_params() for layer in self.layers)

    def summary(self, print_fn=print) -> None:
        """Hat's table: layer name, output shape, parameter count, and what each layer reads;
        then the totals.

        Args:
            print_fn (callable): Default print. Called with each line of the table.
        """
        rule = "-" * 80
        print_fn("---------- summary -----------")
        print_fn(f"{'layer_name':<20}{'out_shape':<20}{'n_params':<16}{'connected_to':<24}")
        print_fn(rule)
        for node in self.nodes:
            layer = node.layer
            shape = str(shape_with_batch(node.output_shape))
            reads = ", ".join(p.layer.name for p in node.inputs)
            print_fn(f"{layer.name:<20}{shape:<20}{layer.count_params():<16,}{reads:<24}")
        print_fn(rule)
        trainable = sum(layer.params[k].size for layer in self.layers for k in layer.trainable)
        total = self.count_params()
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {total - trainable:,}")

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every layer's params, then its state, in layer order.

        Returns:
            list[np.ndarray]: The arrays, in the order set_weights takes them.
        """
        return [
            v.copy()
            for layer in self.layers
            for v in (*layer.params.values(), *layer.state.values())
        ]

    def set_weights(self, weights) -> None:
        """Overwrite every layer's params and state, in place, in get_weights' order.

        Args:
            weights (list[np.ndarray]): One array per param and state entry, each of the
                shape the model holds.

        Raises:
            ValueError: The number of arrays or a shape differs; the message names the
                expected entries.
        """
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
        """Everything needed to resume training exactly, in one HDF5 file (see docs/saving.md).

        Args:
            path (str | PathLike): The file to write.
            include_optimizer (bool): Default True. Whether to store the optimizer and its
                state (needed to resume training).

        Raises:
            OSError: The file cannot be written.
        """
        from hat import io

        io.save(self, path, include_optimizer)

    def save_weights(self, path) -> None:
        """Only the layers' params and state, in one HDF5 file.

        Args:
            path (str | PathLike): The file to write.

        Raises:
            OSError: The file cannot be written.
        """
        from hat import io

        io.save_weights(self, path)

    def load_weights(self, path) -> None:
        """Weights from a weights or model file; layer names and shapes must match.

        Args:
            path (str | PathLike): A file written by save_weights or save.

        Raises:
            ModelFileError: The file is missing or not a hat file, or its layers or shapes
                do not match this model's.
        """
        from hat import io

        io.load_weights(self, path)

    def first_nonfinite_layer(self) -> str | None:
        """The first layer whose last output, or whose gradient, holds NaN or Inf (a diagnosis
        after a loss went non-finite); None when all are finite.

        Returns:
            str | None: "the output of NAME" or "the gradient of NAME.KEY", or None.
        """
        for step in self._program.steps:
            value = self._program.values[step.index]
            if step.is_input or value is None:
                continue
            if isinstance(value, np.ndarray) and not np.isfinite(value).all():
                return f"the output of {step.node.layer.name}"
        for layer in reversed(self.layers):
            for key, grad in layer.grads.items():
                if not np.isfinite(grad).all():
                    return f"the gradient of {layer.name}.{key}"
        return None

    def export(self, path, **options):
        """Write the model as one ONNX file; see `hat.onnx.export`.

        Args:
            path (str | PathLike): The file to write.
            **options (dict): hat.onnx.export's keywords (opset, input_name, output_name,
                batch_size, verify, atol, rtol).

        Returns:
            ExportReport: The file's size, the weights' bytes and the verification.

        Raises:
            ExportError: A layer or activation cannot be exported, or an option is wrong.
            ImportError: onnx (or, with verify, onnxruntime) is not installed.
            MismatchError: verify found values outside the tolerance.
        """
        from hat import onnx

        return onnx.export(self, path, **options)


def _weights_of(layer, shape, dtype) -> dict | None:
    """Copies of the params and state of a layer that another model built for this shape and
    dtype (Keras' sharing of layers between models: an encoder made from a trained
    autoencoder keeps its weights); None for a layer not built yet."""
    if getattr(layer, "_built_for", None) != (graph._shape_key(shape), np.dtype(dtype)):
        return None
    return {
        kind: {k: v.copy() for k, v in getattr(layer, kind).items()} for kind in ("params", "state")
    }


def _arrays(values) -> bool:
    return all(isinstance(v, np.ndarray) for v in values)


def _after(node) -> str:
    """What a node reads, for an error message."""
    if not node.inputs:
        return "the start"
    parts = [
        f"{p.layer.name}, whose output shape is {shape_with_batch(p.output_shape)}"
        for p in node.inputs
    ]
    return " and ".join(parts)


def _resolve_nodes(in_layers, out_layers, any_layers, inputs, outputs):
    """(input nodes, output nodes, any nodes) from Hat's or Keras' arguments, or from a plain
    list of layers (the chain)."""
    if inputs is not None or outputs is not None:
        if in_layers is not None or out_layers is not None:
            raise TypeError("give in_layers/out_layers (Hat) or inputs/outputs (Keras), not both")
        in_layers, out_layers = inputs, outputs
    if in_layers is None:
        raise TypeError(
            "Model needs its inputs and outputs: Model(in_layers=[x], out_layers=[y]) or "
            "Model(inputs=x, outputs=y); a chain of layers is Sequential(...).combine()"
        )
    if out_layers is None:
        if isinstance(in_layers, (list, tuple)):
            return _chain_nodes(in_layers)
        raise TypeError(
            "Model needs out_layers (Hat) or outputs (Keras): the nodes that the layer calls "
            "returned, e.g. Model(in_layers=[x], out_layers=[y])"
        )
    ins = [_input(v, i) for i, v in enumerate(_listed(in_layers))]
    outs = [graph.as_node(v, f"output {i}") for i, v in enumerate(_listed(out_layers))]
    anys = [graph.as_node(v, f"any_layers[{i}]") for i, v in enumerate(_listed(any_layers))]
    if not ins or not outs:
        raise ValueError("a Model needs at least one input and one output")
    return ins, outs, anys


def _chain_nodes(layers):
    if not all(isinstance(layer, Layer) for layer in layers):
        raise TypeError(f"Model expects a list of Layer instances; got {layers!r:.200}")
    inputs, last = graph.chain(list(layers))
    return inputs, [last], []


def _listed(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _input(value, i: int):
    if isinstance(value, graph.Node) and value.inputs:
        raise graph.GraphError(
            f"input {i} of the model is the output of {value.layer.name or value.layer!r}, not "
            "an InputLayer; a model's inputs are InputLayer(...) or Input(...)"
        )
    if isinstance(value, Layer) and not isinstance(value, InputLayer):
        raise graph.GraphError(
            f"input {i} of the model is {value!r}, which is not an InputLayer; a model's inputs "
            "are InputLayer(...) or Input(...)"
        )
    return graph.as_node(value, f"input {i}")


def load_model(path, custom_objects: dict | None = None) -> Model:
    """A model saved with Model.save or hat.serializations.save.

    Args:
        path (str | PathLike): The HDF5 file.
        custom_objects (dict | None): Default None. Maps the names of your own layers and
            Lambda functions to them, for those that cannot be imported.

    Returns:
        Model: The model, with its weights, optimizer state and training counters.

    Raises:
        TypeError: `path` is not a str or PathLike.
        ModelFileError: The file is missing, truncated, not a hat model file, or names a
            layer or function that cannot be found.
    """
    from hat import io

    return io.load(path, custom_objects=custom_objects)
