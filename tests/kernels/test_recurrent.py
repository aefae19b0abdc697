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


def _lstm_step_both_ways(dtype, s_next, seq, gate=K.SIGMOID):
    """One LSTM step forward and back on 4 rows x 20 units (row 1 masked), in dtype."""
    rng = np.random.default_rng(3)
    n, mask = 20, np.ones((4, 3))
    mask[1, 1] = 0
    arrays = {
        "xp": rng.standard_normal((4, 3, 4 * n)),
        "hp": rng.standard_normal((4, 4 * n)),
        "hprev": rng.standard_normal((4, 3, n)),
        "cprev": rng.standard_normal((4, 3, n)),
        "hlast": np.zeros((4, n)),
        "clast": np.zeros((4, n)),
        "tc": np.zeros((4, 3, n)),
        "y": np.full((4, 3, n), 7.0),
        "dh": rng.standard_normal((4, n)),
        "dc": rng.standard_normal((4, n)),
        "rec": rng.standard_normal((4, n)),
        "dy": rng.standard_normal((4, 3, n)),
    }
    a = {key: v.astype(dtype) for key, v in arrays.items()}
    m = mask.astype(dtype)
    K.lstm_forward(
        a["xp"], a["hp"], 1, s_next, 1, 0, m[:, 1], a["hprev"], a["hlast"], a["cprev"],
        a["clast"], a["tc"], a["y"], seq, gate, K.TANH, 0.0,
    )  # fmt: skip
    forward = {key: a[key].copy() for key in ("xp", "hprev", "hlast", "cprev", "clast", "tc", "y")}
    K.lstm_backward(
        a["xp"], a["rec"], a["dh"], a["dc"], np.zeros((4, 4 * n), dtype), 1, 1, 0, m,
        a["cprev"], a["tc"], a["dy"], seq, gate, K.TANH, 0.0,
    )  # fmt: skip
    return forward, {key: a[key] for key in ("xp", "dh", "dc")}


@pytest.mark.parametrize("s_next", [2, -1])
@pytest.mark.parametrize("seq", [True, False])
@pytest.mark.parametrize("gate", [K.SIGMOID, K.HARD_SIGMOID])
def test_lstm_float32_step_matches_float64(s_next, seq, gate):
    """float32 with sigmoid gates and tanh takes the fused one-loop path, float64 (and any
    other activation) the generic per-gate passes: the same step within float32 rounding,
    masked rows (carried state, zero output, gradient passed through) exactly."""
    fwd32, back32 = _lstm_step_both_ways(np.float32, s_next, seq, gate)
    fwd64, back64 = _lstm_step_both_ways(np.float64, s_next, seq, gate)
    for key in fwd32:
        np.testing.assert_allclose(fwd32[key], fwd64[key], rtol=0, atol=3e-6, err_msg=key)
    for key in back32:
        np.testing.assert_allclose(back32[key], back64[key], rtol=0, atol=2e-5, err_msg=key)
    out = fwd32["hprev"][:, 2] if s_next >= 0 else fwd32["hlast"]
    np.testing.assert_array_equal(out[1], fwd32["hprev"][1, 1])  # the masked row carries h
    np.testing.assert_array_equal(fwd32["y"][1, 1], 0 if seq else 7)
    np.testing.assert_array_equal(back32["xp"][1, 1], 0)


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
