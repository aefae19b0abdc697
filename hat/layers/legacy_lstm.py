"""The original Hat's LSTM cell, h_t = o_t * c_t, for models read from Hat's pickles.

Hat's LSTM (2016, hat/layers/rnn.py) applied `act` to the candidate g only and output the
cell itself, h = o * c, where hat's LSTM (PyTorch's and Keras' cell) outputs o * act(c). No
weight mapping turns one into the other, so a model read from a Hat pickle gets this layer,
which computes Hat's formulas in numpy: one GEMM for every step's input projection, one per
step for the recurrent product. Weights are laid out as hat's LSTM's: W (n_in, 4 n_out),
H (n_out, 4 n_out), b (4 n_out), gates i, f, g, o side by side.
"""

import numpy as np

from hat import initializations, regularizations
from hat.layers.base import Layer
from hat.layers.core import _check_positive_int, _initial, _reg_config


def _sigmoid(a):
    a *= 0.5  # sigmoid(z) = (1 + tanh(z / 2)) / 2: no overflow for large |z|
    np.tanh(a, out=a)
    a += 1
    a *= 0.5


def _hard_sigmoid(a):
    a *= 0.2
    a += 0.5
    np.clip(a, 0.0, 1.0, out=a)


# name -> (a -> act(a) in place, dact/dz written with y = act(z)); the activations Hat's
# cells used
_ACTIVATIONS = {
    "linear": (lambda a: None, lambda y: np.ones_like(y)),
    "tanh": (lambda a: np.tanh(a, out=a), lambda y: 1 - y * y),
    "sigmoid": (_sigmoid, lambda y: y * (1 - y)),
    "hard_sigmoid": (_hard_sigmoid, lambda y: 0.2 * ((y > 0) & (y < 1))),
    "relu": (lambda a: np.maximum(a, 0, out=a), lambda y: (y > 0).astype(y.dtype)),
}
ACTIVATIONS = tuple(_ACTIVATIONS)
"""The activations LegacyLSTM takes for act and gate_act."""


def _activation(name, what: str):
    if not isinstance(name, str) or name not in _ACTIVATIONS:
        raise ValueError(f"LegacyLSTM's {what} must be one of {ACTIVATIONS}; got {name!r}")
    return name


