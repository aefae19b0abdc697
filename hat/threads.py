"""Threads for hat's layers: a small pool of Python threads, and OpenBLAS's own thread count.

Convolutions split the batch into chunks and run each chunk's kernels (numba, nogil) and GEMMs
(numpy, which releases the GIL) on this pool, with OpenBLAS held to one thread meanwhile; in
such models the Dense layers' products run in two halves on the pool too (matmul()). Why
not numba's prange or a 2-thread BLAS: both spin-wait, and on a 2-core machine two spinning
pools, or one spinning pool beside another busy process, cost a factor (a 32 ms step took
270 ms). This pool's threads block when idle, and the OS shares the cores fairly under load;
once a model has trained a step, they first spin outside the GIL for about 0.3 ms after each
job (SPIN_PAUSES, hat.kernels.spin), which cuts a hand-off from 63-65 us to 45-52 here: a
bound a thousand times shorter than OpenMP's or OpenBLAS's spinning.

HAT_NUM_THREADS sets the pool size (default: the CPUs this process may use); HAT_POOL_SPIN the
spin's length in reads of the job counter (0: none).
"""

import ctypes
import itertools
import os
import threading
from contextlib import contextmanager

import numpy as np

_lock = threading.Lock()
_pool = None  # the _Pool, made at the first parallel_for
_blas: tuple | None = None  # (get, set) or () when OpenBLAS was not found
_held = 0  # how deep single_threaded_blas() is entered: > 0 inside a pool model's passes


def num_threads() -> int:
    env = os.environ.get("HAT_NUM_THREADS")
    if env:
        return max(1, int(env))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def openblas_paths() -> list[str]:
    """The OpenBLAS libraries this process has loaded (numpy's among them), by path; empty
    where /proc/self/maps cannot be read (not Linux).

    Returns:
        list[str]: Their paths, sorted.
    """
    import numpy  # noqa: F401  (loads numpy's BLAS)

    try:
        with open("/proc/self/maps") as maps:
            return sorted({ln.split()[-1] for ln in maps if "openblas" in ln.lower()})
    except OSError:
        return []


def _openblas() -> tuple:
    """OpenBLAS's (get_num_threads, set_num_threads), found in the libraries this process has
    loaded (numpy's wheel ships scipy-openblas with prefixed symbols), or () if none."""
    global _blas
    if _blas is None:
        found: tuple = ()
        for path in openblas_paths():
            lib = ctypes.CDLL(path)
            for prefix in ("scipy_openblas_", "openblas_"):
                for suffix in ("64_", ""):
                    get = getattr(lib, f"{prefix}get_num_threads{suffix}", None)
                    put = getattr(lib, f"{prefix}set_num_threads{suffix}", None)
                    if get is not None and put is not None:
                        put.argtypes = [ctypes.c_int]
                        found = found or (get, put)
        _blas = found
    return _blas


def blas_threads() -> int | None:
    """OpenBLAS's thread count, or None when numpy's BLAS is not OpenBLAS."""
    blas = _openblas()
    return int(blas[0]()) if blas else None


def set_blas_threads(n: int) -> None:
    blas = _openblas()
    if blas:
        blas[1](int(n))


def pool_held() -> bool:
    """Whether we are inside a pool model's passes (single_threaded_blas entered)."""
    return _held > 0


@contextmanager
def single_threaded_blas(active: bool = True):
    """OpenBLAS on one thread inside, restored after. Models whose layers use the pool run
    their whole step so: under load from another process, a 2-thread OpenBLAS GEMM of a
    CNN's small dense layer took 40 ms instead of 0.3 (its threads spin-wait for each other),
    and whole steps ran 3x slower than with one BLAS thread."""
    global _held
    before = blas_threads() if active else None
    if before and before > 1:
        set_blas_threads(1)
    _held += active
    try:
        yield
    finally:
        _held -= active
        if before and before > 1:
            set_blas_threads(before)


# A product of at least this many multiply-adds is split in two on the pool while OpenBLAS is
# held to one thread (a CNN's Dense layers: 50 x 1568 x 120 = 9.4M); smaller ones are not worth
# a hand-off.
SPLIT_MIN_MACS = 1 << 20
# hat's own GEMM (hat/kernels/sgemm.py) is split from this many: a hand-off to the pool costs
# about 30 us, and 500 x 500 @ 500 x 10 (2.5M) took 40 us on one thread, 62-89 in two halves.
OWN_SPLIT_MIN_MACS = 1 << 23


