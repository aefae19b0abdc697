"""The MNIST examples without usable data: the DatasetError's message alone, exit status 2."""

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "mnist"
SCRIPTS = [
    "prepare_data",
    "main_dnn",
    "tutorial_dnn",
    "main_cnn",
    "cnn_scratch",
    "cnn_bn",
    "lenet_bn",
]


@pytest.fixture
def corrupt_mnist(tmp_path, monkeypatch):
    """HAT_DATASETS/mnist holds four files that are not IDX files: loading fails at once,
    with no download tried."""
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):  # fmt: skip
        (folder / name).write_bytes(b"not an IDX file")
    monkeypatch.setenv("HAT_DATASETS", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # no mnist.pkl.gz here
    return folder


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_dataset_error_is_its_message_and_status_2(corrupt_mnist, script, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.setattr(sys, "argv", [f"{script}.py"])
    try:
        with pytest.raises(SystemExit) as info:
            runpy.run_path(str(EXAMPLES / f"{script}.py"), run_name="__main__")
    finally:
        for name in ("common", "prepare_data"):
            sys.modules.pop(name, None)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(str(corrupt_mnist)) and "is not the IDX file expected" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_the_process_prints_no_traceback(corrupt_mnist):
    env = {**os.environ, "PYTHONPATH": str(EXAMPLES.parents[1])}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "main_dnn.py"), "--epochs", "1"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "magic number" in result.stderr
