"""One small function per layer type that writes its ONNX nodes, found by the layer's class.

An emitter is `fn(layer, graph, inputs, output) -> str`: `inputs` are the names of the values
the layer reads (one per input), `output` the name its result should take. It returns the name
that holds the result: `output`, or one of `inputs` for a layer that does nothing at inference
(Dropout). The lookup is by exact class, so a user's subclass, which may compute something
else, is refused rather than exported as its parent; `register` adds an emitter for it.

Traps the emitters avoid (each has a test in tests/test_onnx.py): ONNX's defaults differ from
hat's for BatchNorm's epsilon (1e-5, hat 1e-3), pooling strides (1, hat the pool size) and
LeakyRelu's alpha (0.01, hat 0.2), so every one is written.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from hat.layers.conv import Conv2D, ZeroPadding2D
from hat.layers.core import Activation, Dense, Dropout, Flatten, InputLayer, Reshape
from hat.layers.merge import Add, Average, Concatenate, Maximum, Merge, Multiply, Subtract
from hat.layers.normalization import BatchNorm
from hat.layers.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D, Pool2D

EMITTERS: dict[type, Callable] = {}
# Layer classes exported only in some configurations: fn(layer) -> why not, or None.
PROBLEMS: dict[type, Callable] = {}


def register(layer_class: type) -> Callable:
    """Decorator: `fn(layer, graph, inputs, output) -> str` emits layers of `layer_class`.

    Args:
        layer_class (type): the exact Layer subclass the function emits (subclasses of it are
            not covered: register them too).

    Returns:
        Callable: the decorator, which returns the function unchanged.
    """

    def decorate(fn: Callable) -> Callable:
        EMITTERS[layer_class] = fn
        return fn

    return decorate


# -- activations ---------------------------------------------------------------------------
def _simple(op: str, **attrs) -> Callable:
    def emit(graph, spec, x, output, name):
        graph.node(op, [x], [output], name, **attrs)
        return output

    return emit


def _leaky_relu(graph, spec, x, output, name):
    graph.node("LeakyRelu", [x], [output], name, alpha=float(spec.alpha))
    return output


ACTIVATIONS: dict[str, Callable] = {
    "linear": lambda graph, spec, x, output, name: x,
    "relu": _simple("Relu"),
    "leaky_relu": _leaky_relu,
    "sigmoid": _simple("Sigmoid"),
    # Theano's clip(0.2 x + 0.5, 0, 1): ONNX's HardSigmoid, both constants written.
    "hard_sigmoid": _simple("HardSigmoid", alpha=0.2, beta=0.5),
    "tanh": _simple("Tanh"),
    # hat's softmax runs along the last axis; opset >= 13 means that axis alone (before 13,
    # Softmax flattened every axis from `axis` on).
    "softmax": _simple("Softmax", axis=-1),
}


def activation_problem(spec) -> str | None:
    """Why an activation cannot be exported, or None if it can."""
    if spec is None or (spec.is_builtin and spec.name in ACTIVATIONS):
        return None
    return (
        f"its activation {spec.name!r} is a user's function, which has no ONNX equivalent; "
        f"exportable activations: {', '.join(sorted(ACTIVATIONS))}"
    )


def emit_activation(graph, spec, x: str, output: str, name: str) -> str:
    return ACTIVATIONS[spec.name](graph, spec, x, output, f"{name}/{spec.name}")


def _then_activation(layer, graph, op, inputs, output, **attrs) -> str:
    """`op` followed by the layer's activation; the last node writes `output`."""
    spec = layer.activation
    z = output if spec.name == "linear" else graph.fresh(f"{layer.name}/{op}")
    graph.node(op, inputs, [z], f"{layer.name}/{op}", **attrs)
    return emit_activation(graph, spec, z, output, layer.name)


# -- layers --------------------------------------------------------------------------------
@register(InputLayer)
def _input(layer, graph, inputs, output):
    return inputs[0]


@register(Dense)
def _dense(layer, graph, inputs, output):
    W = graph.weight(f"{layer.name}.W", layer.params["W"])  # (n_in, n_out): no transpose
    b = graph.weight(f"{layer.name}.b", layer.params["b"])
    return _then_activation(layer, graph, "Gemm", [inputs[0], W, b], output)


@register(Conv2D)
def _conv2d(layer, graph, inputs, output):
    top, bottom, left, right = layer.pads
    W = graph.weight(f"{layer.name}.W", layer.params["W"])  # (F, C, kh, kw), as ONNX's
    b = graph.weight(f"{layer.name}.b", layer.params["b"])
    return _then_activation(
        layer, graph, "Conv", [inputs[0], W, b], output,
        kernel_shape=[layer.n_row, layer.n_col], strides=list(layer.strides),
        pads=[top, left, bottom, right], dilations=[1, 1], group=1,
    )  # fmt: skip


