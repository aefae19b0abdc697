"""The Layer contract that every layer follows (see docs/architecture.md).

- `__init__(..., name=None)` stores and validates hyperparameters; no arrays yet.
- `build(input_shape, rng, dtype) -> output_shape` creates `params` (trainable candidates) and
  `state` (non-trainable arrays). Shapes exclude the batch axis.
- `forward(x, training) -> y` keeps what backward needs. The returned array is the layer's own
  buffer, reused by the next call: copy it if you keep it.
- `backward(dy) -> dx` writes `grads` in place (same keys as `params`) and returns dL/dx, or
  None when the model has set `needs_input_grad = False` (the first layer).
- `get_config() -> dict`: `type(layer)(**layer.get_config())` rebuilds the layer.
- `backward_kernels() -> list` (optional): the numba kernels backward calls, with their argument
  types, compiled ahead in a helper process on a cold start (hat/kernels/ahead.py).

Layers with several inputs (merge layers, Lambda, a recurrent layer given [x, mask]) set
`n_inputs` (None: any number of at least two); their forward takes the list of inputs and their
backward returns a list of input gradients, None for an input that has none (a mask).

Masks: a layer whose class sets `supports_masking = True` receives `forward(x, training,
mask=mask)`, mask None or a (batch, time) array with 1 on real steps, and reports the mask of
its output through `compute_mask(x, mask)` (by default: passed through if it supports masks,
else dropped).
"""

import numpy as np


def shape_with_batch(shape) -> tuple:
    """A shape as Hat printed it, with None for the batch axis.

    Args:
        shape (tuple): A shape without the batch axis, such as a layer's `output_shape`.

    Returns:
        tuple: `(None, *shape)`.
    """
    return (None,) + tuple(shape)


