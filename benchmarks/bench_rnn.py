"""Time hat's recurrent layers against PyTorch's on MNIST rows, side by side, on the CPU.

The model: each image as 28 steps of 28 pixels, a recurrent layer of 128 units (LSTM, GRU or
SimpleRnn, tanh), its last state into Dense(10, softmax); cross-entropy, Adam 1e-3, batch 128.

    python benchmarks/bench_rnn.py                      # all three cells, 5 alternating rounds
    python benchmarks/bench_rnn.py --cells lstm --repeats 9 --steps 30
    python benchmarks/bench_rnn.py --memory --first-step   # + peak RSS, first step warm/cold

Real MNIST is used when $HAT_DATASETS/mnist or ~/.hat/datasets/mnist holds it, else random data
of the same shape (the timings do not depend on the values).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

BATCH = 128
INFER_BATCH = 1000
UNITS = 128
SETTLE_S = 0.2  # lets one runtime's spinning workers sleep before the other starts
CELLS = ("lstm", "gru", "rnn")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="lstm,gru,rnn", help="comma-separated (default all)")
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds (default 5)")
    parser.add_argument("--steps", type=int, default=20, help="training batches a round (20)")
    parser.add_argument("--predict", type=int, default=5000, help="samples predicted a round")
    parser.add_argument("--threads", type=int, default=2, help="threads for both (default 2)")
    parser.add_argument("--memory", action="store_true", help="peak RSS, one process each")
    parser.add_argument("--first-step", action="store_true", help="first step, warm and cold")
    parser.add_argument("--no-torch", action="store_true", help="time hat only")
    parser.add_argument("--sleep", action="store_true", help="sleep, not spin, between rounds")
    parser.add_argument("--json", default=None, help="write the results to this file")
    parser.add_argument("--worker", choices=("memory", "first"), help=argparse.SUPPRESS)
    parser.add_argument("--framework", choices=("hat", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.cells = [c for c in args.cells.split(",") if c]
    if not args.cells or set(args.cells) - set(CELLS):
        parser.error(f"--cells takes a comma-separated subset of {CELLS}; got {args.cells}")
    if min(args.repeats, args.steps, args.threads, args.predict) < 1:
        parser.error("--repeats, --steps, --threads and --predict must be >= 1")
    return args


def set_threads(n: int) -> None:
    """Before numpy or torch loads: OpenBLAS and OpenMP read these once."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "HAT_NUM_THREADS"):
        os.environ[var] = str(n)


def load_rows(n_train: int, n_test: int):
    import numpy as np

    from hat.datasets import mnist

    folders = [
        os.path.join(os.environ.get("HAT_DATASETS", ""), "mnist"),
        os.path.expanduser("~/.hat/datasets/mnist"),
    ]
    folder = next((f for f in folders if os.path.isdir(f) and os.listdir(f)), None)
    if folder is not None:  # never download from here
        x_train, y_train, x_test, _ = mnist.load_data(folder)
        scale = np.float32(1 / 255)
        x = (x_train[:n_train].reshape(-1, 28, 28) * scale).astype(np.float32)
        xt = (x_test[:n_test].reshape(-1, 28, 28) * scale).astype(np.float32)
        return x, y_train[:n_train].astype(np.int64), xt, "MNIST"
    rng = np.random.default_rng(0)
    x = rng.random((n_train, 28, 28), dtype=np.float32)
    xt = rng.random((n_test, 28, 28), dtype=np.float32)
    return x, rng.integers(0, 10, n_train), xt, "random"


# -- the two frameworks -----------------------------------------------------------------------
class HatRun:
    def __init__(self, cell, x, labels, xt):
        import numpy as np

        from hat.layers.core import Dense, InputLayer
        from hat.layers.recurrent import GRU, LSTM, SimpleRnn
        from hat.models import Sequential
        from hat.optimizers import Adam

        layer = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRnn}[cell]
        seq = Sequential()
        seq.add(InputLayer((28, 28)))
        seq.add(
            layer(
                UNITS, W_init_type="glorot_uniform", H_init_type="orthogonal", return_sequence=False
            )
        )
        seq.add(Dense(10, act="softmax"))
        self.md = seq.combine(seed=0)
        self.optimizer = Adam(lr=1e-3)
        self.x, self.y, self.xt = x, np.eye(10, dtype=np.float32)[labels], xt

    def first_step(self):
        self.md.train_on_batch(
            self.x[:BATCH], self.y[:BATCH], "categorical_crossentropy", self.optimizer
        )

    def train(self, steps):
        n = steps * BATCH
        self.md.fit(
            self.x[:n],
            self.y[:n],
            batch_size=BATCH,
            n_epochs=1,
            verbose=0,
            optimizer=self.optimizer,
            loss_func="categorical_crossentropy",
        )

    def predict(self):
        self.md.predict(self.xt, batch_size=INFER_BATCH)


class TorchRun:
    def __init__(self, cell, x, labels, xt):
        import torch

        torch.manual_seed(0)
        rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = rnn(28, UNITS, batch_first=True)
                self.out = torch.nn.Linear(UNITS, 10)

            def forward(self, v):
                seq, _ = self.rnn(v)
                return self.out(seq[:, -1])

        self.torch, self.net = torch, Net()
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-3)
        self.loss = torch.nn.CrossEntropyLoss()
        self.x, self.y = torch.from_numpy(x), torch.from_numpy(labels)
        self.xt = torch.from_numpy(xt)
        self.xb = torch.empty((BATCH, 28, 28))
        self.yb = torch.empty(BATCH, dtype=torch.int64)

    def _step(self, index):
        torch = self.torch
        torch.index_select(self.x, 0, index, out=self.xb)
        torch.index_select(self.y, 0, index, out=self.yb)
        self.optimizer.zero_grad()
        loss = self.loss(self.net(self.xb), self.yb)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def first_step(self):
        self._step(self.torch.arange(BATCH))

    def train(self, steps):
        order = self.torch.randperm(steps * BATCH)
        for i in range(steps):
            self._step(order[i * BATCH : (i + 1) * BATCH])

    def predict(self):
        with self.torch.inference_mode():
            for i in range(0, len(self.xt), INFER_BATCH):
                self.torch.softmax(self.net(self.xt[i : i + INFER_BATCH]), dim=1)


