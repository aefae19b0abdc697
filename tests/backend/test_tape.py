"""The tape's contract: what gradient returns, dtypes, accumulation, what it skips, and the
errors of a symbolic value used as a concrete one."""

import gc
import weakref

import numpy as np
import pytest

import hat.backend as K
from hat.backend import tape as T


def _x(shape=(3, 4), dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_scalar_out_seeds_one_and_gradients_are_fresh_arrays_of_the_variable():
    x, y = _x(), _x(seed=1)
    with T.Tape() as t:
        vx, vy = t.watch(x), t.watch(y)
        out = K.sum(vx + vy)
    gx, gy = t.gradient(out, [vx, vy])
    np.testing.assert_array_equal(gx, np.ones_like(x))
    np.testing.assert_array_equal(gy, np.ones_like(y))
    assert gx is not gy and gx.flags.writeable and gx.flags.c_contiguous
    gx[0, 0] = 5.0  # x + y passes one gradient to both: each caller gets its own array
    assert gy[0, 0] == 1.0


def test_the_identity_hands_back_a_copy_of_the_seed():
    x, seed = _x(), _x(seed=2)
    with T.Tape() as t:
        v = t.watch(x)
    (g,) = t.gradient(v, [v], seed=seed)
    np.testing.assert_array_equal(g, seed)
    assert g is not seed


def test_gradients_accumulate_over_every_use():
    x = _x()
    with T.Tape() as t:
        v = t.watch(x)
        out = K.sum(v * v + 3 * v + v[0])  # v[0] broadcast over the rows
    (g,) = t.gradient(out, [v])
    expected = 2 * x + 3
    expected[0] += x.shape[0]
    np.testing.assert_allclose(g, expected)


def test_unused_variables_and_plain_outputs_have_zero_gradients():
    x, y = _x(), _x((2,), np.float32)
    with T.Tape() as t:
        vx, vy = t.watch(x), t.watch(y)
        out = K.mean(vx)
    gx, gy = t.gradient(out, [vx, vy])
    assert gy.dtype == np.float32 and gy.shape == (2,) and not gy.any()
    for plain in (0.0, np.ones(3), K.zeros_like(vx)):
        with T.Tape() as t:
            v = t.watch(x)
        (g,) = t.gradient(plain, [v])
        assert g.shape == x.shape and not g.any()


def test_comparisons_are_constant_variables_without_gradient():
    x = _x()
    with T.Tape() as t:
        v = t.watch(x)
        mask = v > 0
        out = K.sum(mask * v)
    assert T.is_symbolic(mask) and mask.dtype == np.float64
    np.testing.assert_array_equal(mask.value, (x > 0).astype(float))
    (g,) = t.gradient(out, [v])
    np.testing.assert_array_equal(g, (x > 0).astype(float))
    with T.Tape() as t:
        v = t.watch(x)
        only_mask = K.sum(K.eq(v, v))
    np.testing.assert_array_equal(t.gradient(only_mask, [v])[0], np.zeros_like(x))


def test_float32_stays_float32_even_against_float64_constants():
    x = _x((4, 5), np.float32)
    with T.Tape() as t:
        v = t.watch(x)
        same = v * 2.0 + 1  # Python numbers do not promote
        mixed = 0.05 * np.ones(5) - v  # a float64 array does, as in numpy
        out = K.sum(same) + K.sum(mixed)
    assert same.dtype == np.float32 and mixed.dtype == np.float64
    (g,) = t.gradient(out, [v])
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, np.ones_like(x))


def test_reflected_operators_with_arrays_give_variables():
    x = _x((5,))
    with T.Tape() as t:
        v = t.watch(x)
        results = [np.ones(5) + v, 0.05 * np.ones(5) - v, np.ones(5) * v, np.ones(5) / (v * v + 1)]
        results += [np.float64(2) ** v, np.ones((2, 5)) @ v, 1 - v, np.ones(5) > v]
    assert all(T.is_symbolic(r) for r in results)
    np.testing.assert_allclose(results[1].value, 0.05 - x)
    np.testing.assert_allclose(results[5].value, np.ones((2, 5)) @ x)


def test_intermediate_variables_can_be_differentiated_too():
    x = _x()
    with T.Tape() as t:
        v = t.watch(x)
        h = K.exp(v)
        out = K.sum(h * 2)
    gv, gh = t.gradient(out, [v, h])
    np.testing.assert_allclose(gh, 2 * np.ones_like(x))
    np.testing.assert_allclose(gv, 2 * np.exp(x))


def test_backward_runs_only_the_ops_that_lead_to_out():
    calls = []

    def spy(name):
        def vjp(g):
            calls.append(name)
            return g

        return vjp

    with T.Tape() as t:
        v = t.watch(_x())
        side = T.record("side", v.value * 1, [(v, spy("side"))])  # recorded before out
        out = T.record("main", v.value * 1, [(v, spy("main"))])
        T.record("after", v.value * 1, [(v, spy("after"))])  # recorded after out
    t.gradient(out, [v], seed=np.ones((3, 4)))
    assert calls == ["main"] and T.is_symbolic(side)


def test_plain_inputs_record_nothing():
    x = _x()
    y = K.mean(K.exp(x) * 2, axis=0)
    assert isinstance(y, np.ndarray) and not T.is_symbolic(y)
    assert T.record("op", x, [(x, lambda g: g)]) is x
    assert T.value(x) is x


