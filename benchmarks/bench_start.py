"""Cold and warm start of every MNIST example: from a fresh process to its first training step.

python benchmarks/bench_start.py                  # every example, cold then warm, 1 run each
python benchmarks/bench_start.py --runs 3 --example main_dnn cnn_bn

Each measurement is a fresh Python process with NUMBA_CACHE_DIR set to a temporary folder:
empty for the cold start (numba compiles every kernel the model uses, as after a fresh
install), then filled by that run for the warm start. The process imports hat, builds the
example's own model (its build_model()), and times `fit` on one batch of the example's batch
size, then `predict` on 10 samples. Data is random (the shape of MNIST), so loading MNIST is not
in the time. CPU seconds are the process's own (all its threads) to the end of the first step,
plus those of the helper process that compiles the backward kernels ahead on a cold start
(hat/kernels/ahead.py): less noisy than the wall time when other processes share the cores.
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
from pathlib import Path

EXAMPLES = {  # name: (batch size, sample shape, build_model's arguments)
    "main_dnn": (500, (784,), ()),
    "main_cnn": (500, (1, 28, 28), ()),
    "cnn_scratch": (50, (1, 28, 28), ()),
    "cnn_bn": (64, (1, 28, 28), ()),
    "lenet_bn": (64, (1, 28, 28), (4,)),  # the variant with every BatchNorm
}
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples" / "mnist"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", nargs="+", choices=sorted(EXAMPLES), default=None)
    parser.add_argument("--runs", type=int, default=1, help="cold + warm pairs (default 1)")
    parser.add_argument("--worker", choices=sorted(EXAMPLES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be >= 1; got {args.runs}")
    return args


def build(name: str):
    """The example's model, from its own build_model() (tutorial_dnn.py builds main_dnn's)."""
    sys.path.insert(0, str(EXAMPLES_DIR))
    module = __import__(name)
    return module.build_model(*EXAMPLES[name][2])


def run_worker(name: str) -> None:
    start = time.perf_counter()
    import numpy as np

    import hat.models  # noqa: F401
    from hat.optimizers import Adam

    imported = time.perf_counter()
    batch, shape, _ = EXAMPLES[name]
    rng = np.random.default_rng(0)
    x = rng.random((batch,) + shape, dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    np.random.seed(1515)
    model = build(name)
    built = time.perf_counter()
    model.fit(x, y, batch_size=batch, n_epochs=1, optimizer=Adam(1e-3), verbose=0)
    stepped = time.perf_counter()
    cpu_stepped = time.process_time()  # every thread of the process, less noisy under load
    model.predict(x[:10])
    predicted = time.perf_counter()
    model.fit(x, y, batch_size=batch, n_epochs=1, optimizer=Adam(1e-3), verbose=0)
    second = time.perf_counter() - predicted
    from hat.kernels import ahead

    for helper in ahead.started:  # its CPU time counts once it has ended and been reaped
        helper.reader.join()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        json.dumps({
            "import": imported - start,
            "build": built - imported,
            "first_step": stepped - built,
            "to_first_step": stepped - start,
            "cpu_to_first_step": cpu_stepped,
            "cpu_helper": children.ru_utime + children.ru_stime,
            "predict": predicted - stepped,
            "second_step": second,
        })
    )  # fmt: skip


def measure(name: str, cache: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache}
    done = subprocess.run(
        [sys.executable, __file__, "--worker", name],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        run_worker(args.worker)
        return
    names = args.example or list(EXAMPLES)
    print(f"# Start times, {time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.2f}\n")
    print(
        "seconds from a fresh process: import hat; then the first training step (one batch of "
        "the example's size, model built); then predict of 10 samples; medians of "
        f"{args.runs} run(s)\n"
    )
    print(
        "| example | cold: to first step | cold: CPU s (+ helper) | cold: first step | "
        "cold: predict | warm: to first step | warm: CPU s | warm: first step | "
        "import hat (warm) | second step |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in names:
        cold, warm = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as cache:
                cold.append(measure(name, cache))
                warm.append(measure(name, cache))

        def med(runs: list[dict], key: str) -> str:
            return f"{statistics.median(r[key] for r in runs):.2f}"

        print(
            f"| {name} | {med(cold, 'to_first_step')} | {med(cold, 'cpu_to_first_step')} "
            f"(+ {med(cold, 'cpu_helper')}) | "
            f"{med(cold, 'first_step')} | {med(cold, 'predict')} | {med(warm, 'to_first_step')} | "
            f"{med(warm, 'cpu_to_first_step')} | {med(warm, 'first_step')} | "
            f"{med(warm, 'import')} | {med(warm, 'second_step')} |"
        )
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
