"""Long-run health of Hat's MNIST MLP: memory per epoch, and what the progress bar costs.

    python benchmarks/bench_health.py [--epochs 20] [--rounds 3]

Prints the resident memory (current and peak) after each epoch of main_dnn's model, the growth
of peak RSS from epoch 2 to the last epoch, and the median epoch time with verbose=0 against
verbose=1, measured alternately. Uses MNIST when it is on disk ($HAT_DATASETS or
~/.hat/datasets), else random data of the same shape.
"""

import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "mnist"))

from main_dnn import build_model  # noqa: E402

from hat.callbacks import LambdaCallback, ProgbarLogger  # noqa: E402
from hat.optimizers import Adam  # noqa: E402


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size in MB."""
    with open("/proc/self/status") as f:
        current = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return current / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load():
    try:
        from prepare_data import load_data

        tr_x, tr_y, *_ = load_data()
        return "MNIST", tr_x, np.eye(10, dtype=np.float32)[tr_y]
    except Exception as err:  # no data on disk and no network: same shapes, random values
        print(f"(MNIST unavailable: {type(err).__name__}; using random data)")
        rng = np.random.default_rng(0)
        x = rng.random((50_000, 784), dtype=np.float32)
        return "random", x, np.eye(10, dtype=np.float32)[rng.integers(0, 10, 50_000)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="epochs per verbose setting")
    args = parser.parse_args()
    np.random.seed(1515)
    name, x, y = load()
    md = build_model()
    rows = []
    record = LambdaCallback(on_epoch_end=lambda epoch, logs: rows.append((epoch + 1, *rss_mb())))
    md.fit(
        x,
        y,
        batch_size=500,
        n_epochs=args.epochs,
        optimizer=Adam(lr=1e-3),
        callbacks=[record],
        verbose=0,
    )
    print(f"data: {name}, {x.nbytes / 2**20:.0f} MB of inputs")
    print("| epoch | RSS MB | peak RSS MB |\n| --- | --- | --- |")
    for epoch, current, peak in rows:
        print(f"| {epoch} | {current:.1f} | {peak:.1f} |")
    peak2, peak_last = rows[1][2], rows[-1][2]
    print(f"peak RSS growth from epoch 2 to {rows[-1][0]}: {100 * (peak_last / peak2 - 1):+.2f}%")

    times = {0: [], 1: []}
    devnull = open(os.devnull, "w")  # the bar's drawing is part of its cost; not the terminal
    stdout = sys.stdout
    for round_ in range(args.rounds):
        for verbose in (0, 1) if round_ % 2 == 0 else (1, 0):  # no order bias
            sys.stdout = devnull if verbose else stdout
            start = time.perf_counter()
            md.fit(x, y, batch_size=500, n_epochs=1, verbose=verbose)
            times[verbose].append(time.perf_counter() - start)
            sys.stdout = stdout
    quiet, bar = statistics.median(times[0]), statistics.median(times[1])
    print(
        f"epoch time, median of {args.rounds}: verbose=0 {quiet:.3f} s, verbose=1 "
        f"{bar:.3f} s ({100 * (bar / quiet - 1):+.1f}%)"
    )
    # The difference of two noisy epoch times hides a cost this small; time the bar alone,
    # driven through the same callback calls as one epoch of this run.
    n_batches = -(-len(x) // 500)
    sys.stdout = devnull
    start = time.perf_counter()
    for epoch in range(20):
        bar_only = ProgbarLogger(1, n_batches, 20)
        bar_only.on_epoch_begin(epoch)
        for batch in range(n_batches):
            bar_only.on_batch_end(batch, {"size": 500, "loss": 0.1})
        bar_only.on_epoch_end(epoch, {"loss": 0.1})
    sys.stdout = stdout
    own = (time.perf_counter() - start) / 20
    print(
        f"the bar's own cost: {own * 1000:.1f} ms per epoch of {n_batches} batches = "
        f"{100 * own / quiet:.2f}% of a verbose=0 epoch"
    )


if __name__ == "__main__":
    main()
