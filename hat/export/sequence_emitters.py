"""Emitters for the sequence layers on (batch, time, features): Embedding, Conv1D, the 1-D
and time poolings. ONNX's Conv and pooling take (batch, channels, time), so each runs between
two Transposes. Masks have no ONNX form here: a layer that makes one (Embedding with
mask_zero, GlobalMeanTimePool with masking) is refused, so every exported layer sees every
step, as hat computes it without a mask. The recurrent layers are in recurrent_emitters.py."""

from __future__ import annotations

import numpy as np

from hat.export.emitters import PROBLEMS, emit_activation, register
from hat.layers.conv1d import Conv1D
from hat.layers.embedding import Embedding
from hat.layers.pooling1d import (
    AvgPool1D,
    GlobalAveragePooling1D,
    GlobalMaxPool,
    GlobalMaxPooling1D,
    GlobalMeanTimePool,
    MaxPool1D,
)

NO_MASKS = "ONNX export computes without masks"
PROBLEMS[Embedding] = lambda layer: (
    f"mask_zero=True makes a mask for the layers after it; {NO_MASKS}" if layer.mask_zero else None
)
PROBLEMS[GlobalMeanTimePool] = lambda layer: (
    f"masking=True averages over a mask; {NO_MASKS}" if layer.masking else None
)


def _to_channels_first(graph, x: str, name: str) -> str:
    out = graph.fresh(f"{name}/channels_first")
    graph.node("Transpose", [x], [out], f"{name}/channels_first", perm=[0, 2, 1])
    return out


def _to_time_first(graph, x: str, output: str, name: str) -> str:
    graph.node("Transpose", [x], [output], f"{name}/time_first", perm=[0, 2, 1])
    return output


@register(Embedding)
def _embedding(layer, graph, inputs, output):
    import onnx

    ids = graph.fresh(f"{layer.name}/ids")  # hat's inputs are floats holding whole numbers
    graph.node("Cast", [inputs[0]], [ids], f"{layer.name}/ids", to=onnx.TensorProto.INT64)
    W = graph.weight(f"{layer.name}.W", layer.params["W"])  # (n_vocab, n_out)
    graph.node("Gather", [W, ids], [output], layer.name, axis=0)
    return output


@register(Conv1D)
def _conv1d(layer, graph, inputs, output):
    before, after = layer.pads
    x = _to_channels_first(graph, inputs[0], layer.name)
    W = graph.weight(f"{layer.name}.W", np.transpose(layer.params["W"], (0, 2, 1)))  # (F, C, K)
    b = graph.weight(f"{layer.name}.b", layer.params["b"])
    z = graph.fresh(f"{layer.name}/Conv")
    graph.node(
        "Conv", [x, W, b], [z], f"{layer.name}/Conv",
        kernel_shape=[layer.len_filter], strides=[layer.stride], pads=[before, after],
        dilations=[1], group=1,
    )  # fmt: skip
    # The activation after the Transpose: softmax runs along the features, as in hat.
    spec = layer.activation
    y = output if spec.name == "linear" else graph.fresh(f"{layer.name}/time_first")
    _to_time_first(graph, z, y, layer.name)
    return emit_activation(graph, spec, y, output, layer.name)


def _pool1d(layer, graph, inputs, output):
    x = _to_channels_first(graph, inputs[0], layer.name)
    pooled = graph.fresh(f"{layer.name}/pooled")
    graph.node(
        "MaxPool" if layer.mode == "max" else "AveragePool", [x], [pooled], layer.name,
        kernel_shape=[layer.pool_size], strides=[layer.strides], pads=[0, 0], ceil_mode=0,
    )  # fmt: skip
    return _to_time_first(graph, pooled, output, layer.name)


register(MaxPool1D)(_pool1d)
register(AvgPool1D)(_pool1d)


def _time_pool(layer, graph, inputs, output):
    """The mean or maximum over axis 1 (time). Opset 18 moved Reduce*'s axes from an
    attribute to an input."""
    op = "ReduceMean" if layer.mode == "mean" else "ReduceMax"
    if graph.opset >= 18:
        axes = graph.weight(f"{layer.name}.axes", [1], np.int64)
        graph.node(op, [inputs[0], axes], [output], layer.name, keepdims=0)
    else:
        graph.node(op, [inputs[0]], [output], layer.name, axes=[1], keepdims=0)
    return output


for _cls in (GlobalAveragePooling1D, GlobalMaxPooling1D, GlobalMeanTimePool, GlobalMaxPool):
    register(_cls)(_time_pool)
