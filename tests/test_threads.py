"""hat.threads: the pool, OpenBLAS's thread count, and results that do not depend on either."""

import contextlib
import os
import threading

import numpy as np
import pytest

from hat import threads
from hat.kernels import sgemm
from hat.layers.conv import Conv2D
from hat.layers.pooling import MaxPool2D


@pytest.fixture(params=["spin", "block"])
def pool_mode(request, monkeypatch):
    """The pool with helpers that spin between jobs, and with helpers that block at once."""
    monkeypatch.setenv("HAT_NUM_THREADS", "3")  # two helpers
    monkeypatch.setenv("HAT_POOL_SPIN", "0" if request.param == "block" else "2000")
    threads.parallel_for(lambda i: None, 3)  # a pool of that size, made in that mode
    if request.param == "spin":
        threads.enable_spin()
    return request.param


def test_parallel_for_runs_every_task_once(pool_mode):
    for n_tasks in (1, 2, 37, 500):
        seen = np.zeros(n_tasks, int)

        def task(i, seen=seen):
            seen[i] += 1

        threads.parallel_for(task, n_tasks)
        assert (seen == 1).all()


def test_parallel_for_raises_a_tasks_error(pool_mode):
    def task(i):
        if i == 3:
            raise ValueError("task 3")

    with pytest.raises(ValueError, match="task 3"):
        threads.parallel_for(task, 5)
    seen = []
    threads.parallel_for(lambda i: seen.append(i), 4)  # the pool still works after it
    assert sorted(seen) == [0, 1, 2, 3]


def test_the_helpers_really_share_the_work(pool_mode):
    """Each task waits until three run at once: only a pool of three workers gets through."""
    barrier = threading.Barrier(3, timeout=10)
    names = set()

    def task(i):
        names.add(threading.current_thread().name)
        barrier.wait()

    threads.parallel_for(task, 3)
    assert len(names) == 3


def test_a_pool_of_another_size_replaces_the_old_one(monkeypatch):
    for n in (2, 4, 2):
        monkeypatch.setenv("HAT_NUM_THREADS", str(n))
        out = np.zeros(50)

        def task(i, out=out):
            out[i] = i

        threads.parallel_for(task, 50)
        assert threads._pool.size == n - 1
        np.testing.assert_array_equal(out, np.arange(50))


@pytest.mark.jit
def test_the_spin_loops_see_a_change_and_give_up_otherwise():
    from hat.kernels import spin

    flags = np.array([5, 7], np.int64)
    assert spin.wait_while(flags, 0, 4, 10) and not spin.wait_while(flags, 0, 5, 1000)
    assert spin.wait_until(flags, 1, 7, 10) and not spin.wait_until(flags, 1, 8, 1000)
    assert spin.ready()


@pytest.mark.jit
def test_a_training_step_lets_the_pool_spin(monkeypatch):
    from hat.kernels import spin
    from hat.layers.core import Dense, InputLayer
    from hat.models import Sequential
    from hat.optimizers import Adam

    spin.warm()  # compiled (a cold start compiles them ahead, in the helper process)
    monkeypatch.setenv("HAT_NUM_THREADS", "2")
    monkeypatch.delenv("HAT_POOL_SPIN", raising=False)
    monkeypatch.setattr(threads, "_pool", None)
    model = Sequential([InputLayer(4), Dense(3, act="softmax")]).combine(seed=0)
    x, y = np.ones((6, 4), np.float32), np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    threads.parallel_for(lambda i: None, 2)
    model.train_on_batch(x, y, "categorical_crossentropy", Adam(1e-3))
    assert threads._pool.pauses == threads.SPIN_PAUSES


def test_single_threaded_blas_restores_the_count():
    before = threads.blas_threads()
    if before is None:
        if os.environ.get("CI"):  # CI's numpy wheel brings OpenBLAS: its absence is a fault
            pytest.fail("numpy's BLAS is not OpenBLAS, so hat cannot hold it to one thread")
        pytest.skip("numpy's BLAS is not OpenBLAS")
    threads.set_blas_threads(2)
    try:
        with threads.single_threaded_blas():
            assert threads.blas_threads() == 1
        assert threads.blas_threads() == 2
        with threads.single_threaded_blas(active=False):
            assert threads.blas_threads() == 2
    finally:
        threads.set_blas_threads(before)


