"""Time the two MNIST CNNs in hat, PyTorch and Keras 3 on JAX, side by side, on the CPU.

scratch: examples/mnist/cnn_scratch.py: Conv 16 5x5 pad 2 + ReLU, MaxPool 2, Conv 32 5x5 pad 2
    + ReLU, MaxPool 2, Dense 120 + ReLU, Dense 10 softmax, L2 on the weights; SGD Nesterov lr 0.01
    momentum 0.9, batch 50.
bn: examples/mnist/cnn_bn.py: (Conv 3x3 no bias + BN + ReLU + MaxPool 2) x 2 with 32 and 64
    filters, Dense 150 no bias + BN + ReLU, Dense 10 softmax; Adam lr 1e-3, batch 64 (no
    augmentation, constant learning rate).

python benchmarks/bench_cnn.py                    # both models, 5 alternating rounds each
python benchmarks/bench_cnn.py --model scratch --repeats 9 --steps 40
python benchmarks/bench_cnn.py --memory           # peak RSS, each framework in its own process
python benchmarks/bench_cnn.py --compile          # numba compile time, cold and warm cache
python benchmarks/bench_cnn.py --profile          # + hat's time per layer, optimizer, data

Keras runs the same models in its native NHWC layout (pip install keras "jax[cpu]"; left out,
saying so, when absent). Shares its method and helpers with bench_mlp.py (see
benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mlp import (  # noqa: E402  (bench_mlp imports nothing heavy at module level)
    SEED,
    SETTLE_S,
    alternate,
    blas_kernels,
    blas_threads,
    ceiling_gflops,
    cpu_name,
    load_average,
    mnist_on_disk,
    peak_rss_mb,
    peer_versions,
    peers_available,
    print_table,
    profile_model,
    set_thread_env,
    timed,
)

if TYPE_CHECKING:
    import numpy as np

MODELS = {"scratch": {"batch": 50, "steps": 100}, "bn": {"batch": 64, "steps": 60}}
INFER_BATCH = 1000
N_INFER = 3000
N_CLASSES = 10
L2_FACTOR = 2.5e-4  # hat's L2 adds l2 * sum(W**2): torch's weight_decay 5e-4


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("scratch", "bn", "all"), default="all")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS/torch threads (default 2)")
    parser.add_argument("--steps", type=int, default=None, help="batches per round")
    parser.add_argument("--data", choices=("auto", "mnist", "random"), default="auto")
    parser.add_argument("--memory", action="store_true", help="peak RSS, one process each")
    parser.add_argument("--compile", action="store_true", help="numba compile time, cold/warm")
    parser.add_argument("--profile", action="store_true", help="hat's time per layer too")
    parser.add_argument("--sleep", action="store_true", help="sleep, not spin, between rounds")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument("--no-keras", action="store_true", help="leave Keras-JAX out")
    parser.add_argument(
        "--worker", choices=("hat", "torch", "keras", "compile"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.threads < 1 or (args.steps is not None and args.steps < 1):
        parser.error("--repeats, --threads and --steps must be >= 1")
    return args


def load_images(kind: str, n_train: int) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """(description, x (n, 1, 28, 28) float32 in [0, 1], y int64, x_test (N_INFER, 1, 28, 28))."""
    import numpy as np

    if kind == "mnist" or (kind == "auto" and mnist_on_disk()):
        from hat.datasets import mnist

        x, y, x_test, _ = mnist.load_data()
        x = x[:n_train].reshape(-1, 1, 28, 28).astype(np.float32) / np.float32(255)
        x_test = x_test[:N_INFER].reshape(-1, 1, 28, 28).astype(np.float32) / np.float32(255)
        return "MNIST", x, y[:n_train].astype(np.int64), x_test
    rng = np.random.default_rng(SEED)
    x = rng.random((n_train, 1, 28, 28), dtype=np.float32)
    x_test = rng.random((N_INFER, 1, 28, 28), dtype=np.float32)
    return "random (MNIST not on disk)", x, rng.integers(0, N_CLASSES, n_train), x_test


# -- the two frameworks ----------------------------------------------------------------------
def hat_model(name: str):
    """The example's own model (examples/mnist), seeded as the examples seed it."""
    import numpy as np

    from hat.optimizers import SGD, Adam

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "mnist"))
    import cnn_bn
    import cnn_scratch

    np.random.seed(SEED)
    if name == "scratch":
        return cnn_scratch.build_model(), SGD(lr=0.01, momentum=0.9, nesterov=True)
    return cnn_bn.build_model(), Adam(lr=1e-3)