def _timed(fn, *args):
    _settle()
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def _settle():
    """The pause before a timed call, spun through unless --sleep (see bench_mlp.settle)."""
    if "--sleep" in sys.argv:
        time.sleep(SETTLE_S)
        return
    end = time.perf_counter() + SETTLE_S
    while time.perf_counter() < end:
        pass


# -- subprocess workers -----------------------------------------------------------------------
def worker(args):
    cell = args.cells[0]
    started = time.perf_counter()
    x, labels, xt, _ = load_rows(max(args.steps, 1) * BATCH, args.predict)
    run = (HatRun if args.framework == "hat" else TorchRun)(cell, x, labels, xt)
    if args.worker == "first":
        first = _timed(run.first_step)
        print(json.dumps({"first_step_s": first, "since_start_s": time.perf_counter() - started}))
        return
    base = _peak_mb()
    run.first_step()
    run.train(args.steps)
    run.predict()
    print(json.dumps({"peak_mb": _peak_mb(), "before_mb": base}))


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM; ru_maxrss would carry the parent's peak over exec)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _spawn(args, mode, framework, cell, env=None):
    command = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--framework",
        framework,
        "--cells",
        cell,
        "--steps",
        str(args.steps),
        "--predict",
        str(args.predict),
        "--threads",
        str(args.threads),
    ]
    env = {**os.environ, **(env or {})}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the main run ---------------------------------------------------------------------------------
def main(argv=None):
    args = parse_args(argv)
    set_threads(args.threads)
    if args.worker:
        return worker(args)
    x, labels, xt, source = load_rows(args.steps * BATCH, args.predict)
    frameworks = {"hat": HatRun}
    if not args.no_torch:
        import torch

        torch.set_num_threads(args.threads)
        frameworks["torch"] = TorchRun
    load = os.getloadavg()
    print(
        f"data: {source}; threads: {args.threads}; batch {BATCH}; predict batch "
        f"{INFER_BATCH}; load average at start {load[0]:.1f} on {os.cpu_count()} CPUs"
    )
    from bench_mlp import blas_kernels

    print(f"OpenBLAS kernels: {blas_kernels()}")
    results = {}
    for cell in args.cells:
        runs = {name: cls(cell, x, labels, xt) for name, cls in frameworks.items()}
        for run in runs.values():  # warm up: compile or load kernels, a whole round
            run.first_step()
            run.train(args.steps)
            run.predict()
        train = {name: [] for name in runs}
        infer = {name: [] for name in runs}
        for round_ in range(args.repeats):
            names = list(runs) if round_ % 2 == 0 else list(runs)[::-1]
            for name in names:
                train[name].append(args.steps * BATCH / _timed(runs[name].train, args.steps))
            for name in names:
                infer[name].append(len(xt) / _timed(runs[name].predict))
        results[cell] = {"train": train, "predict": infer}
        print(
            f"{cell}: "
            + "; ".join(
                f"{k} train {_spread(train[k])}/s predict {_spread(infer[k])}/s" for k in runs
            ),
            flush=True,
        )
    if args.memory:
        for cell in args.cells:
            results[cell]["peak_mb"] = {
                f: _spawn(args, "memory", f, cell)["peak_mb"] for f in frameworks
            }
    if args.first_step:
        for cell in args.cells:
            with tempfile.TemporaryDirectory() as cache:
                cold = _spawn(args, "first", "hat", cell, {"NUMBA_CACHE_DIR": cache})
                warm = _spawn(args, "first", "hat", cell, {"NUMBA_CACHE_DIR": cache})
            results[cell]["first_step_s"] = {
                "cold": cold["first_step_s"],
                "warm": warm["first_step_s"],
            }
    report(results, "torch" in frameworks, os.getloadavg())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


def _ratio(cell_results, kind):
    """The median of the per-round ratios hat / torch."""
    hat, torch = cell_results[kind]["hat"], cell_results[kind]["torch"]
    return statistics.median(h / t for h, t in zip(hat, torch, strict=True))


def _spread(values) -> str:
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}..{max(values):,.0f})"


def report(results, with_torch, load):
    print(f"load average at the end {load[0]:.1f}")
    print(
        "| cell | hat train/s | torch train/s | train ratio | hat predict/s | "
        "torch predict/s | predict ratio |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for cell, r in results.items():
        row = [cell]
        for kind in ("train", "predict"):
            for name in ("hat", "torch"):
                values = r[kind].get(name)
                row.append(_spread(values) if values else "-")
            row.append(f"{_ratio(r, kind):.2f}x" if with_torch else "-")
        print("| " + " | ".join(row) + " |")
    for cell, r in results.items():
        if "peak_mb" in r:
            peaks = ", ".join(f"{k} {v:.0f}" for k, v in r["peak_mb"].items())
            print(f"{cell} peak RSS (MB): {peaks}")
        if "first_step_s" in r:
            s = r["first_step_s"]
            print(f"{cell} hat first step: warm cache {s['warm']:.2f} s, cold {s['cold']:.2f} s")


if __name__ == "__main__":
    main()
