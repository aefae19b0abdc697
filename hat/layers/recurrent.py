"""Recurrent layers on (batch, time, features): SimpleRnn, LSTM, GRU on one base, Bidirectional.

Weights: W (n_in, G*n_out), H (n_out, G*n_out), b (G*n_out), the G gates side by side in
PyTorch's order (LSTM i, f, g, o; GRU r, z, n), so that the input projection of every step is
one GEMM and each step's recurrent product another. The gates' non-linearities and the state
update run fused in one numba pass per step (hat/kernels/recurrent.py); the batch is split in
chunks that run their time loops on hat.threads' pool.
"""

import numpy as np

from hat import activations, initializations, regularizations, threads
from hat.kernels import activations as kernel_codes
from hat.kernels import sgemm
from hat.layers.base import Layer, shape_with_batch
from hat.layers.core import _check_positive_int, _initial, _reg_config

# A chunk of the batch runs its whole time loop on one thread; below this many rows a chunk
# is not worth a hand-off. The count depends on the shapes only, so results do not depend on
# the number of threads.
MIN_CHUNK_ROWS = 64
"""The fewest batch rows a thread-pool chunk of a recurrent layer takes."""
MAX_CHUNKS = 4
"""The most chunks a recurrent layer splits its batch into."""


def _one_of(hat_name, hat_value, keras_name, keras_value, default):
    """Hat's argument or Keras' name for it (not both)."""
    if hat_value is not None and keras_value is not None and hat_value != keras_value:
        raise ValueError(
            f"{hat_name}={hat_value!r} and {keras_name}={keras_value!r} name the same "
            "setting; give one of them"
        )
    if hat_value is not None:
        return hat_value
    return default if keras_value is None else keras_value


def _elementwise(act, what: str) -> activations.ActivationSpec:
    spec = activations.get(act)
    if not spec.is_builtin or spec.name == "softmax":
        raise ValueError(
            f"{what} of a recurrent layer must be one of linear, relu, leaky_relu, sigmoid, "
            f"hard_sigmoid, tanh (the step kernel's own); got {spec.name!r}"
        )
    return spec