class HatRunner:
    """The model trained and run through hat's public API only (fit, predict)."""

    name = "hat"

    def __init__(self, model: str, batch: int, x, y, x_test) -> None:
        from hat.preprocessing import sparse_to_categorical

        self.model, self.optimizer = hat_model(model)
        self.batch = batch
        self.x, self.y = x, sparse_to_categorical(y, N_CLASSES).astype("float32")
        self.x_test = x_test

    def train(self, n: int) -> None:
        self.model.fit(
            self.x[:n], self.y[:n], batch_size=self.batch, n_epochs=1,
            loss_func="categorical_crossentropy", optimizer=self.optimizer, verbose=0,
        )  # fmt: skip

    def predict(self, n: int) -> None:
        self.model.predict(self.x_test[:n], batch_size=INFER_BATCH)

    def train_flops_per_sample(self) -> int:
        """2 x the multiply-adds of the convolutions' and Dense layers' GEMMs in one step:
        forward, dW, and dx where hat computes it (not for the first layer). Counted as direct
        convolutions: a Winograd layer does fewer (see benchmarks/README.md)."""
        flops = 0
        for layer in self.model.layers:
            w = layer.params.get("W")
            if w is None:
                continue
            pixels = getattr(layer, "out_hw", (1, 1))
            gemm = 2 * w.size * pixels[0] * pixels[1]
            flops += 2 * gemm + (gemm if layer.needs_input_grad else 0)
        return flops


class TorchRunner:
    """The same model in PyTorch eager mode, batches gathered from preloaded tensors by a fresh
    permutation each epoch into reused buffers, as hat's fit does."""

    name = "torch"

    def __init__(self, model: str, batch: int, x, y, x_test, threads: int) -> None:
        import torch
        from torch import nn

        torch.set_num_threads(threads)
        torch.manual_seed(SEED)
        self.torch, self.batch = torch, batch
        if model == "scratch":
            self.model = nn.Sequential(
                nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(32 * 7 * 7, 120), nn.ReLU(), nn.Linear(120, 10),
            )  # fmt: skip
            weights = [p for n, p in self.model.named_parameters() if n.endswith("weight")]
            biases = [p for n, p in self.model.named_parameters() if n.endswith("bias")]
            groups = [{"params": weights, "weight_decay": 2 * L2_FACTOR}, {"params": biases}]
            self.optimizer = torch.optim.SGD(groups, lr=0.01, momentum=0.9, nesterov=True)
        else:
            self.model = nn.Sequential(
                nn.Conv2d(1, 32, 3, bias=False), nn.BatchNorm2d(32, 1e-3, 0.1), nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, bias=False), nn.BatchNorm2d(64, 1e-3, 0.1), nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(64 * 5 * 5, 150, bias=False),
                nn.BatchNorm1d(150, 1e-3, 0.1), nn.ReLU(), nn.Linear(150, 10),
            )  # fmt: skip
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss_fn = nn.CrossEntropyLoss()
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(y)
        self.x_test = torch.from_numpy(x_test)
        self.batch_x = torch.empty((batch,) + tuple(x.shape[1:]))
        self.batch_y = torch.empty(batch, dtype=torch.int64)
        self.generator = torch.Generator().manual_seed(SEED)

    def train(self, n: int) -> None:
        torch = self.torch
        self.model.train()
        order = torch.randperm(n, generator=self.generator)
        loss_sum = 0.0
        for start in range(0, n, self.batch):
            idx = order[start : start + self.batch]
            xb, yb = self.batch_x[: len(idx)], self.batch_y[: len(idx)]
            torch.index_select(self.x, 0, idx, out=xb)
            torch.index_select(self.y, 0, idx, out=yb)
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss_fn(self.model(xb), yb)
            loss.backward()
            self.optimizer.step()
            loss_sum += loss.item() * len(idx)

    def predict(self, n: int) -> None:
        torch = self.torch
        self.model.eval()
        out = torch.empty((n, N_CLASSES))
        with torch.inference_mode():
            for start in range(0, n, INFER_BATCH):
                stop = min(start + INFER_BATCH, n)
                out[start:stop] = torch.softmax(self.model(self.x_test[start:stop]), dim=1)


