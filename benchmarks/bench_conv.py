"""Time one Conv2D layer's forward + backward under each algorithm, alternating in one process.

    python benchmarks/bench_conv.py                    # the CNN examples' Winograd layers
    python benchmarks/bench_conv.py --repeats 30 --threads 1
    python benchmarks/bench_conv.py --first-layers     # their first layers, direct or not

For each layer shape, the same layer is built once per algorithm (hat's im2col and Winograd
paths), warmed up, then timed in rounds that alternate the algorithms (order swapped every
round), so a slow phase of the machine hits both. Prints the median ms of forward and of
forward + backward per algorithm, and the median of the per-round ratios im2col / Winograd.

--first-layers times the examples' one-channel first layers instead (training forward +
weights' gradient, no input gradient, as a first layer; and an inference forward), with
hat/kernels/conv_direct.py's kernels and without them (conv_direct.ENABLED switched between
rounds): the median of the per-round ratios columns / direct.
"""

import argparse
import os
import sys
import time
from pathlib import Path

# (name, batch, input (C, H, W), filters, kernel, border_mode): the second conv layer of
# examples/mnist/cnn_scratch.py, cnn_bn.py and main_cnn.py.
LAYERS = [
    ("cnn_scratch 16->32 5x5", 50, (16, 14, 14), 32, 5, (2, 2)),
    ("cnn_bn 32->64 3x3", 64, (32, 13, 13), 64, 3, "valid"),
    ("main_cnn 32->32 3x3", 500, (32, 13, 13), 32, 3, "valid"),
]
ALGORITHMS = ("im2col", "winograd")
# (name, batch, filters, kernel, border_mode, activation): the first conv layer of the same
# examples, on 1 x 28 x 28 images.
FIRST_LAYERS = [
    ("cnn_scratch 1->16 5x5", 50, 16, 5, (2, 2), "relu"),
    ("cnn_bn 1->32 3x3", 64, 32, 3, "valid", "linear"),
    ("main_cnn 1->32 3x3", 500, 32, 3, "valid", "relu"),
]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed rounds (default 20)")
    parser.add_argument("--threads", type=int, default=2, help="hat's pool size (default 2)")
    parser.add_argument(
        "--first-layers", action="store_true", help="the one-channel first layers, direct or not"
    )
    return parser.parse_args(argv)


def time_layer(spec, repeats: int) -> dict:
    import numpy as np

    from hat.layers.conv import Conv2D
    from hat.threads import single_threaded_blas

    _, n, in_shape, filters, k, mode = spec
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n,) + in_shape).astype(np.float32)
    layers = {}
    for algorithm in ALGORITHMS:
        layer = Conv2D(filters, k, k, act="relu", border_mode=mode, algorithm=algorithm)
        layer.setup(in_shape, np.random.default_rng(1), np.float32)
        layers[algorithm] = layer
    dy = rng.standard_normal((n,) + layers["im2col"].output_shape).astype(np.float32)
    times = {a: {"fwd": [], "both": []} for a in ALGORITHMS}
    with single_threaded_blas():  # as a model with conv layers runs its step
        for layer in layers.values():  # warm-up: numba's compile or cache load, buffers
            layer.forward(x, training=True)
            layer.backward(dy)
        for r in range(repeats):
            for algorithm in ALGORITHMS if r % 2 == 0 else ALGORITHMS[::-1]:
                layer = layers[algorithm]
                t0 = time.perf_counter()
                layer.forward(x, training=True)
                t1 = time.perf_counter()
                layer.backward(dy)
                t2 = time.perf_counter()
                times[algorithm]["fwd"].append(t1 - t0)
                times[algorithm]["both"].append(t2 - t0)
    ratios = np.array(times["im2col"]["both"]) / np.array(times["winograd"]["both"])
    return {
        **{
            f"{a} {part}": 1e3 * float(np.median(times[a][part]))
            for a in ALGORITHMS
            for part in ("fwd", "both")
        },
        "ratio": float(np.median(ratios)),
    }


