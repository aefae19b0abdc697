"""Every ```python block in docs/ runs: each page's blocks in order, in a fresh folder.

The harness trims the budget (n_epochs=10 -> n_epochs=1) so the pages run in seconds; blocks
fenced as ```text only show output and are not run.
"""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted((REPO / "docs").rglob("*.md"))
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
BUDGET = [("n_epochs=10", "n_epochs=1"), ("n_train = 50000", "n_train = 5000")]
NEEDS_MNIST = {"tutorials/mnist_mlp.md", "tutorials/cnn.md", "tutorials/batchnorm.md"}
# What a page promises under the trimmed budget: (name in its namespace, lower bound).
PROMISES = {
    "tutorials/mnist_mlp.md": ("accuracy", 0.95),
    "index.md": ("final_accuracy", 0.9),
    "tutorials/callbacks.md": ("val_accuracy", 0.6),
    "tutorials/cnn.md": ("scratch_accuracy", 0.85),
    "tutorials/batchnorm.md": ("accuracy", 0.9),
    "tutorials/custom.md": ("accuracy", 0.5),
}


def python_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text())


def _page_param(page: Path):
    name = str(page.relative_to(REPO / "docs"))
    marks = [pytest.mark.mnist] if name in NEEDS_MNIST else []
    return pytest.param(page, id=name, marks=marks)


@pytest.mark.parametrize("page", [_page_param(p) for p in PAGES if python_blocks(p)])
def test_page_runs(page, tmp_path, monkeypatch, request):
    name = str(page.relative_to(REPO / "docs"))
    if name in NEEDS_MNIST:
        request.getfixturevalue("mnist")  # fails in CI, skips elsewhere, without the data
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HAT_REPO", str(REPO))
    namespace = {"__name__": "__main__"}
    for index, block in enumerate(python_blocks(page)):
        for old, new in BUDGET:
            block = block.replace(old, new)
        exec(compile(block, f"{page.name} block {index + 1}", "exec"), namespace)
    if name in PROMISES:
        key, floor = PROMISES[name]
        assert namespace[key] > floor


def test_docs_have_runnable_pages():
    assert {"index.md", "tutorials/mnist_mlp.md"} <= {
        str(p.relative_to(REPO / "docs")) for p in PAGES if python_blocks(p)
    }
