"""Export a model to ONNX (one self-contained file) and check it with onnxruntime.

    report = hat.onnx.export(md, "model.onnx", verify=x_test[:1000])   # or md.export(...)
    print(report.verification)

The file holds float32 weights (a float64 model is cast, with a warning: onnxruntime has no
float64 Conv), one input and one output with the names given (the batch axis dynamic unless
batch_size is given), and opset 17 by default (13 at least: Softmax along one axis). Needs the
`onnx` package (pip install 'hat[onnx]'); verify also needs onnxruntime.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hat.export.emitters import EMITTERS, activation_problem, register

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
MIN_OPSET = 13  # Softmax over the last axis alone (before 13 it flattened the trailing axes)


class ExportError(ValueError):
    """The model cannot be written as ONNX: a layer or activation has no emitter, or an
    argument is wrong. Raised before anything is written."""


class MismatchError(RuntimeError):
    """onnxruntime's outputs differ from the model's by more than the tolerance."""


@dataclass(frozen=True)
class Verification:
    """onnxruntime against `Model.predict` on the same samples.

    Attributes:
        n_samples (int): samples compared.
        max_abs_diff (float): the largest |onnxruntime - hat| over every output value.
        argmax_equal (int): samples whose argmax over the last axis agrees.
        atol (float): the absolute part of the tolerance.
        rtol (float): the relative part: a value passes when |diff| <= atol + rtol * |hat|.
        passed (bool): every value within the tolerance.
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
    """What export wrote.

    Attributes:
        path (str): the file.
        opset (int): the ONNX opset it declares.
        file_bytes (int): its size.
        weight_bytes (int): bytes of the float32 weights in it (the rest is the graph).
        seconds (float): time to build, check and write it (verification excluded).
        cast_from (str or None): 'float64' when a float64 model was cast to float32.
        verification (Verification or None): the result of verify=..., if given.
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
    input_name: str = "input",
    output_name: str = "output",
    batch_size: int | None = None,
    verify: np.ndarray | None = None,
    atol: float = 1e-5,
    rtol: float = 1e-4,
) -> ExportReport:
    """Write `md` to `path` as one ONNX file; optionally check it with onnxruntime.

    Args:
        md (Model): the model (its inference behaviour is exported: dropout off, BatchNorm
            on its running statistics).
        path (str or PathLike): the file to write (replaced whole, never left half-written).
        opset (int, default 17): the ONNX opset, from MIN_OPSET (13) to what the installed
            onnx knows.
        input_name (str, default 'input'): the graph input's name.
        output_name (str, default 'output'): the graph output's name.
        batch_size (int or None, default None): None leaves the batch axis dynamic (named
            'batch'); an int fixes it.
        verify (array or None, default None): samples to run through onnxruntime and the model
            after writing (see `verify`); a mismatch raises MismatchError.
        atol (float, default 1e-5): verify's absolute tolerance.
        rtol (float, default 1e-4): verify's relative tolerance.

    Returns:
        ExportReport: the file's size, the weights' bytes, the time taken, the verification.

    Raises:
        ExportError: a layer or activation cannot be exported (all are named), or an argument
            is wrong; nothing is written.
        ImportError: onnx (or, with verify, onnxruntime) is not installed.
        MismatchError: verify found values outside the tolerance.
    """
    start = time.perf_counter()
    _check_arguments(md, opset, input_name, output_name, batch_size)
    _check_exportable(md)
    onnx = _import("onnx", "pip install 'hat[onnx]'")
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
    model, weight_bytes = _build(md, onnx, opset, input_name, output_name, batch_size)
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
        md (Model): the model the file was exported from.
        path (str or PathLike): the ONNX file.
        x (array): samples of the model's input shape, batch first.
        atol (float, default 1e-5): absolute tolerance.
        rtol (float, default 1e-4): relative tolerance: a value passes when
            |onnxruntime - hat| <= atol + rtol * |hat|.
        batch_size (int, default 1000): samples per run (a file with a fixed batch size runs
            that many at a time).

    Returns:
        Verification: the largest difference and the argmax agreement.

    Raises:
        MismatchError: a value lies outside the tolerance (the message holds the figures).
        ImportError: onnxruntime is not installed.
    """
    return _compare(md, path, x, atol, rtol, batch_size)


