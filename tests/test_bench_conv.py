"""benchmarks/bench_conv.py runs and reports both algorithms (a small layer, one round)."""

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_conv.py"


def test_bench_conv_times_both_algorithms_on_one_layer():
    spec = importlib.util.spec_from_file_location("bench_conv", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.time_layer(("small 8->4 3x3", 3, (8, 7, 7), 4, 3, "same"), repeats=2)
    assert set(result) == {
        "im2col fwd",
        "im2col both",
        "winograd fwd",
        "winograd both",
        "ratio",
    }
    assert all(v > 0 for v in result.values())
    assert result["im2col both"] >= result["im2col fwd"]


def test_bench_conv_times_a_first_layer_with_and_without_the_direct_kernels():
    from hat.kernels import conv_direct

    spec = importlib.util.spec_from_file_location("bench_conv", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    before = conv_direct.ENABLED
    result = bench.time_first_layer(("small 1->4 3x3", 3, 4, 3, "valid", "relu"), repeats=2)
    assert conv_direct.ENABLED == before  # switched back
    parts = ("train", "infer")
    assert set(result) == {f"{m} {p}" for m in ("columns", "direct") for p in parts} | {
        f"ratio {p}" for p in parts
    }
    assert all(v > 0 for v in result.values())
