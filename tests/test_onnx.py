"""hat.onnx: every layer and activation against onnxruntime, each known trap, the refusals."""

import sys

import numpy as np
import pytest

import hat.onnx as hat_onnx
from hat import activations
from hat.layers import (
    Activation,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    InputLayer,
    Layer,
    MaxPool2D,
    Pool2D,
    Reshape,
    ZeroPadding2D,
)
from hat.models import Sequential
from tests.helpers.optional import require

onnx = require("onnx")
ort = require("onnxruntime")


def model(*layers, seed=0, dtype=np.float32):
    return Sequential(list(layers)).combine(seed=seed, dtype=dtype)


def images(n=5, shape=(2, 7, 7), seed=1):
    return np.random.default_rng(seed).normal(0, 1, (n, *shape)).astype(np.float32)


def set_statistics(md, seed=2):
    """BatchNorm statistics far from the defaults (mean 0, var 1), so that every term shows."""
    rng = np.random.default_rng(seed)
    for layer in md.layers:
        if isinstance(layer, BatchNorm):
            for key, target in (*layer.params.items(), *layer.state.items()):
                low = 0.05 if key in ("running_var", "gamma") else -1.0
                target[...] = rng.uniform(low, 1.5, target.shape)


def exported(md, tmp_path, x, **options):
    path = tmp_path / "m.onnx"
    report = hat_onnx.export(md, path, verify=x, **options)
    return path, report, onnx.load(str(path))


def nodes(proto, op):
    return [n for n in proto.graph.node if n.op_type == op]


def attribute(node, name):
    return onnx.helper.get_attribute_value(next(a for a in node.attribute if a.name == name))


def edited(proto, tmp_path, op, name, value):
    """A copy of the file with one attribute of every `op` node set to `value`."""
    for node in nodes(proto, op):
        for a in node.attribute:
            if a.name == name:
                node.attribute.remove(a)
                break
        node.attribute.append(onnx.helper.make_attribute(name, value))
    path = tmp_path / f"edited_{op}_{name}.onnx"
    onnx.save(proto, str(path))
    return path


