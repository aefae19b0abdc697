"""The API reference covers every public name, and the site builds with `mkdocs build --strict`.

In the modules listed in COMPLETE_MODULES, every public callable also documents every parameter
of its signature in a Google-style `Args:` section, and documents no parameter it lacks.

A module's public names are its `__all__`, else the classes and functions defined in it whose
names do not start with '_'. A name is covered when a reference page renders it with a
mkdocstrings directive (`::: module`, for the module that exports it or the one that defines
it, or `::: module.Name`) or mentions it in backquotes.
"""

import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hat

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "docs" / "reference"
DIRECTIVE = re.compile(r"^:::\s+([\w.]+)\s*$", re.M)

# Every module whose names users import; each must appear in the reference.
PUBLIC_MODULES = (
    "hat",
    "hat.activations",
    "hat.backend",
    "hat.backend.tape",
    "hat.callbacks",
    "hat.datasets",
    "hat.datasets.cifar10",
    "hat.datasets.fashion_mnist",
    "hat.datasets.imdb",
    "hat.datasets.mnist",
    "hat.distributed",
    "hat.graph",
    "hat.initializations",
    "hat.io",
    "hat.layers",
    "hat.layers.base",
    "hat.layers.cnn",
    "hat.layers.conv",
    "hat.layers.conv1d",
    "hat.layers.core",
    "hat.layers.embedding",
    "hat.layers.embeddings",
    "hat.layers.lambda_layer",
    "hat.layers.legacy_lstm",
    "hat.layers.merge",
    "hat.layers.normalization",
    "hat.layers.pool",
    "hat.layers.pooling",
    "hat.layers.recurrent",
    "hat.layers.recurrent_state",
    "hat.layers.rnn",
    "hat.layers.pooling1d",
    "hat.losses",
    "hat.metrics",
    "hat.models",
    "hat.objectives",
    "hat.onnx",
    "hat.optimizers",
    "hat.preprocessing",
    "hat.regularizations",
    "hat.schedules",
    "hat.serializations",
    "hat.tensorboard_events",
)
# Modules that are implementation, not API: their public names are re-exported by a public
# module (hat.callbacks' submodules) or are internal machinery. A prefix covers a package.
INTERNAL_MODULES = (
    "hat.kernels",
    "hat.backend.common",
    "hat.backend.nn_ops",
    "hat.backend.ops",
    "hat.backend.reduce_ops",
    "hat.backend.shape_ops",
    "hat.training",
    "hat.evaluation",
    "hat.loss_plan",
    "hat.passes",
    "hat.checks",
    "hat.datasets._files",
    "hat.datasets._idx",
    "hat.export",
    "hat.legacy",
    "hat.legacy_sequences",
    "hat.layers.activation_ops",
    "hat.layers.conv_winograd",
    "hat.layers.masks",
    "hat.threads",
    "hat.callbacks.",
    "hat.distributed.",
)