def _compare(md, path, x, atol, rtol, batch_size) -> Verification:
    from hat import checks

    ort = _import("onnxruntime", "pip install onnxruntime")
    x = checks.as_batch_array(x, "x", md.input_shape, md.dtype)
    session = ort.InferenceSession(os.fspath(path), providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0]
    fixed = feed.shape[0] if isinstance(feed.shape[0], int) else None
    step = fixed or checks.positive_int(batch_size, "batch_size")
    if fixed and x.shape[0] % fixed:
        raise ValueError(f"{path} takes batches of {fixed}; got {x.shape[0]} samples")
    x32 = x.astype(np.float32)
    got = np.concatenate(
        [session.run(None, {feed.name: x32[i : i + step]})[0] for i in range(0, len(x), step)]
    )
    want = md.predict(x, batch_size=step)
    diff = np.abs(got.astype(np.float64) - want)
    passed = bool(np.all(diff <= atol + rtol * np.abs(want)))
    # A sample agrees when every argmax over its last axis does (one per row of a Dense
    # output; one per image row for a softmax along the width of a Conv2D output).
    agree = got.argmax(axis=-1) == want.argmax(axis=-1)
    argmax_equal = int(agree.reshape(len(x), -1).all(axis=1).sum())
    result = Verification(len(x), float(diff.max()), argmax_equal, atol, rtol, passed)
    if not passed:
        raise MismatchError(f"{path}: {result}")
    return result


def _check_arguments(md, opset, input_name, output_name, batch_size) -> None:
    from hat.models import Model

    if not isinstance(md, Model):
        raise ExportError(f"export expects a hat Model; got {type(md).__name__} {md!r:.80}")
    if isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_OPSET:
        raise ExportError(
            f"opset must be an int >= {MIN_OPSET} (Softmax along one axis needs opset 13); "
            f"got {opset!r}"
        )
    for what, name in (("input_name", input_name), ("output_name", output_name)):
        if not isinstance(name, str) or not name:
            raise ExportError(f"{what} must be a non-empty string; got {name!r}")
    if input_name == output_name:
        raise ExportError(f"input_name and output_name must differ; both are {input_name!r}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ExportError(f"batch_size must be None (dynamic) or an int >= 1; got {batch_size!r}")


def _check_exportable(md) -> None:
    """Every layer and activation has an emitter, or one error naming all that do not."""
    problems = []
    for layer in md.layers:
        if type(layer) not in EMITTERS:
            problems.append(
                f"layer {layer.name} ({type(layer).__name__}) has no ONNX emitter; register one "
                "with @hat.onnx.register(" + type(layer).__name__ + ")"
            )
            continue
        problem = activation_problem(getattr(layer, "activation", None))
        if problem:
            problems.append(f"layer {layer.name} ({type(layer).__name__}): {problem}")
    if problems:
        raise ExportError("the model cannot be exported to ONNX:\n  " + "\n  ".join(problems))


def _build(md, onnx, opset, input_name, output_name, batch_size):
    """The ModelProto, and the bytes of its float weights: one emitter call per layer, in
    topological order (today's models are chains: each layer reads the one before)."""
    from hat import __version__
    from hat.export.graph import OnnxGraph

    helper = onnx.helper
    graph = OnnxGraph(np.float32)
    graph.reserve(input_name)
    graph.reserve(output_name)
    values: dict[int, str] = {}  # id(layer) -> the name of the value holding its output
    previous = None
    for layer in md.layers:
        inputs = [input_name] if previous is None else [values[id(previous)]]
        is_last = layer is md.layers[-1]
        target = output_name if is_last else graph.fresh(layer.name)
        values[id(layer)] = EMITTERS[type(layer)](layer, graph, inputs, target)
        previous = layer
    result = values[id(md.layers[-1])]
    if result != output_name:  # the last layer passed its input through (Dropout, linear)
        graph.node("Identity", [result], [output_name], "output")
    batch = batch_size if batch_size is not None else "batch"
    float32 = onnx.TensorProto.FLOAT
    proto = helper.make_graph(
        graph.nodes,
        "hat_model",
        [helper.make_tensor_value_info(input_name, float32, [batch, *md.input_shape])],
        [helper.make_tensor_value_info(output_name, float32, [batch, *md.output_shape])],
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