class LegacyLSTM(Layer):
    """Hat's LSTM on (batch, time, features): gates i, f, g, o from x_t W + h_{t-1} H + b,
    i, f, o through gate_act and g through act, c_t = f c_{t-1} + i g, h_t = o c_t.

    masking=True is Hat's rule: the output is zero at the steps whose input features are all
    zero; the state runs on through them. A mask from the layers before is not used.

    Args:
        n_out (int): units.
        act (str): the candidate's activation, default 'tanh' (see ACTIVATIONS).
        gate_act (str): the gates' activation, default 'sigmoid'.
        W_init (array | None): initial W (n_in, 4 n_out), default None (uniform +-0.01).
        H_init (array | None): initial H (n_out, 4 n_out), default None (uniform +-0.01).
        b_init (array | None): initial b (4 n_out,), default None (zeros, forget gate 1).
        W_reg (Regularization | dict | None): penalty on W, default None.
        H_reg (Regularization | dict | None): penalty on H, default None.
        trainable_params (list[str] | None): which of 'W', 'H', 'b' train; default all.
        return_sequence (bool): output every step (batch, time, n_out), else the last
            (batch, n_out); default True.
        masking (bool): Hat's masking (see above), default False.
        name (str | None): layer name, default None.

    Raises:
        ValueError: an activation not in ACTIVATIONS, or unknown trainable_params.
    """

    _param_keys = ("W", "H", "b")

    def __init__(
        self,
        n_out,
        act="tanh",
        gate_act="sigmoid",
        W_init=None,
        H_init=None,
        b_init=None,
        W_reg=None,
        H_reg=None,
        trainable_params=None,
        return_sequence=True,
        masking=False,
        name=None,
    ):
        super().__init__(name)
        self.n_out = _check_positive_int(n_out, "n_out")
        self.act = _activation(act, "act")
        self.gate_act = _activation(gate_act, "gate_act")
        self._given = {"W": W_init, "H": H_init, "b": b_init}
        regs = {"W": regularizations.get(W_reg), "H": regularizations.get(H_reg)}
        self.regularizers = {k: r for k, r in regs.items() if r}
        keys = list(self._param_keys if trainable_params is None else trainable_params)
        if set(keys) - set(self._param_keys):
            raise ValueError(f"trainable_params may hold {list(self._param_keys)}; got {keys}")
        self.trainable_params = keys
        self.return_sequence = bool(return_sequence)
        self.masking = bool(masking)

    def build(self, input_shape, rng, dtype=np.float32):
        """Create W, H and b for inputs of shape (time, features).

        Args:
            input_shape (tuple): (time, features), without the batch axis.
            rng (numpy.random.Generator): draws the initial weights.
            dtype (numpy dtype): float32 (default) or float64.

        Returns:
            tuple: (time, n_out) with return_sequence, else (n_out,).

        Raises:
            ValueError: the input is not (time, features).
        """
        self._expect_rank(input_shape, 3, "LegacyLSTM takes (batch, time, features).")
        n_time, n_in = input_shape
        u, uniform = self.n_out, initializations.get("uniform")
        for key, shape in (("W", (n_in, 4 * u)), ("H", (u, 4 * u))):
            self.params[key] = _initial(self._given[key], shape, uniform, rng, dtype, key)

        def forget_one(shape, rng, dtype):
            b = np.zeros(shape, dtype)
            b[u : 2 * u] = 1
            return b

        self.params["b"] = _initial(self._given["b"], (4 * u,), forget_one, rng, dtype, "b")
        return (n_time, u) if self.return_sequence else (u,)

    def forward(self, x, training):
        """Run the sequence, keeping every step's gates and cell for backward.

        Args:
            x (numpy.ndarray): (batch, time, features).
            training (bool): unused (the same work either way).

        Returns:
            numpy.ndarray: (batch, time, n_out) or (batch, n_out).

        Raises:
            ValueError: x is not 3-D with the features the layer was built for.
        """
        W, H, b = (self.params[k] for k in self._param_keys)
        x = np.asarray(x)
        if x.ndim != 3 or x.shape[2] != W.shape[0] or x.shape[1] < 1:
            raise ValueError(
                f"LegacyLSTM expects (batch, time >= 1, {W.shape[0]}); got shape {x.shape}"
            )
        x = np.ascontiguousarray(x, W.dtype)
        n, t, _ = x.shape
        u = self.n_out
        act, gate = _ACTIVATIONS[self.act][0], _ACTIVATIONS[self.gate_act][0]
        z = (x.reshape(n * t, -1) @ W).reshape(n, t, 4 * u)  # every step's input projection
        z += b
        hs, cs = np.empty((n, t, u), W.dtype), np.empty((n, t, u), W.dtype)
        h, c = np.zeros((n, u), W.dtype), np.zeros((n, u), W.dtype)
        rec, ig = np.empty((n, 4 * u), W.dtype), np.empty((n, u), W.dtype)
        for s in range(t):  # z keeps the activated gates for backward
            a = z[:, s]
            np.matmul(h, H, out=rec)
            a += rec
            gate(a[:, : 2 * u])
            act(a[:, 2 * u : 3 * u])
            gate(a[:, 3 * u :])
            np.multiply(a[:, u : 2 * u], c, out=c)  # c = f c + i g
            np.multiply(a[:, :u], a[:, 2 * u : 3 * u], out=ig)
            c += ig
            np.multiply(a[:, 3 * u :], c, out=h)  # h = o c
            hs[:, s], cs[:, s] = h, c
        self._x, self._gates, self._hs, self._cs = x, z, hs, cs
        if not self.masking:
            self._mask = None
            return hs if self.return_sequence else hs[:, -1]
        self._mask = np.any(x != 0, axis=2).astype(W.dtype)[:, :, None]  # Hat's rule
        return hs * self._mask if self.return_sequence else hs[:, -1] * self._mask[:, -1]

    def backward(self, dy):
        """Back-propagate through time; writes grads['W'], ['H'], ['b'].

        Args:
            dy (numpy.ndarray): the gradient of the output.

        Returns:
            numpy.ndarray | None: dx, or None when the model needs no input gradient.
        """
        W, H = self.params["W"], self.params["H"]
        z, cs, x = self._gates, self._cs, self._x
        n, t, _ = x.shape
        u = self.n_out
        dact, dgate = _ACTIVATIONS[self.act][1], _ACTIVATIONS[self.gate_act][1]
        dy = np.asarray(dy, W.dtype)
        if self.masking:
            dy = dy * (self._mask if self.return_sequence else self._mask[:, -1])
        dz = np.empty_like(z)
        dh = np.zeros((n, u), W.dtype) if self.return_sequence else dy.copy()
        dc = np.zeros((n, u), W.dtype)
        for s in range(t - 1, -1, -1):
            if self.return_sequence:
                dh += dy[:, s]
            a, d = z[:, s], dz[:, s]
            i, f, g, o = (a[:, k * u : (k + 1) * u] for k in range(4))
            c_prev = cs[:, s - 1] if s else np.zeros((n, u), W.dtype)
            dc += dh * o
            d[:, :u] = dc * g * dgate(i)
            d[:, u : 2 * u] = dc * c_prev * dgate(f)
            d[:, 2 * u : 3 * u] = dc * i * dact(g)
            d[:, 3 * u :] = dh * cs[:, s] * dgate(o)
            dc *= f
            dh = d @ H.T
        h_prev = np.concatenate([np.zeros((n, 1, u), W.dtype), self._hs[:, :-1]], axis=1)
        dz2 = dz.reshape(n * t, 4 * u)
        self.grads["W"][...] = x.reshape(n * t, -1).T @ dz2
        self.grads["H"][...] = h_prev.reshape(n * t, u).T @ dz2
        self.grads["b"][...] = dz2.sum(axis=0)
        if not self.needs_input_grad:
            return None
        return (dz2 @ W.T).reshape(x.shape)

    def get_config(self):
        """The constructor's arguments, weights excluded.

        Returns:
            dict: type(layer)(**config) rebuilds the layer.
        """
        return {
            "n_out": self.n_out,
            "act": self.act,
            "gate_act": self.gate_act,
            "W_reg": _reg_config(self.regularizers.get("W")),
            "H_reg": _reg_config(self.regularizers.get("H")),
            "trainable_params": list(self.trainable_params),
            "return_sequence": self.return_sequence,
            "masking": self.masking,
            "name": self.name,
        }
