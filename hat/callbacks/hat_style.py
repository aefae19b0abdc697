"""Hat's own callbacks: SaveModel and Validation, with Hat's file names and output."""

import os
import pickle
import time

import numpy as np

from hat.callbacks.base import Callback


class SaveModel(Callback):
    """Hat's checkpoints: saves the model to <dump_fd>/md<epoch>_epochs.h5 every call_freq epochs
    (epoch 0 is the untrained model). Creates the folder. Each file can resume a fit
    (`fit(resume_from=...)`); in an MPI job rank 0 alone writes.

    Args:
        dump_fd (str | PathLike): The folder of the files (created on the first save).
        call_freq (int): Default 3. Save at epoch 0 and then every `call_freq` epochs.
        type (str): Default "epoch". Hat's callback type; only "epoch" is supported.

    Raises:
        TypeError: `dump_fd` is not a path.
        ValueError: `call_freq` is not an int >= 1, or `type` is not "epoch".
    """

    writes_checkpoints = True  # fit runs it after the other callbacks
    """True: fit runs it after the other callbacks, so a file holds their state of the epoch."""

    def __init__(self, dump_fd: str, call_freq: int = 3, type: str = "epoch"):
        super().__init__(call_freq, type)
        if not isinstance(dump_fd, (str, os.PathLike)):
            raise TypeError(f"dump_fd must be a folder path; got {dump_fd!r}")
        self.dump_fd = os.fspath(dump_fd)

    def call(self):
        from hat import io
        from hat.distributed import writes_here

        if not writes_here():  # in an MPI job, rank 0 alone writes
            return
        os.makedirs(self.dump_fd, exist_ok=True)
        path = os.path.join(self.dump_fd, f"md{self.model.epoch}_epochs.h5")
        io.save(self.model, path)
        print(f"    Save to {path} successfully!", flush=True)


