"""Compiling a model's backward kernels ahead, in a helper process, on a cold start.

With an empty numba cache the first training step spends nearly all its time compiling, one
kernel after another on one core (numba compiles under one lock per process). The backward
pass's kernels are known before the forward pass runs: each layer names them with their
argument types (Layer.backward_kernels), and so do the regularizers and the optimizer. So at
the first step, if some of them are not in the cache, a helper process (`python -m
hat.kernels.ahead`) compiles them into the same cache on the second core, while the main
process compiles the forward kernels. The helper starts from the end (the optimizer's kernel,
then the first layer's backward, up to the last layer's): when the main process reaches a
layer's backward, it takes back that layer's jobs the helper has not started (and compiles
them itself when it calls them), waits for the one the helper is compiling, if any, and loads
the finished ones from the cache. So the two work from the two ends of the list and meet
once; the helper, which starts half a second late (a Python process importing numba), does
not hold the kernel the main process needs next while others wait (in the order of the main
process, the MLP's main process waited 1.3 s for it under load). The compiled code is the
same either way (the same function, types and options), so the results are the same bits.
The helper runs in its own session, so that a scheduler that shares the CPU between sessions
(Linux's autogroup) gives it a share of its own instead of half of the caller's.

Nothing runs when every kernel is cached (the warm start pays one index lookup per kernel),
with NUMBA_DISABLE_JIT, on one core, in hat.distributed's ranks (they keep the cores busy
already), or with HAT_COMPILE_AHEAD=0.

A kernel's argument types are written as a spec string, one word per argument: "A3" a
C-contiguous 3-D array of the model's dtype, "D1" / "I4" / "L1" a float64 / int32 / int64
array, "T3" a tuple of 3 ints (int64), "i" an int (int64), "f" a float (float64), "b" a bool,
"u" a uint64.
"""

from __future__ import annotations

import os
import pickle
import sys
import threading
import time
from pathlib import Path

WAIT_LIMIT_S = 120.0
"""The longest the main process waits for the helper's kernels at one point of a step; past
it, the main process compiles them itself (a kernel compiles in 0.05-1.2 s here)."""

started = []  # every helper this process started (benchmarks and tests join them)
_ARRAY_DTYPES = {"D": "float64", "I": "int32", "L": "int64"}
_SCALARS = {"i": "int64", "f": "float64", "b": "boolean", "u": "uint64"}


def signature(spec: str, dtype) -> tuple:
    """The numba argument types that `spec` names for a model of `dtype`.

    Args:
        spec (str): One word per argument (see the module's docstring), e.g. "A3 A1 i f".
        dtype (np.dtype): The model's dtype (float32 or float64): the dtype of "A" arrays.

    Returns:
        tuple: numba types, as in a dispatcher's `signatures`.

    Raises:
        ValueError: A word of spec is not one of the forms above.
    """
    import numpy as np
    from numba.core import types

    out = []
    for word in spec.split():
        if word in _SCALARS:
            out.append(getattr(types, _SCALARS[word]))
        elif len(word) == 2 and word[0] == "T" and word[1].isdigit():
            out.append(types.UniTuple(types.int64, int(word[1])))
        elif len(word) == 2 and word[0] in "ADIL" and word[1].isdigit():
            name = np.dtype(dtype).name if word[0] == "A" else _ARRAY_DTYPES[word[0]]
            out.append(types.Array(getattr(types, name), int(word[1]), "C"))
        else:
            raise ValueError(f"unknown argument spec {word!r} in {spec!r}")
    return tuple(out)


