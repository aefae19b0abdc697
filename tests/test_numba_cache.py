"""numba's cache goes where NUMBA_CACHE_DIR says, so a read-only install can still cache."""

import os
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
