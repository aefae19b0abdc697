"""Optional packages for the tests: skipped where missing, except in CI, which installs them."""

import importlib
import os

import pytest


def require(name: str):
    """The module, or a skip outside CI; in CI (CI set) a missing module fails the test."""
    if os.environ.get("CI"):
        return importlib.import_module(name)
    return pytest.importorskip(name)
