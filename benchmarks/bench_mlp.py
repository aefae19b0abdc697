"""Time Hat's MNIST MLP in hat, PyTorch and Keras 3 on JAX, side by side, on the CPU.

The model is the one of examples/mnist/main_dnn.py: 784-500(relu)-Dropout 0.2-500(relu)-
Dropout 0.2-10(softmax), categorical cross-entropy, Adam lr 1e-3, batch 500.

python benchmarks/bench_mlp.py                    # 5 alternating rounds of one 50,000-sample epoch
python benchmarks/bench_mlp.py --repeats 9 --steps 40
python benchmarks/bench_mlp.py --memory           # peak RSS, each framework in its own process
python benchmarks/bench_mlp.py --profile          # plus hat's time per layer

The peers are optional: PyTorch (pip install torch==2.13.0) and Keras 3 on JAX (pip install
keras "jax[cpu]"); a peer that is not importable is left out of the table, and the header
says so.

Real MNIST is used when $HAT_DATASETS/mnist or ~/.hat/datasets/mnist holds it (or with
--data mnist, which may download it); otherwise random data of the same shape.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # peer_keras beside this file

if TYPE_CHECKING:
    import numpy as np

BATCH = 500
INFER_BATCH = 1000
N_TRAIN = 50_000  # Hat's split: the first 50,000 training images
N_TEST = 10_000
N_CLASSES = 10
SIZES = (784, 500, 500, 10)
P_DROP = 0.2
LR = 1e-3
SEED = 1515
# Both runtimes keep their worker threads spinning for a while after parallel work; a short
# pause between timed sections lets them go to sleep so one framework's pool does not steal
# cycles from the other's first batches on a 2-core machine.
SETTLE_S = 0.2
MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


# -- set-up that must happen before numpy is imported ------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS/torch threads (default 2)")
    parser.add_argument(
        "--steps", type=int, default=None, help="batches per round (default: a 50,000 epoch)"
    )
    parser.add_argument(
        "--data",
        choices=("auto", "mnist", "random"),
        default="auto",
        help="auto (default): MNIST if already on disk, else random data of the same shape",
    )
    parser.add_argument(
        "--memory", action="store_true", help="peak RSS of each framework in its own process"
    )
    parser.add_argument("--profile", action="store_true", help="hat's time per layer too")
    parser.add_argument("--sleep", action="store_true", help="sleep, not spin, between rounds")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--no-keras", action="store_true", help="leave Keras-JAX out")
    parser.add_argument("--worker", choices=("hat", "torch", "keras"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.threads < 1 or (args.steps is not None and args.steps < 1):
        parser.error("--repeats, --threads and --steps must be >= 1")
    if args.steps is not None and args.steps * BATCH > N_TRAIN:
        parser.error(f"--steps must be <= {N_TRAIN // BATCH} (one epoch of {N_TRAIN} samples)")
    return args


def set_thread_env(threads: int) -> None:
    """OpenBLAS and OpenMP read these once, when the library loads: set them before any
    import of numpy or torch, or they have no effect."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


# -- data ----------------------------------------------------------------------------------------
def mnist_on_disk() -> bool:
    """Whether hat.datasets.mnist.load_data() would find the files without downloading."""
    roots = [Path(os.environ["HAT_DATASETS"])] if os.environ.get("HAT_DATASETS") else []
    roots.append(Path.home() / ".hat" / "datasets")
    return any(
        all(any((root / "mnist" / (f + ext)).is_file() for ext in (".gz", "")) for f in MNIST_FILES)
        for root in roots
    )


