"""Exact resumption: a run that stops (or is killed) and resumes from its checkpoint ends with
the same bits as one that never stopped."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def run(
    mode: str, folder: Path, check: bool = True, kind: str = "chain"
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.helpers.resume_script", mode, str(folder), kind],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=check,
        timeout=300,
    )


def result(folder: Path, mode: str) -> dict:
    with np.load(folder / f"result_{mode}.npz") as data:
        return {key: data[key] for key in data.files}


def assert_same_bits(a: dict, b: dict, keys=None) -> None:
    keys = keys or sorted(k for k in a if k != "history")
    assert keys and set(keys) <= set(b)
    for key in keys:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    folder = tmp_path_factory.mktemp("straight")
    run("straight", folder)
    return result(folder, "straight")


def test_stop_save_resume_in_a_new_process_is_exact(straight, tmp_path):
    run("first_half", tmp_path)
    run("resume", tmp_path)
    resumed = result(tmp_path, "resume")
    assert_same_bits(straight, resumed)
    # the History continues the interrupted one: all four epochs, equal values
    assert json.loads(str(resumed["history"])) == json.loads(str(straight["history"]))


def test_load_model_then_fit_continues_exactly(straight, tmp_path):
    run("first_half", tmp_path)
    run("load_and_fit", tmp_path)
    assert_same_bits(straight, result(tmp_path, "load_and_fit"))


def test_killed_mid_epoch_resumes_exactly(straight, tmp_path):
    killed = run("kill", tmp_path, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp_path / "result_kill.npz").exists()
    run("resume", tmp_path)
    resumed = result(tmp_path, "resume")
    weights = [k for k in straight if k.startswith("w")]
    assert_same_bits(straight, resumed, weights + [k for k in straight if k.startswith("opt_")])


@pytest.fixture(scope="module")
def straight_graph(tmp_path_factory):
    folder = tmp_path_factory.mktemp("straight_graph")
    run("straight", folder, kind="graph")
    return result(folder, "straight")


def test_a_graph_model_with_a_lambda_resumes_exactly(straight_graph, tmp_path):
    run("first_half", tmp_path, kind="graph")
    run("resume", tmp_path, kind="graph")
    resumed = result(tmp_path, "resume")
    assert_same_bits(straight_graph, resumed)
    loaded = tmp_path / "loaded"
    loaded.mkdir()
    run("first_half", loaded, kind="graph")
    run("load_and_fit", loaded, kind="graph")  # the file rebuilds the graph and its Lambda
    assert_same_bits(straight_graph, result(loaded, "load_and_fit"))


SAVE_LOOP = """
import sys
from hat.models import load_model
md = load_model(sys.argv[1])
print("ready", flush=True)
while True:
    md.save(sys.argv[1])
"""


def test_kill_during_save_leaves_a_loadable_file(tmp_path):
    from hat.models import load_model
    from tests.helpers.toy import small_mlp

    path = tmp_path / "m.h5"
    small_mlp(n_in=300, n_hid=400).save(path)  # big enough that saves take a while
    expected = load_model(path).get_weights()
    for delay in (0.05, 0.13, 0.31):
        proc = subprocess.Popen(
            [sys.executable, "-c", SAVE_LOOP, str(path)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for got, want in zip(load_model(path).get_weights(), expected, strict=True):
            assert np.array_equal(got, want)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "m.h5"]
    for name in leftovers:  # a killed writer can leave its temporary file, never a broken target
        assert name.startswith(".tmp-")
        os.remove(tmp_path / name)