def test_seed_shape_is_checked_and_needed_for_non_scalars():
    x = _x()
    with T.Tape() as t:
        v = t.watch(x)
        out = v * 2
    with pytest.raises(ValueError, match="give seed="):
        t.gradient(out, [v])
    with T.Tape() as t:
        v = t.watch(x)
        out = v * 2
    with pytest.raises(ValueError, match=r"seed of shape \(5,\) does not fit out of shape"):
        t.gradient(out, [v], seed=np.ones(5))
    with T.Tape() as t:
        v = t.watch(x)
        out = v * 2
    (g,) = t.gradient(out, [v], seed=np.ones(4))  # broadcastable: one seed per column
    np.testing.assert_array_equal(g, 2 * np.ones_like(x))


def test_a_tape_answers_once_and_then_records_nothing():
    x = _x()
    with T.Tape() as t:
        v = t.watch(x)
        out = K.sum(v)
    t.gradient(out, [v])
    with pytest.raises(RuntimeError, match="already answered"):
        t.gradient(out, [v])
    with pytest.raises(RuntimeError, match="already answered"):
        v * 2
    with pytest.raises(RuntimeError, match="already answered"):
        t.watch(x)


def test_variables_of_two_tapes_do_not_mix():
    with T.Tape() as t1, T.Tape() as t2:
        a, b = t1.watch(_x()), t2.watch(_x())
        with pytest.raises(ValueError, match="different tapes"):
            a + b
        with pytest.raises(TypeError, match="Variables of this tape"):
            t1.gradient(K.sum(a), [b])
        with pytest.raises(TypeError, match="another tape"):
            t1.gradient(K.sum(b), [a])
    with T.Tape() as t:
        with pytest.raises(TypeError, match="Variables of this tape"):
            t.gradient(0.0, [np.ones(3)])


@pytest.mark.parametrize("bad", [np.arange(3), [1.0, 2.0], "abc", None])
def test_watch_takes_floating_point_arrays_only(bad):
    with T.Tape() as t:
        with pytest.raises(TypeError, match="watch expects a floating-point numpy array"):
            t.watch(bad)
        v = t.watch(np.ones(2))
        with pytest.raises(TypeError, match="already symbolic"):
            t.watch(v)


@pytest.mark.parametrize(
    "use",
    [bool, float, int, np.asarray, lambda v: [1, 2, 3][v], lambda v: 1 if v > 0 else 0],
    ids=["bool", "float", "int", "asarray", "index", "if"],
)
def test_a_variable_used_as_a_concrete_value_says_it_is_symbolic(use):
    with T.Tape() as t:
        v = t.watch(np.ones(()))
        with pytest.raises(TypeError, match="symbolic value .inside a Lambda or a loss"):
            use(v)


def test_variable_is_array_like():
    x = _x((3, 4, 2))
    with T.Tape() as t:
        v = t.watch(x)
        assert (v.shape, v.ndim, v.dtype, v.size, len(v)) == (x.shape, 3, x.dtype, 24, 3)
        assert v.T.shape == (2, 4, 3) and v.transpose(1, 0, 2).shape == (4, 3, 2)
        assert [row.shape for row in v] == [(4, 2)] * 3
        assert repr(v[0]) == "Variable(shape=(4, 2), dtype=float64, op=getitem)"
        assert v.astype("float32").dtype == np.float32 and v.flatten().shape == (24,)
        assert abs(v).value.min() >= 0 and (+v) is v
        with pytest.raises(TypeError, match="immutable"):
            v[0] = 1.0
        with pytest.raises(TypeError, match="unhashable"):
            hash(v)
        with pytest.raises(TypeError, match="len"):
            len(K.sum(v))


def test_numpy_functions_that_call_methods_work_on_variables():
    x = _x((2, 3, 4))
    with T.Tape() as t:
        v = t.watch(x)
        results = [np.sum(v), np.mean(v, axis=(1, 2)), np.max(v, axis=0), np.min(v)]
        results += [np.reshape(v, (6, 4)), np.transpose(v, (2, 0, 1)), np.sum(v, dtype="float32")]
        with pytest.raises(TypeError, match="does not support ufuncs"):
            np.exp(v)
        with pytest.raises(TypeError, match="out= is not supported"):
            np.sum(v, out=np.zeros(()))
    assert all(T.is_symbolic(r) for r in results)
    np.testing.assert_allclose(results[1].value, x.mean(axis=(1, 2)))
    assert results[5].shape == (4, 2, 3) and results[6].dtype == np.float32
    (g,) = t.gradient(results[1], [v], seed=np.ones(2))
    np.testing.assert_allclose(g, np.full(x.shape, 1 / 12))


def test_a_constant_variable_asked_for_has_a_zero_gradient():
    x = _x()
    with T.Tape() as t:
        v = t.watch(x)
        mask = K.gt(v, 0)  # symbolic, but with no path back to v
        out = K.sum(v * 3)
    g_mask, g_v = t.gradient(out, [mask, v])
    assert not g_mask.any() and np.all(g_v == 3)


def test_a_tape_is_freed_without_the_cycle_collector():
    from tests.backend.test_gradients import CASES, _inputs

    gc.disable()  # reference counting alone must free it: the VJPs hold arrays, no Variables
    try:
        for case_id, fn, _, specs in CASES:
            with T.Tape() as t:
                out = fn(*[t.watch(a) for a in _inputs(specs, seed=0)])
            freed = weakref.ref(t)
            del t, out
            assert freed() is None, case_id
    finally:
        gc.enable()
