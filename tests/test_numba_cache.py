"""numba's cache goes where NUMBA_CACHE_DIR says, so a read-only install can still cache."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STEP = """
import numpy as np
from tests.helpers.toy import blobs, small_mlp
x, y, _ = blobs(n=40)
print(small_mlp().train_on_batch(x, y))
"""


@pytest.mark.jit
def test_numba_cache_dir_is_honoured(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    first = subprocess.run(
        [sys.executable, "-c", STEP], cwd=REPO, env=env, check=True, capture_output=True, text=True
    )
    cached = [p for p in tmp_path.rglob("*") if p.suffix in (".nbi", ".nbc")]
    assert any("activations" in p.name for p in cached), sorted(p.name for p in cached)
    assert any("optim" in p.name for p in cached)
    second = subprocess.run(
        [sys.executable, "-c", STEP], cwd=REPO, env=env, check=True, capture_output=True, text=True
    )
    assert second.stdout == first.stdout  # the cached code computes the same loss
    # A cold cache says once that it compiles; a warm one is silent.
    assert first.stderr.count("compiling kernels (first run only") == 1, first.stderr
    assert "compiling kernels" not in second.stderr, second.stderr


READ_ONLY_STEP = """
import numpy as np
import hat
from hat.layers.core import Dense, InputLayer
from hat.models import Sequential
md = Sequential([InputLayer(4), Dense(3, act="softmax")]).combine(seed=0)
x = np.ones((8, 4), np.float32)
y = np.eye(3, dtype=np.float32)[np.arange(8) % 3]
print(hat.__file__, md.train_on_batch(x, y))
"""


@pytest.mark.jit
def test_read_only_install_caches_elsewhere(tmp_path):
    """hat installed where nothing may be written (no __pycache__ beside the kernels): numba
    falls back to the user's cache folder, and training works."""
    site = tmp_path / "site"
    shutil.copytree(REPO / "hat", site / "hat", ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(home, 0o777)
    os.chmod(tmp_path, 0o755)
    for folder, _, files in os.walk(site):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update(PYTHONPATH=str(site), HOME=str(home))
    # As root, permissions bind nobody: drop to an unprivileged user in a user namespace.
    prefix = ["unshare", "--user"] if os.geteuid() == 0 else []
    result = subprocess.run(
        [*prefix, sys.executable, "-c", READ_ONLY_STEP],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(str(site / "hat"))
    assert not list(site.rglob("__pycache__"))
    assert any(home.rglob("*.nbi")), "numba cached nothing in the user's cache folder"
