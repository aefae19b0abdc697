"""Launching tests/distributed/rank_program.py under the mpiexec beside this Python."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

PROGRAM = Path(__file__).with_name("rank_program.py")
REPO = Path(__file__).resolve().parents[2]
MPIEXEC = Path(sys.executable).parent / "mpiexec"


def require_mpi():
    """Skip where mpi4py and mpich are not installed (CI installs them: the `mpi` extra)."""
    pytest.importorskip("mpi4py")
    if not MPIEXEC.exists():
        pytest.skip(f"no mpiexec beside {sys.executable}: pip install 'hat[mpi]'")


def _environment(numba_cache) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OPENBLAS_NUM_THREADS": "1",
        "HAT_NUM_THREADS": "1",
        "PATH": f"{MPIEXEC.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("NUMBA_DISABLE_JIT", None)
    env.pop("NUMBA_CACHE_DIR", None)
    if numba_cache:
        env["NUMBA_CACHE_DIR"] = str(numba_cache)
    return env


def run_bounded(command, numba_cache, cwd=None, timeout: float = 240.0):
    """Run command in a process group of its own; returns (returncode, stdout, stderr), with
    returncode None and stderr '(timed out)' past the timeout. The group is killed at the
    end, whatever happened (a stopped rank included)."""
    proc = subprocess.Popen(
        command,
        env=_environment(numba_cache),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        out, err, code = b"", b"(timed out)", None
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    return code, out.decode(errors="replace"), err.decode(errors="replace")


def launch(ranks: int, out, *args, numba_cache, timeout: float = 240.0):
    """Run the program on `ranks` ranks; returns (returncode, stderr, seconds, end time)."""
    command = [str(MPIEXEC), "-n", str(ranks), sys.executable, str(PROGRAM), str(out), *args]
    start = time.time()
    code, _, err = run_bounded(command, numba_cache, timeout=timeout)
    end = time.time()
    return code, err, end - start, end


def weights(out, name: str, tag: str) -> list[np.ndarray]:
    with np.load(Path(out) / f"weights-{name}-{tag}.npz") as f:
        return [f[k] for k in f.files]


def samples(out, name: str, tag: str, ranks: int) -> list[np.ndarray]:
    """Per rank: rows (epoch, sample index) of every sample it trained on."""
    return [np.load(Path(out) / "samples" / f"{name}-{tag}-rank{r}.npy") for r in range(ranks)]