# Modules whose docstrings are complete: every public function, class (its constructor) and
# method documents each parameter of its signature in a Google-style "Args:" section. A module
# joins this list once its docstrings are finished, so that a new argument without a line in
# the docstring fails the suite; the aim is every module in PUBLIC_MODULES (the others, such
# as hat.training and the layer modules still being written, join as they are finished). An
# internal module may be listed too: hat.backend's ops are defined in hat.backend.ops and its
# siblings, which the check reads directly.
COMPLETE_MODULES = (
    "hat.activations",
    "hat.backend",
    "hat.backend.common",
    "hat.backend.nn_ops",
    "hat.backend.ops",
    "hat.backend.reduce_ops",
    "hat.backend.shape_ops",
    "hat.backend.tape",
    "hat.callbacks.base",
    "hat.callbacks.checkpoint",
    "hat.callbacks.hat_style",
    "hat.callbacks.logging",
    "hat.callbacks.lr",
    "hat.callbacks.monitor",
    "hat.callbacks.progress",
    "hat.callbacks.tensorboard",
    "hat.checks",
    "hat.datasets.cifar10",
    "hat.datasets.fashion_mnist",
    "hat.datasets.imdb",
    "hat.datasets.mnist",
    "hat.distributed",
    "hat.distributed.context",
    "hat.graph",
    "hat.initializations",
    "hat.io",
    "hat.layers.base",
    "hat.layers.conv",
    "hat.layers.core",
    "hat.layers.lambda_layer",
    "hat.layers.merge",
    "hat.layers.normalization",
    "hat.layers.pooling",
    "hat.legacy",
    "hat.legacy_sequences",
    "hat.layers.legacy_lstm",
    "hat.losses",
    "hat.metrics",
    "hat.models",
    "hat.objectives",
    "hat.onnx",
    "hat.optimizers",
    "hat.preprocessing",
    "hat.regularizations",
    "hat.schedules",
    "hat.serializations",
    "hat.layers.conv1d",
    "hat.layers.embedding",
    "hat.layers.pooling1d",
    "hat.layers.recurrent",
    "hat.layers.recurrent_state",
    "hat.tensorboard_events",
)
ARGS_HEADER = re.compile(r"^(\s*)(Args|Arguments|Keyword Args|Parameters):\s*$")
ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:")


def documented_params(doc: str) -> set[str]:
    """The names a Google-style docstring documents under its Args sections."""
    names: set[str] = set()
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        header = ARGS_HEADER.match(line)
        if not header:
            continue
        entry_indent = None
        for entry in lines[i + 1 :]:
            if not entry.strip():
                continue
            indent = len(entry) - len(entry.lstrip())
            if indent <= len(header.group(1)):
                break
            entry_indent = indent if entry_indent is None else entry_indent
            match = ARG_LINE.match(entry.strip()) if indent == entry_indent else None
            if match:
                names.add(match.group(1).lstrip("*"))
    return names


def _signature_params(fn) -> list[str] | None:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature
        return None
    return [name for name in signature.parameters if name not in ("self", "cls")]


def _own_constructor(cls) -> bool:
    """Whether a class below `object` or a builtin base defines the constructor."""
    return any(
        "__init__" in vars(base) and base.__module__.startswith("hat") for base in cls.__mro__
    )


def public_callables(module_name: str):
    """(qualified name, callable, docstring) for each public function, class and method."""
    module = importlib.import_module(module_name)
    for name in public_names(module_name):
        obj = getattr(module, name)
        if inspect.isfunction(obj) and obj.__module__ == module_name:
            yield f"{module_name}.{name}", obj, inspect.getdoc(obj) or ""
        if not inspect.isclass(obj) or obj.__module__ != module_name:
            continue  # constants, and names re-exported from elsewhere (checked there)
        if _own_constructor(obj):
            doc = (inspect.getdoc(obj) or "") + "\n" + (inspect.getdoc(obj.__init__) or "")
            yield f"{module_name}.{name}", obj, doc
        for attr, member in vars(obj).items():
            if attr.startswith("_"):
                continue
            function = (
                member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
            )
            if inspect.isfunction(function):
                method = getattr(obj, attr)
                yield f"{module_name}.{name}.{attr}", function, inspect.getdoc(method) or ""


@pytest.mark.parametrize("module_name", COMPLETE_MODULES)
def test_every_parameter_is_documented(module_name):
    problems = []
    for qualname, fn, doc in public_callables(module_name):
        params = _signature_params(fn)
        if params is None:
            continue
        if not doc.strip():
            problems.append(f"{qualname}: no docstring")
            continue
        documented = documented_params(doc)
        missing = [p for p in params if p not in documented]
        stale = sorted(documented - set(params))
        if missing:
            problems.append(f"{qualname}: parameters without a line under Args: {missing}")
        if stale:
            problems.append(f"{qualname}: Args documents parameters it does not take: {stale}")
    assert not problems, "\n".join(problems)


