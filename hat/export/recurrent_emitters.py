"""Emitters for SimpleRnn, LSTM and GRU: ONNX's RNN, LSTM and GRU operators.

hat keeps the gates side by side in PyTorch's order with W (n_in, G*n) and H (n, G*n); ONNX
wants W (1, G*n, n_in) and R (1, G*n, n) in its own order (LSTM i, o, f, c from hat's
i, f, g, o; GRU z, r, h from hat's r, z, n) and B = [input biases, recurrent biases]. hat's
GRU is PyTorch's (the recurrent bias inside the reset product): linear_before_reset=1.
go_backwards runs over the time-reversed input and returns the outputs in the order
computed, as hat does. The operators take (time, batch, features), hence the Transposes.
Bidirectional is its two layers and a merge; layers with masking=True are not exported.
An RnnState node (return_state=True) is the operator's Y_h or Y_c output; initial states
(initial_state=) are its initial_h and initial_c inputs.
"""

from __future__ import annotations

import numpy as np

from hat.export.emitters import PROBLEMS, register
from hat.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRnn
from hat.layers.recurrent_state import RnnState

# hat's activation -> (ONNX's name, its alpha and beta or ())
_ACTIVATIONS = {
    "linear": ("Affine", (1.0, 0.0)),
    "relu": ("Relu", ()),
    "sigmoid": ("Sigmoid", ()),
    "hard_sigmoid": ("HardSigmoid", (0.2, 0.5)),
    "tanh": ("Tanh", ()),
}
# Where ONNX's gate k sits among hat's gates
_GATE_ORDER = {SimpleRnn: [0], LSTM: [0, 3, 1, 2], GRU: [1, 0, 2]}


def _masking_problem(layer):
    return (
        "masking=True takes a mask input; ONNX export computes without masks"
        if (layer.masking)
        else None
    )


for _cls in (*_GATE_ORDER, Bidirectional):
    PROBLEMS[_cls] = lambda layer: _masking_problem(getattr(layer, "forward_layer", layer))


def _activation_attributes(specs) -> dict:
    """activations, with activation_alpha/beta holding the values of those that take them,
    in order (as onnxruntime reads them)."""
    names, alphas, betas = [], [], []
    for spec in specs:
        if spec.name == "leaky_relu":
            names.append("LeakyRelu")
            alphas.append(float(spec.alpha))
            continue
        name, values = _ACTIVATIONS[spec.name]
        names.append(name)
        if values:
            alphas.append(values[0])
            betas.append(values[1])
    attrs = {"activations": names}
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    return attrs


def _gates(value: np.ndarray, order: list[int], n: int) -> np.ndarray:
    """The last axis's G blocks of n, in ONNX's order."""
    return np.concatenate([value[..., g * n : (g + 1) * n] for g in order], axis=-1)


def _reversed_in_time(graph, x: str, axis: int, name: str) -> str:
    out = graph.fresh(f"{name}/reversed")
    constants = (("starts", [-1]), ("ends", [-(2**63)]), ("axes", [axis]), ("steps", [-1]))
    slices = [graph.weight(f"{name}.reverse_{k}", v, np.int64) for k, v in constants]
    graph.node("Slice", [x, *slices], [out], f"{name}/reversed")
    return out


def _recurrent(layer, graph, inputs, output, params=None, name=None):
    """params, name: a Bidirectional's half (its weights live under the wrapper's names)."""
    cls, n = type(layer), layer.n_out
    params = layer.params if params is None else params
    name = layer.name if name is None else name
    order = _GATE_ORDER[cls]
    W = _gates(params["W"], order, n).T[None]  # (1, G*n, n_in)
    R = _gates(params["H"], order, n).T[None]  # (1, G*n, n)
    recurrent_bias = params.get("bH", np.zeros_like(params["b"]))
    B = np.concatenate([_gates(params["b"], order, n), _gates(recurrent_bias, order, n)])
    x = graph.fresh(f"{name}/time_major")
    graph.node("Transpose", [inputs[0]], [x], f"{name}/time_major", perm=[1, 0, 2])
    if layer.go_backwards:
        x = _reversed_in_time(graph, x, 0, name)
    if cls is SimpleRnn:
        op, specs, extra = "RNN", [layer.activation], {}
    elif cls is LSTM:
        op = "LSTM"
        specs, extra = [layer.gate_activation, layer.activation, layer.activation], {}
    else:
        op = "GRU"
        specs, extra = [layer.gate_activation, layer.activation], {"linear_before_reset": 1}
    y, y_last = graph.fresh(f"{name}/Y"), graph.fresh(f"{name}/Y_h")
    states = [y_last] + ([graph.fresh(f"{name}/Y_c")] if cls is LSTM else [])
    weights = [graph.weight(f"{name}.{k}", v) for k, v in (("W", W), ("R", R), ("B", B[None]))]
    starts = []  # initial states (batch, n) -> ONNX's initial_h, initial_c (1, batch, n)
    for k, start in enumerate(inputs[1:]):
        starts.append(graph.fresh(f"{name}/initial_{k}"))
        axes = graph.weight(f"{name}.direction_axis", [0], np.int64)
        graph.node("Unsqueeze", [start, axes], [starts[-1]], f"{name}/initial_{k}")
    graph.node(
        op, [x, *weights] + ([""] + starts if starts else []), [y, *states], f"{name}/{op}",
        hidden_size=n, direction="forward", **_activation_attributes(specs), **extra,
    )  # fmt: skip
    # The final states, (1, batch, n) each, for the RnnState nodes that read this output.
    graph.__dict__.setdefault("rnn_states", {})[output] = states
    if not layer.return_sequence:  # Y_h: (1, batch, n)
        axes = graph.weight(f"{name}.direction_axis", [0], np.int64)
        graph.node("Squeeze", [y_last, axes], [output], f"{name}/last")
        return output
    squeezed = graph.fresh(f"{name}/sequence")  # Y: (time, 1, batch, n)
    axes = graph.weight(f"{name}.direction_axis_of_Y", [1], np.int64)
    graph.node("Squeeze", [y, axes], [squeezed], f"{name}/sequence")
    graph.node("Transpose", [squeezed], [output], f"{name}/batch_major", perm=[1, 0, 2])
    return output


for _cls in _GATE_ORDER:
    register(_cls)(_recurrent)


@register(Bidirectional)
def _bidirectional(layer, graph, inputs, output):
    halves = []
    for prefix, inner in layer._pair:
        params = {k: layer.params[prefix + k] for k in inner.params}
        half = graph.fresh(f"{layer.name}/{prefix}output")
        halves.append(_recurrent(inner, graph, inputs, half, params, f"{layer.name}/{prefix}"))
    forward, backward = halves
    if layer.forward_layer.return_sequence:  # back into the input's time order
        backward = _reversed_in_time(graph, backward, 1, f"{layer.name}/backward_output")
    mode = layer.merge_mode
    if mode == "concat":
        graph.node("Concat", [forward, backward], [output], layer.name, axis=-1)
    else:
        op = {"sum": "Sum", "mul": "Mul", "ave": "Mean"}[mode]
        graph.node(op, [forward, backward], [output], layer.name)
    return output


@register(RnnState)
def _state(layer, graph, inputs, output):
    """A final state: the Y_h or Y_c the recurrent layer's operator wrote for its input."""
    state = graph.rnn_states[inputs[0]][layer.index]
    axes = graph.weight(f"{layer.name}.direction_axis", [0], np.int64)
    graph.node("Squeeze", [state, axes], [output], f"{layer.name}/state")
    return output