def _conv_step(monkeypatch, n_threads, chunk_bytes=100_000):
    monkeypatch.setenv("HAT_NUM_THREADS", str(n_threads))
    monkeypatch.setattr("hat.layers.conv.CHUNK_BYTES", chunk_bytes)  # 37 samples: 7 chunks
    rng = np.random.default_rng(0)
    conv, pool = Conv2D(8, 3, 3, act="relu", border_mode=(1, 1)), MaxPool2D()
    pool.setup(conv.setup((3, 12, 12), rng), rng)
    x = rng.standard_normal((37, 3, 12, 12)).astype(np.float32)
    y = pool.forward(conv.forward(x, True), True)
    dx = conv.backward(pool.backward(np.ones_like(y)))
    return [a.copy() for a in (y, dx, conv.grads["W"], conv.grads["b"])]


def test_conv_results_do_not_depend_on_the_thread_count(monkeypatch):
    one = _conv_step(monkeypatch, 1)
    two = _conv_step(monkeypatch, 2)
    for a, b in zip(one, two, strict=True):
        assert np.array_equal(a, b)


def test_conv_in_chunks_matches_one_chunk(monkeypatch):
    chunked = _conv_step(monkeypatch, 2)
    whole = _conv_step(monkeypatch, 2, chunk_bytes=1 << 30)
    for a, b in zip(chunked, whole, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "n, item_bytes, limit, sizes",
    [
        (50, 339 << 10, 4 << 20, [6, 6, 6, 7, 6, 6, 6, 7]),  # 5 by the limit, rounded up to 8
        (64, 124 << 10, 4 << 20, [16, 16, 16, 16]),
        (3, 1, 100, [1, 1, 1]),  # fewer items than 4: one each
        (10, 1, 100, [2, 3, 2, 3]),  # one chunk would do: four, for the threads
        (0, 5, 10, []),
    ],
)
def test_chunks_of_splits_evenly_in_multiples_of_four(n, item_bytes, limit, sizes):
    chunks = threads.chunks_of(n, item_bytes, limit)
    assert [b - a for a, b in chunks] == sizes
    assert all(b == c for (_, b), (c, _) in zip(chunks, chunks[1:], strict=False))
    assert not chunks or (chunks[0][0], chunks[-1][1]) == (0, n)


SHAPES = [(50, 1568, 120), (1568, 50, 120), (50, 120, 1568), (3, 5, 7)]  # (m, k, n)


@pytest.mark.parametrize("m, k, n", SHAPES)
def test_matmul_matches_numpy_outside_and_inside_a_pool_models_pass(monkeypatch, m, k, n):
    calls = []
    real = threads.parallel_for
    monkeypatch.setattr(threads, "parallel_for", lambda task, n: calls.append(n) or real(task, n))
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    own = sgemm.available()  # hat's own float32 GEMM: every row and column the same bits
    one_call = sgemm.matmul(a, b, np.empty((m, n), np.float32)) if own else a @ b
    calls.clear()
    plain, out = np.empty((m, n), np.float32), np.full((m, n), np.nan, np.float32)
    assert np.array_equal(threads.matmul(a, b, plain), one_call), "outside: one call's bits"
    with threads.single_threaded_blas():
        result = threads.matmul(a, b, out)
    assert result is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-4)  # the halves' own rounding
    if own:
        assert np.array_equal(out, one_call), "sgemm's halves have one call's bits"
    split = m * k * n >= (threads.OWN_SPLIT_MIN_MACS if own else threads.SPLIT_MIN_MACS)
    # numpy's products split inside a pool model's passes only, where OpenBLAS is held to one
    # thread; sgemm runs on one thread a call, so it splits outside them too.
    assert calls == ([2, 2] if split and own else [2] if split else []), "large in two halves"


@pytest.mark.parametrize("m, k, n", SHAPES)
def test_matmul_bits_do_not_depend_on_the_thread_count(monkeypatch, m, k, n):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((k, m)).astype(np.float32).T  # a transposed view, as Dense's dW
    b = rng.standard_normal((k, n)).astype(np.float32)
    results = []
    for n_threads in (1, 2):
        monkeypatch.setenv("HAT_NUM_THREADS", str(n_threads))
        out = np.empty((m, n), np.float32)
        with threads.single_threaded_blas():
            results.append(threads.matmul(a, b, out))
    assert np.array_equal(results[0], results[1])