def _is_ready(kernel, sig: tuple) -> bool:
    """True when this process has kernel compiled for sig, or numba's cache holds it (or the
    cache cannot be asked: then nothing is compiled ahead)."""
    if sig in kernel.overloads:
        return True
    try:
        cache = kernel._cache
        key = cache._index_key(sig, kernel.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # a cache-less dispatcher, or numba's internals moved
        return True


def _enabled() -> bool:
    from numba.core import config

    return (
        os.environ.get("HAT_COMPILE_AHEAD", "1") != "0"
        and not config.DISABLE_JIT
        and (os.cpu_count() or 1) > 1
    )


class Ahead:
    """The helper process of one first training step and what it has done.

    Args:
        groups (list): (key, [(kernel, sig), ...]) in the order the main process needs them;
            a key names what waits for its group (a layer, "regularizers", "optimizer").
            The helper compiles them from the last.
    """

    def __init__(self, groups: list):
        self.jobs = []  # (module, name, sig), in the helper's order, each once
        self.calls = []  # (kernel, sig) of each job, for the main process to compile
        self.by_key = {}
        for key, calls in reversed(groups):
            for kernel, sig in calls:
                job = (kernel.py_func.__module__, kernel.py_func.__name__, sig)
                if job not in self.jobs:
                    self.jobs.append(job)
                    self.calls.append((kernel, sig))
                self.by_key.setdefault(key, []).append(self.jobs.index(job))
        self.state = ["queued"] * len(self.jobs)
        self.changed = threading.Condition()
        import subprocess  # here: a warm start, which starts no helper, does not import it

        root = str(Path(__file__).resolve().parents[2])  # the folder that holds hat/
        env = dict(os.environ, HAT_QUIET="1", HAT_COMPILE_AHEAD="0")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hat.kernels.ahead"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            start_new_session=True,  # its own scheduling group, not a share of the caller's
        )  # fmt: skip
        self.process.stdin.write(pickle.dumps(self.jobs))
        self.process.stdin.flush()  # then "claim i" lines: jobs the main process takes back
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            word, index = line.split()
            with self.changed:
                self.state[int(index)] = word.decode()
                self.changed.notify_all()
        self.process.wait()
        self.process.stdout.close()
        with self.changed:  # the helper ended: whatever it did not finish is the main's
            self.state = [s if s in ("done", "claimed") else "gone" for s in self.state]
            self.changed.notify_all()
            self.process.stdin.close()  # under the lock, as wait() writes its claims

    def wait(self, key) -> None:
        """Before key's group runs: take back from the helper the group's jobs it has not
        started and compile them here (the helper moves on to other groups), then wait for
        the one it is compiling, if any."""
        mine = self.by_key.get(key, ())
        with self.changed:
            claims = [i for i in mine if self.state[i] == "queued"]
            for i in claims:
                self.state[i] = "claimed"
            try:
                self.process.stdin.write(b"".join(b"claim %d\n" % i for i in claims))
                self.process.stdin.flush()
            except (BrokenPipeError, ValueError):  # the helper has ended (its pipe closed)
                pass
        for i in claims:  # the same specialisation the call would compile, compiled first
            kernel, sig = self.calls[i]
            try:
                kernel.compile(sig)
            except Exception:  # a spec that does not type: the call itself will tell
                pass
        deadline = time.monotonic() + WAIT_LIMIT_S
        with self.changed:
            for i in mine:
                while self.state[i] == "started":
                    left = deadline - time.monotonic()
                    if left <= 0:  # a stuck helper never holds up training: compile here
                        self.state[i] = "gone"
                        break
                    self.changed.wait(left)


def start(groups: list) -> Ahead | None:
    """Start a helper for the (kernel, sig) calls of groups not yet compiled or cached.

    Args:
        groups (list): (key, [(kernel, sig), ...]) in the order the main process needs them.

    Returns:
        Ahead | None: The helper, or None when there is nothing to compile ahead (or
            compiling ahead is off, see the module's docstring).
    """
    if not _enabled():
        return None
    ready = {}  # a kernel several layers call is looked up once
    for call in (c for _, calls in groups for c in calls):
        if call not in ready:
            ready[call] = _is_ready(*call)
    todo = [(key, [c for c in calls if not ready[c]]) for key, calls in groups]
    todo = [(key, calls) for key, calls in todo if calls]
    if not todo:
        return None
    try:
        started.append(Ahead(todo))
    except OSError:  # no process can be started here (a sandbox, no fork): compile in line
        return None
    return started[-1]


def _helper_main() -> None:
    """The helper process: compile each job read from stdin, reporting as it goes."""
    import importlib

    jobs = pickle.load(sys.stdin.buffer)
    claimed = set()

    def listen():
        for line in sys.stdin.buffer:
            claimed.add(int(line.split()[1]))

    threading.Thread(target=listen, daemon=True).start()
    for i, (module, name, sig) in enumerate(jobs):
        if i in claimed:
            print("claimed", i, flush=True)
            continue
        print("started", i, flush=True)
        try:
            getattr(importlib.import_module(module), name).compile(sig)
        except Exception:  # the main process compiles it itself (and reports any error)
            print("gone", i, flush=True)
            continue
        print("done", i, flush=True)


if __name__ == "__main__":
    _helper_main()