def load_data(kind: str) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(description, x_train (50000, 784) float32 in [0, 1], y_train int64, x_test (10000, 784))."""
    import numpy as np

    if kind == "mnist" or (kind == "auto" and mnist_on_disk()):
        from hat.datasets import mnist

        x_train, y_train, x_test, _ = mnist.load_data()
        x_train = x_train[:N_TRAIN].reshape(N_TRAIN, -1).astype(np.float32) / np.float32(255)
        x_test = x_test.reshape(len(x_test), -1).astype(np.float32) / np.float32(255)
        return "MNIST", x_train, y_train[:N_TRAIN], x_test
    rng = np.random.default_rng(SEED)
    x_train = rng.random((N_TRAIN, SIZES[0]), dtype=np.float32)
    y_train = rng.integers(0, N_CLASSES, N_TRAIN)
    x_test = rng.random((N_TEST, SIZES[0]), dtype=np.float32)
    why = "as asked" if kind == "random" else "MNIST not on disk; set HAT_DATASETS"
    return f"random, same shape as MNIST ({why})", x_train, y_train, x_test


# -- the two frameworks ----------------------------------------------------------------------
class HatRunner:
    """Hat's MLP trained and run through the public API only (fit, predict)."""

    name = "hat"

    def __init__(self, x: np.ndarray, y: np.ndarray, x_test: np.ndarray) -> None:
        import numpy as np

        from hat.layers.core import Dense, Dropout, InputLayer
        from hat.models import Sequential
        from hat.optimizers import Adam
        from hat.preprocessing import sparse_to_categorical

        seq = Sequential()
        seq.add(InputLayer(SIZES[0]))
        for n_out in SIZES[1:-1]:
            seq.add(Dense(n_out, act="relu"))
            seq.add(Dropout(p_drop=P_DROP))
        seq.add(Dense(SIZES[-1], act="softmax"))
        self.model = seq.combine(seed=SEED)
        # One optimizer for every round, as one long fit would have: its state carries over.
        self.optimizer = Adam(lr=LR)
        self.x, self.y = x, sparse_to_categorical(y, N_CLASSES).astype(np.float32)
        self.x_test = x_test

    def train(self, n: int) -> None:
        self.model.fit(
            self.x[:n],
            self.y[:n],
            batch_size=BATCH,
            n_epochs=1,
            loss_func="categorical_crossentropy",
            optimizer=self.optimizer,
            verbose=0,
        )

    def predict(self, n: int) -> None:
        self.model.predict(self.x_test[:n], batch_size=INFER_BATCH)

    def train_flops_per_sample(self) -> int:
        """Multiply-adds x 2 of the Dense GEMMs in one training step, per sample: forward
        x@W, backward x.T@dz for dW, and dz@W.T for dx only where hat computes it (the model
        clears needs_input_grad on the first trainable layer, so the 784x500 input gradient
        is skipped). Bias, activations, dropout, loss and Adam are elementwise and left out."""
        flops = 0
        for layer in self.model.layers:
            w = layer.params.get("W")
            if w is None:
                continue
            gemm = 2 * w.shape[0] * w.shape[1]
            flops += 2 * gemm + (gemm if layer.needs_input_grad else 0)
        return flops


class TorchRunner:
    """The same MLP in PyTorch eager mode: logits + CrossEntropyLoss, batches gathered from
    preloaded tensors by a fresh permutation each epoch, as hat's fit does."""

    name = "torch"

    def __init__(self, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, threads: int) -> None:
        import torch
        from torch import nn

        torch.set_num_threads(threads)
        torch.manual_seed(SEED)
        self.torch = torch
        layers: list[nn.Module] = []
        for n_in, n_out in zip(SIZES[:-2], SIZES[1:-1], strict=True):
            layers += [nn.Linear(n_in, n_out), nn.ReLU(), nn.Dropout(P_DROP)]
        layers.append(nn.Linear(SIZES[-2], SIZES[-1]))
        self.model = nn.Sequential(*layers)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.loss_fn = nn.CrossEntropyLoss()
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.x_test = torch.from_numpy(x_test)
        self.batch_x = torch.empty((BATCH, SIZES[0]))
        self.batch_y = torch.empty(BATCH, dtype=torch.int64)
        self.generator = torch.Generator().manual_seed(SEED)

    def train(self, n: int) -> None:
        torch = self.torch
        self.model.train()
        order = torch.randperm(n, generator=self.generator)
        loss_sum = 0.0
        for start in range(0, n, BATCH):
            idx = order[start : start + BATCH]
            xb, yb = self.batch_x[: len(idx)], self.batch_y[: len(idx)]
            torch.index_select(self.x, 0, idx, out=xb)
            torch.index_select(self.y, 0, idx, out=yb)
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(xb), yb)
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.item() * len(idx)  # hat's fit sums the loss as a float too

    def predict(self, n: int) -> None:
        torch = self.torch
        self.model.eval()
        out = torch.empty((n, SIZES[-1]))
        with torch.inference_mode():
            for start in range(0, n, INFER_BATCH):
                # Softmax as well: hat's predict returns probabilities.
                out[start : start + INFER_BATCH] = torch.softmax(
                    self.model(self.x_test[start : min(start + INFER_BATCH, n)]), dim=1
                )