class Layer:
    """Base class of every layer; subclasses keep the contract in this module's docstring.

    A subclass calls `super().__init__(name=name)` and writes `build`, `forward`, `backward`
    and `get_config`; the model calls `setup` (which calls `build`), then `forward` and
    `backward` on every batch.

    Args:
        name (str | None): Default None. The layer's name; the model names unnamed layers
            `<Class>_<index>` (for example `Dense_1`).

    Raises:
        TypeError: `name` is neither a string nor None.

    Attributes:
        params (dict[str, np.ndarray]): The layer's weights, by name (`W`, `b`, ...).
        grads (dict[str, np.ndarray]): The gradients of `params`, same keys, written by
            `backward`.
        state (dict[str, np.ndarray]): Non-trainable arrays (running statistics).
        trainable_params (list[str]): Which `params` the optimizer may update.
        input_shape (tuple | None): The input's shape without the batch axis, once built.
        output_shape (tuple | None): The output's shape without the batch axis, once built.
        needs_input_grad (bool): False when `backward` need not compute dL/dx (the model
            sets it on its first layer).
    """

    registry: dict[str, type] = {}  # class name -> class, to rebuild models from files
    """Every Layer subclass by class name, filled as classes are defined; model files name
    their layers' classes and are rebuilt through it."""
    n_inputs: int | None = 1  # None: a list of any length >= 2 (see the module docstring)
    """How many inputs `forward` takes: 1 (an array), another number (a list of that many
    arrays), or None (a list of any length of at least two)."""
    supports_masking = False
    """Whether `forward` accepts `mask=` and `compute_mask` passes the mask through."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        Layer.registry[cls.__name__] = cls

    def __init__(self, name: str | None = None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string or None; got {name!r}")
        self.name = name
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}
        self.regularizers: dict = {}
        self.trainable_params: list[str] = []
        self.input_shape: tuple | None = None
        self.output_shape: tuple | None = None
        self.needs_input_grad = True
        self._buffers: dict[str, np.ndarray] = {}

    # -- to be written by each layer -------------------------------------------------------
    def build(self, input_shape: tuple, rng: np.random.Generator, dtype=np.float32) -> tuple:
        """Create the layer's `params` and `state` for an input shape; return the output shape.

        Args:
            input_shape (tuple): The input's shape without the batch axis (a list of shapes
                for a layer with several inputs).
            rng (np.random.Generator): The model's generator; initializers draw from it.
            dtype (np.dtype): Default np.float32. The dtype of every array the layer creates.

        Returns:
            tuple: The output's shape without the batch axis.

        Raises:
            ValueError: The input shape does not suit the layer (wrong rank, too small).
        """
        return tuple(input_shape)

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """Compute the layer's output for a batch, keeping what `backward` needs.

        Args:
            x (np.ndarray): The batch, batch axis first (a list of arrays for a layer with
                several inputs).
            training (bool): True inside `fit` (dropout drops, BatchNorm uses the batch's
                statistics); False in `predict` and `evaluate`.

        Returns:
            np.ndarray: The output batch. It is the layer's own buffer, overwritten by the
                next call: copy it to keep it.
        """
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray | None:
        """Write the gradients of `params` into `grads` and return the input's gradient.

        Args:
            dy (np.ndarray): dL/dy, the loss's gradient with respect to the last `forward`'s
                output, same shape.

        Returns:
            np.ndarray | None: dL/dx, same shape as the last input (a list for a layer with
                several inputs), or None when `needs_input_grad` is False.
        """
        raise NotImplementedError

    def backward_kernels(self) -> list:
        """The numba kernels `backward` calls in training, with their argument types, so that
        a cold start compiles them ahead in a helper process while the forward pass runs
        (hat.kernels.ahead). Optional: the default names none (no head start, same results).

        Returns:
            list: (kernel, spec) pairs in the order backward calls them, spec as in
                hat.kernels.ahead.signature ("A3 A1 i f": arrays of the model's dtype, ...).
        """
        return []

    def inference_kernels(self) -> list:
        """The numba kernels an inference forward (`predict`) calls that training does not,
        with their argument types as in backward_kernels: a cold start's helper process
        compiles them last, after the backward pass's, so that the first predict finds them
        in the cache. Optional: the default names none.

        Returns:
            list: (kernel, spec) pairs.
        """
        return []

    def get_config(self) -> dict:
        """The constructor's arguments: `type(layer)(**layer.get_config())` rebuilds the layer.

        Returns:
            dict: Argument name to value, JSON-friendly, without the weights.
        """
        return {"name": self.name}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Layer":
        """The layer that get_config() describes.

        Args:
            config (dict): What `get_config()` returned.
            custom_objects (dict | None): Default None. Names that cannot be imported (a Lambda's
                function, a user's class), mapped to them; layers that hold such objects use it.

        Returns:
            Layer: A new, unbuilt layer.
        """
        return cls(**config)

    def __call__(self, inputs):
        """Call the layer on a node, an InputLayer, or a list of them: returns the new node."""
        from hat.graph import call_layer

        return call_layer(self, inputs)

    def compute_mask(self, x, mask):
        """The mask of this layer's output, given its input and the input's mask.

        Args:
            x (np.ndarray): The layer's input batch.
            mask (np.ndarray | None): The input's mask, (batch, time) with 1 on real steps.

        Returns:
            np.ndarray | None: `mask` when the layer supports masking, else None.
        """
        return mask if self.supports_masking else None

    # -- shared machinery ------------------------------------------------------------------
    def setup(self, input_shape: tuple, rng: np.random.Generator, dtype=np.float32) -> tuple:
        """Build the layer and give it zeroed gradient arrays; the model calls this.

        Args:
            input_shape (tuple): The input's shape without the batch axis.
            rng (np.random.Generator): The model's generator, passed to `build`.
            dtype (np.dtype): Default np.float32. The dtype of the layer's arrays.

        Returns:
            tuple: The output's shape without the batch axis, also kept in `output_shape`.
        """
        self.dtype = np.dtype(dtype)
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.output_shape = tuple(self.build(self.input_shape, rng, dtype))
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        return self.output_shape

    @property
    def trainable(self) -> list[str]:
        """Names of the params that the optimizer updates."""
        return [k for k in self.params if k in self.trainable_params]

    def count_params(self) -> int:
        """Weights of every kind, as Keras counts them: params and state (running statistics).

        Returns:
            int: The number of values in `params` and `state`.
        """
        return sum(int(v.size) for v in (*self.params.values(), *self.state.values()))

    def _buffer(self, key: str, shape: tuple, dtype) -> np.ndarray:
        """A scratch array reused across calls, so the steady-state step allocates nothing."""
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype)
            self._buffers[key] = buf
        return buf

    def _expect_rank(self, input_shape, rank: int, hint: str = "") -> None:
        if input_shape is None or len(input_shape) != rank - 1:
            got = "nothing" if input_shape is None else f"shape {shape_with_batch(input_shape)}"
            raise ValueError(
                f"{type(self).__name__} expects a {rank}-D input (batch first); got {got}. {hint}"
            )

    # Hat's read-only properties
    @property
    def name_(self) -> str | None:
        """Hat's name for `name`."""
        return self.name

    @property
    def out_shape_(self) -> tuple:
        """The output shape as Hat printed it, with None for the batch axis."""
        return shape_with_batch(self.output_shape)

    @property
    def params_(self) -> list[np.ndarray]:
        """Hat's list of the layer's parameter arrays, in order."""
        return list(self.params.values())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
