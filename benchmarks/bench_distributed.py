"""Data-parallel fit on one machine: 1 rank x 2 threads against 2 ranks x 1 thread.

    python benchmarks/bench_distributed.py                      # the three MNIST models
    python benchmarks/bench_distributed.py --models mlp --repeats 5

For each model of examples/mnist (main_dnn's MLP, cnn_scratch, cnn_bn) it launches, one
after another: plain fit (no MPI) with 2 threads, `mpiexec -n 1` with 1 and with 2 threads,
and `mpiexec -n 2` with 1 thread per rank, all on the same cores. Each trains `--repeats`
rounds of `--steps` batches with fit(distributed=True) after a warm-up round; the launches
repeat `--cycles` times. The table gives the median samples/s, the ratios 2x1 / 1x2 (the
goal: >= 0.9) and 2x1 / 1x1 (2 would be perfect scaling), each the median of the cycles'
ratios, and the share of the fit's time that rank 0 spent in MPI waits (the gradient gather,
the per-batch stop vote, BatchNorm's exchanges; waiting for a slower rank counts too), with
the 2-rank share split by kind.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "mnist"
MODELS = {  # name: (module in examples/mnist, batch size, input shape)
    "mlp": ("main_dnn", 500, (784,)),
    "cnn_scratch": ("cnn_scratch", 50, (1, 28, 28)),
    "cnn_bn": ("cnn_bn", 64, (1, 28, 28)),
}


def _data(n: int, shape: tuple):
    import numpy as np

    try:
        sys.path.insert(0, str(EXAMPLES))
        from prepare_data import load_data

        x, y = load_data()[:2]
        x = x[:n].reshape((-1,) + shape)
        y = np.eye(10, dtype=np.float32)[np.asarray(y[:n]).reshape(-1)]
        kind = "MNIST"
    except Exception:  # no MNIST here: random data of the same shape
        rng = np.random.default_rng(0)
        x = rng.random((n,) + shape, dtype=np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]
        kind = "random"
    return x.astype(np.float32), y, kind


def gather_worker(args) -> None:
    """The gradient gather alone, ranks lined up by a barrier first: its median time for each
    model's parameter count (what a step sends, without waiting for a slower rank)."""
    import numpy as np

    import hat.distributed as hd

    sys.path.insert(0, str(EXAMPLES))
    ctx = hd.init(watchdog=600)
    record = {}
    for model in args.models.split(","):
        np.random.seed(1515)
        size = __import__(MODELS[model][0]).build_model()._flat_grads.size
        send = np.zeros(4 * size, np.uint8)  # float32 gradients, one shard per rank
        recv = np.empty(ctx.size * send.size, np.uint8)
        times = []
        for _ in range(30):
            ctx.barrier("line up")
            start = time.perf_counter()
            ctx.allgather_bytes(send, recv, "the gather")
            times.append(time.perf_counter() - start)
        record[model] = {"parameters": size, "ms": 1000 * statistics.median(times)}
    if ctx.rank == 0:
        print("RESULT " + json.dumps(record), flush=True)


def worker(args) -> None:
    """One configuration: prints a JSON line (from rank 0)."""
    import numpy as np

    sys.path.insert(0, str(EXAMPLES))
    module, batch, shape = MODELS[args.model]
    build_model = __import__(module).build_model
    from hat.optimizers import Adam

    distributed = args.mode != "plain"
    ctx = None
    if distributed:
        import hat.distributed as hd

        ctx = hd.init(watchdog=600)
    np.random.seed(1515)
    md = build_model()
    x, y, kind = _data(batch * args.steps, shape)
    optimizer = Adam(lr=1e-3)
    kwargs = {"distributed": True} if distributed else {}
    md.fit(
        x[: 2 * batch],
        y[: 2 * batch],
        batch_size=batch,
        n_epochs=1,
        optimizer=optimizer,
        verbose=0,
        **kwargs,
    )  # fmt: skip  (numba's compile or cache load)
    waits = _time_waits_by_kind(ctx) if ctx else {}
    rates, shares, timed = [], [], 0.0
    for round_ in range(args.repeats + 1):  # the first round warms up
        comm_before = ctx.comm_seconds if ctx else 0.0
        if round_ == 1:
            waits.update({k: 0.0 for k in waits})
        start = time.perf_counter()
        md.fit(x, y, batch_size=batch, n_epochs=1, optimizer=optimizer, verbose=0, **kwargs)
        elapsed = time.perf_counter() - start
        timed += elapsed if round_ else 0.0
        rates.append(x.shape[0] / elapsed)
        shares.append(((ctx.comm_seconds if ctx else 0.0) - comm_before) / elapsed)
    if ctx is None or ctx.rank == 0:
        record = {"samples_s": statistics.median(rates[1:]), "rates": rates[1:], "data": kind,
                  "comm_share": statistics.median(shares[1:]),
                  "comm_by_kind": {k: v / timed for k, v in waits.items()}}  # fmt: skip
        print("RESULT " + json.dumps(record), flush=True)