class Validation(Callback):
    """Hat's evaluation callback: metrics of each given split (tr, va, te) in inference mode,
    printed, written into the epoch's logs (as tr_<metric>, va_<metric>, te_<metric>) and, if
    dump_path is set, pickled there with one list entry per call. In a distributed fit each
    rank predicts its share of every split and all ranks get the same values (see
    `hat.distributed.split_in_fit`).

    Args:
        tr_x (np.ndarray | list | None): Default None. The training split's inputs.
        tr_y (np.ndarray | list | None): Default None. Its targets (given with tr_x, or
            neither).
        va_x (np.ndarray | list | None): Default None. The validation split's inputs.
        va_y (np.ndarray | list | None): Default None. Its targets.
        te_x (np.ndarray | list | None): Default None. The test split's inputs.
        te_y (np.ndarray | list | None): Default None. Its targets.
        batch_size (int): Default 100. Samples per forward pass.
        call_freq (int): Default 3. Evaluate at epoch 0 and then every `call_freq` epochs.
        metrics (str | list): Default ("categorical_error",). The metrics, by name or as
            functions (see `hat.metrics`).
        dump_path (str | None): Default "validation.p". The pickle of every result so far,
            rewritten at each call (rank 0 only in an MPI job); None writes nothing.
        type (str): Default "epoch". Hat's callback type; only "epoch" is supported.
        verbose (int): Default 1. Print each value (0: silent).

    Raises:
        ValueError: A split has x without y (or y without x), x and y hold different numbers
            of samples, a metric name is unknown, `call_freq` is not an int >= 1 or `type`
            is not "epoch".

    Attributes:
        results (dict[str, list]): "epochs" and one list per `<split>_<metric>`, one entry
            per call.
    """

    def __init__(
        self,
        tr_x=None,
        tr_y=None,
        va_x=None,
        va_y=None,
        te_x=None,
        te_y=None,
        batch_size: int = 100,
        call_freq: int = 3,
        metrics=("categorical_error",),
        dump_path: str | None = "validation.p",
        type: str = "epoch",
        verbose: int = 1,
    ):
        super().__init__(call_freq, type)
        from hat import metrics as metrics_mod

        self.splits = {}
        for prefix, x, y in (("tr", tr_x, tr_y), ("va", va_x, va_y), ("te", te_x, te_y)):
            if (x is None) != (y is None):
                raise ValueError(f"Validation needs both {prefix}_x and {prefix}_y, or neither")
            if x is not None:
                self.splits[prefix] = (x, y)
                _check_split(prefix, x, y)
        if isinstance(metrics, str):
            metrics = [metrics]
        self.metric_names = [metrics_mod.get(m)[0] for m in metrics]
        self.metrics = list(metrics)
        self.batch_size = batch_size
        self.dump_path = dump_path
        self.verbose = verbose
        self.cb_time = 0.0
        self.results: dict = {"epochs": []}
        for prefix in ("tr", "va", "te"):
            for name in self.metric_names:
                self.results[f"{prefix}_{name}"] = []

    def call(self):
        from hat.distributed import split_in_fit

        start = time.perf_counter()
        self.results["epochs"].append(self.model.epoch)
        for prefix, (x, y) in self.splits.items():
            split_start = time.perf_counter()
            try:
                with split_in_fit(self.model):  # in a distributed fit, each rank its share
                    values = self.model.evaluate(
                        x, y, self.batch_size, self.metrics, return_dict=True
                    )
            except (ValueError, TypeError) as err:
                kind = ValueError if isinstance(err, ValueError) else TypeError
                raise kind(f"checking {prefix}_x and {prefix}_y: {err}") from err
            for name, value in values.items():
                key = f"{prefix}_{name}"  # a model with several outputs names each one's
                self.results.setdefault(key, []).append(value)
                self.logs[key] = value
                if self.verbose:
                    elapsed = time.perf_counter() - split_start
                    print(f"    {key}: {value:.5f}    | time: {elapsed:.2f}", flush=True)
        self.cb_time += time.perf_counter() - start
        if self.dump_path:
            self._dump()

    def get_state(self) -> dict:
        return {**super().get_state(), "results": self.results, "cb_time": self.cb_time}

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        self.results = {k: list(v) for k, v in state["results"].items()}
        self.cb_time = state["cb_time"]

    def _dump(self) -> None:
        from hat.distributed import writes_here

        if not writes_here():  # in an MPI job, rank 0 alone writes
            return
        record = {
            "epoch": self.model.epoch,
            "cb_time": self.cb_time,
            "tr_time": self.model.tr_time,
            "call_freq": self.call_freq,
            **self.results,
        }
        folder = os.path.dirname(os.path.abspath(self.dump_path))
        os.makedirs(folder, exist_ok=True)
        tmp = f"{self.dump_path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            pickle.dump(record, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, self.dump_path)  # never a half-written pickle


def _check_split(prefix: str, x, y) -> None:
    """Samples against labels, as Keras checks validation_data before fit starts: a mismatch
    found here names both arrays, instead of failing at the first call as a CallbackError."""
    x_shape, y_shape = _shape_of(x), _shape_of(y)
    if not x_shape or not y_shape:
        raise ValueError(
            f"Validation's {prefix}_x and {prefix}_y must be arrays with a batch axis; got shapes "
            f"{x_shape} and {y_shape}"
        )
    if x_shape[0] != y_shape[0]:
        raise ValueError(
            f"Validation's {prefix}_x holds {x_shape[0]} samples (shape {x_shape}) but {prefix}_y "
            f"holds {y_shape[0]} labels (shape {y_shape}); expected one label per sample"
        )


def _shape_of(a) -> tuple:
    """The shape of an array, or of the first of a list of arrays (a model with several
    inputs or outputs takes one array each; evaluate checks them against each other)."""
    if isinstance(a, (list, tuple)) and a and all(hasattr(v, "shape") for v in a):
        a = a[0]
    return tuple(a.shape) if hasattr(a, "shape") else np.shape(a)