# -- the modes -------------------------------------------------------------------------------
def steps_of(args: argparse.Namespace, model: str) -> int:
    return args.steps if args.steps is not None else MODELS[model]["steps"]


def keras_runner(model: str, batch: int, x, y, x_test):
    """Keras' model on NHWC copies of the images (its native layout, converted once)."""
    from peer_keras import KerasRunner, cnn

    net, optimizer = cnn(model, L2_FACTOR, SEED)
    nhwc = [a.transpose(0, 2, 3, 1).copy() for a in (x, x_test)]
    return KerasRunner(net, optimizer, batch, INFER_BATCH, nhwc[0], y, nhwc[1])


def run_model(args: argparse.Namespace, model: str, peers: tuple, ceiling: list[float]):
    have_torch, keras_version = peers
    batch = MODELS[model]["batch"]
    n_train = steps_of(args, model) * batch
    data_name, x, y, x_test = load_images(args.data, n_train)
    print(f"\n## {model}: batch {batch}, {n_train:,} samples/round ({data_name})\n")
    runners: list[Any] = [HatRunner(model, batch, x, y, x_test)]
    if have_torch:
        runners.append(TorchRunner(model, batch, x, y, x_test, args.threads))
    if keras_version:
        runners.append(keras_runner(model, batch, x, y, x_test))
    for runner in runners:  # warm-up: numba's or XLA's compile, then a whole round
        first = timed(runner.train, batch)
        runner.predict(INFER_BATCH)
        warm = timed(runner.train, n_train)
        runner.predict(N_INFER)
        print(f"- warm-up {runner.name}: first step {first:.2f} s, then one round {warm:.2f} s")
        time.sleep(SETTLE_S)
    train, infer = alternate(runners, args.repeats, n_train, N_INFER)
    flops = runners[0].train_flops_per_sample()
    top = statistics.median(ceiling)
    gflops = {}
    for runner in runners:
        achieved = statistics.median(train[runner.name]) * flops / 1e9
        gflops[runner.name] = (achieved, achieved / top)
    print()
    print_table(runners, train, infer, gflops)
    print(f"\nGEMM work of one training step: {flops:,} FLOP/sample; load {load_average()}")
    if args.profile:
        profile_hat(runners[0], n_train)


def run_benchmark(args: argparse.Namespace) -> None:
    have_torch, keras_version, notes = peers_available(args)
    print(f"# Hat CNN benchmark, {time.strftime('%Y-%m-%d %H:%M')}, load {load_average()}")
    stack = peer_versions(have_torch, keras_version)
    print(f"machine: {cpu_name()}, {os.cpu_count()} CPUs; {stack}")
    print(
        f"threads: {args.threads} (OpenBLAS reports {blas_threads()}"
        + (f", torch {__import__('torch').get_num_threads()}" if have_torch else "")
        + ("; XLA: its default pool" if keras_version else "")
        + f"); rounds: {args.repeats}, alternating, order rotated each round; "
        f"predict {N_INFER:,} samples in batches of {INFER_BATCH}"
    )
    print(f"OpenBLAS kernels: {blas_kernels()}")
    for note in notes:
        print(note)
    ceiling, ceiling_line = ceiling_gflops()
    print(ceiling_line)
    for model in ("scratch", "bn") if args.model == "all" else (args.model,):
        run_model(args, model, (have_torch, keras_version), ceiling)
    print(f"\npeak RSS of this process (all frameworks): {peak_rss_mb():,.0f} MB; see --memory")