# -- measurements ----------------------------------------------------------------------------
def timed(fn: Any, *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def matmul_gflops(size: int = 2048, repeats: int = 5, own: bool = False) -> list[float]:
    """float32 size^3 matmul GFLOP/s: the ceiling for the dense layers. numpy's (OpenBLAS), or
    with own=True hat's own GEMM as its layers call it (hat.threads.matmul: two halves on the
    pool); empty where hat's own GEMM is not available."""
    import numpy as np

    product = np.matmul
    if own:
        from hat import threads
        from hat.kernels import sgemm

        if not sgemm.available():
            return []
        product = threads.matmul
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    c = np.empty_like(a)
    product(a, b, c)  # warm-up: thread start, page faults, numba's cache
    return [2 * size**3 / timed(product, a, b, c) / 1e9 for _ in range(repeats)]


def ceiling_gflops() -> tuple[list[float], str]:
    """The faster of numpy's and hat's own 2048^3 float32 products, and a line saying both."""
    rates = {"numpy": matmul_gflops(), "hat's own GEMM": matmul_gflops(own=True)}
    rates = {name: r for name, r in rates.items() if r}
    best = max(rates, key=lambda name: statistics.median(rates[name]))
    said = "; ".join(f"{name} {spread(r)}" for name, r in rates.items())
    return rates[best], f"float32 2048x2048 matmul GFLOP/s: {said}; the ceiling: {best}'s"


def blas_threads() -> str:
    """What numpy's OpenBLAS actually uses, read from the library (env vars can be ignored)."""
    import ctypes

    import numpy as np  # noqa: F401  (loads OpenBLAS)

    with open("/proc/self/maps") as maps:
        libs = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
    for path in libs:
        lib = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads"):
            if hasattr(lib, symbol):
                return str(getattr(lib, symbol)())
    return "unknown"


def blas_kernels() -> str:
    """The kernel set numpy's OpenBLAS runs (its get_corename), and OPENBLAS_CORETYPE if the
    environment forces one: on an AVX-512 CPU, "Haswell" means AVX2 kernels (this project's
    machine sets OPENBLAS_CORETYPE=Haswell; unset, OpenBLAS picks SkylakeX there)."""
    import ctypes

    import numpy as np  # noqa: F401  (loads OpenBLAS)

    with open("/proc/self/maps") as maps:
        libs = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
    core = "unknown"
    for path in libs:
        lib = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_corename64_", "openblas_get_corename"):
            if hasattr(lib, symbol):
                getattr(lib, symbol).restype = ctypes.c_char_p
                core = getattr(lib, symbol)().decode()
                break
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return core + (f" (OPENBLAS_CORETYPE={forced} in the environment)" if forced else "")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}..{max(values):,.0f})"


def versions() -> str:
    import numba
    import numpy as np

    return f"numpy {np.__version__}, numba {numba.__version__}"


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def import_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def peers_available(args: argparse.Namespace) -> tuple[bool, str | None, list[str]]:
    """(torch importable and wanted, Keras' version or None, lines saying what is left out).
    Keras is imported first (KERAS_BACKEND=jax must be set before anything loads it)."""
    from peer_keras import INSTALL_HINT, import_keras

    notes = []
    keras_version = None if args.no_keras else import_keras()
    if args.no_keras:
        notes.append("Keras-JAX: left out (--no-keras)")
    elif keras_version is None:
        notes.append(f"Keras-JAX: not importable, column skipped; install: {INSTALL_HINT}")
    have_torch = not args.no_torch and import_torch()
    if args.no_torch:
        notes.append("PyTorch: left out (--no-torch)")
    elif not have_torch:
        notes.append("PyTorch: not importable, column skipped; install: pip install torch==2.13.0")
    return have_torch, keras_version, notes


