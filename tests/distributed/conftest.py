"""The numba cache that every rank of every launch shares, so that the ranks compile hat's
kernels once, not once each: NUMBA_CACHE_DIR when the environment sets it, else numba's
default (__pycache__ beside hat's kernels), which the rest of the test session has already
filled. A fresh temporary folder would cost about 25 s of compiling per session."""

import os

import pytest


@pytest.fixture(scope="session")
def numba_cache():
    return os.environ.get("NUMBA_CACHE_DIR")
