"""The cost of hat.backend's tape for a Lambda-like op: K.mean(x, axis=(2, 3)) of a
(64, 32, 14, 14) float32 array, forward and backward, against the same two steps in numpy.

    python benchmarks/bench_tape.py [--runs 300] [--shape 64 32 14 14]

Both sides end with a fresh, writable input gradient, as a layer's backward must give. The two
are timed alternately, one run each in turn, and the medians are printed.
"""

import argparse
import time

import numpy as np

import hat.backend as K
from hat.backend import tape as T


def plain(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    y = x.mean(axis=(2, 3))
    dx = np.empty_like(x)
    dx[...] = (g / (x.shape[2] * x.shape[3]))[:, :, None, None]
    return y, dx


def on_tape(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    with T.Tape() as t:
        v = t.watch(x)
        y = K.mean(v, axis=(2, 3))
    (dx,) = t.gradient(y, [v], seed=g)
    return y.value, dx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--shape", type=int, nargs=4, default=(64, 32, 14, 14))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(args.shape).astype(np.float32)
    g = rng.standard_normal(args.shape[:2]).astype(np.float32)
    (y1, dx1), (y2, dx2) = plain(x, g), on_tape(x, g)
    assert dx2.dtype == np.float32 and np.allclose(dx1, dx2) and np.allclose(y1, y2)
    times = {plain: [], on_tape: []}
    for _ in range(args.runs):
        for fn in times:
            start = time.perf_counter()
            fn(x, g)
            times[fn].append(time.perf_counter() - start)
    base, tape = (np.median(times[fn]) * 1e6 for fn in (plain, on_tape))
    print(f"shape {tuple(args.shape)} float32, median of {args.runs} runs")
    print(f"numpy forward+backward: {base:8.1f} us")
    print(f"tape  forward+backward: {tape:8.1f} us  (+{tape - base:.1f} us, {tape / base:.2f}x)")


if __name__ == "__main__":
    main()