def peer_versions(have_torch: bool, keras_version: str | None) -> str:
    parts = [versions()]
    if have_torch:
        parts.append(f"torch {__import__('torch').__version__}")
    if keras_version:
        from peer_keras import versions as keras_versions

        parts.append(keras_versions())
    return ", ".join(parts)


def settle(spin: bool = True) -> None:
    """The pause between two timed calls (SETTLE_S), in which another runtime's spinning
    threads go to sleep. The calling thread spins through it: on this machine a process that
    slept for the pause ran its next ~50 ms at about 60% speed (hat's MLP predicted 10,000
    images in 40-51 ms after a 0.2 s sleep, 32 ms without one), which the short rounds (a
    prediction round is 30-90 ms) would measure for every framework. spin=False (--sleep):
    sleep through it, as the benchmarks did before 2026-12-01 15:45."""
    if not spin:
        time.sleep(SETTLE_S)
        return
    end = time.perf_counter() + SETTLE_S
    while time.perf_counter() < end:
        pass


SPIN = "--sleep" not in sys.argv  # read once: the pause's kind, for every benchmark


def alternate(runners: list[Any], repeats: int, n_train: int, n_infer: int) -> tuple[dict, dict]:
    """Timed rounds: every runner trains on n_train samples, then predicts n_infer, in an
    order rotated each round (so no framework always follows the same one). Returns samples/s
    per runner name, one entry a round, for training and for prediction."""
    train = {r.name: [] for r in runners}
    infer = {r.name: [] for r in runners}
    for round_ in range(repeats):
        shift = round_ % len(runners)
        order = runners[shift:] + runners[:shift]
        for runner in order if round_ % 2 == 0 else order[::-1]:
            train[runner.name].append(n_train / timed(runner.train, n_train))
            settle(SPIN)
            infer[runner.name].append(n_infer / timed(runner.predict, n_infer))
            settle(SPIN)
    return train, infer


def paired_ratio(samples: dict[str, list[float]], peer: str = "torch") -> str:
    """hat / peer: the median of the per-round ratios, then (median / median)."""
    per_round = [h / t for h, t in zip(samples["hat"], samples[peer], strict=True)]
    of_medians = statistics.median(samples["hat"]) / statistics.median(samples[peer])
    return f"{statistics.median(per_round):.2f} ({of_medians:.2f})"


def against_faster_peer(samples: dict[str, list[float]]) -> str:
    """hat / the faster peer of each round: median (min..max) of the per-round ratios."""
    peers = [name for name in samples if name != "hat"]
    per_round = [h / max(samples[p][i] for p in peers) for i, h in enumerate(samples["hat"])]
    return f"{statistics.median(per_round):.2f} ({min(per_round):.2f}..{max(per_round):.2f})"


def print_table(runners: list[Any], train: dict, infer: dict, gflops: dict | None = None) -> None:
    """The results table: samples/s per framework and hat's per-round ratios to each peer.
    gflops: name -> (achieved GFLOP/s, share of the ceiling) for an extra column."""
    extra = " | train GFLOP/s (of ceiling)" if gflops else ""
    print(
        "| framework | train samples/s, median (min..max) | infer samples/s, median (min..max) "
        f"| hat/this, train | hat/this, infer{extra} |"
    )
    print("| --- | --- | --- | --- | ---" + (" | --- |" if gflops else " |"))
    for runner in runners:
        ratios = ["-", "-"]
        if runner.name != "hat":
            ratios = [paired_ratio(train, runner.name), paired_ratio(infer, runner.name)]
        cell = ""
        if gflops:
            achieved, share = gflops[runner.name]
            cell = f" | {achieved:.1f} ({share:.0%})"
        print(
            f"| {runner.name} | {spread(train[runner.name])} | {spread(infer[runner.name])} "
            f"| {ratios[0]} | {ratios[1]}{cell} |"
        )
    if len(runners) > 1:
        print(
            f"\nhat / the faster peer of each round: training {against_faster_peer(train)}, "
            f"prediction {against_faster_peer(infer)} (median (min..max) over rounds)."
        )
        print(
            "hat/this: median of the per-round ratios (each round times every framework back "
            "to back); in brackets, median / median. Above 1: hat is faster."
        )