def _chunks(n: int) -> list[tuple[int, int]]:
    count = max(1, min(MAX_CHUNKS, n // MIN_CHUNK_ROWS))
    cuts = [n * i // count for i in range(count + 1)]
    return list(zip(cuts[:-1], cuts[1:], strict=True))


class RnnBase(Layer):
    """What SimpleRnn, LSTM and GRU share (Hat's name for the base class).

    `go_backwards=True` reverses time and returns the outputs in the order they were computed
    (as Keras does); the original Hat reversed the batch axis instead, a bug not reproduced.
    `masking=True` (Hat) makes the layer take two inputs, [x, mask]; without it, the model may
    still pass a mask (`forward(x, training, mask=mask)`), from Embedding(mask_zero=True) say.
    Masked steps carry the state over and output zeros. `return_state=True` (Keras) makes a
    call on a node return a list, [output, h] or for an LSTM [output, h, c]: the final states
    as nodes of their own (RnnState layers), which other layers, outputs and losses can use;
    it needs the functional API (a Sequential chain carries one output). `layer(x,
    initial_state=[h0])` ([h0, c0] for an LSTM, Keras') starts from those states instead of
    zeros, with their gradients.

    Args:
        n_out (int): units (Keras: `units`).
        act (str): activation, default 'tanh' (Keras: `activation`).
        W_init_type (str): initializer of W (n_in, n_out), default 'uniform' (Hat's, +-0.01).
        H_init_type (str): initializer of H (n_out, n_out), default 'uniform'.
        W_init (array | None): initial W, default None (drawn).
        H_init (array | None): initial H, default None (drawn).
        b_init (array | None): initial b (n_out,), default None (zeros).
        W_reg (Regularization | dict | None): penalty on W, default None.
        H_reg (Regularization | dict | None): penalty on H, default None.
        b_reg (Regularization | dict | None): penalty on b, default None.
        trainable_params (list[str] | None): which of 'W', 'H', 'b' train; default all.
        return_sequence (bool): output every step (batch, time, n_out), else the last state
            (batch, n_out); default True (Keras: `return_sequences`, default False there).
        go_backwards (bool): run over time from the end; outputs come in that order. Default
            False.
        masking (bool): take two inputs [x, mask] (Hat), default False.
        name (str | None): layer name, default None.
        units (int | None): Keras' name for n_out.
        activation (str | None): Keras' name for act.
        return_sequences (bool | None): Keras' name for return_sequence.
        return_state (bool): a call returns [output, *final states] (Keras), default False.

    Raises:
        ValueError: an activation the step kernel lacks, or conflicting Hat and Keras names.
    """

    n_gates = 1
    n_states = 1  # h; an LSTM also has c
    supports_masking = True
    uses_thread_pool = True
    _param_keys = ("W", "H", "b")

    def __init__(
        self,
        n_out=None,
        act=None,
        W_init_type="uniform",
        H_init_type="uniform",
        W_init=None,
        H_init=None,
        b_init=None,
        W_reg=None,
        H_reg=None,
        b_reg=None,
        trainable_params=None,
        return_sequence=None,
        go_backwards=False,
        masking=False,
        name=None,
        units=None,
        activation=None,
        return_sequences=None,
        return_state=False,
    ):
        super().__init__(name)
        self.return_state = bool(return_state)
        self._state_grads: dict = {}  # final states' gradients from RnnState layers
        self._n_initial = 0  # initial states taken as inputs after the sequence
        self._initial: list = []  # their values in the last forward pass
        n_out = _one_of("n_out", n_out, "units", units, None)
        if n_out is None:
            raise TypeError(f"{type(self).__name__} needs n_out (Keras: units)")
        self.n_out = _check_positive_int(n_out, "n_out")
        self.activation = _elementwise(_one_of("act", act, "activation", activation, "tanh"), "act")
        self.return_sequence = bool(
            _one_of("return_sequence", return_sequence, "return_sequences", return_sequences, True)
        )
        self.go_backwards = bool(go_backwards)
        self.masking = bool(masking)
        if self.masking:
            self.n_inputs = 2  # [x, mask]
        self.W_init_type, self.H_init_type = W_init_type, H_init_type
        self._inits = {"W": initializations.get(W_init_type), "H": initializations.get(H_init_type)}
        self._given = {"W": W_init, "H": H_init, "b": b_init}
        self.regularizers = {
            k: r
            for k, r in zip("WHb", map(regularizations.get, (W_reg, H_reg, b_reg)), strict=True)
            if r
        }
        keys = self._param_keys if trainable_params is None else trainable_params
        if isinstance(keys, str) or not all(isinstance(k, str) for k in keys):
            raise TypeError(f"trainable_params must be a list of names; got {keys!r}")
        if set(keys) - set(self._param_keys):
            raise ValueError(
                f"trainable_params may hold {list(self._param_keys)}; got {list(keys)}"
            )
        self.trainable_params = list(keys)

    def __call__(self, inputs, initial_state=None):
        """Call the layer on a node: the new node, or with return_state=True the list
        [node, h] ([node, h, c] for an LSTM), the final states read by RnnState layers.

        Args:
            inputs (Node | InputLayer): The sequence, (batch, time, features).
            initial_state (Node | list | None): Default None (zero states). The states the
                first step reads (Keras'): [h0] ([h0, c0] for an LSTM), nodes of shape
                (batch, n_out); gradients flow back into them.

        Returns:
            Node | list: The output node, or [node, *final states] with return_state=True.

        Raises:
            ValueError: initial_state has the wrong number of states, or comes with Hat's
                masking=True.
        """
        if initial_state is not None:
            states = (
                list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            )
            if self.masking:
                raise ValueError(
                    f"{type(self).__name__}(masking=True) takes [x, mask]; with initial_state, "
                    "give the mask through Embedding(mask_zero=True) instead"
                )
            if len(states) != self.n_states:
                which = "[h0, c0]" if self.n_states == 2 else "[h0]"
                raise ValueError(
                    f"{type(self).__name__} takes {self.n_states} initial state(s), {which}; "
                    f"got {len(states)}"
                )
            self.accept_inputs(1 + len(states))
            inputs = [inputs, *states]
        node = super().__call__(inputs)
        if not self.return_state:
            return node
        from hat.layers.recurrent_state import RnnState

        return [node] + [RnnState(i)(node) for i in range(self.n_states)]

    @property
    def mask_of_first_input(self) -> bool:
        """Called on [x, initial states]: the model passes x's mask to forward."""
        return self._n_initial > 0

    def accept_inputs(self, count: int) -> None:
        """Take `count` inputs: the sequence, then count - 1 initial states (a model file's
        node says how many the layer was called on).

        Args:
            count (int): 1, or 1 + n_states.

        Raises:
            ValueError: another count.
        """
        if count not in (1, 1 + self.n_states) or (count > 1 and self.masking):
            raise ValueError(
                f"{type(self).__name__} takes its sequence and {self.n_states} initial "
                f"state(s); got {count} inputs"
            )
        if not self.masking:
            self.n_inputs = count
        self._n_initial = count - 1

    def final_states(self) -> list:
        """The last forward pass's final states: [h] ([h, c] for an LSTM), (batch, n_out).

        Returns:
            list[numpy.ndarray]: The layer's own buffers.
        """
        return [self._hlast]

    def add_state_grad(self, index: int, grad) -> None:
        """Add the gradient of final state `index` for the next backward pass (RnnState's).

        Args:
            index (int): 0 for h, 1 for an LSTM's c.
            grad (numpy.ndarray): (batch, n_out).
        """
        held = self._state_grads.get(index)
        if held is None:
            held = self._state_grads[index] = self._buffer(f"state_grad_{index}", grad.shape,
                                                           grad.dtype)  # fmt: skip
            held[...] = grad
        else:
            held += grad

    # -- build -----------------------------------------------------------------------------
    def build(self, input_shape, rng, dtype=np.float32):
        """Create W, H and b for inputs of shape (time, features).

        Args:
            input_shape (tuple | list): (time, features), without the batch axis; with
                masking=True, [(time, features), (time,)].
            rng (numpy.random.Generator): draws the initial weights.
            dtype (numpy dtype): float32 (default) or float64.

        Returns:
            tuple: (time, n_out) with return_sequence, else (n_out,).

        Raises:
            ValueError: the input is not (time, features), or has no step or no feature.
        """
        if self.masking:  # Hat's [x, mask]: the mask holds one value per step
            shapes = [tuple(s) for s in input_shape]
            if len(shapes) != 2 or len(shapes[0]) != 2 or shapes[1] != shapes[0][:1]:
                shown = ", ".join(str(shape_with_batch(s)) for s in shapes)
                raise ValueError(
                    f"{type(self).__name__}(masking=True) takes [x, mask] with x (batch, time, "
                    f"features) and mask (batch, time); got {shown}"
                )
            input_shape = shapes[0]
        elif self._n_initial:  # [x, h0(, c0)]
            shapes = [tuple(s) for s in input_shape]
            if any(shape != (self.n_out,) for shape in shapes[1:]):
                shown = ", ".join(str(shape_with_batch(s)) for s in shapes[1:])
                raise ValueError(
                    f"the initial states of {type(self).__name__}({self.n_out}) must each be "
                    f"(batch, {self.n_out}); got {shown}"
                )
            input_shape = shapes[0]
        self._expect_rank(
            input_shape,
            3,
            "Recurrent layers take (batch, time, features); a 2-D input needs "
            "Reshape((time, features)) first.",
        )
        n_time, n_in = input_shape
        if n_time < 1 or n_in < 1:
            raise ValueError(
                f"{type(self).__name__} needs at least one time step and one feature; got "
                f"input shape {shape_with_batch(input_shape)}"
            )
        width = self.n_gates * self.n_out
        for key, shape in (("W", (n_in, width)), ("H", (self.n_out, width))):
            self.params[key] = _initial(self._given[key], shape, self._inits[key], rng, dtype, key)
        self.params["b"] = _initial(self._given["b"], (width,), self._bias_init, rng, dtype, "b")
        return (n_time, self.n_out) if self.return_sequence else (self.n_out,)

    def _bias_init(self, shape, rng, dtype):
        return np.zeros(shape, dtype)

    # -- inputs ----------------------------------------------------------------------------
    def _inputs(self, x, mask):
        """(x, mask as a float array or None), checked."""
        if self.masking:
            if not isinstance(x, (list, tuple)) or len(x) != 2:
                raise TypeError(
                    f"{type(self).__name__}(masking=True) takes two inputs, [x, mask]; got "
                    f"{type(x).__name__}"
                )
            x, mask = x
        initial = []
        if self._n_initial:
            if not isinstance(x, (list, tuple)) or len(x) != 1 + self._n_initial:
                raise TypeError(
                    f"{type(self).__name__} was called with initial states: it takes "
                    f"[x, {', '.join(['h0', 'c0'][: self._n_initial])}]; got {type(x).__name__}"
                )
            x, *initial = x
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(
                f"{type(self).__name__} expects a 3-D input (batch, time, features); got shape "
                f"{x.shape}"
            )
        if x.shape[1] < 1:
            raise ValueError(
                f"{type(self).__name__} got an empty sequence (shape {x.shape}); it needs at "
                "least one time step"
            )
        n_in = self.params["W"].shape[0]
        if x.shape[2] != n_in:
            raise ValueError(
                f"{type(self).__name__} was built for {n_in} features a step; got shape {x.shape}"
            )
        dtype = self.params["W"].dtype
        x = np.ascontiguousarray(x, dtype)
        self._initial = [np.asarray(v, dtype) for v in initial]
        for name, value in zip(("h0", "c0"), self._initial, strict=False):
            if value.shape != (len(x), self.n_out):
                raise ValueError(
                    f"the initial state {name} of {type(self).__name__} must be (batch, n_out) "
                    f"= {(len(x), self.n_out)}; got {value.shape}"
                )
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != x.shape[:2]:
                raise ValueError(
                    f"the mask of {type(self).__name__} must have shape (batch, time) = "
                    f"{x.shape[:2]}; got {mask.shape}"
                )
            mask = (mask != 0).astype(dtype)
        return x, mask

    # -- the passes --------------------------------------------------------------------------
    def forward(self, x, training, mask=None):
        """Run the sequence; training=True keeps every step's gates for backward.

        Args:
            x (numpy.ndarray | list): (batch, time, features), or [x, mask] with masking=True.
            training (bool): keep what backward needs (False keeps one step only).
            mask (numpy.ndarray | None): (batch, time), nonzero on real steps; default None.

        Returns:
            numpy.ndarray: (batch, time, n_out) or (batch, n_out), the layer's own buffer.

        Raises:
            ValueError: x is not 3-D, has no step, the wrong number of features, or a mask
                whose shape is not (batch, time).
        """
        x, mask = self._inputs(x, mask)
        n, t, _ = x.shape
        width = self.n_gates * self.n_out
        dtype = x.dtype
        self._x, self._given_mask, self._trained = x, mask, bool(training)
        self._state_grads = {}
        if mask is None:
            mask = self._buffer("ones", (n, t), dtype)
            mask.fill(1)
        self._mask = mask
        # Inference keeps two steps of everything: per-step arrays are (N, 2, ...), each step
        # projects its own input and reads one row, writing the other (kernels' _rows).
        self._steps = t if training else min(t, 2)
        xp = self._per_step("xp", n, t, width, dtype)  # (N, T, G*n): projections, then gates
        self._xp = xp
        self._alloc_states(n, t, dtype)
        order = range(t - 1, -1, -1) if self.go_backwards else range(t)
        self._order = list(order)
        self._order_steps = np.asarray(self._order, np.int64)  # the kernels' copy
        hp = self._buffer("hp", (n, width), dtype)
        y = self._buffer("y", (n, t, self.n_out), dtype) if self.return_sequence else None
        hprev, (W, H, b) = self._hprev, (self.params[k] for k in "WHb")
        first = self._order[0] if training else 0
        self._set_initial(first)
        blas, order_steps = _blas(), self._order_steps

        def run(c):
            lo, hi = chunks[c]
            if training:  # the chunk's input projection of every step in one GEMM, on the
                # thread that runs its time loop (one hand-off to the pool fewer)
                rows = xp[lo:hi].reshape(-1, width)
                sgemm.matmul(x[lo:hi].reshape(rows.shape[0], -1), W, rows)
                rows += b
            if blas is not None:  # the whole time loop in one kernel call
                self._run(x, hp, lo, hi, order_steps, training, mask, y, blas)
                return
            for k, s in enumerate(self._order):
                q, q_next = s, self._order[k + 1] if k + 1 < t else -1  # storage rows
                if not training:  # as the kernels' _rows
                    q, q_next = k % 2, -1 if q_next < 0 else (k + 1) % 2
                    np.matmul(x[lo:hi, s], W, out=xp[lo:hi, q])
                    xp[lo:hi, q] += b
                np.matmul(hprev[lo:hi, q], H, out=hp[lo:hi])
                self._forward_step(hp[lo:hi], q, q_next, k, lo, y, mask[:, s])

        chunks = _chunks(n)
        threads.parallel_for(run, len(chunks))
        self._y = y if self.return_sequence else self._hlast
        return self._y

    def _per_step(self, key, n, t, width, dtype):
        """A (N, T, width) array for the backward pass, or in inference (N, 2, width)."""
        key = key if self._trained else key + "_inference"
        return self._buffer(key, (n, self._steps, width), dtype)

    def backward(self, dy):
        """Back-propagate through time once per forward (it overwrites the stored gates).

        Args:
            dy (numpy.ndarray): the gradient of the output.

        Returns:
            numpy.ndarray | list | None: dx, [dx, None] with masking=True, or None in dx's
                place when the model needs no input gradient.
        """
        if not self._trained:  # an inference forward kept one step only: redo it for training
            state_grads = self._state_grads
            if self.masking:  # the inputs as they came: [x, mask], or [x, *initial states]
                again = [self._x, self._given_mask]
            elif self._n_initial:
                again = [self._x, *self._initial]
            else:
                again = self._x
            self.forward(again, True, mask=None if self.masking else self._given_mask)
            self._state_grads = state_grads
        n, t, _ = self._x.shape
        dtype = self._xp.dtype
        width = self.n_gates * self.n_out
        seq = self.return_sequence
        dy = np.ascontiguousarray(dy, dtype)
        dh = self._buffer("dh", (n, self.n_out), dtype)
        rec = self._buffer("rec", (n, self.n_out), dtype)
        xp, H = self._xp, self.params["H"]
        HT = self._buffer("HT", H.T.shape, dtype)  # contiguous: see hat/kernels/recurrent.py
        np.copyto(HT, H.T)
        dummy = self._buffer("dummy", (1, 1, 1), dtype)
        self._begin_backward(n, dtype)
        dh[...] = 0 if seq else dy
        self._take_state_grads(dh)
        blas, order_steps = _blas(), self._order_steps

        def run(c):
            lo, hi = chunks[c]
            rec[lo:hi] = 0
            if blas is not None:
                self._run_back(HT, rec, dh, lo, hi, order_steps, dy if seq else dummy, seq, blas)
                return
            for k in range(t - 1, -1, -1):
                s = self._order[k]
                self._backward_step(rec[lo:hi], dh[lo:hi], s, k, lo, dy if seq else dummy, seq)
                if k:
                    np.matmul(xp[lo:hi, s], HT, out=rec[lo:hi])

        chunks = _chunks(n)
        threads.parallel_for(run, len(chunks))
        dx = self._weight_grads(n, t, width)
        if self.masking:
            return [dx, None]
        if self._n_initial:
            return [dx, *self._initial_grads(HT, dh)]
        return dx

    def _initial_grads(self, HT, dh):
        """dL/d(initial states): what the first step's gates send back through H, plus the
        state's direct path (masked first steps pass it on unchanged)."""
        first = self._order[0]
        dh0 = self._buffer("dh0", dh.shape, dh.dtype)
        threads.matmul(self._xp[:, first], HT, dh0)
        dh0 += dh
        if self.n_states == 1:
            return [dh0]
        dc0 = self._buffer("dc0", dh.shape, dh.dtype)
        dc0[...] = self._dc
        return [dh0, dc0]

    def _take_state_grads(self, dh):
        """The final states' gradients (RnnState's) join the last step's, once."""
        grads, self._state_grads = self._state_grads, {}
        if 0 in grads:
            dh += grads[0]
        return grads

    def _weight_grads(self, n, t, width):
        """dW, dH, db from the gate gradients left in xp, and dx (None if not needed): one
        hand-off to the pool for all of them (threads.matmul_many, the same bits as one
        product at a time)."""
        dz = self._xp.reshape(n * t, width)
        x2 = self._x.reshape(n * t, -1)
        products, extras = [], []
        if "W" in self.trainable_params:
            products.append((x2.T, dz, self.grads["W"]))
        if "H" in self.trainable_params:
            products.append((self._hprev.reshape(n * t, -1).T, dz, self.grads["H"]))
        if "b" in self.trainable_params:
            extras.append(lambda: np.sum(dz, axis=0, out=self.grads["b"]))
        dx = None
        if self.needs_input_grad:
            dx = self._buffer("dx", self._x.shape, dz.dtype)
            products.append((dz, self.params["W"].T, dx.reshape(n * t, -1)))
        threads.matmul_many(products, extras)
        return dx

    def compute_mask(self, x, mask):
        """The input's mask while the layer returns sequences; None once it returns a state.

        Args:
            x (numpy.ndarray | list): the layer's input ([x, mask] with masking=True).
            mask (numpy.ndarray | None): the input's mask.

        Returns:
            numpy.ndarray | None: the output's mask.
        """
        if self.masking:
            mask = x[1]
        return mask if self.return_sequence else None

    # -- what each cell writes ----------------------------------------------------------------
    def _alloc_states(self, n, t, dtype):
        self._hprev = self._per_step("hprev", n, t, self.n_out, dtype)
        self._hlast = self._buffer("hlast", (n, self.n_out), dtype)

    def _set_initial(self, first):
        """The states step `first` reads: the initial states given, else zeros."""
        states = [self._hprev] + ([self._cprev] if self.n_states == 2 else [])
        for k, state in enumerate(states):
            state[:, first] = self._initial[k] if self._initial else 0

    def _begin_backward(self, n, dtype):
        self._work = self._buffer("work", (n, self.n_gates * self.n_out), dtype)

    def _forward_step(self, hp, s, s_next, k, lo, y, m):
        raise NotImplementedError

    def _backward_step(self, rec, dh, s, k, lo, dy, seq):
        raise NotImplementedError

    def _run(self, x, hp, lo, hi, order, training, mask, y, blas):
        """The forward time loop of rows lo:hi in one kernel call (see hat/kernels/blas.py)."""
        raise NotImplementedError

    # The backward time loop's kernel and its argument types (hat.kernels.ahead's spec)
    _back_kernel = ""
    _back_spec = ""

    def backward_kernels(self):
        """See Layer.backward_kernels.

        Returns:
            list: The cell's backward time loop (none where the Python loop runs instead).
        """
        if not self._back_kernel or _blas() is None:
            return []
        return [(getattr(_kernels(), self._back_kernel), self._back_spec)]

    def _run_back(self, HT, rec, dh, lo, hi, order, dy, seq, blas):
        """The backward time loop of rows lo:hi in one kernel call."""
        raise NotImplementedError

    def _seq_out(self, y):
        """The output sequence for the kernel, or a dummy and False for a last-state layer."""
        return (
            (y, True)
            if y is not None
            else (self._buffer("dummy", (1, 1, 1), self._xp.dtype), False)
        )

    def get_config(self):
        """The constructor's arguments (Hat's names), weights excluded."""
        return {
            "n_out": self.n_out,
            "act": self.activation.name,
            "W_init_type": self.W_init_type,
            "H_init_type": self.H_init_type,
            **{f"{k}_reg": _reg_config(self.regularizers.get(k)) for k in ("W", "H", "b")},
            "trainable_params": list(self.trainable_params),
            "return_sequence": self.return_sequence,
            "go_backwards": self.go_backwards,
            "masking": self.masking,
            "name": self.name,
            "return_state": self.return_state,
        }

    # Hat's read-only properties
    @property
    def W_(self):
        """Hat's read-only name for the input weights (n_in, G*n_out)."""
        return self.params["W"]

    @property
    def H_(self):
        """Hat's read-only name for the recurrent weights (n_out, G*n_out)."""
        return self.params["H"]

    @property
    def b_(self):
        """Hat's read-only name for the bias (G*n_out,)."""
        return self.params["b"]


def _kernels():
    """hat.kernels.recurrent, imported when first needed (it compiles with numba)."""
    from hat.kernels import recurrent

    return recurrent


def _blas():
    """numpy's GEMM for the kernels' own time loops, or None: then a Python loop runs the
    steps (see hat/kernels/blas.py)."""
    from hat.kernels import blas

    return blas.handle()


class SimpleRnn(RnnBase):
    """Fully connected recurrence: h_t = act(x_t W + h_{t-1} H + b).

    Args:
        n_out (int): units (Keras: `units`).
        act (str): activation, default 'tanh' (Keras: `activation`).
        W_init_type (str): initializer of W (n_in, n_out), default 'uniform' (Hat's, +-0.01).
        H_init_type (str): initializer of H (n_out, n_out), default 'uniform'.
        W_init (array | None): initial W, default None (drawn).
        H_init (array | None): initial H, default None (drawn).
        b_init (array | None): initial b (n_out,), default None (zeros).
        W_reg (Regularization | dict | None): penalty on W, default None.
        H_reg (Regularization | dict | None): penalty on H, default None.
        b_reg (Regularization | dict | None): penalty on b, default None.
        trainable_params (list[str] | None): which of 'W', 'H', 'b' train; default all.
        return_sequence (bool): output every step (batch, time, n_out), else the last state
            (batch, n_out); default True (Keras: `return_sequences`, default False there).
        go_backwards (bool): run over time from the end; outputs come in that order. Default
            False.
        masking (bool): take two inputs [x, mask] (Hat), default False.
        name (str | None): layer name, default None.
        units (int | None): Keras' name for n_out.
        activation (str | None): Keras' name for act.
        return_sequences (bool | None): Keras' name for return_sequence.
        return_state (bool): a call returns [output, *final states] (Keras), default False.

    Raises:
        ValueError: an activation the step kernel lacks, or conflicting Hat and Keras names.
    """

    _back_kernel = "simple_run_back"
    _back_spec = "A3 A2 A2 A2 i i L1 A2 A3 b i f T3"

    def _forward_step(self, hp, s, s_next, k, lo, y, m):
        y, seq = self._seq_out(y)
        a = self.activation
        _kernels().simple_forward(
            self._xp,
            hp,
            s,
            s_next,
            k,
            lo,
            m,
            self._hprev,
            self._hlast,
            y,
            seq,
            a.code,
            a.alpha,
        )

    def _backward_step(self, rec, dh, s, k, lo, dy, seq):
        a = self.activation
        _kernels().simple_backward(
            self._xp, rec, dh, s, k, lo, self._mask, dy, seq, a.code, a.alpha
        )

    def _run(self, x, hp, lo, hi, order, training, mask, y, blas):
        y, seq = self._seq_out(y)
        a, (W, H, b) = self.activation, (self.params[k] for k in "WHb")
        _kernels().simple_run(
            x, W, b, H, hp, lo, hi, order, training, mask, self._xp, self._hprev, self._hlast,
            y, seq, a.code, a.alpha, blas,
        )  # fmt: skip

    def _run_back(self, HT, rec, dh, lo, hi, order, dy, seq, blas):
        a = self.activation
        _kernels().simple_run_back(
            self._xp, HT, rec, dh, lo, hi, order, self._mask, dy, seq, a.code,
            a.alpha, blas,
        )  # fmt: skip


SimpleRNN = SimpleRnn  # Keras' spelling
"""Alias of `SimpleRnn`, Keras' spelling."""


class _GatedRnn(RnnBase):
    """LSTM and GRU: a gate activation beside the cell's."""

    def _set_gate(self, gate_act, recurrent_activation):
        self.gate_activation = _elementwise(
            _one_of("gate_act", gate_act, "recurrent_activation", recurrent_activation, "sigmoid"),
            "gate_act",
        )

    def _codes(self):
        """(gate code, act code, alpha): only leaky_relu has an alpha, the same for both."""
        g, a = self.gate_activation, self.activation
        return g.code, a.code, max(g.alpha, a.alpha)

    def get_config(self):
        config = super().get_config()
        return {
            "n_out": config.pop("n_out"),
            "act": config.pop("act"),
            "gate_act": self.gate_activation.name,
            **config,
        }


class LSTM(_GatedRnn):
    """Long short-term memory, PyTorch's and Keras' cell: gates i, f, g, o from
    x_t W + h_{t-1} H + b, c_t = f c_{t-1} + i g, h_t = o act(c_t).

    The original Hat's LSTM output h_t = o c_t (no act on the cell); this one applies act, as
    every other library does, so that it matches them and its state stays bounded.

    Args:
        n_out (int): units (Keras: `units`).
        act (str): the cell's activation (g and the output), default 'tanh'.
        gate_act (str): the gates' activation, default 'sigmoid'.
        bf_bias (float): initial forget-gate bias when b_init is None, default 1.0 (the rest
            of b starts at zero).
        W_init_type (str): initializer of W (n_in, G*n_out), default 'uniform' (Hat's, +-0.01;
            Keras uses 'glorot_uniform').
        H_init_type (str): initializer of H (n_out, G*n_out), default 'uniform' (Keras uses
            'orthogonal').
        W_init (array | None): initial W, default None (drawn).
        H_init (array | None): initial H, default None (drawn).
        b_init (array | None): initial b (G*n_out,), default None.
        W_reg (Regularization | dict | None): penalty on W, default None.
        H_reg (Regularization | dict | None): penalty on H, default None.
        b_reg (Regularization | dict | None): penalty on b, default None.
        trainable_params (list[str] | None): which params train; default all.
        return_sequence (bool): output every step (batch, time, n_out), else the last state
            (batch, n_out); default True (Keras: `return_sequences`, default False there).
        go_backwards (bool): run over time from the end; outputs come in that order. Default
            False.
        masking (bool): take two inputs [x, mask] (Hat), default False.
        name (str | None): layer name, default None.
        units (int | None): Keras' name for n_out.
        activation (str | None): Keras' name for act.
        recurrent_activation (str | None): Keras' name for gate_act.
        return_sequences (bool | None): Keras' name for return_sequence.
        return_state (bool): a call returns [output, *final states] (Keras), default False.

    Raises:
        ValueError: an activation the step kernel lacks, or conflicting Hat and Keras names.
    """

    n_gates = 4
    n_states = 2  # h and c

    @property
    def _fast(self) -> bool:
        """Whether the time loops take the fused float32 step (hat.kernels.recurrent's
        fused_lstm): their own kernels, so that a default LSTM compiles only those."""
        gate, act, _ = self._codes()
        fused = (gate, act) == (kernel_codes.SIGMOID, kernel_codes.TANH)
        return self.params["W"].dtype == np.float32 and fused

    @property
    def _back_kernel(self):
        return "lstm_run_back_fast" if self._fast else "lstm_run_back"

    @property
    def _back_spec(self):
        if self._fast:
            return "A3 A2 A2 A2 A2 i i L1 A2 A3 A3 A3 b T3"
        return "A3 A2 A2 A2 A2 A2 i i L1 A2 A3 A3 A3 b i i f T3"

    def __init__(
        self,
        n_out=None,
        act=None,
        gate_act=None,
        W_init_type="uniform",
        H_init_type="uniform",
        bf_bias=1.0,
        W_init=None,
        H_init=None,
        b_init=None,
        W_reg=None,
        H_reg=None,
        b_reg=None,
        trainable_params=None,
        return_sequence=None,
        go_backwards=False,
        masking=False,
        name=None,
        units=None,
        activation=None,
        recurrent_activation=None,
        return_sequences=None,
        return_state=False,
    ):
        super().__init__(
            n_out,
            act,
            W_init_type,
            H_init_type,
            W_init,
            H_init,
            b_init,
            W_reg,
            H_reg,
            b_reg,
            trainable_params,
            return_sequence,
            go_backwards,
            masking,
            name,
            units,
            activation,
            return_sequences,
            return_state,
        )
        self._set_gate(gate_act, recurrent_activation)
        if isinstance(bf_bias, bool) or not isinstance(bf_bias, (int, float, np.number)):
            raise TypeError(f"bf_bias must be a number; got {bf_bias!r}")
        self.bf_bias = float(bf_bias)

    def _bias_init(self, shape, rng, dtype):
        b = np.zeros(shape, dtype)
        b[self.n_out : 2 * self.n_out] = self.bf_bias
        return b

    def _alloc_states(self, n, t, dtype):
        super()._alloc_states(n, t, dtype)
        self._cprev = self._per_step("cprev", n, t, self.n_out, dtype)
        self._clast = self._buffer("clast", (n, self.n_out), dtype)
        self._tc = self._per_step("tc", n, t, self.n_out, dtype)

    def _begin_backward(self, n, dtype):
        super()._begin_backward(n, dtype)
        self._dc = self._buffer("dc", (n, self.n_out), dtype)
        self._dc.fill(0)

    def _take_state_grads(self, dh):
        grads = super()._take_state_grads(dh)
        if 1 in grads:
            self._dc += grads[1]
        return grads

    def final_states(self) -> list:
        """The last forward pass's final states [h, c], each (batch, n_out).

        Returns:
            list[numpy.ndarray]: The layer's own buffers.
        """
        return [self._hlast, self._clast]

    def _forward_step(self, hp, s, s_next, k, lo, y, m):
        y, seq = self._seq_out(y)
        _kernels().lstm_forward(
            self._xp,
            hp,
            s,
            s_next,
            k,
            lo,
            m,
            self._hprev,
            self._hlast,
            self._cprev,
            self._clast,
            self._tc,
            y,
            seq,
            *self._codes(),
        )

    def _backward_step(self, rec, dh, s, k, lo, dy, seq):
        _kernels().lstm_backward(
            self._xp,
            rec,
            dh,
            self._dc[lo : lo + len(dh)],
            self._work[lo : lo + len(dh)],
            s,
            k,
            lo,
            self._mask,
            self._cprev,
            self._tc,
            dy,
            seq,
            *self._codes(),
        )

    def _run(self, x, hp, lo, hi, order, training, mask, y, blas):
        y, seq = self._seq_out(y)
        W, H, b = (self.params[k] for k in "WHb")
        states = (self._xp, self._hprev, self._hlast, self._cprev, self._clast, self._tc)
        if self._fast:
            _kernels().lstm_run_fast(
                x, W, b, H, hp, lo, hi, order, training, mask, *states, y, seq, blas
            )
            return
        _kernels().lstm_run(
            x, W, b, H, hp, lo, hi, order, training, mask, *states, y, seq, *self._codes(), blas
        )

    def _run_back(self, HT, rec, dh, lo, hi, order, dy, seq, blas):
        if self._fast:
            _kernels().lstm_run_back_fast(
                self._xp, HT, rec, dh, self._dc, lo, hi, order, self._mask, self._cprev,
                self._tc, dy, seq, blas,
            )  # fmt: skip
            return
        _kernels().lstm_run_back(
            self._xp, HT, rec, dh, self._dc, self._work, lo, hi, order,
            self._mask, self._cprev, self._tc, dy, seq, *self._codes(), blas,
        )  # fmt: skip

    def get_config(self):
        return {**super().get_config(), "bf_bias": self.bf_bias}


class GRU(_GatedRnn):
    """Gated recurrent unit in PyTorch's and Keras' form (reset_after): r, z from
    x_t W + b + h_{t-1} H + bH, m = act(x W_n + b_n + r (h_{t-1} H_n + bH_n)),
    h_t = (1 - z) m + z h_{t-1}.

    Besides W, H and b it has the recurrent bias bH (3*n_out,), as PyTorch's b_hh and Keras'
    second bias row. The original Hat's GRU reset h_{t-1} before the product (r h_{t-1}) H_n;
    that form is not offered.

    Args:
        n_out (int): units (Keras: `units`).
        act (str): the candidate's activation, default 'tanh'.
        gate_act (str): the gates' activation, default 'sigmoid'.
        W_init_type (str): initializer of W (n_in, G*n_out), default 'uniform' (Hat's, +-0.01;
            Keras uses 'glorot_uniform').
        H_init_type (str): initializer of H (n_out, G*n_out), default 'uniform' (Keras uses
            'orthogonal').
        W_init (array | None): initial W, default None (drawn).
        H_init (array | None): initial H, default None (drawn).
        b_init (array | None): initial b (G*n_out,), default None.
        W_reg (Regularization | dict | None): penalty on W, default None.
        H_reg (Regularization | dict | None): penalty on H, default None.
        b_reg (Regularization | dict | None): penalty on b, default None.
        trainable_params (list[str] | None): which params train; default all.
        return_sequence (bool): output every step (batch, time, n_out), else the last state
            (batch, n_out); default True (Keras: `return_sequences`, default False there).
        go_backwards (bool): run over time from the end; outputs come in that order. Default
            False.
        masking (bool): take two inputs [x, mask] (Hat), default False.
        name (str | None): layer name, default None.
        units (int | None): Keras' name for n_out.
        activation (str | None): Keras' name for act.
        recurrent_activation (str | None): Keras' name for gate_act.
        return_sequences (bool | None): Keras' name for return_sequence.
        return_state (bool): a call returns [output, *final states] (Keras), default False.

    Raises:
        ValueError: an activation the step kernel lacks, or conflicting Hat and Keras names.
    """

    n_gates = 3
    _back_kernel = "gru_run_back"
    _back_spec = "A3 A2 A2 A2 A2 i i L1 A2 A3 A3 A3 b i i f T3"
    _param_keys = ("W", "H", "b", "bH")

    def __init__(
        self,
        n_out=None,
        act=None,
        gate_act=None,
        W_init_type="uniform",
        H_init_type="uniform",
        W_init=None,
        H_init=None,
        b_init=None,
        W_reg=None,
        H_reg=None,
        b_reg=None,
        trainable_params=None,
        return_sequence=None,
        go_backwards=False,
        masking=False,
        name=None,
        units=None,
        activation=None,
        recurrent_activation=None,
        return_sequences=None,
        return_state=False,
    ):
        super().__init__(
            n_out,
            act,
            W_init_type,
            H_init_type,
            W_init,
            H_init,
            b_init,
            W_reg,
            H_reg,
            b_reg,
            trainable_params,
            return_sequence,
            go_backwards,
            masking,
            name,
            units,
            activation,
            return_sequences,
            return_state,
        )
        self._set_gate(gate_act, recurrent_activation)

    def build(self, input_shape, rng, dtype=np.float32):
        shape = super().build(input_shape, rng, dtype)
        self.params["bH"] = np.zeros(3 * self.n_out, dtype)
        return shape

    def _alloc_states(self, n, t, dtype):
        super()._alloc_states(n, t, dtype)
        self._hn = self._per_step("hn", n, t, self.n_out, dtype)

    def _forward_step(self, hp, s, s_next, k, lo, y, m):
        y, seq = self._seq_out(y)
        _kernels().gru_forward(
            self._xp,
            hp,
            self.params["bH"],
            s,
            s_next,
            k,
            lo,
            m,
            self._hprev,
            self._hlast,
            self._hn,
            y,
            seq,
            *self._codes(),
        )

    def _backward_step(self, rec, dh, s, k, lo, dy, seq):
        _kernels().gru_backward(
            self._xp,
            rec,
            dh,
            self._work[lo : lo + len(dh)],
            s,
            k,
            lo,
            self._mask,
            self._hprev,
            self._hn,
            dy,
            seq,
            *self._codes(),
        )

    def _run(self, x, hp, lo, hi, order, training, mask, y, blas):
        y, seq = self._seq_out(y)
        W, H, b = (self.params[k] for k in "WHb")
        _kernels().gru_run(
            x, W, b, H, self.params["bH"], hp, lo, hi, order, training, mask, self._xp,
            self._hprev, self._hlast, self._hn, y, seq, *self._codes(), blas,
        )  # fmt: skip

    def _run_back(self, HT, rec, dh, lo, hi, order, dy, seq, blas):
        _kernels().gru_run_back(
            self._xp, HT, rec, dh, self._work, lo, hi, order, self._mask,
            self._hprev, self._hn, dy, seq, *self._codes(), blas,
        )  # fmt: skip

    def _weight_grads(self, n, t, width):
        """xp holds the recurrent side's gate gradients, hn the input side's for n."""
        u = self.n_out
        dz = self._xp.reshape(n * t, width)
        dm = self._hn.reshape(n * t, u)
        x2 = self._x.reshape(n * t, -1)
        grads, W = self.grads, self.params["W"]
        products, extras = [], []  # one hand-off for all (see RnnBase._weight_grads)
        if "W" in self.trainable_params:
            products.append((x2.T, dz[:, : 2 * u], grads["W"][:, : 2 * u]))
            products.append((x2.T, dm, grads["W"][:, 2 * u :]))
        if "H" in self.trainable_params:
            products.append((self._hprev.reshape(n * t, -1).T, dz, grads["H"]))
        if "b" in self.trainable_params:
            extras.append(lambda: np.sum(dz[:, : 2 * u], axis=0, out=grads["b"][: 2 * u]))
            extras.append(lambda: np.sum(dm, axis=0, out=grads["b"][2 * u :]))
        if "bH" in self.trainable_params:
            extras.append(lambda: np.sum(dz, axis=0, out=grads["bH"]))
        dx = part = None
        if self.needs_input_grad:
            dx = self._buffer("dx", self._x.shape, dz.dtype).reshape(n * t, -1)
            part = self._buffer("dx_part", dx.shape, dz.dtype)
            products.append((dz[:, : 2 * u], W[:, : 2 * u].T, dx))
            products.append((dm, W[:, 2 * u :].T, part))
        threads.matmul_many(products, extras)
        if dx is None:
            return None
        dx += part
        return dx.reshape(self._x.shape)


_MERGES = ("concat", "sum", "mul", "ave")


class Bidirectional(Layer):
    """A recurrent layer run forwards and a copy of it run backwards over time, merged.

    The copy has the same configuration with go_backwards flipped and weights of its own; with
    return_sequence its outputs are turned back into the input's time order before merging.
    Params are the two layers' under the prefixes 'forward_' and 'backward_'.

    Args:
        layer (RnnBase | dict): the layer to run forwards (unbuilt), or its
            {'class_name', 'config'} as get_config gives it.
        merge_mode (str): 'concat' (default), 'sum', 'mul' or 'ave'.
        name (str | None): layer name, default None.

    Raises:
        TypeError: layer is not a recurrent layer.
        ValueError: an unknown merge_mode.
    """

    supports_masking = True
    uses_thread_pool = True

    def __init__(self, layer, merge_mode: str = "concat", name: str | None = None):
        super().__init__(name)
        if isinstance(layer, dict):
            layer = Layer.registry[layer["class_name"]](**layer["config"])
        if not isinstance(layer, RnnBase):
            raise TypeError(
                f"Bidirectional wraps a recurrent layer (SimpleRnn, LSTM, GRU); got {layer!r}"
            )
        if merge_mode not in _MERGES:
            raise ValueError(f"merge_mode must be one of {_MERGES}; got {merge_mode!r}")
        if layer.return_state:
            raise ValueError(
                f"Bidirectional does not return states; got {type(layer).__name__}"
                "(return_state=True). Wrap a layer without it, or use two layers (one with "
                "go_backwards=True) and merge them yourself"
            )
        self.merge_mode = merge_mode
        self.forward_layer = layer
        config = {**layer.get_config(), "go_backwards": not layer.go_backwards, "name": None}
        self.backward_layer = type(layer)(**config)
        self.backward_layer._given = dict(layer._given)
        self.n_inputs = layer.n_inputs
        self._pair = (("forward_", self.forward_layer), ("backward_", self.backward_layer))
        self.regularizers = {
            prefix + k: r for prefix, inner in self._pair for k, r in inner.regularizers.items()
        }
        self.trainable_params = [
            prefix + k for prefix, inner in self._pair for k in inner.trainable_params
        ]

    def build(self, input_shape, rng, dtype=np.float32):
        """Build both layers; their params become this layer's under two prefixes.

        Args:
            input_shape (tuple): (time, features).
            rng (numpy.random.Generator): draws the initial weights.
            dtype (numpy dtype): float32 (default) or float64.

        Returns:
            tuple: the merged output shape.
        """
        shape = None
        for prefix, inner in self._pair:
            shape = inner.setup(input_shape, rng, dtype)
            self.params.update({prefix + k: v for k, v in inner.params.items()})
        if self.merge_mode == "concat":
            shape = shape[:-1] + (2 * shape[-1],)
        return shape

    def _link(self):
        """The inner layers read and write the model's views of the params (combine rebinds
        this layer's entries)."""
        for prefix, inner in self._pair:
            for k in inner.params:
                inner.params[k] = self.params[prefix + k]
                inner.grads[k] = self.grads[prefix + k]
            inner.needs_input_grad = self.needs_input_grad

    def forward(self, x, training, mask=None):
        """Both directions, merged.

        Args:
            x (numpy.ndarray | list): as the wrapped layer takes it.
            training (bool): as for the wrapped layer.
            mask (numpy.ndarray | None): (batch, time), nonzero on real steps; default None.

        Returns:
            numpy.ndarray: the merged outputs.
        """
        self._link()
        yf = self.forward_layer.forward(x, training, mask=mask)
        yb = self.backward_layer.forward(x, training, mask=mask)
        if self.forward_layer.return_sequence:
            yb = yb[:, ::-1]
        self._yf, self._yb = yf, yb
        y = self._buffer("y", (len(yf),) + self.output_shape, yf.dtype)
        if self.merge_mode == "concat":
            u = yf.shape[-1]
            y[..., :u], y[..., u:] = yf, yb
        elif self.merge_mode == "sum":
            np.add(yf, yb, out=y)
        elif self.merge_mode == "mul":
            np.multiply(yf, yb, out=y)
        else:
            np.add(yf, yb, out=y)
            y *= 0.5
        return y

    def backward(self, dy):
        """Split dy by the merge, back-propagate both layers, sum their input gradients.

        Args:
            dy (numpy.ndarray): the gradient of the merged output.

        Returns:
            numpy.ndarray | list | None: as the wrapped layer's backward.
        """
        self._link()
        if self.merge_mode == "concat":
            u = self._yf.shape[-1]
            dyf, dyb = dy[..., :u], dy[..., u:]
        elif self.merge_mode == "sum":
            dyf = dyb = dy
        elif self.merge_mode == "mul":
            dyf, dyb = dy * self._yb, dy * self._yf
        else:
            dyf = dyb = dy * 0.5
        if self.forward_layer.return_sequence:
            dyb = dyb[:, ::-1]
        dxf = self.forward_layer.backward(np.ascontiguousarray(dyf))
        dxb = self.backward_layer.backward(np.ascontiguousarray(dyb))
        if not self.needs_input_grad:
            return None
        if self.n_inputs == 2:
            dxf, dxb = dxf[0], dxb[0]
        dx = self._buffer("dx", dxf.shape, dxf.dtype)
        np.add(dxf, dxb, out=dx)
        return [dx, None] if self.n_inputs == 2 else dx

    def compute_mask(self, x, mask):
        """The wrapped layer's output mask.

        Args:
            x (numpy.ndarray | list): the layer's input.
            mask (numpy.ndarray | None): the input's mask.

        Returns:
            numpy.ndarray | None: the output's mask.
        """
        return self.forward_layer.compute_mask(x, mask)

    def get_config(self):
        """The wrapped layer as {'class_name', 'config'}, merge_mode and name."""
        inner = self.forward_layer
        return {
            "layer": {"class_name": type(inner).__name__, "config": inner.get_config()},
            "merge_mode": self.merge_mode,
            "name": self.name,
        }