def _time_waits_by_kind(ctx) -> dict:
    """Seconds this rank waits in each kind of collective, from the labels fit gives them."""
    waits = {"BatchNorm": 0.0, "gradients": 0.0, "votes": 0.0, "other": 0.0}
    wait = ctx.wait

    def timed(request, label):
        start = time.perf_counter()
        wait(request, label)
        if label.startswith("BatchNorm"):
            kind = "BatchNorm"
        elif label.endswith("(gradients)"):
            kind = "gradients"
        else:  # the stop votes after each batch and epoch ("batch 3's end"), the end of fit
            kind = "votes" if label.endswith("end") or label.endswith("end of fit") else "other"
        waits[kind] += time.perf_counter() - start

    ctx.wait = timed
    return waits


def _launch(model: str, mode: str, args) -> dict:
    setups = {"plain": (0, 2), "1x1": (1, 1), "1x2": (1, 2), "2x1": (2, 1), "gather": (2, 1)}
    ranks, threads = setups[mode]
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env.update(OPENBLAS_NUM_THREADS=str(threads), HAT_NUM_THREADS=str(threads))
    command = [sys.executable, __file__, "--worker", "--model", model, "--mode", mode,
               "--steps", str(args.steps), "--repeats", str(args.repeats),
               "--models", model]  # fmt: skip
    if ranks:
        command = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks)] + command
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{model} {mode} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return json.loads(lines[0][len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = ",".join(MODELS)
    parser.add_argument("--models", default=names, help=f"comma list of {names}")
    parser.add_argument("--cycles", type=int, default=2, help="launches of each setup (2)")
    parser.add_argument("--steps", type=int, default=30, help="batches per timed round (30)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (3)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        gather_worker(args) if args.mode == "gather" else worker(args)
        return
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the start "
          "(a shared machine: other processes share these cores)")  # fmt: skip
    head = f"{'model':<12}{'plain 1x2':>11}{'1 rank x1':>11}{'1 rank x2':>11}{'2 ranks x1':>11}"
    print(head + f"{'2x1/1x2':>9}{'2x1/1x1':>9}{'comm 1x2':>10}{'comm 2x1':>10}")
    modes = ("plain", "1x1", "1x2", "2x1")
    for model in args.models.split(","):
        runs = [{mode: _launch(model, mode, args) for mode in modes} for _ in range(args.cycles)]
        rate = {m: statistics.median(r[m]["samples_s"] for r in runs) for m in modes}
        share = {m: statistics.median(r[m]["comm_share"] for r in runs) for m in modes}
        # Each cycle runs the setups back to back: a ratio within a cycle sees the same load.
        ratio = {
            base: statistics.median(r["2x1"]["samples_s"] / r[base]["samples_s"] for r in runs)
            for base in ("1x2", "1x1")
        }
        line = f"{model:<12}" + "".join(f"{rate[m]:>11,.0f}" for m in modes)
        line += f"{ratio['1x2']:>8.2f}x{ratio['1x1']:>8.2f}x"
        print(line + f"{share['1x2']:>10.1%}{share['2x1']:>10.1%}", flush=True)
        kinds = {k: statistics.median(r["2x1"]["comm_by_kind"][k] for r in runs)
                 for k in runs[0]["2x1"]["comm_by_kind"]}  # fmt: skip
        print(f"{'':<12}comm 2x1 by kind: " + ", ".join(f"{k} {v:.1%}" for k, v in kinds.items()))
    gathers = _launch(args.models, "gather", args)
    print("the gather alone (2 ranks, lined up by a barrier; median of 30):")
    for model, g in gathers.items():
        print(f"  {model}: {g['parameters']:,} parameters, {g['ms']:.2f} ms")
    print(
        f"samples/s: median over {args.cycles} cycles of the median of {args.repeats} rounds of "
        f"{args.steps} batches ({runs[0]['plain']['data']} data); load average "
        f"{os.getloadavg()[0]:.1f} at the end"
    )


if __name__ == "__main__":
    main()