# -- the modes -------------------------------------------------------------------------------
def run_benchmark(args: argparse.Namespace) -> None:
    have_torch, keras_version, notes = peers_available(args)
    data_name, x, y, x_test = load_data(args.data)
    n_train = N_TRAIN if args.steps is None else args.steps * BATCH

    print(f"# Hat MLP benchmark, {time.strftime('%Y-%m-%d %H:%M')}, load {load_average()}")
    print(
        f"machine: {cpu_name()}, {os.cpu_count()} CPUs; "
        f"{peer_versions(have_torch, keras_version)}; Python {platform.python_version()}"
    )
    print(
        f"data: {data_name}; train {n_train:,} samples/round, batch {BATCH}; "
        f"predict {N_TEST:,} samples, batch {INFER_BATCH}"
    )
    print(
        f"threads: {args.threads} (OpenBLAS reports {blas_threads()}"
        + (f", torch {__import__('torch').get_num_threads()}" if have_torch else "")
        + ("; XLA: its default pool" if keras_version else "")
        + f"); rounds: {args.repeats}, alternating, order rotated each round"
    )
    print(f"OpenBLAS kernels: {blas_kernels()}")
    for note in notes:
        print(note)

    runners: list[Any] = [HatRunner(x, y, x_test)]
    if have_torch:
        runners.append(TorchRunner(x, y, x_test, args.threads))
    if keras_version:
        runners.append(keras_runner(x, y, x_test))

    # Warm-up: the first step pays numba's compile (or cache load), XLA's compile; then a
    # whole round so that allocator, BLAS threads and caches are in their steady state.
    print("\n## Warm-up (not in the table)\n")
    for runner in runners:
        first_step = timed(runner.train, BATCH)
        first_predict = timed(runner.predict, INFER_BATCH)
        warm_round = timed(runner.train, n_train)
        runner.predict(N_TEST)
        why = {"hat": " (numba compiles, or loads from its cache)", "keras-jax": " (XLA compiles)"}
        print(
            f"- {runner.name}: first train step {first_step:.2f} s, first predict batch "
            f"{first_predict:.2f} s{why.get(runner.name, '')}; then one round {warm_round:.2f} s"
        )
        time.sleep(SETTLE_S)

    train, infer = alternate(runners, args.repeats, n_train, N_TEST)
    flops = runners[0].train_flops_per_sample()
    ceiling, ceiling_line = ceiling_gflops()
    achieved = {r.name: statistics.median(train[r.name]) * flops / 1e9 for r in runners}
    gflops = {k: (v, v / statistics.median(ceiling)) for k, v in achieved.items()}
    print("\n## Results\n")
    print_table(runners, train, infer, gflops)
    print("\n## Against the matrix-product ceiling\n")
    print(f"- {ceiling_line} ({args.threads} threads)")
    print(
        f"- MLP training step: {flops:,} FLOP/sample in its GEMMs (forward 2*sum(in*out), "
        "dW the same, dx for every Dense but the first, which hat skips); the table's GFLOP/s "
        "column is that work per second"
    )
    print(f"- load after the run: {load_average()}")
    print(
        f"\npeak RSS of this process (all frameworks together): {peak_rss_mb():,.0f} MB; "
        "use --memory for each one alone"
    )

    if args.profile:
        profile_model(runners[0], n_train, N_TEST, INFER_BATCH)


def keras_runner(x, y, x_test):
    from peer_keras import KerasRunner, mlp

    model, optimizer = mlp(SIZES, P_DROP, LR, SEED)
    return KerasRunner(model, optimizer, BATCH, INFER_BATCH, x, y, x_test)


def load_average() -> str:
    """The 1-minute load average: other processes on the machine (2.0 = two busy cores)."""
    return f"{os.getloadavg()[0]:.2f}"


