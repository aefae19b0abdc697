"""hat.kernels.recurrent: one step of each cell, forward and back, against numpy formulas."""

import numpy as np
import pytest

from hat.kernels import recurrent as K


def _sigmoid(v):
    return 1 / (1 + np.exp(-v))


@pytest.fixture
def step():
    """A batch of 3 at step s=1 of T=3, n=2 units; row 1 is masked."""
    rng = np.random.default_rng(0)
    mask = np.ones((3, 3))
    mask[1, 1] = 0
    return rng, mask


def _arrays(rng, g, n=2):
    xp = rng.standard_normal((3, 3, g * n))
    hp = rng.standard_normal((3, g * n))
    hprev = rng.standard_normal((3, 3, n))
    return xp, hp, hprev, np.zeros((3, n)), np.zeros((3, 3, n))


def test_lstm_step(step):
    rng, mask = step
    xp, hp, hprev, hlast, y = _arrays(rng, 4)
    cprev, clast, tc = rng.standard_normal((3, 3, 2)), np.zeros((3, 2)), np.zeros((3, 3, 2))
    a = xp[:, 1] + hp
    c_old, h_old = cprev[:, 1].copy(), hprev[:, 1].copy()
    K.lstm_forward(
        xp,
        hp,
        1,
        2,
        1,
        0,
        mask[:, 1],
        hprev,
        hlast,
        cprev,
        clast,
        tc,
        y,
        True,
        K.SIGMOID,
        K.TANH,
        0.0,
    )
    i, f, g, o = _sigmoid(a[:, :2]), _sigmoid(a[:, 2:4]), np.tanh(a[:, 4:6]), _sigmoid(a[:, 6:])
    c = f * c_old + i * g
    h = o * np.tanh(c)
    real = [0, 2]
    np.testing.assert_allclose(cprev[real, 2], c[real], rtol=1e-12)
    np.testing.assert_allclose(y[real, 1], h[real], rtol=1e-12)
    np.testing.assert_array_equal(hprev[1, 2], h_old[1])  # masked: state carried
    np.testing.assert_array_equal(y[1, 1], 0)

    dh, dc, rec = rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), np.zeros((3, 2))
    dy = rng.standard_normal((3, 3, 2))
    g_h, dc_in, carry = dh + dy[:, 1], dc.copy(), dh[1].copy()
    K.lstm_backward(
        xp,
        rec,
        dh,
        dc,
        np.zeros((3, 8)),
        1,
        1,
        0,
        mask,
        cprev,
        tc,
        dy,
        True,
        K.SIGMOID,
        K.TANH,
        0.0,
    )
    t = np.tanh(c)
    d = dc_in + g_h * o * (1 - t**2)
    expected = np.concatenate(
        [d * g * i * (1 - i), d * c_old * f * (1 - f), d * i * (1 - g**2), g_h * t * o * (1 - o)],
        axis=1,
    )
    np.testing.assert_allclose(xp[real, 1], expected[real], rtol=1e-12)
    np.testing.assert_allclose(dc[real], (d * f)[real], rtol=1e-12)
    np.testing.assert_array_equal(dh[1], carry)  # masked: the gradient passes through
    np.testing.assert_array_equal(xp[1, 1], 0)


def test_gru_step(step):
    rng, mask = step
    xp, hp, hprev, hlast, y = _arrays(rng, 3)
    bH, hn = rng.standard_normal(6), np.zeros((3, 3, 2))
    a, h_old = xp[:, 1].copy(), hprev[:, 1].copy()
    K.gru_forward(
        xp, hp, bH, 1, -1, 1, 0, mask[:, 1], hprev, hlast, hn, y, True, K.SIGMOID, K.TANH, 0
    )
    q = hp + bH
    r, z = _sigmoid(a[:, :2] + q[:, :2]), _sigmoid(a[:, 2:4] + q[:, 2:4])
    m = np.tanh(a[:, 4:] + r * q[:, 4:])
    h = (1 - z) * m + z * h_old
    np.testing.assert_allclose(hlast[[0, 2]], h[[0, 2]], rtol=1e-12)
    np.testing.assert_array_equal(hlast[1], h_old[1])


def test_simple_step_with_relu(step):
    rng, mask = step
    xp, hp, hprev, hlast, y = _arrays(rng, 1)
    a = xp[:, 1] + hp
    K.simple_forward(xp, hp, 1, 0, 1, 0, mask[:, 1], hprev, hlast, y, True, K.RELU, 0.0)
    np.testing.assert_allclose(hprev[[0, 2], 0], np.maximum(a, 0)[[0, 2]], rtol=1e-12)
    dh, rec, dy = np.ones((3, 2)), np.zeros((3, 2)), np.ones((3, 3, 2))
    K.simple_backward(xp, rec, dh, 1, 1, 0, mask, dy, True, K.RELU, 0.0)
    np.testing.assert_allclose(xp[[0, 2], 1], (2.0 * (a > 0))[[0, 2]])


def test_float32_stays_float32(step):
    rng, mask = step
    xp, hp, hprev, hlast, y = (v.astype(np.float32) for v in _arrays(rng, 1))
    K.simple_forward(
        xp, hp, 1, 0, 1, 0, mask[:, 1].astype(np.float32), hprev, hlast, y, True, K.TANH, 0.0
    )
    assert xp.dtype == np.float32 and np.isfinite(xp).all()


def test_float32_tanh_and_sigmoid_are_within_1e_6():
    v = np.linspace(-12, 12, 20001).astype(np.float32)
    t, sg = v.copy(), v.copy()
    K.activate(t, K.TANH, 0.0)
    K.activate(sg, K.SIGMOID, 0.0)
    exact = v.astype(np.float64)
    np.testing.assert_allclose(t, np.tanh(exact), rtol=0, atol=1e-6)
    np.testing.assert_allclose(sg, 1 / (1 + np.exp(-exact)), rtol=0, atol=1e-6)
    assert t.max() <= 1 and t.min() >= -1