def test_the_parameter_check_reads_google_args():
    doc = """Do it.

    Args:
        x (np.ndarray): The input,
            on two lines: not a parameter.
        *rest: More.
        **options (dict): Default {}. Options.

    Returns:
        y (int): Not a parameter.
    """
    assert documented_params(inspect.cleandoc(doc)) == {"x", "rest", "options"}
    on_disk = _module_names_on_disk()
    assert all(module in on_disk for module in COMPLETE_MODULES), COMPLETE_MODULES


def _module_names_on_disk() -> set[str]:
    names = set()
    for path in (REPO / "hat").rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names.add(".".join(parts))
    return names


def _is_internal(module: str) -> bool:
    return any(
        module == prefix or module.startswith(prefix if prefix.endswith(".") else prefix + ".")
        for prefix in INTERNAL_MODULES
    )


def public_names(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    if exported is not None:
        return list(exported)
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module_name
    ]


def _reference_text() -> str:
    return "\n".join(page.read_text() for page in sorted(REFERENCE.glob("*.md")))


def _covered(module_name: str, name: str, directives: set[str], text: str) -> bool:
    candidates = {module_name, f"{module_name}.{name}"}
    obj = getattr(importlib.import_module(module_name), name)
    defined_in = getattr(obj, "__module__", None)
    if defined_in and (inspect.isclass(obj) or inspect.isfunction(obj)):
        candidates |= {defined_in, f"{defined_in}.{obj.__qualname__}"}
    if candidates & directives:
        return True
    return re.search(rf"`[^`\n]*\b{re.escape(name)}\b[^`\n]*`", text) is not None


def test_public_modules_match_the_package():
    declared = {f"hat.{name}" for name in hat._SUBMODULES}
    assert declared <= set(PUBLIC_MODULES), (
        f"hat/__init__.py lists {sorted(declared - set(PUBLIC_MODULES))}, which "
        "PUBLIC_MODULES here lacks: add them, and their reference"
    )
    unclassified = sorted(
        m for m in _module_names_on_disk() if m not in PUBLIC_MODULES and not _is_internal(m)
    )
    assert not unclassified, (
        f"new modules {unclassified}: add each to PUBLIC_MODULES (and to a docs/reference page) "
        "or, if it is implementation only, to INTERNAL_MODULES"
    )
    missing = sorted(set(PUBLIC_MODULES) - _module_names_on_disk())
    assert not missing, f"PUBLIC_MODULES names modules that do not exist: {missing}"


def test_every_public_name_is_in_the_reference():
    text = _reference_text()
    directives = set(DIRECTIVE.findall(text))
    unknown = sorted(d for d in directives if d.split(".")[0] != "hat")
    assert not unknown, f"directives outside hat: {unknown}"
    missing = [
        f"{module_name}.{name}"
        for module_name in PUBLIC_MODULES
        for name in public_names(module_name)
        if not _covered(module_name, name, directives, text)
    ]
    assert not missing, f"public names missing from docs/reference/*.md: {missing}"


def test_every_reference_page_is_in_the_nav():
    config = (REPO / "mkdocs.yml").read_text()
    pages = {f"reference/{page.name}" for page in REFERENCE.glob("*.md")}
    assert pages, "docs/reference/ holds no pages"
    missing = sorted(page for page in pages if page not in config)
    assert not missing, f"reference pages missing from mkdocs.yml's nav: {missing}"


def _mkdocs_available() -> bool:
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("mkdocs", "mkdocstrings", "mkdocstrings_handlers.python", "material")
    )


def test_site_builds_strictly(tmp_path):
    if not _mkdocs_available():
        message = 'mkdocs, mkdocs-material or mkdocstrings is missing: pip install -e ".[docs]"'
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    # Each public class and function has an anchor in the built reference.
    html = "\n".join(p.read_text() for p in (site / "reference").rglob("*.html"))
    anchors = set(re.findall(r'id="(hat\.[\w.]+)"', html))
    missing = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in public_names(module_name):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            ids = {f"{module_name}.{name}", f"{obj.__module__}.{obj.__qualname__}"}
            if not ids & anchors:
                missing.append(f"{module_name}.{name}")
    assert not missing, f"public names without an entry in the built reference: {missing}"