def test_a_model_with_every_layer_type_matches_onnxruntime(tmp_path):
    md = model(
        InputLayer((2, 9, 9)),
        Conv2D(4, 3, 3, act="relu", border_mode="same", strides=2),
        BatchNorm(),
        Activation("leaky_relu"),
        ZeroPadding2D((1, 2)),
        MaxPool2D(2, strides=1),
        Dropout(0.3),
        Pool2D((2, 2), pool_mode="avg"),
        Conv2D(6, 1, 1),
        GlobalAvgPool2D(),
        Dense(12, act="tanh"),
        BatchNorm(),
        Reshape((3, 4)),
        BatchNorm(axis=(0, 1)),  # statistics per column of the (3, 4) sample: Mul and Add
        Flatten(),
        Dense(5, act="softmax"),
    )
    set_statistics(md)
    x = images(6, (2, 9, 9))
    path, report, proto = exported(md, tmp_path, x)
    assert report.verification.max_abs_diff < 1e-5 and report.verification.argmax_equal == 6
    ops = [n.op_type for n in proto.graph.node]
    assert "Dropout" not in ops and ops.count("BatchNormalization") == 2
    assert {"Conv", "Pad", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm", "Mul"} <= set(ops)
    assert report.file_bytes == path.stat().st_size > report.weight_bytes > 0
    assert all(t.data_location == onnx.TensorProto.DEFAULT for t in proto.graph.initializer)
    # Training changes nothing in what is exported: inference is what the file computes.
    assert md.predict(x).shape == (6, 5)


@pytest.mark.parametrize("name", sorted(set(activations.names()) & set(activations._BUILTIN)))
def test_every_builtin_activation(tmp_path, name):
    md = model(InputLayer(6), Dense(4, act=name))
    x = np.random.default_rng(0).normal(0, 3, (16, 6)).astype(np.float32)  # both signs
    _, report, _ = exported(md, tmp_path, x)
    assert report.verification.max_abs_diff < 1e-5


@pytest.mark.parametrize("border_mode", ["valid", "same", "full", (1, 2)])
@pytest.mark.parametrize("strides", [(1, 1), (2, 2), (2, 1)])
def test_conv2d_border_modes_and_strides(tmp_path, border_mode, strides):
    # A 2x3 kernel on 7x6 images at stride 2: 'same' pads unevenly (the extra row at the bottom).
    md = model(InputLayer((2, 7, 6)), Conv2D(3, 2, 3, border_mode=border_mode, strides=strides))
    _, report, proto = exported(md, tmp_path, images(3, (2, 7, 6)))
    assert report.verification.max_abs_diff < 1e-5
    conv = nodes(proto, "Conv")[0]
    top, bottom, left, right = md.layers[1].pads
    assert attribute(conv, "pads") == [top, left, bottom, right]
    assert attribute(conv, "strides") == list(strides)


def test_conv2d_winograd_and_softmax_along_the_width(tmp_path):
    md = model(
        InputLayer((8, 6, 6)),
        Conv2D(3, 3, 3, act="softmax", border_mode="same", algorithm="winograd"),
    )
    _, report, proto = exported(md, tmp_path, images(2, (8, 6, 6)), opset=13)
    assert report.verification.argmax_equal == 2 and report.verification.max_abs_diff < 1e-5
    assert attribute(nodes(proto, "Softmax")[0], "axis") == -1


def test_batchnorm_epsilon_is_hats_not_onnxs_default(tmp_path):
    """Trap: ONNX's BatchNormalization defaults to epsilon 1e-5; hat's is 1e-3."""
    md = model(InputLayer(4), BatchNorm(), Dense(3, act="softmax"))
    set_statistics(md)
    md.layers[1].state["running_var"][...] = [1e-3, 2e-3, 5e-3, 1e-2]  # where eps matters
    x = np.random.default_rng(0).normal(0, 0.1, (32, 4)).astype(np.float32)
    _, report, proto = exported(md, tmp_path, x)
    assert report.verification.max_abs_diff < 1e-5
    assert attribute(nodes(proto, "BatchNormalization")[0], "epsilon") == pytest.approx(1e-3)
    with pytest.raises(hat_onnx.MismatchError, match=r"OUTSIDE the tolerance"):
        hat_onnx.verify(md, edited(proto, tmp_path, "BatchNormalization", "epsilon", 1e-5), x)


def test_batchnorm_on_conv_inputs_with_other_axes(tmp_path):
    md = model(
        InputLayer((3, 4, 5)),
        BatchNorm(),  # per channel: BatchNormalization
        BatchNorm(axis=(0, 1)),  # per (row, column), over batch and channels: Mul, Add
        BatchNorm(axis=(0, 3)),  # per (channel, row): Mul, Add broadcast over the width
        BatchNorm(axis=0),  # per value
        Flatten(),
    )
    set_statistics(md)
    _, report, proto = exported(md, tmp_path, images(4, (3, 4, 5)))
    assert report.verification.max_abs_diff < 1e-5
    assert len(nodes(proto, "BatchNormalization")) == 1 and len(nodes(proto, "Mul")) == 3


def test_pooling_strides_are_written(tmp_path):
    """Trap: ONNX's pooling strides default to 1; hat's default to the pool size."""
    md = model(
        InputLayer((2, 12, 12)),
        MaxPool2D(2),
        AvgPool2D(3, strides=1),
        MaxPool2D((2, 1), strides=(1, 2)),
        Flatten(),
    )
    _, report, proto = exported(md, tmp_path, images(3, (2, 12, 12)))
    assert report.verification.max_abs_diff < 1e-5
    strides = [attribute(n, "strides") for n in proto.graph.node if "Pool" in n.op_type]
    assert strides == [[2, 2], [1, 1], [1, 2]]


def test_leaky_relu_alpha_is_written(tmp_path):
    """Trap: ONNX's LeakyRelu defaults to alpha 0.01; hat's leaky_relu has 0.2."""
    md = model(InputLayer(5), Dense(5, act="leaky_relu"))
    x = np.random.default_rng(0).normal(0, 2, (20, 5)).astype(np.float32)
    _, _, proto = exported(md, tmp_path, x)
    assert attribute(nodes(proto, "LeakyRelu")[0], "alpha") == pytest.approx(0.2)
    with pytest.raises(hat_onnx.MismatchError):
        hat_onnx.verify(md, edited(proto, tmp_path, "LeakyRelu", "alpha", 0.01), x)


def test_softmax_needs_opset_13(tmp_path):
    md = model(InputLayer(4), Dense(3, act="softmax"))
    with pytest.raises(hat_onnx.ExportError, match=r"opset must be an int >= 13 .*got 12"):
        hat_onnx.export(md, tmp_path / "m.onnx", opset=12)
    assert not (tmp_path / "m.onnx").exists()
    _, report, proto = exported(md, tmp_path, np.ones((2, 4), np.float32), opset=13)
    assert proto.opset_import[0].version == 13 and report.opset == 13


def test_a_float64_model_is_cast_to_float32_and_says_so(tmp_path):
    """Trap: onnxruntime has no float64 Conv; the file is float32 and the export warns."""
    md = model(InputLayer((2, 7, 7)), Conv2D(3, 3, 3, act="relu"), Flatten(), dtype=np.float64)
    with pytest.warns(UserWarning, match=r"float64; its ONNX file holds float32"):
        _, report, proto = exported(md, tmp_path, images(3).astype(np.float64))
    assert report.cast_from == "float64" and report.verification.max_abs_diff < 1e-5
    assert {t.data_type for t in proto.graph.initializer} == {onnx.TensorProto.FLOAT}


def test_batch_axis_dynamic_by_default_or_fixed_and_names_given(tmp_path):
    md = model(InputLayer(3), Dense(2))
    path = tmp_path / "dynamic.onnx"
    hat_onnx.export(md, path, input_name="pixels", output_name="scores")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["pixels"]
    assert [o.name for o in session.get_outputs()] == ["scores"]
    for n in (1, 7):
        x = np.ones((n, 3), np.float32)
        np.testing.assert_allclose(session.run(None, {"pixels": x})[0], md.predict(x), atol=1e-6)
    fixed = tmp_path / "fixed.onnx"
    hat_onnx.export(md, fixed, batch_size=4)
    assert ort.InferenceSession(str(fixed)).get_inputs()[0].shape == [4, 3]
    assert hat_onnx.verify(md, fixed, np.ones((8, 3))).n_samples == 8
    with pytest.raises(ValueError, match=r"takes batches of 4; got 6 samples"):
        hat_onnx.verify(md, fixed, np.ones((6, 3)))


class Scale(Layer):
    """A user's layer: y = 2 x."""

    def forward(self, x, training):
        return 2 * x

    def backward(self, dy):
        return 2 * dy


class MyDense(Dense):
    """A user's subclass: it may compute something else than Dense, so it is not Dense."""


def cube(x):
    return x**3


def cube_grad(x, y, dy):
    return 3 * x**2 * dy


def test_what_cannot_be_exported_is_refused_by_name_before_writing(tmp_path):
    activations.register(cube, cube_grad, name="test_onnx_cube")
    md = model(InputLayer(3), Scale(name="doubler"), MyDense(2), Dense(2, act="test_onnx_cube"))
    path = tmp_path / "m.onnx"
    with pytest.raises(hat_onnx.ExportError) as info:
        md.export(path)
    message = str(info.value)
    assert "layer doubler (Scale) has no ONNX emitter" in message
    assert "(MyDense) has no ONNX emitter" in message
    assert "its activation 'test_onnx_cube' is a user's function" in message
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_register_exports_a_users_layer(tmp_path, monkeypatch):
    monkeypatch.setattr(hat_onnx, "EMITTERS", dict(hat_onnx.EMITTERS))
    monkeypatch.setattr("hat.export.emitters.EMITTERS", hat_onnx.EMITTERS)

    @hat_onnx.register(Scale)
    def emit_scale(layer, graph, inputs, output):
        two = graph.weight(f"{layer.name}.two", np.float32(2))
        graph.node("Mul", [inputs[0], two], [output], layer.name)
        return output

    md = model(InputLayer(3), Dense(4), Scale(), Dense(2))
    report = md.export(tmp_path / "m.onnx", verify=np.eye(3))
    assert report.verification.max_abs_diff < 1e-5


def test_a_mismatch_raises_with_the_figures(tmp_path):
    md = model(InputLayer(3), Dense(2, act="softmax"))
    path = tmp_path / "m.onnx"
    md.export(path)
    md.layers[1].params["W"][0, 0] += 1.0  # the model moved on after the export
    with pytest.raises(hat_onnx.MismatchError, match=r"max \|difference\| .* OUTSIDE"):
        hat_onnx.verify(md, path, np.eye(3), atol=1e-6)


def test_arguments_are_checked(tmp_path):
    md = model(InputLayer(3), Dense(2))
    with pytest.raises(hat_onnx.ExportError, match=r"expects a hat Model; got list"):
        hat_onnx.export([md], tmp_path / "m.onnx")
    with pytest.raises(hat_onnx.ExportError, match=r"batch_size must be None .* got 0"):
        hat_onnx.export(md, tmp_path / "m.onnx", batch_size=0)
    with pytest.raises(hat_onnx.ExportError, match=r"must all differ; got inputs \['x'\]"):
        hat_onnx.export(md, tmp_path / "m.onnx", input_name="x", output_name="x")
    with pytest.raises(hat_onnx.ExportError, match=r"input_name must be one non-empty string"):
        hat_onnx.export(md, tmp_path / "m.onnx", input_name=["a", "b"])
    with pytest.raises(hat_onnx.ExportError, match=r"opset must be at most"):
        hat_onnx.export(md, tmp_path / "m.onnx", opset=999)
    with pytest.raises(ValueError, match=r"verify has shape \(2, 4\), but the model expects"):
        md.export(tmp_path / "m.onnx", verify=np.ones((2, 4)))
    assert not (tmp_path / "m.onnx").exists()


def test_a_graph_model_with_merges_a_shared_layer_and_two_outputs(tmp_path):
    from hat.layers import Add, Average, Concatenate, Input, Maximum, Merge, Multiply, Subtract
    from hat.models import Model

    a, b = Input(4, name="a"), Input(4, name="b")
    shared = Dense(4, act="tanh", name="shared")
    ha, hb = shared(a), shared(b)  # one layer, two calls: its weights are stored once
    merged = [
        Add()([ha, hb, a]),
        Subtract()([ha, hb]),
        Multiply()([ha, hb, b]),
        Average()([ha, hb]),
        Maximum()([ha, hb, a]),
    ]
    joined = Concatenate(axis=1)(merged)
    first = Dense(3, act="softmax", name="first")(joined)
    second = Dense(2, name="second")(Merge()([ha, b]))
    md = Model(inputs=[a, b], outputs=[first, second], seed=0)
    rng = np.random.default_rng(0)
    xs = [rng.normal(0, 1, (9, 4)).astype(np.float32) for _ in range(2)]
    path = tmp_path / "graph.onnx"
    report = md.export(path, verify=xs)
    assert report.verification.max_abs_diff < 1e-5 and report.verification.argmax_equal == 9
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == ["a", "b"]
    assert [o.name for o in proto.graph.output] == ["first", "second"]
    assert [t.name for t in proto.graph.initializer].count("shared.W") == 1
    assert len(nodes(proto, "Gemm")) == 4  # shared twice, first, second
    ops = {n.op_type for n in proto.graph.node}
    assert {"Sum", "Sub", "Mul", "Mean", "Max", "Concat"} <= ops
    renamed = md.export(tmp_path / "r.onnx", input_name=["x1", "x2"], output_name=["p", "q"])
    session = ort.InferenceSession(renamed.path, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x1", "x2"]


def test_a_lambda_is_refused_by_name(tmp_path):
    from hat.layers import Input, Lambda
    from hat.models import Model

    x = Input(3)
    md = Model(inputs=x, outputs=Dense(2)(Lambda(lambda v: v * 2, name="twice")(x)), seed=0)
    with pytest.raises(hat_onnx.ExportError, match=r"layer twice \(Lambda\) has no ONNX emitter"):
        md.export(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize("opset", [17, 18])  # 18 moved ReduceMean's axes to an input
@pytest.mark.parametrize("border_mode", ["valid", "same", "causal", (2, 1)])
def test_sequence_layers(tmp_path, opset, border_mode):
    from hat.layers import (
        AvgPool1D,
        Conv1D,
        Embedding,
        GlobalAveragePooling1D,
        GlobalMaxPool,
        GlobalMaxPooling1D,
        GlobalMeanTimePool,
        Input,
        MaxPool1D,
    )
    from hat.models import Model

    ids = Input(20)
    vectors = Embedding(20, 6)(ids)
    h = Conv1D(5, 3, act="relu", border_mode=border_mode, stride=2)(vectors)
    h = AvgPool1D(2, strides=1)(MaxPool1D(2)(h))
    h = Conv1D(4, 2, act="softmax")(h)  # softmax along the features
    pooled = [
        pool(h) for pool in (GlobalAveragePooling1D(), GlobalMaxPooling1D(), GlobalMeanTimePool(),
                             GlobalMaxPool())
    ]  # fmt: skip
    md = Model(inputs=ids, outputs=pooled, seed=0)
    x = np.random.default_rng(0).integers(0, 20, (7, 20)).astype(np.float32)
    report = md.export(tmp_path / "seq.onnx", opset=opset, verify=x)
    assert report.verification.max_abs_diff < 1e-5
    proto = onnx.load(str(tmp_path / "seq.onnx"))
    assert attribute(nodes(proto, "Conv")[0], "pads") == list(md.layers[2].pads)


def test_sequence_layers_that_make_masks_are_refused(tmp_path):
    from hat.layers import LSTM, Bidirectional, Embedding, GlobalMeanTimePool, Input
    from hat.models import Model

    ids, mask = Input(5), Input(5)
    masked = Embedding(9, 3, mask_zero=True, name="words")(ids)
    pooled = GlobalMeanTimePool(masking=True, name="mean")([masked, mask])
    md = Model(inputs=[ids, mask], outputs=pooled, seed=0)
    with pytest.raises(hat_onnx.ExportError) as info:
        md.export(tmp_path / "m.onnx")
    assert "layer words (Embedding): mask_zero=True makes a mask" in str(info.value)
    assert "layer mean (GlobalMeanTimePool): masking=True averages over a mask" in str(info.value)
    # A recurrent layer with masking=True cannot be built in a graph model today (its build
    # takes the [x, mask] shapes for one shape), so its refusal is checked on the layer.
    from hat.export.emitters import PROBLEMS

    for layer in (LSTM(4, masking=True), Bidirectional(LSTM(4, masking=True))):
        assert "masking=True takes a mask input" in PROBLEMS[type(layer)](layer)
    assert PROBLEMS[LSTM](LSTM(4)) is None


@pytest.mark.parametrize("kind", ["SimpleRnn", "LSTM", "GRU"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequence", [True, False])
def test_recurrent_layers(tmp_path, kind, go_backwards, return_sequence):
    import hat.layers
    from hat.layers import Input
    from hat.models import Model

    cls = getattr(hat.layers, kind)
    x = Input((6, 3))
    options = {"go_backwards": go_backwards, "return_sequence": return_sequence}
    first = cls(5, **options)(x)
    # A second layer with other activations, so each one's ONNX name and constants are used.
    acts = {"act": "relu"} if kind == "SimpleRnn" else {"gate_act": "hard_sigmoid", "act": "tanh"}
    out = cls(4, **acts, **options)(first) if return_sequence else first
    md = Model(inputs=x, outputs=out, seed=3)
    rng = np.random.default_rng(0)
    for layer in md.layers[1:]:  # weights and biases of both signs, so every term shows
        for value in layer.params.values():
            value[...] = rng.normal(0, 0.5, value.shape)
    data = rng.normal(0, 1, (5, 6, 3)).astype(np.float32)
    report = md.export(tmp_path / "rnn.onnx", verify=data)
    assert report.verification.max_abs_diff < 1e-5


@pytest.mark.parametrize("kind", ["SimpleRnn", "LSTM", "GRU"])
def test_final_states(tmp_path, kind):
    import hat.layers
    from hat.layers import Input
    from hat.models import Model

    x = Input((6, 3))
    y, *states = getattr(hat.layers, kind)(5, return_state=True, go_backwards=True)(x)
    md = Model(inputs=x, outputs=[y, *states], seed=3)
    for value in md.layers[1].params.values():
        value[...] = np.random.default_rng(1).normal(0, 0.5, value.shape)
    data = np.random.default_rng(0).normal(0, 1, (5, 6, 3)).astype(np.float32)
    report = md.export(tmp_path / "states.onnx", verify=data)
    assert report.verification.max_abs_diff < 1e-5


@pytest.mark.parametrize("kind", ["SimpleRnn", "LSTM", "GRU"])
def test_initial_states(tmp_path, kind):
    import hat.layers
    from hat.layers import Dense, Input
    from hat.models import Model

    x, z = Input((6, 3)), Input(2)
    starts = [Dense(5, act="tanh")(z) for _ in range(2 if kind == "LSTM" else 1)]
    y = getattr(hat.layers, kind)(5, go_backwards=True)(x, initial_state=starts)
    md = Model(inputs=[x, z], outputs=y, seed=3)
    rng = np.random.default_rng(0)
    data = [rng.normal(0, 1, (5, 6, 3)).astype(np.float32),
            rng.normal(0, 1, (5, 2)).astype(np.float32)]  # fmt: skip
    report = md.export(tmp_path / "started.onnx", verify=data)
    assert report.verification.max_abs_diff < 1e-5


def test_a_leaky_relu_recurrent_layer_writes_its_alpha(tmp_path):
    from hat.layers import GRU, Input
    from hat.models import Model

    x = Input((4, 2))
    md = Model(inputs=x, outputs=GRU(3, act="leaky_relu", gate_act="sigmoid")(x), seed=0)
    for value in md.layers[1].params.values():
        value[...] = np.random.default_rng(1).normal(0, 1, value.shape)
    data = np.random.default_rng(2).normal(0, 2, (6, 4, 2)).astype(np.float32)
    _, report, proto = exported(md, tmp_path, data)
    gru = nodes(proto, "GRU")[0]
    assert attribute(gru, "activations") == [b"Sigmoid", b"LeakyRelu"]
    assert attribute(gru, "activation_alpha") == [pytest.approx(0.2)]
    assert attribute(gru, "linear_before_reset") == 1


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("return_sequence", [True, False])
def test_bidirectional(tmp_path, merge_mode, return_sequence):
    from hat.layers import GRU, LSTM, Bidirectional, Input
    from hat.models import Model

    x = Input((5, 3))
    h = Bidirectional(GRU(4, return_sequence=return_sequence), merge_mode=merge_mode)(x)
    if return_sequence:
        h = Bidirectional(LSTM(2, return_sequence=False, go_backwards=True))(h)
    md = Model(inputs=x, outputs=h, seed=4)
    data = np.random.default_rng(0).normal(0, 1, (4, 5, 3)).astype(np.float32)
    report = md.export(tmp_path / "bi.onnx", verify=data)
    assert report.verification.max_abs_diff < 1e-5


def test_a_weight_name_never_stands_for_other_values():
    from hat.export.graph import OnnxGraph

    graph = OnnxGraph()
    first = graph.weight("layer.axes", [0], np.int64)
    assert graph.weight("layer.axes", [0], np.int64) == first  # a shared layer: stored once
    other = graph.weight("layer.axes", [1], np.int64)  # the same name for other values
    assert other != first and len(graph.initializers) == 2


def test_without_onnx_the_error_says_what_to_install(tmp_path, monkeypatch):
    md = model(InputLayer(3), Dense(2))
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"hat\.onnx needs the onnx package: pip install"):
        md.export(tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"needs the onnxruntime package"):
        hat_onnx.verify(md, tmp_path / "m.onnx", np.ones((1, 3)))
