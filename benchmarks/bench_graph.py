"""What the graph machinery costs: the same models written two ways, timed side by side.

    python benchmarks/bench_graph.py                 # 7 alternating rounds of each pair
    python benchmarks/bench_graph.py --repeats 11 --steps 30

Pairs, each trained with Adam on random data of MNIST's shape, alternating within one process:
- mlp: the MLP of examples/mnist/main_dnn.py (784-500-500-10, dropout 0.2, batch 500), built
  with Sequential and with the functional API (layers called on layers);
- cnn-mean: the BatchNorm CNN of examples/mnist/cnn_bn.py (batch 64) ending in a global
  average pooling over the image axes, as a GlobalAvgPool2D layer and as
  Lambda(lambda input: K.mean(input, axis=(2, 3))) on hat.backend's tape.
For each pair it prints the median milliseconds per step of each and the median of the
per-round ratios (second / first), by the wall clock and by the process's CPU time (all its
threads); a ratio of 1.05 means the second form costs 5% more a step. On a loaded machine the
CPU-time ratio is the steadier one: time spent waiting for a core is not counted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--steps", type=int, default=20, help="steps per round (default 20)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads (default 2)")
    return parser.parse_args()


def mlp(functional: bool):
    from hat.layers import Dense, Dropout, Input, InputLayer
    from hat.models import Model, Sequential

    layers = [Dense(500, act="relu"), Dropout(0.2), Dense(500, act="relu"), Dropout(0.2),
              Dense(10, act="softmax")]  # fmt: skip
    if not functional:
        return Sequential([InputLayer(784), *layers]).combine(seed=1)
    x = node = Input(784)
    for layer in layers:
        node = layer(node)
    return Model(inputs=x, outputs=node, seed=1)


def cnn_mean(with_lambda: bool):
    import hat.backend as K
    from hat.layers import (
        Activation,
        BatchNorm,
        Conv2D,
        Dense,
        GlobalAvgPool2D,
        InputLayer,
        Lambda,
        MaxPool2D,
    )
    from hat.models import Model

    x = InputLayer((1, 28, 28))
    node = x
    for filters in (32, 64):
        node = Conv2D(filters, 3, 3, trainable_params=["W"])(node)
        node = Activation("relu")(BatchNorm(momentum=0.9)(node))
        node = MaxPool2D((2, 2))(node)
    pool = Lambda(lambda input: K.mean(input, axis=(2, 3))) if with_lambda else GlobalAvgPool2D()
    return Model([x], [Dense(10, act="softmax")(pool(node))], seed=1)


def step_seconds(md, x, y, steps: int, optimizer) -> tuple[float, float]:
    """(wall, CPU) seconds per training step."""
    batch = x.shape[0] // steps
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(steps):
        part = slice(i * batch, (i + 1) * batch)
        md.train_on_batch(x[part], y[part], optimizer=optimizer)
    return (time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps


def compare(name, build, batch, shape, args) -> None:
    import numpy as np

    from hat.optimizers import Adam

    rng = np.random.default_rng(0)
    x = rng.random((batch * args.steps,) + shape, dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch * args.steps)]
    models = [build(False), build(True)]
    optimizers = [Adam(1e-3), Adam(1e-3)]
    for md, opt in zip(models, optimizers, strict=True):
        step_seconds(md, x[: batch * 2], y[: batch * 2], 2, opt)  # compile and warm up
    times = [[], []]
    for _ in range(args.repeats):
        for i in (0, 1):
            times[i].append(step_seconds(models[i], x, y, args.steps, optimizers[i]))
    for clock, k in (("wall", 0), ("cpu", 1)):
        a, b = ([t[k] for t in times[i]] for i in (0, 1))
        ratios = [second / first for first, second in zip(a, b, strict=True)]
        print(f"{name:<10} {clock:<5} {statistics.median(a) * 1e3:8.2f} ms "
              f"{statistics.median(b) * 1e3:8.2f} ms   ratio {statistics.median(ratios):.3f} "
              f"(rounds {min(ratios):.3f}-{max(ratios):.3f})")  # fmt: skip


def main() -> None:
    args = parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    print(f"{args.repeats} rounds of {args.steps} steps, {args.threads} threads; per step:")
    print(f"{'pair':<10} {'clock':<5} {'first':>11} {'second':>11}")
    compare("mlp", mlp, 500, (784,), args)
    compare("cnn-mean", cnn_mean, 64, (1, 28, 28), args)


if __name__ == "__main__":
    main()
