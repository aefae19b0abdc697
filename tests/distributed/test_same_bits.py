"""Distributed fit: the same bits on 1, 2 and 4 ranks for a fixed `shards`, close to plain fit.

Three launches share the work: 4 ranks train the MLP (with dropout), a CNN, a BatchNorm CNN
and the MLP on data with one NaN (its batch is skipped on every rank, and training stops)
for two epochs with shards=4; 2 ranks resume each from the 4-rank run's epoch-1 checkpoint; one
rank trains them with shards=4, shards=1, and with plain fit (no MPI) in the same process.
"""

import numpy as np
import pytest

from tests.distributed.launch import launch, require_mpi, samples, weights

MODELS = ("mlp", "cnn", "bncnn", "nan")  # nan: the MLP with a NaN in sample 57
pytestmark = pytest.mark.mpi


@pytest.fixture(scope="module")
def runs(tmp_path_factory, numba_cache):
    require_mpi()
    root = tmp_path_factory.mktemp("distributed")
    models = ",".join(MODELS)
    results = {}
    for ranks, args in (
        (4, ["--shards", "4"]),
        (2, ["--shards", "4", "--resume", str(root / "r4")]),
        (1, ["--shards", "4,1,plain"]),
    ):
        out = root / f"r{ranks}"
        code, err, _, _ = launch(ranks, out, "--models", models, *args, numba_cache=numba_cache)
        assert code == 0, f"{ranks} ranks failed:\n{err[-3000:]}"
        results[ranks] = out
    return results


def _same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))


def _distance(a, b) -> float:
    return max(float(np.abs(u - v).max()) for u, v in zip(a, b, strict=True))


@pytest.mark.parametrize("name", MODELS)
def test_identical_weights_on_1_2_and_4_ranks(runs, name):
    on4 = weights(runs[4], name, "4")
    assert _same(weights(runs[1], name, "4"), on4)
    if name != "nan":  # (the 4-rank run stopped in epoch 1; the resumed one trains epoch 2)
        # 2 ranks trained epoch 2 from the 4-rank run's checkpoint: the resume is exact.
        assert _same(weights(runs[2], name, "4"), on4)


@pytest.mark.parametrize("name", MODELS)
def test_one_shard_is_plain_fit_and_four_are_close(runs, name):
    plain = weights(runs[1], name, "plain")
    assert _same(weights(runs[1], name, "1"), plain)
    # BatchNorm included: it normalizes by the global batch's statistics, summed over shards.
    assert _distance(weights(runs[1], name, "4"), plain) < 5e-5


@pytest.mark.parametrize("name", MODELS)
def test_shards_cover_every_sample_once_per_epoch(runs, name):
    if name == "nan":
        return  # training stops in epoch 1
    for ranks, epochs in ((4, (0, 1)), (2, (1,))):
        per_rank = samples(runs[ranks], name, "4", ranks)
        for epoch in epochs:
            seen = [rows[rows[:, 0] == epoch, 1] for rows in per_rank]
            every = np.concatenate(seen)
            assert np.array_equal(np.sort(every), np.arange(100)), (ranks, epoch)
            assert all(len(s) > 0 for s in seen)  # each rank had its part


def test_only_rank_0_wrote_files(runs):
    for ranks in (4, 2):
        out = runs[ranks]
        for rank in range(1, ranks):
            assert [p for p in (out / f"rank{rank}").rglob("*") if p.is_file()] == []
        written = sorted(p.name for p in (out / "rank0" / "mlp-4").iterdir())
        assert written == (["ckpt-1.h5", "ckpt-2.h5"] if ranks == 4 else ["ckpt-2.h5"]) + [
            "log.csv",
            "validation.p",
        ]


@pytest.mark.parametrize("ranks", [4, 2])
def test_split_evaluate_and_predict_match_each_ranks_own(runs, ranks):
    import json

    for name in MODELS:
        record = json.loads((runs[ranks] / f"evaluate-{name}-4.json").read_text())
        assert np.allclose(record["split"], record["local"], rtol=0, atol=1e-6), record
        assert record["predict_gap"] < 1e-6


def test_a_non_finite_batch_stops_every_rank_at_the_same_step(runs):
    import json

    records = [json.loads((runs[r] / f"evaluate-nan-{t}.json").read_text())
               for r, t in ((4, "4"), (1, "4"), (1, "plain"))]  # fmt: skip
    assert len({(r["epoch"], r["iteration"]) for r in records}) == 1, records
    assert records[0]["epoch"] == 1 and records[0]["iteration"] < 5  # stopped in epoch 1


def _validation(out, tag: str, rank: int) -> dict:
    import json

    return json.loads((out / "validation" / f"mlp-{tag}-rank{rank}.json").read_text())


@pytest.mark.parametrize("ranks", [4, 2])
def test_validation_callback_splits_its_predictions_over_the_ranks(runs, ranks):
    import pickle

    records = [_validation(runs[ranks], "4", r) for r in range(ranks)]
    results = records[0]["results"]
    assert all(record["results"] == results for record in records)  # the same on every rank
    n = 35  # Validation's samples (rank_program.VALIDATION)
    cuts = [n * r // ranks for r in range(ranks + 1)]
    for r, record in enumerate(records):  # each rank predicted its share only, at each call
        calls = 3 if ranks == 4 else 1  # epochs 0, 1, 2; the resumed run calls at epoch 2
        assert record["predicted"] == [cuts[r + 1] - cuts[r]] * calls, (r, record["predicted"])
    # The gathered predictions give what one process computes: the last call (at the end of
    # fit) against a local evaluate with the final weights, and every call against plain fit.
    for key, value in records[0]["local"].items():
        assert abs(results[f"va_{key}"][-1] - value) < 1e-6, (key, results, records[0])
    plain = _validation(runs[1], "plain", 0)
    assert plain["predicted"] == [n, n, n]  # plain fit: one process predicts everything
    for key, values in plain["results"].items():
        assert np.allclose(results[key], values, rtol=0, atol=1e-5), (key, results, values)
    with open(runs[ranks] / "rank0" / "mlp-4" / "validation.p", "rb") as f:
        dumped = pickle.load(f)  # rank 0's file
    assert all(dumped[key] == values for key, values in results.items())