@pytest.mark.parametrize("held", [True, False])
def test_matmul_many_gives_each_products_bits_and_runs_the_extras(held):
    """Several products in one hand-off, two of them with a strided b (each copied: the
    second into its own array, not over the first's copy in the thread's buffer), plus an
    extra task: each out as matmul() alone gives it."""
    rng = np.random.default_rng(5)
    a1 = rng.standard_normal((300, 200)).astype(np.float32)
    a2 = rng.standard_normal((300, 150)).astype(np.float32)
    b1 = np.ascontiguousarray(rng.standard_normal((120, 200)).astype(np.float32)).T
    b2 = np.ascontiguousarray(rng.standard_normal((90, 150)).astype(np.float32)).T
    a3 = rng.standard_normal((64, 3000)).astype(np.float32).T  # a transposed a, as dH's
    b3 = rng.standard_normal((64, 256)).astype(np.float32)
    products = [(a1, b1), (a2, b2), (a3, b3)]
    got = [np.empty((a.shape[0], b.shape[1]), np.float32) for a, b in products]
    seen = []
    with contextlib.ExitStack() as stack:
        if held:
            stack.enter_context(threads.single_threaded_blas())
        threads.matmul_many(
            [(a, b, out) for (a, b), out in zip(products, got, strict=True)],
            [lambda: seen.append(1)],
        )
        for (a, b), out in zip(products, got, strict=True):
            alone = np.empty_like(out)
            threads.matmul(a, b, alone)
            np.testing.assert_array_equal(out, alone)
            np.testing.assert_allclose(out, a @ b, rtol=1e-4, atol=1e-3)
    assert seen == [1]


@pytest.mark.parametrize("m, k, n", SHAPES)
def test_matmul_of_a_transposed_b_has_the_bits_of_its_contiguous_copy(m, k, n):
    """Dense's input gradient, dz @ W.T: b copied once for hat's GEMM where that pays
    (sgemm.rows_contiguous), so the same bits as on a contiguous b, halves and all."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    bt = np.ascontiguousarray(b.T).T
    got, expected = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
    with threads.single_threaded_blas():
        threads.matmul(a, bt, got)
        threads.matmul(a, b, expected)
    if sgemm.available() and m >= sgemm.COPY_MIN_ROWS and k >= sgemm.MIN_K:
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, a @ b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("m, k, n", SHAPES)
def test_matmul_rows_done_sees_every_row_once_after_its_product(m, k, n):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    for inside in (False, True):
        out, seen = np.empty((m, n), np.float32), np.zeros(m, int)

        def done(r0, r1, out=out, seen=seen):
            seen[r0:r1] += 1
            out[r0:r1] *= 2  # runs on finished rows only: the product is not written after

        with threads.single_threaded_blas(inside):
            expected = threads.matmul(a, b, np.empty((m, n), np.float32)) * 2
            threads.matmul(a, b, out, done)
        assert (seen == 1).all()
        assert np.array_equal(out, expected)


def _mlp(seed=3):
    from hat.layers.core import Dense, Dropout, InputLayer
    from hat.models import Sequential

    seq = Sequential()
    for layer in (InputLayer(300), Dense(400, act="relu"), Dropout(0.3), Dense(4, act="softmax")):
        seq.add(layer)
    return seq.combine(seed=seed)


def test_dense_and_dropout_on_the_pool_give_the_bits_of_one_pass(monkeypatch):
    """Dense's bias and activation per half and Dropout's mask in parts (a 400 x 400 batch
    is above POOL_MIN_ELEMENTS) give the bits of a pool of one thread, which runs each pass
    whole."""
    from hat.optimizers import Adam

    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 300)).astype(np.float32)
    y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 400)]
    results = []
    for n_threads in (1, 2):
        monkeypatch.setenv("HAT_NUM_THREADS", str(n_threads))
        model = _mlp()
        for _ in range(2):
            model.train_on_batch(x, y, "categorical_crossentropy", Adam(1e-2))
        results.append([model.predict(x), *model.get_weights()])
    for one, two in zip(*results, strict=True):
        assert np.array_equal(one, two)