@register(ZeroPadding2D)
def _zero_padding(layer, graph, inputs, output):
    ph, pw = layer.padding
    pads = graph.weight(f"{layer.name}.pads", [0, 0, ph, pw, 0, 0, ph, pw], np.int64)
    graph.node("Pad", [inputs[0], pads], [output], layer.name, mode="constant")
    return output


def _pool(layer, graph, inputs, output):
    op = "MaxPool" if layer.mode == "max" else "AveragePool"
    graph.node(
        op, [inputs[0]], [output], layer.name,
        kernel_shape=list(layer.pool_size), strides=list(layer.strides), pads=[0, 0, 0, 0],
        ceil_mode=0,
    )  # fmt: skip
    return output


for _cls in (MaxPool2D, AvgPool2D, Pool2D):
    register(_cls)(_pool)


@register(GlobalAvgPool2D)
def _global_avg_pool(layer, graph, inputs, output):
    pooled = graph.fresh(f"{layer.name}/pooled")  # (N, C, 1, 1)
    graph.node("GlobalAveragePool", [inputs[0]], [pooled], layer.name)
    graph.node("Flatten", [pooled], [output], f"{layer.name}/flatten", axis=1)
    return output


@register(BatchNorm)
def _batchnorm(layer, graph, inputs, output):
    """Inference: the running statistics. Statistics per channel of axis 1 (after Dense or
    Conv2D) as BatchNormalization, epsilon written; any other axes as a Mul and an Add of
    the folded scale and shift, shaped to broadcast over the reduced axes."""
    gamma, beta = layer.params["gamma"], layer.params["beta"]
    mean, var = layer.state["running_mean"], layer.state["running_var"]
    if gamma.ndim == 1 and _first_kept_axis(layer) == 0:
        names = [
            graph.weight(f"{layer.name}.{key}", value)
            for key, value in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var))
        ]
        graph.node(
            "BatchNormalization", [inputs[0], *names], [output], layer.name,
            epsilon=float(layer.eps), momentum=float(layer.momentum),
        )  # fmt: skip
        return output
    # Folded in float64, so the file's float32 constants are rounded once.
    scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + layer.eps)
    shift = beta.astype(np.float64) - mean.astype(np.float64) * scale
    trailing = len(layer.input_shape) - _first_kept_axis(layer) - gamma.ndim
    shape = gamma.shape + (1,) * trailing
    scaled = graph.fresh(f"{layer.name}/scaled")
    graph.node(
        "Mul", [inputs[0], graph.weight(f"{layer.name}.scale", scale.reshape(shape))],
        [scaled], f"{layer.name}/scale",
    )  # fmt: skip
    shift_name = graph.weight(f"{layer.name}.shift", shift.reshape(shape))
    graph.node("Add", [scaled, shift_name], [output], f"{layer.name}/shift")
    return output


def _first_kept_axis(layer) -> int:
    """The first non-reduced axis of the sample shape (0-based, batch axis excluded)."""
    rank = len(layer.input_shape) + 1
    axes = layer.axis
    if axes is None:
        axes = (0,) if rank == 2 else (0,) + tuple(range(2, rank))
    reduced = {a % rank for a in axes}
    return min(a for a in range(rank) if a not in reduced) - 1


@register(Dropout)
def _dropout(layer, graph, inputs, output):
    return inputs[0]  # inference: the identity, so no node at all


@register(Flatten)
def _flatten(layer, graph, inputs, output):
    graph.node("Flatten", [inputs[0]], [output], layer.name, axis=1)
    return output


@register(Reshape)
def _reshape(layer, graph, inputs, output):
    shape = graph.weight(f"{layer.name}.shape", [-1, *layer.output_shape], np.int64)
    graph.node("Reshape", [inputs[0], shape], [output], layer.name)
    return output


@register(Activation)
def _activation(layer, graph, inputs, output):
    # A fused Activation's values pass through in hat (its BatchNorm applied it); the
    # exported BatchNorm is plain, so the activation is written here in every case.
    return emit_activation(graph, layer.activation, inputs[0], output, layer.name)


# -- merge layers --------------------------------------------------------------------------
def _variadic(op: str) -> Callable:
    def emit(layer, graph, inputs, output):
        graph.node(op, list(inputs), [output], layer.name)
        return output

    return emit


register(Add)(_variadic("Sum"))
register(Average)(_variadic("Mean"))
register(Maximum)(_variadic("Max"))
register(Subtract)(_variadic("Sub"))


@register(Multiply)
def _multiply(layer, graph, inputs, output):
    product = inputs[0]
    for index, other in enumerate(inputs[1:], start=2):
        target = output if index == len(inputs) else graph.fresh(f"{layer.name}/product")
        graph.node("Mul", [product, other], [target], layer.name)
        product = target
    return output


def _concatenate(layer, graph, inputs, output):
    graph.node("Concat", list(inputs), [output], layer.name, axis=layer._feature_axis + 1)
    return output


register(Concatenate)(_concatenate)
register(Merge)(_concatenate)