def profile_hat(runner: HatRunner, n_train: int) -> None:
    """hat's time per layer in one training round and one prediction (see bench_mlp)."""
    profile_model(runner, n_train, N_INFER, INFER_BATCH)


def run_memory(args: argparse.Namespace) -> None:
    have_torch, keras_version, _ = peers_available(args)
    frameworks = ["hat"] + (["torch"] if have_torch else []) + (["keras"] if keras_version else [])
    print("# Peak RSS, one round + predict, each framework in its own process\n")
    print("| model | framework | after imports + data, MB | peak, MB | added, MB |")
    print("| --- | --- | --- | --- | --- |")
    for model in ("scratch", "bn") if args.model == "all" else (args.model,):
        for name in frameworks:
            result = worker(args, name, model)
            print(
                f"| {model} | {name} | {result['base']:,.0f} | {result['peak']:,.0f} | "
                f"{result['peak'] - result['base']:,.0f} |"
            )


def run_compile(args: argparse.Namespace) -> None:
    """The first training step + a predict of 10 samples in a fresh process, with an empty
    numba cache (cold) and again with the cache that the first run filled (warm); then the
    same work a second time, for what is not compiling."""
    print("# numba compile: first train step + first predict, fresh process\n")
    print("| model | cold cache, s | warm cache, s | second step, s | warm: import hat, s |")
    print("| --- | --- | --- | --- | --- |")
    for model in ("scratch", "bn") if args.model == "all" else (args.model,):
        with tempfile.TemporaryDirectory() as cache:
            cold = worker(args, "compile", model, {"NUMBA_CACHE_DIR": cache})
            warm = worker(args, "compile", model, {"NUMBA_CACHE_DIR": cache})
        print(
            f"| {model} | {cold['first']:.2f} | {warm['first']:.2f} | {warm['second']:.2f} "
            f"| {warm['import']:.2f} |"
        )


def worker(args: argparse.Namespace, name: str, model: str, env: dict | None = None) -> dict:
    command = [sys.executable, __file__, "--worker", name, "--model", model]
    command += ["--threads", str(args.threads), "--data", args.data]
    if args.steps is not None:
        command += ["--steps", str(args.steps)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_worker(args: argparse.Namespace) -> None:
    batch = MODELS[args.model]["batch"]
    n_train = steps_of(args, args.model) * batch
    if args.worker == "compile":
        start = time.perf_counter()
        import hat.models  # noqa: F401

        imported = time.perf_counter()
        _, x, y, x_test = load_images(args.data, batch)
        runner = HatRunner(args.model, batch, x, y, x_test)
        start_step = time.perf_counter()
        runner.train(batch)
        runner.predict(10)  # the same kernels as a batch of 1000, without its 0.5 s of work
        first = time.perf_counter() - start_step
        start_step = time.perf_counter()
        runner.train(batch)
        runner.predict(10)
        second = time.perf_counter() - start_step
        print(json.dumps({"import": imported - start, "first": first, "second": second}))
        return
    _, x, y, x_test = load_images(args.data, n_train)
    if args.worker == "hat":
        import hat.models  # noqa: F401  (the import's memory belongs to the baseline)
    elif args.worker == "torch":
        import torch  # noqa: F401
    else:
        from peer_keras import import_keras

        import_keras()
    base = peak_rss_mb()
    if args.worker == "hat":
        runner = HatRunner(args.model, batch, x, y, x_test)
    elif args.worker == "torch":
        runner = TorchRunner(args.model, batch, x, y, x_test, args.threads)
    else:
        runner = keras_runner(args.model, batch, x, y, x_test)
    runner.train(n_train)
    runner.predict(N_INFER)
    print(json.dumps({"base": base, "peak": peak_rss_mb()}))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    set_thread_env(args.threads)
    if args.worker:
        if args.model == "all":
            raise SystemExit("--worker needs --model scratch or bn")
        run_worker(args)
    elif args.memory:
        run_memory(args)
    elif args.compile:
        run_compile(args)
    else:
        run_benchmark(args)


if __name__ == "__main__":
    main()
