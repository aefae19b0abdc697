"""Embedding: token ids (batch, time) to vectors (batch, time, n_out), rows of W."""

import numpy as np

from hat import initializations, regularizations
from hat.layers.base import Layer, shape_with_batch
from hat.layers.core import _check_positive_int, _initial, _reg_config

# float32 holds every integer up to 2**24 exactly; the model casts ids to its dtype.
FLOAT32_EXACT_IDS = 1 << 24
"""Ids a float32 model can hold exactly (2**24): the largest n_vocab it takes."""


def _either(hat_value, keras_value, hat_name: str, keras_name: str):
    """The value given under Hat's name or Keras' (not both, unless they agree)."""
    if keras_value is None:
        return hat_value
    if hat_value is not None and hat_value != keras_value:
        raise ValueError(
            f"{hat_name}={hat_value!r} and {keras_name}={keras_value!r} disagree; "
            f"give one of them ({keras_name} is Keras' name for {hat_name})"
        )
    return keras_value


class Embedding(Layer):
    """Maps token ids to learned vectors: y[n, t] = W[x[n, t]], W of shape (n_vocab, n_out).

    The input is (batch, time) token ids: integers, or floats holding whole numbers (the
    model casts its inputs to its float dtype, which holds ids exactly up to 2**24 in
    float32). An id that is not a whole number in [0, n_vocab) is an error naming it.
    mask_zero=True makes id 0 padding: compute_mask gives (x != 0), which mask-aware layers
    after it (the time poolings, the recurrent layers) use; keep id 0 out of your vocabulary.
    backward returns None (ids have no gradient) and sums W's gradient over repeated ids
    in a fixed order.

    Args:
        n_vocab (int): number of token ids (Keras: input_dim); ids run from 0 to n_vocab - 1.
        n_out (int): length of each vector (Keras: output_dim).
        init_type (str | callable, default 'uniform'): initializer of W, by name or as
            init(shape, rng, dtype); 'uniform' draws from [-0.01, 0.01].
        W_init (array | None, default None): initial W of shape (n_vocab, n_out), for
            pre-trained vectors; overrides init_type.
        W_reg (Regularization | None, default None): penalty on W, such as L2(1e-4).
        name (str | None, default None): the layer's name; the model gives one if None.
        trainable_params (sequence of str): Default ("W",). An empty one freezes W (pre-trained
            vectors).
        input_dim (int | None, default None): Keras' name for n_vocab.
        output_dim (int | None, default None): Keras' name for n_out.
        mask_zero (bool, default False): whether id 0 marks padding (see above).

    Raises:
        ValueError: a size that is not a positive int, or Hat's and Keras' names disagree.
    """

    def __init__(
        self,
        n_vocab: int | None = None,
        n_out: int | None = None,
        init_type="uniform",
        W_init=None,
        W_reg=None,
        name: str | None = None,
        trainable_params=("W",),
        *,
        input_dim: int | None = None,
        output_dim: int | None = None,
        mask_zero: bool = False,
    ):
        super().__init__(name)
        n_vocab = _either(n_vocab, input_dim, "n_vocab", "input_dim")
        n_out = _either(n_out, output_dim, "n_out", "output_dim")
        self.n_vocab = _check_positive_int(n_vocab, "n_vocab (input_dim)")
        self.n_out = _check_positive_int(n_out, "n_out (output_dim)")
        self.init_type = init_type
        self._init = initializations.get(init_type)
        self.W_init = W_init
        reg = regularizations.get(W_reg)
        self.regularizers = {"W": reg} if reg else {}
        if isinstance(trainable_params, str) or set(trainable_params) - {"W"}:
            raise ValueError(f"trainable_params may hold 'W' only; got {trainable_params!r}")
        self.trainable_params = list(trainable_params)
        if not isinstance(mask_zero, (bool, np.bool_)):
            raise TypeError(f"mask_zero must be True or False; got {mask_zero!r}")
        self.mask_zero = bool(mask_zero)

    def build(self, input_shape, rng, dtype=np.float32) -> tuple:
        """Create W for inputs of shape input_shape (no batch axis).

        Args:
            input_shape (tuple): (time,), the ids of one sample.
            rng (numpy.random.Generator): the model's generator, for the initial weights.
            dtype (numpy dtype, default float32): the model's float type.

        Returns:
            tuple: the shape of one output sample.

        Raises:
            ValueError: an input shape the layer cannot take.
        """
        if input_shape is None or len(input_shape) != 1:
            got = "nothing" if input_shape is None else f"shape {shape_with_batch(input_shape)}"
            raise ValueError(
                f"Embedding expects token ids of shape (batch, time); got {got}. Use "
                "InputLayer(time_steps) before it"
            )
        if np.dtype(dtype) == np.float32 and self.n_vocab > FLOAT32_EXACT_IDS:
            raise ValueError(
                f"Embedding's n_vocab={self.n_vocab} exceeds 2**24, the largest id that "
                "float32 inputs hold exactly; combine the model with dtype=np.float64"
            )
        shape = (self.n_vocab, self.n_out)
        self.params["W"] = _initial(self.W_init, shape, self._init, rng, dtype, "W")
        return (input_shape[0], self.n_out)

    def forward(self, x, training, mask=None) -> np.ndarray:
        """The vectors of the ids x.

        Args:
            x (numpy.ndarray): (batch, time) token ids, integers or whole-number floats.
            training (bool): unused (the lookup is the same in training and inference).
            mask (numpy.ndarray | None, default None): unused; the output's mask comes from
                compute_mask.

        Returns:
            numpy.ndarray: (batch, time, n_out), the layer's buffer (reused by the next call).

        Raises:
            ValueError: an id that is not a whole number in [0, n_vocab), or x not 2-D.
            TypeError: x not numeric.
        """
        from hat.kernels.embedding import gather_rows

        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(
                f"Embedding expects token ids of shape (batch, time); got shape {x.shape}"
            )
        if x.dtype.kind not in "iuf":
            raise TypeError(f"Embedding expects numeric token ids; got dtype {x.dtype}")
        flat = np.ascontiguousarray(x).reshape(-1)
        W = self.params["W"]
        y = self._buffer("y", x.shape + (self.n_out,), W.dtype)
        ids = self._ids = self._buffer("ids", flat.shape, np.int64)
        bad = gather_rows(flat, W, ids, y.reshape(-1, self.n_out))
        if bad >= 0:
            raise self._bad_ids(x, bad)
        return y

    def _bad_ids(self, x: np.ndarray, index: int) -> ValueError:
        where = np.unravel_index(index, x.shape)
        value = x.reshape(-1)[index]
        expected = f"token ids must be whole numbers in [0, {self.n_vocab - 1}]"
        if not np.isfinite(value) or value != np.floor(value):
            return ValueError(
                f"Embedding got the token id {float(value)!r} at x{list(map(int, where))}; "
                f"{expected} (n_vocab={self.n_vocab})"
            )
        if value < 0:
            return ValueError(
                f"Embedding got the negative token id {int(np.min(x))} (the smallest found); "
                f"{expected}"
            )
        largest = int(np.max(x))
        return ValueError(
            f"Embedding(n_vocab={self.n_vocab}) got token ids up to {largest} (the largest "
            f"found); {expected}. Give n_vocab={largest + 1} or more, or map rare words to an "
            "out-of-vocabulary id (imdb.load_data(num_words=...) does)"
        )

    def backward(self, dy) -> None:
        """Sum dy into W's gradient row by row of the ids of the last forward.

        Args:
            dy (numpy.ndarray): (batch, time, n_out), dL/dy.

        Returns:
            None: token ids have no gradient.
        """
        from hat.kernels.embedding import scatter_add_rows

        if "W" in self.trainable_params:
            dy = np.ascontiguousarray(dy).reshape(-1, self.n_out)
            scatter_add_rows(self._ids, dy, self.grads["W"])
        return None

    def compute_mask(self, x, mask) -> np.ndarray | None:
        """The mask of the output steps.

        Args:
            x (numpy.ndarray): the (batch, time) ids.
            mask (numpy.ndarray | None): the input's mask (ignored).

        Returns:
            numpy.ndarray | None: (x != 0) with mask_zero, else None.
        """
        return (np.asarray(x) != 0) if self.mask_zero else None

    def backward_kernels(self):
        """See Layer.backward_kernels.

        Returns:
            list: The kernel that sums dy into W's gradient rows (none when W is frozen).
        """
        from hat.kernels.embedding import scatter_add_rows

        return [(scatter_add_rows, "L1 A2 A2")] if "W" in self.trainable_params else []

    def get_config(self) -> dict:
        """The constructor's arguments (W itself is saved with the weights).

        Returns:
            dict: Embedding(**config) rebuilds the layer.
        """
        return {
            "n_vocab": self.n_vocab,
            "n_out": self.n_out,
            "init_type": self.init_type,
            "W_reg": _reg_config(self.regularizers.get("W")),
            "name": self.name,
            "trainable_params": list(self.trainable_params),
            "mask_zero": self.mask_zero,
        }

    @property
    def W_(self):
        """The embedding matrix (n_vocab, n_out)."""
        return self.params["W"]
