"""Export a model to ONNX (one self-contained file) and check it with onnxruntime.

    report = hat.onnx.export(md, "model.onnx", verify=x_test[:1000])   # or md.export(...)
    print(report.verification)

The file holds float32 weights (a float64 model is cast, with a warning: onnxruntime has no
float64 Conv), the model's inputs and outputs with the names given (the batch axis dynamic
unless batch_size is given), and opset 17 by default (13 at least: Softmax along one axis).
Needs the `onnx` package (pip install onnx); verify also needs onnxruntime.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hat.export import recurrent_emitters, sequence_emitters  # noqa: F401 (they register)
from hat.export.emitters import EMITTERS, PROBLEMS, activation_problem, register

__all__ = [
    "DEFAULT_OPSET",
    "MIN_OPSET",
    "ExportError",
    "ExportReport",
    "MismatchError",
    "Verification",
    "export",
    "register",
    "verify",
]

DEFAULT_OPSET = 17
"""The opset export writes unless told otherwise."""
MIN_OPSET = 13  # Softmax over the last axis alone (before 13 it flattened the trailing axes)
"""The oldest opset export writes: Softmax over the last axis alone needs 13."""


class ExportError(ValueError):
    """The model cannot be written as ONNX: a layer or activation has no emitter, or an
    argument is wrong. Raised before anything is written."""


class MismatchError(RuntimeError):
    """onnxruntime's outputs differ from the model's by more than the tolerance."""


@dataclass(frozen=True)
class Verification:
    """onnxruntime against `Model.predict` on the same samples (what `verify` returns; a
    frozen dataclass whose fields are its arguments).

    Args:
        n_samples (int): The samples compared.
        max_abs_diff (float): The largest |onnxruntime - hat| over every output value.
        argmax_equal (int): The samples whose argmax over the last axis agrees.
        atol (float): The absolute part of the tolerance.
        rtol (float): The relative part: a value passes when |diff| <= atol + rtol * |hat|.
        passed (bool): Whether every value lies within the tolerance.
    """

    n_samples: int
    max_abs_diff: float
    argmax_equal: int
    atol: float
    rtol: float
    passed: bool

    @property
    def argmax_agreement(self) -> float:
        """The share of samples whose argmax agrees (1.0: all)."""
        return self.argmax_equal / self.n_samples

    def __str__(self) -> str:
        verdict = "within" if self.passed else "OUTSIDE"
        return (
            f"onnxruntime vs hat on {self.n_samples} samples: max |difference| "
            f"{self.max_abs_diff:.3g}, {verdict} the tolerance {self.atol:g} + {self.rtol:g} * "
            f"|hat|; argmax equal on {self.argmax_equal} of {self.n_samples} "
            f"({self.argmax_agreement:.2%})"
        )


@dataclass(frozen=True)
class ExportReport:
    """What export wrote (a frozen dataclass whose fields are its arguments).

    Args:
        path (str): The file.
        opset (int): The ONNX opset it declares.
        file_bytes (int): Its size.
        weight_bytes (int): The bytes of the float32 weights in it (the rest is the graph).
        seconds (float): The time to build, check and write it (verification excluded).
        cast_from (str | None): "float64" when a float64 model was cast to float32, else
            None.
        verification (Verification | None): The result of verify=..., if given.
    """

    path: str
    opset: int
    file_bytes: int
    weight_bytes: int
    seconds: float
    cast_from: str | None
    verification: Verification | None


def export(
    md,
    path: str | os.PathLike,
    *,
    opset: int = DEFAULT_OPSET,
    input_name: str | list[str] | None = None,
    output_name: str | list[str] | None = None,
    batch_size: int | None = None,
    verify=None,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> ExportReport:
    """Write `md` to `path` as one ONNX file; optionally check it with onnxruntime.

    Args:
        md (Model): The model (its inference behaviour is exported: dropout off, BatchNorm
            on its running statistics).
        path (str | PathLike): The file to write (replaced whole, never left half-written).
        opset (int): Default 17. The ONNX opset, from MIN_OPSET (13) to what the installed
            onnx knows.
        input_name (str | list[str] | None): Default None. The graph input's name, or one
            name per input; None: "input" for a model with one input, else the names of its
            input layers.
        output_name (str | list[str] | None): Default None. The same for the outputs
            ("output", else the names of the output layers).
        batch_size (int | None): Default None. None leaves the batch axis dynamic (named
            "batch"); an int fixes it.
        verify (np.ndarray | list[np.ndarray] | None): Default None. Samples to run through
            onnxruntime and the model after writing (see `verify`); a mismatch raises
            MismatchError.
        atol (float): Default 1e-5. verify's absolute tolerance.
        rtol (float): Default 1e-4. verify's relative tolerance.

    Returns:
        ExportReport: The file's size, the weights' bytes, the time taken, the verification.

    Raises:
        ExportError: A layer or activation cannot be exported (all are named), or an argument
            is wrong; nothing is written.
        ImportError: onnx (or, with verify, onnxruntime) is not installed.
        MismatchError: verify found values outside the tolerance.
    """
    start = time.perf_counter()
    _check_arguments(md, opset, batch_size)
    input_names = _names(input_name, "input", [n.layer.name for n in md.in_nodes])
    output_names = _names(output_name, "output", [n.layer.name for n in md.out_nodes])
    if len(set(input_names + output_names)) < len(input_names + output_names):
        raise ExportError(
            f"the input and output names must all differ; got inputs {input_names} and "
            f"outputs {output_names}"
        )
    _check_exportable(md)
    if verify is not None:
        md._inputs(verify, "verify")  # bad samples are refused before anything is written
    onnx = _import("onnx", "pip install onnx")
    if opset > onnx.defs.onnx_opset_version():
        raise ExportError(
            f"opset must be at most {onnx.defs.onnx_opset_version()} (what onnx "
            f"{onnx.__version__} knows); got {opset}"
        )
    cast_from = None
    if md.dtype == np.float64:
        cast_from = "float64"
        warnings.warn(
            "the model is float64; its ONNX file holds float32 weights and computes in float32 "
            "(onnxruntime has no float64 Conv)",
            UserWarning,
            stacklevel=2,
        )
    model, weight_bytes = _build(md, onnx, opset, input_names, output_names, batch_size)
    onnx.checker.check_model(model, full_check=True)
    file_bytes = _write(path, model.SerializeToString())
    seconds = time.perf_counter() - start
    verification = None
    if verify is not None:
        verification = _compare(md, path, verify, atol, rtol, 1000)
    return ExportReport(
        os.fspath(path), opset, file_bytes, weight_bytes, seconds, cast_from, verification
    )


def verify(
    md,
    path: str | os.PathLike,
    x,
    *,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    batch_size: int = 1000,
) -> Verification:
    """Run `x` through onnxruntime and `md.predict`; compare every output value.

    Args:
        md (Model): The model the file was exported from.
        path (str | PathLike): The ONNX file.
        x (np.ndarray | list[np.ndarray]): Samples of the model's input shape, batch first
            (a list with one array per input for a model with several).
        atol (float): Default 1e-5. The absolute tolerance.
        rtol (float): Default 1e-4. The relative tolerance: a value passes when
            |onnxruntime - hat| <= atol + rtol * |hat|.
        batch_size (int): Default 1000. Samples per run (a file with a fixed batch size runs
            that many at a time).

    Returns:
        Verification: The largest difference and the argmax agreement.

    Raises:
        MismatchError: A value lies outside the tolerance (the message holds the figures).
        ValueError: A file with a fixed batch size gets another number of samples.
        ImportError: onnxruntime is not installed.
    """
    return _compare(md, path, x, atol, rtol, batch_size)


def _compare(md, path, x, atol, rtol, batch_size) -> Verification:
    from hat import checks

    ort = _import("onnxruntime", "pip install onnxruntime")
    xs = md._inputs(x)
    n = len(xs[0])
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    feeds = session.get_inputs()
    fixed = feeds[0].shape[0] if isinstance(feeds[0].shape[0], int) else None
    step = fixed or checks.positive_int(batch_size, "batch_size")
    if fixed and n % fixed:
        raise ValueError(f"{path} takes batches of {fixed}; got {n} samples")
    xs32 = [a.astype(np.float32) for a in xs]
    runs = [
        session.run(None, {f.name: a[i : i + step] for f, a in zip(feeds, xs32, strict=True)})
        for i in range(0, n, step)
    ]
    got = [np.concatenate(parts) for parts in zip(*runs, strict=True)]
    want = md.predict(xs if len(xs) > 1 else xs[0], batch_size=step)
    want = want if isinstance(want, list) else [want]
    max_diff, passed = 0.0, True
    agree = np.ones(n, bool)
    for g, w in zip(got, want, strict=True):
        diff = np.abs(g.astype(np.float64) - w)
        max_diff = max(max_diff, float(diff.max()))
        passed = passed and bool(np.all(diff <= atol + rtol * np.abs(w)))
        # A sample agrees when every argmax over its last axis does (one per row of a Dense
        # output; one per image row for a softmax along the width of a Conv2D output), in
        # every output.
        agree &= (g.argmax(axis=-1) == w.argmax(axis=-1)).reshape(n, -1).all(axis=1)
    result = Verification(n, max_diff, int(agree.sum()), atol, rtol, passed)
    if not passed:
        raise MismatchError(f"{path}: {result}")
    return result


def _check_arguments(md, opset, batch_size) -> None:
    from hat.models import Model

    if not isinstance(md, Model):
        raise ExportError(f"export expects a hat Model; got {type(md).__name__} {md!r:.80}")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ExportError(
            f"opset must be an int >= {MIN_OPSET} (Softmax along one axis needs opset 13); "
            f"got {opset!r}"
        )
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ExportError(f"batch_size must be None (dynamic) or an int >= 1; got {batch_size!r}")


def _names(given, what: str, layer_names: list[str]) -> list[str]:
    """One name per graph input (or output): given, or the defaults."""
    if given is None:
        return [what] if len(layer_names) == 1 else list(layer_names)
    names = [given] if isinstance(given, str) else given
    if (
        not isinstance(names, (list, tuple))
        or len(names) != len(layer_names)
        or not all(isinstance(v, str) and v for v in names)
    ):
        count = "one" if len(layer_names) == 1 else f"{len(layer_names)}"
        raise ExportError(
            f"{what}_name must be {count} non-empty string(s), one per model {what}; got {given!r}"
        )
    return list(names)


def _check_exportable(md) -> None:
    """Every layer and activation has an emitter, or one error naming all that do not."""
    problems = []
    for layer in _unique_layers(_needed_nodes(md)):
        if type(layer) not in EMITTERS:
            problems.append(
                f"layer {layer.name} ({type(layer).__name__}) has no ONNX emitter; register one "
                "with @hat.onnx.register(" + type(layer).__name__ + ")"
            )
            continue
        problem = PROBLEMS.get(type(layer), lambda layer: None)(layer) or activation_problem(
            getattr(layer, "activation", None)
        )
        if problem:
            problems.append(f"layer {layer.name} ({type(layer).__name__}): {problem}")
    if problems:
        raise ExportError("the model cannot be exported to ONNX:\n  " + "\n  ".join(problems))


def _needed_nodes(md) -> list:
    """The nodes the outputs depend on, each after its inputs (not Hat's any_layers)."""
    from hat.graph import topological_order

    return topological_order(md.in_nodes, md.out_nodes)


def _unique_layers(nodes) -> list:
    layers: list = []
    for node in nodes:
        if not any(node.layer is seen for seen in layers):
            layers.append(node.layer)
    return layers


def _build(md, onnx, opset, input_names, output_names, batch_size):
    """The ModelProto, and the bytes of its float weights: one emitter call per node, in
    topological order (a shared layer is emitted per call, its weights stored once)."""
    from hat import __version__
    from hat.export.graph import OnnxGraph

    helper = onnx.helper
    graph = OnnxGraph(np.float32, opset)
    for name in input_names + output_names:
        graph.reserve(name)
    given = {id(node): name for node, name in zip(md.in_nodes, input_names, strict=True)}
    wanted = {id(node): name for node, name in zip(md.out_nodes, output_names, strict=True)}
    values: dict[int, str] = {}  # id(node) -> the name of the value holding its output
    for node in _needed_nodes(md):
        if id(node) in given:
            values[id(node)] = given[id(node)]
            continue
        inputs = [values[id(parent)] for parent in node.inputs]
        target = wanted.get(id(node)) or graph.fresh(node.layer.name)
        values[id(node)] = EMITTERS[type(node.layer)](node.layer, graph, inputs, target)
    for node, name in zip(md.out_nodes, output_names, strict=True):
        if values[id(node)] != name:  # the node passed its input through (Dropout, linear)
            graph.node("Identity", [values[id(node)]], [name], name)
    batch = batch_size if batch_size is not None else "batch"
    float32 = onnx.TensorProto.FLOAT

    def described(names, nodes):
        return [
            helper.make_tensor_value_info(name, float32, [batch, *node.output_shape])
            for name, node in zip(names, nodes, strict=True)
        ]

    proto = helper.make_graph(
        graph.nodes,
        "hat_model",
        described(input_names, md.in_nodes),
        described(output_names, md.out_nodes),
        initializer=graph.initializers,
    )
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(
        proto,
        opset_imports=opsets,
        producer_name="hat",
        producer_version=__version__,
        # The oldest IR version that carries this opset, so older runtimes load the file.
        ir_version=helper.find_min_ir_version_for(opsets),
        doc_string=f"exported by hat {__version__} from a {md.dtype} model",
    )
    return model, graph.weight_bytes()


def _write(path, data: bytes) -> int:
    """The one place that writes the file: through a temporary file, renamed when whole."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(data)


def _import(name: str, hint: str):
    try:
        return __import__(name)
    except ImportError as err:
        raise ImportError(f"hat.onnx needs the {name} package: {hint}") from err
