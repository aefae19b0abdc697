"""Time Conv1D forward + backward against PyTorch's Conv1d, and against Conv2D's kernels.

    python benchmarks/bench_conv1d.py                  # imdb-like: b32, 80 steps, 128 -> 128, k 5
    python benchmarks/bench_conv1d.py --repeats 40 --threads 1
    python benchmarks/bench_conv1d.py --pool           # MaxPool1D(2) against MaxPool1d(2)

Three ways of running one layer of the same shape, alternating in one process (the order
rotated every round, so a slow phase of the machine hits all): hat's Conv1D on (batch, time,
channels); the same convolution through hat's Conv2D (the input viewed, without a copy, as
(N, 1, T, C) images under a (k, C) kernel, its (N, F, T_out, 1) output and gradient moved to
and from (N, T_out, F)); and torch.nn.Conv1d on its own (N, C, T) layout. Each computes the
output, dL/dx and dL/dW, db. Prints the median ms of each and the median per-round ratios.
With --pool: MaxPool1D(2) (hat's 2-D max-pool kernels on a (N, 1, T, C) view) against
torch.nn.MaxPool1d(2) on the same (batch, steps, channels) input, forward + backward.
"""

import argparse
import os
import statistics
import time


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed rounds (default 30)")
    parser.add_argument("--threads", type=int, default=2, help="BLAS and torch threads")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--filters", type=int, default=128)
    parser.add_argument("--kernel", type=int, default=5)
    parser.add_argument("--pool", action="store_true", help="time MaxPool1D instead")
    return parser.parse_args(argv)


def runners(args):
    import numpy as np

    from hat.layers import Conv1D, Conv2D

    n, t, c, f, k = args.batch, args.steps, args.channels, args.filters, args.kernel
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, t, c)).astype(np.float32)
    conv1d = Conv1D(f, k, act="relu")
    conv1d.setup((t, c), np.random.default_rng(1), np.float32)
    dy = rng.standard_normal((n,) + conv1d.output_shape).astype(np.float32)

    def hat_conv1d():
        conv1d.forward(x, training=True)
        conv1d.backward(dy)

    conv2d = Conv2D(f, k, c, act="relu", algorithm="im2col")
    conv2d.setup((1, t, c), np.random.default_rng(1), np.float32)
    dy4 = np.empty((n, f, t - k + 1, 1), np.float32)

    def hat_conv2d():
        y4 = conv2d.forward(x.reshape(n, 1, t, c), training=True)
        np.ascontiguousarray(y4[..., 0].transpose(0, 2, 1))  # to (N, T_out, F)
        dy4[..., 0] = dy.transpose(0, 2, 1)
        conv2d.backward(dy4)

    out = {"hat Conv1D": hat_conv1d, "hat via Conv2D": hat_conv2d}
    try:
        import torch
    except ImportError:
        return out
    torch.set_num_threads(args.threads)
    layer = torch.nn.Conv1d(c, f, k)
    xt = torch.from_numpy(x.transpose(0, 2, 1).copy()).requires_grad_()
    gt = torch.from_numpy(dy.transpose(0, 2, 1).copy())

    def torch_conv1d():
        xt.grad = None
        layer.zero_grad(set_to_none=True)
        torch.relu(layer(xt)).backward(gt)

    out["torch Conv1d"] = torch_conv1d
    return out


def pool_runners(args):
    import numpy as np

    from hat.layers import MaxPool1D

    n, t, c = args.batch, args.steps, args.channels
    x = np.random.default_rng(0).permutation(n * t * c).reshape(n, t, c).astype(np.float32)
    pool = MaxPool1D(2)
    pool.setup((t, c), None, np.float32)
    dy = np.ones((n,) + pool.output_shape, np.float32)

    def hat_pool():
        pool.forward(x, training=True)
        pool.backward(dy)

    out = {"hat MaxPool1D": hat_pool}
    try:
        import torch
    except ImportError:
        return out
    torch.set_num_threads(args.threads)
    xt = torch.from_numpy(x.transpose(0, 2, 1).copy()).requires_grad_()
    gt = torch.from_numpy(dy.transpose(0, 2, 1).copy())
    ref = torch.nn.MaxPool1d(2)

    def torch_pool():
        xt.grad = None
        ref(xt).backward(gt)

    out["torch MaxPool1d"] = torch_pool
    return out


def main(argv=None) -> None:
    args = parse_args(argv)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "HAT_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    from hat.threads import single_threaded_blas

    runs = pool_runners(args) if args.pool else runners(args)
    names = list(runs)
    for run in runs.values():  # warm-up: compile or cache load, buffers
        run()
        run()
    times = {name: [] for name in names}
    for r in range(args.repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            # hat as a model with these layers runs them: OpenBLAS on one thread, large
            # products in halves on hat's pool of --threads threads.
            with single_threaded_blas(name.startswith("hat")):
                t0 = time.perf_counter()
                runs[name]()
                times[name].append(time.perf_counter() - t0)
    what = "MaxPool1D(2)" if args.pool else "Conv1D"
    print(
        f"{what} forward + backward, batch {args.batch}, {args.steps} steps, "
        f"{args.channels} -> {args.filters} channels, kernel {args.kernel}, relu, "
        f"{args.threads} threads, {args.repeats} rounds"
    )
    for name in names:
        print(f"  {name:16s} {1e3 * statistics.median(times[name]):7.2f} ms")
    for other in names[1:]:
        ratios = [a / b for a, b in zip(times[other], times[names[0]], strict=True)]
        print(f"  {other} / {names[0]}: {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