def matmul(a, b, out, rows_done=None):
    """out = a @ b (2-D). Large float32 products run on hat's own GEMM (hat/kernels/sgemm.py,
    one thread a call) as two halves of out (split along its longer side) on the pool; so do
    other large products inside a pool model's passes, where OpenBLAS runs on one thread;
    outside them, one numpy call that OpenBLAS threads itself. Each half is an ordinary product
    of the same rows and columns, and the split depends on the shapes only.

    rows_done(r0, r1), if given, runs on rows r0:r1 of out once they are complete: on the
    thread that computed them when the split is by rows (the rows are still in its cache: a
    Dense layer's bias and activation), else once on all rows after the product."""
    pieces, split_rows, _ = _product_pieces(a, b, out)
    if len(pieces) == 1:
        pieces[0]()
        if rows_done is not None:
            rows_done(0, a.shape[0])
        return out
    if split_rows:
        bounds = [(0, a.shape[0] // 2), (a.shape[0] // 2, a.shape[0])]

        def half(i):
            pieces[i]()
            if rows_done is not None:
                rows_done(*bounds[i])

        parallel_for(half, 2)
        return out
    parallel_for(lambda i: pieces[i](), 2)
    if rows_done is not None:
        rows_done(0, a.shape[0])
    return out


def matmul_many(products, extras=()) -> None:
    """Independent products (a, b, out), each as matmul() computes it (the same halves, so the
    same bits), and callables, in one hand-off to the pool: the pieces go to whichever thread
    is free. A hand-off costs 30-70 us on this project's machine (each passes the GIL twice),
    so a layer with several weight gradients to compute pays it once.

    Args:
        products (list[tuple]): (a, b, out) triples, out = a @ b, writing disjoint outputs.
        extras (list[callable]): Default (). Tasks of their own, disjoint from the products.
    """
    tasks, split, copied = [], False, False
    for a, b, out in products:
        # the first strided b copied into this thread's buffer, any later one into its own
        pieces, _, b_copied = _product_pieces(a, b, out, private_copy=copied)
        tasks += pieces
        split, copied = split or len(pieces) > 1, copied or b_copied
    tasks += list(extras)
    if not (_held or split):
        for task in tasks:  # outside a pool model's passes: OpenBLAS threads each product
            task()
        return
    parallel_for(lambda i: tasks[i](), len(tasks))


def _product_pieces(a, b, out, private_copy: bool = False) -> tuple[list, bool, bool]:
    """(the callables that compute out = a @ b, whether they are row halves, whether b was
    copied into this thread's buffer): one call, or two halves of out along its longer side
    (see matmul)."""
    from hat.kernels import sgemm

    (m, k), n = a.shape, b.shape[1]
    own = sgemm.available() and a.dtype == np.float32
    product = sgemm.matmul if own else np.matmul
    given, copied = b, False
    if own:
        b = sgemm.rows_contiguous(a, b, private=private_copy)  # once, not per half
        copied = b is not given and not private_copy
    smallest = OWN_SPLIT_MIN_MACS if own else SPLIT_MIN_MACS
    if not (_held or own) or m * k * n < smallest or max(m, n) < 2:
        return [lambda: product(a, b, out=out)], False, copied
    if m >= n:
        cut = m // 2
        return (
            [
                lambda: product(a[:cut], b, out=out[:cut]),
                lambda: product(a[cut:], b, out=out[cut:]),
            ],
            True,
            copied,
        )
    cut = n // 2
    return (
        [
            lambda: product(a, b[:, :cut], out=out[:, :cut]),
            lambda: product(a, b[:, cut:], out=out[:, cut:]),
        ],
        False,
        copied,
    )


def split_range(n: int, parts: int) -> list[tuple[int, int]]:
    """Near-equal pieces of range(n).

    Args:
        n (int): the length to split.
        parts (int): how many pieces (empty ones are left out).

    Returns:
        list[tuple[int, int]]: (start, stop) of each piece, in order.
    """
    cuts = [n * k // parts for k in range(parts + 1)]
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def pool_active() -> bool:
    """Whether a pool model's passes are running (OpenBLAS held to one thread)."""
    return _held > 0


def uses_pool(layers) -> bool:
    """Whether any of these layers runs its work on the pool (and wants BLAS on one thread)."""
    return any(getattr(layer, "uses_thread_pool", False) for layer in layers)


def chunks_of(n: int, item_bytes: int, limit: int) -> list[tuple[int, int]]:
    """(start, stop) of n items in near-equal chunks of at most `limit` bytes (at least one
    item each), their count rounded up to a multiple of 4 while there are items enough, so
    that 1, 2 or 4 threads get equal shares (9 chunks on 2 threads left one idle for a ninth
    of the work). The split depends on the shapes only, never on the thread count: layers
    that sum per-chunk partial results get the same bits on any pool."""
    count = -(-n * item_bytes // limit) if n else 0
    count = min(n, max(count, -(-count // 4) * 4))
    cuts = [n * k // count for k in range(count + 1)] if count else [0, 0]
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


def parallel_for(task, n_tasks: int) -> None:
    """task(i) for i in range(n_tasks), on the pool, OpenBLAS on one thread meanwhile. Tasks
    must write disjoint outputs; their order of execution must not change any result.

    The calling thread works too, and each worker pulls the next index from a shared counter
    until none is left: one hand-off per worker instead of one future per task (17 futures
    cost 0.34 ms a call, a quarter of a conv layer's forward), and a core slowed by another
    process simply takes fewer tasks."""
    n_threads = num_threads()
    workers = min(n_threads, n_tasks)
    if workers <= 1:
        for i in range(n_tasks):
            task(i)
        return
    global _pool
    with _lock:
        if _pool is None or _pool.size != n_threads - 1:
            if _pool is not None:
                _pool.stop()
            _pool = _Pool(n_threads - 1)  # the helpers; the calling thread is the last worker
        with single_threaded_blas():
            _pool.run(task, n_tasks)


# How many times (about 40 ns each) a helper reads the job counter after its job, outside the
# GIL, before it blocks; the caller reads the helpers' counters as long for their ends.
# HAT_POOL_SPIN=0 makes both block at once. An empty parallel_for on this project's 2-vCPU
# machine: 33-79 us with blocking helpers (each wakes from sleep), see docs/performance-keras.md.
SPIN_PAUSES = 10000


def _spin_pauses() -> int:
    import numba

    if numba.config.DISABLE_JIT:  # a Python loop would hold the GIL it waits on
        return 0
    return max(0, int(os.environ.get("HAT_POOL_SPIN", SPIN_PAUSES)))


class _Job:
    def __init__(self, task, n_tasks):
        self.task, self.n_tasks = task, n_tasks
        self.indices = itertools.count()  # next() on it is atomic under the GIL
        self.error: BaseException | None = None

    def drain(self) -> None:
        try:
            for i in self.indices:
                if i >= self.n_tasks:
                    return
                self.task(i)
        except BaseException as error:  # noqa: BLE001 (re-raised by the calling thread)
            if self.error is None:
                self.error = error


class _Pool:
    """Helper threads that wait for jobs on a counter: `generation[0]` counts the jobs given,
    `done[k]` the last one helper k finished. A helper spins a short while outside the GIL
    (hat.kernels.spin) before it blocks on the condition; the caller waits for the helpers'
    ends the same way. Daemon threads: an idle pool never keeps the process alive."""

    def __init__(self, size: int):
        from hat.kernels import spin

        self.size, self.pauses, self.spin = size, 0, spin
        self.enable_spin()
        self.generation = np.zeros(1, np.int64)
        self.done = np.zeros(size, np.int64)
        self.cond = threading.Condition()
        self.job: _Job | None = None
        self.stopped = False
        for k in range(size):
            threading.Thread(target=self._helper, args=(k,), name=f"hat-{k}", daemon=True).start()

    def _helper(self, k: int) -> None:
        seen = 0
        while True:
            if not self.pauses or not self.spin.wait_while(self.generation, 0, seen, self.pauses):
                with self.cond:
                    while int(self.generation[0]) == seen:
                        self.cond.wait()
            seen = int(self.generation[0])
            if self.stopped:
                return
            job = self.job
            try:
                job.drain()
            finally:
                self.done[k] = seen
                with self.cond:
                    self.cond.notify_all()

    def run(self, task, n_tasks: int) -> None:
        job = self.job = _Job(task, n_tasks)
        generation = int(self.generation[0]) + 1
        self.generation[0] = generation
        with self.cond:
            self.cond.notify_all()
        job.drain()
        # never return (or raise) while a helper may still write a buffer
        for k in range(self.size):
            if self.pauses and self.spin.wait_until(self.done, k, generation, self.pauses):
                continue
            with self.cond:
                while int(self.done[k]) != generation:
                    self.cond.wait()
        self.job = None
        if job.error is not None:
            raise job.error

    def enable_spin(self) -> None:
        """Spin from now on, if the spin loops are compiled or cached (else leave it off)."""
        pauses = _spin_pauses()
        if pauses and not self.pauses and self.spin.ready():
            self.spin.warm()
            self.pauses = pauses

    def stop(self) -> None:
        """Let the helpers end (a pool of another size replaces this one)."""
        self.stopped = True
        self.generation[0] += 1
        with self.cond:
            self.cond.notify_all()


def enable_spin() -> None:
    """Let the pool's threads spin between jobs once the spin loops are in numba's cache (a
    model calls this after its first training step, by when a cold start has compiled them
    ahead)."""
    if _pool is not None:
        _pool.enable_spin()


def _forget_pool_after_fork() -> None:
    global _pool, _lock
    _pool, _lock = None, threading.Lock()  # the helpers did not come along


os.register_at_fork(after_in_child=_forget_pool_after_fork)