def profile_model(runner: Any, n_train: int, n_infer: int, infer_batch: int) -> None:
    """hat's time per layer (forward, backward), the optimizer and the rest of fit (data
    handling: shuffling, batch gather, the loss, checks) in one training round, then each
    layer's forward in one prediction, by wrapping the instances' methods: the wrappers live
    here, not in hat's hot path (they add about 2 us a call)."""
    times: dict[str, float] = {}

    def wrap(obj: Any, attr: str, key: str) -> None:
        inner = getattr(obj, attr)

        def timed_call(*a: Any, **k: Any) -> Any:
            start = time.perf_counter()
            out = inner(*a, **k)
            times[key] = times.get(key, 0.0) + time.perf_counter() - start
            return out

        setattr(obj, attr, timed_call)

    model = runner.model
    for layer in model.layers:
        wrap(layer, "forward", f"{layer.name} forward")
        wrap(layer, "backward", f"{layer.name} backward")
    wrap(runner.optimizer, "update", "optimizer update")
    wrap(model, "_apply_regularizers", "regularizers")
    total = timed(runner.train, n_train)
    steps = n_train / runner.batch if hasattr(runner, "batch") else n_train / BATCH
    times["rest of fit (data, loss, checks)"] = total - sum(times.values())
    print(f"\n### hat profile: one training round, {total:.3f} s, {steps:.0f} steps\n")
    print("| part | ms/step | share |")
    print("| --- | --- | --- |")
    for key, value in times.items():
        print(f"| {key} | {1e3 * value / steps:.2f} | {value / total:.0%} |")
    times.clear()
    total = timed(runner.predict, n_infer)
    batches = -(-n_infer // infer_batch)
    times["rest of predict (checks, copies)"] = total - sum(times.values())
    print(f"\n### hat profile: predict {n_infer:,} samples, {total:.3f} s, {batches} batches\n")
    print(f"| part | ms/batch of {infer_batch} | share |")
    print("| --- | --- | --- |")
    for key, value in times.items():
        if not key.endswith("backward"):
            print(f"| {key} | {1e3 * value / batches:.2f} | {value / total:.0%} |")
    for layer in model.layers:  # back to the class's methods
        del layer.forward, layer.backward
    del runner.optimizer.update, model._apply_regularizers


def run_memory(args: argparse.Namespace) -> None:
    """Each framework in a fresh process: ru_maxrss is the peak of the whole process, so in
    one process the second framework would report the first one's peak too."""
    have_torch, keras_version, _ = peers_available(args)
    frameworks = ["hat"] + (["torch"] if have_torch else []) + (["keras"] if keras_version else [])
    print(
        f"# Peak RSS, one training epoch + predict, each framework in its own process "
        f"({args.threads} threads)\n"
    )
    print("| framework | after imports + data, MB | peak, MB | added by training + predict, MB |")
    print("| --- | --- | --- | --- |")
    for name in frameworks:
        command = [
            sys.executable,
            __file__,
            "--worker",
            name,
            "--threads",
            str(args.threads),
            "--data",
            args.data,
        ]
        if args.steps is not None:
            command += ["--steps", str(args.steps)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"| {name} | {result['base']:,.0f} | {result['peak']:,.0f} | "
            f"{result['peak'] - result['base']:,.0f} |"
        )
    print(
        "\n'after imports + data': peak RSS once the framework is imported and the data is "
        "loaded, before the model is built."
    )


def run_worker(args: argparse.Namespace) -> None:
    _, x, y, x_test = load_data(args.data)
    if args.worker == "hat":
        import hat.models  # noqa: F401  (the import's memory belongs to the baseline)
    elif args.worker == "torch":
        import torch  # noqa: F401
    else:
        from peer_keras import import_keras

        import_keras()
    base = peak_rss_mb()
    n_train = N_TRAIN if args.steps is None else args.steps * BATCH
    if args.worker == "hat":
        runner = HatRunner(x, y, x_test)
    elif args.worker == "torch":
        runner = TorchRunner(x, y, x_test, args.threads)
    else:
        runner = keras_runner(x, y, x_test)
    runner.train(n_train)
    runner.predict(N_TEST)
    print(json.dumps({"base": base, "peak": peak_rss_mb()}))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_thread_env(args.threads)
    if args.worker:
        run_worker(args)
    elif args.memory:
        run_memory(args)
    else:
        run_benchmark(args)


if __name__ == "__main__":
    main()
