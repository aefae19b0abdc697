"""Distributed fit under faults: the job ends within a bound, says why, and the last
checkpoint loads and resumes. Each launch is bounded by a timeout and its process group is
killed at the end (tests/distributed/launch.py)."""

import re

import pytest

from tests.distributed.launch import launch, require_mpi

pytestmark = pytest.mark.mpi


def _fault_time(out) -> float:
    """When the faulty rank injected its fault (it writes the time to a file first)."""
    path = out / "fault-time"
    assert path.exists(), "the fault was not injected"
    return float(path.read_text())


def _checkpoint_resumes(out):
    """The epoch-1 checkpoint that rank 0 wrote loads, and a plain fit resumes from it."""
    from hat.models import load_model
    from tests.distributed.rank_program import BATCH, build

    path = out / "rank0" / "mlp-4" / "ckpt-1.h5"
    assert load_model(path).epoch == 1
    model, x, y, optimizer = build("mlp")
    model.fit(x, y, batch_size=BATCH, epochs=3, optimizer=optimizer, resume_from=path, verbose=0)
    assert model.epoch == 3


@pytest.fixture
def run_fault(tmp_path, numba_cache):
    require_mpi()

    def run(kind: str, *args):
        out = tmp_path / kind
        code, err, seconds, end = launch(
            2, out, "--fault", kind, "--epochs", "3", *args, numba_cache=numba_cache, timeout=120
        )
        assert err != "(timed out)", f"the job hung after the {kind} fault"
        assert code != 0, f"the job ended with code 0 after the {kind} fault:\n{err[-3000:]}"
        return out, err, end

    return run


def test_an_exception_in_one_rank_ends_the_job_with_its_traceback(run_fault):
    out, err, end = run_fault("raise")
    assert end - _fault_time(out) < 5.0
    assert err.count("this rank raised") == 1, err[-3000:]
    assert "[hat.distributed rank 1/2] RuntimeError: injected fault on rank 1" in err
    _checkpoint_resumes(out)


def test_kill_9_of_one_rank_ends_the_job(run_fault):
    out, err, end = run_fault("kill")
    assert end - _fault_time(out) < 5.0
    _checkpoint_resumes(out)


def test_a_stopped_rank_is_named_by_the_watchdog(run_fault):
    out, err, end = run_fault("stop", "--watchdog", "3")
    assert end - _fault_time(out) < 3.0 + 5.0
    assert "the watchdog ended the job" in err
    stalled = re.search(r"rank 1 stalled: .* its last was #\d+, at epoch 2, step \d+", err)
    assert stalled, err[-3000:]
    _checkpoint_resumes(out)


def test_mismatched_data_sizes_are_refused_before_training(run_fault):
    out, err, _ = run_fault("mismatch")
    assert "the ranks disagree before training" in err
    assert "rank 1 has training samples=99, rank 0 has 100" in err
    assert not (out / "rank0" / "mlp-4" / "ckpt-1.h5").exists()