def time_first_layer(spec, repeats: int) -> dict:
    """Median ms of a training forward + backward ("train") and an inference forward
    ("infer") with the direct kernels off ("columns") and on ("direct"), alternating rounds,
    and the medians of the per-round ratios columns / direct."""
    import numpy as np

    from hat.kernels import conv_direct
    from hat.layers.conv import Conv2D
    from hat.threads import single_threaded_blas

    _, n, filters, k, mode, act = spec
    rng = np.random.default_rng(0)
    x = rng.random((n, 1, 28, 28), dtype=np.float32)
    layer = Conv2D(filters, k, k, act=act, border_mode=mode)
    layer.setup((1, 28, 28), np.random.default_rng(1), np.float32)
    layer.needs_input_grad = False  # a model's first layer
    dy = rng.standard_normal((n,) + layer.output_shape).astype(np.float32)
    modes = {"columns": False, "direct": True}
    times = {m: {"train": [], "infer": []} for m in modes}
    before = conv_direct.ENABLED
    try:
        with single_threaded_blas():
            for r in range(repeats + 1):  # round 0 warms up (compile or cache load, buffers)
                for mode_name in list(modes) if r % 2 == 0 else list(modes)[::-1]:
                    conv_direct.ENABLED = modes[mode_name]
                    t0 = time.perf_counter()
                    layer.forward(x, training=True)
                    layer.backward(dy)
                    t1 = time.perf_counter()
                    layer.forward(x, training=False)
                    t2 = time.perf_counter()
                    if r:
                        times[mode_name]["train"].append(t1 - t0)
                        times[mode_name]["infer"].append(t2 - t1)
    finally:
        conv_direct.ENABLED = before
    out = {
        f"{m} {p}": 1e3 * float(np.median(times[m][p])) for m in modes for p in ("train", "infer")
    }
    for part in ("train", "infer"):
        ratios = np.array(times["columns"][part]) / np.array(times["direct"][part])
        out[f"ratio {part}"] = float(np.median(ratios))
    return out


def print_table(title: str, headers: list, specs: list, timer, repeats: int, keys: list) -> None:
    """One markdown table: a row per layer spec, the timer's results under keys ("ratio ..."
    keys as ratios)."""
    print(f"# {title}\n")
    print("| layer | batch | " + " | ".join(headers) + " |")
    print("| --- " * (len(headers) + 2) + "|")
    for spec in specs:
        t = timer(spec, repeats)
        cells = [f"{t[k]:.2f}x" if k.startswith("ratio") else f"{t[k]:.2f}" for k in keys]
        print(f"| {spec[0]} | {spec[1]} | " + " | ".join(cells) + " |")


def main(argv=None) -> None:
    args = parse_args(argv)
    os.environ["HAT_NUM_THREADS"] = str(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    how = f"{args.threads} threads, {args.repeats} alternating rounds, ms (median)"
    if args.first_layers:
        print_table(
            "One-channel first Conv2D layers: columns (im2col) against direct "
            f"(hat/kernels/conv_direct.py); {how}",
            ["columns train", "direct train", "columns / direct", "columns infer",
             "direct infer", "columns / direct"],  # fmt: skip
            FIRST_LAYERS, time_first_layer, args.repeats,
            ["columns train", "direct train", "ratio train", "columns infer", "direct infer",
             "ratio infer"],  # fmt: skip
        )  # fmt: skip
        return
    print_table(
        f"Conv2D forward + backward, im2col against Winograd; {how}",
        ["im2col fwd", "im2col fwd+bwd", "Winograd fwd", "Winograd fwd+bwd", "im2col / Winograd"],
        LAYERS, time_layer, args.repeats,
        ["im2col fwd", "im2col both", "winograd fwd", "winograd both", "ratio"],
    )  # fmt: skip


if __name__ == "__main__":
    main()
