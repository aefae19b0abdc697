"""Property-based tests (hypothesis) over layer shapes, strides, paddings and batch sizes.

For Dense, Conv2D, MaxPool2D, AvgPool2D and BatchNorm: forward and backward shapes agree with
output_shape, and the float64 finite-difference check passes. For small random models:
predict in batches equals predict in one batch. Derandomized, so CI sees the same examples.
"""

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hat.layers import AvgPool2D, BatchNorm, Conv2D, Dense, MaxPool2D
from tests.helpers.gradcheck import check_layer_gradients

FAST = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
SMOOTH_ACTS = st.sampled_from(["linear", "tanh", "sigmoid"])  # no kinks for finite differences


def _shapes_agree(layer, input_shape, batch, x=None):
    """Forward and backward in float64 keep the shapes that output_shape promises."""
    rng = np.random.default_rng(0)
    layer.setup(input_shape, rng, np.float64)
    if x is None:
        x = rng.standard_normal((batch,) + tuple(input_shape))
    y = layer.forward(x, training=True)
    assert y.shape == (batch,) + layer.output_shape
    dx = layer.backward(np.ones_like(y))
    assert dx.shape == x.shape
    for key, grad in layer.grads.items():
        assert grad.shape == layer.params[key].shape


@st.composite
def dense_cases(draw):
    return dict(
        n_in=draw(st.integers(1, 6)),
        n_out=draw(st.integers(1, 5)),
        batch=draw(st.integers(1, 4)),
        act=draw(SMOOTH_ACTS),
    )


@FAST
@given(dense_cases())
def test_dense(case):
    layer = lambda: Dense(case["n_out"], act=case["act"])  # noqa: E731
    _shapes_agree(layer(), (case["n_in"],), case["batch"])
    check_layer_gradients(layer(), (case["n_in"],), batch=case["batch"])


@st.composite
def conv_cases(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    mode = draw(
        st.one_of(
            st.sampled_from(["valid", "same", "full"]),
            st.tuples(st.integers(0, 2), st.integers(0, 2)),
        )
    )
    return dict(
        c_in=draw(st.integers(1, 2)),
        h=draw(st.integers(1, 6)),
        w=draw(st.integers(1, 6)),
        kh=kh,
        kw=kw,
        n_out=draw(st.integers(1, 3)),
        strides=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        border_mode=mode,
        batch=draw(st.integers(1, 2)),
        act=draw(SMOOTH_ACTS),
    )


def _conv(case):
    return Conv2D(
        case["n_out"],
        case["kh"],
        case["kw"],
        act=case["act"],
        border_mode=case["border_mode"],
        strides=case["strides"],
    )


@FAST
@given(conv_cases())
def test_conv2d(case):
    input_shape = (case["c_in"], case["h"], case["w"])
    probe = _conv(case)
    try:
        probe.setup(input_shape, np.random.default_rng(0), np.float64)
    except ValueError as err:  # a kernel larger than the padded image is refused, clearly
        assert "larger than its padded input" in str(err)
        assume(False)
    _shapes_agree(_conv(case), input_shape, case["batch"])
    check_layer_gradients(_conv(case), input_shape, batch=case["batch"])


@st.composite
def pool_cases(draw):
    ph, pw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return dict(
        c=draw(st.integers(1, 2)),
        h=draw(st.integers(ph, 6)),
        w=draw(st.integers(pw, 6)),
        pool_size=(ph, pw),
        strides=draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3)))),
        batch=draw(st.integers(1, 3)),
    )


def _distinct(shape, seed=0):
    """Values without ties (spaced 0.1 apart, far beyond the finite-difference step)."""
    size = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(size).reshape(shape) * 0.1 - size * 0.05


@FAST
@given(pool_cases())
def test_maxpool2d(case):
    input_shape = (case["c"], case["h"], case["w"])
    x = _distinct((case["batch"],) + input_shape)
    layer = lambda: MaxPool2D(case["pool_size"], case["strides"])  # noqa: E731
    _shapes_agree(layer(), input_shape, case["batch"], x=x)
    check_layer_gradients(layer(), input_shape, x=x)


@FAST
@given(pool_cases())
def test_avgpool2d(case):
    input_shape = (case["c"], case["h"], case["w"])
    layer = lambda: AvgPool2D(case["pool_size"], case["strides"])  # noqa: E731
    _shapes_agree(layer(), input_shape, case["batch"])
    check_layer_gradients(layer(), input_shape, batch=case["batch"])


@st.composite
def batchnorm_cases(draw):
    images = draw(st.booleans())
    if images:
        shape = (draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    else:
        shape = (draw(st.integers(1, 6)),)
    per_channel = int(np.prod(shape[1:])) if images else 1
    batch = draw(st.integers(2 if per_channel == 1 else 1, 4))
    return dict(shape=shape, batch=batch, momentum=draw(st.sampled_from([0.0, 0.9, 0.99])))


@FAST
@given(batchnorm_cases())
def test_batchnorm(case):
    layer = lambda: BatchNorm(momentum=case["momentum"])  # noqa: E731
    _shapes_agree(layer(), case["shape"], case["batch"])
    check_layer_gradients(layer(), case["shape"], batch=case["batch"], rtol=1e-5, atol=1e-7)


@st.composite
def model_cases(draw):
    return dict(
        images=draw(st.booleans()),
        n=draw(st.integers(1, 30)),
        batch_size=draw(st.integers(1, 35)),
        hidden=draw(st.integers(1, 8)),
        batchnorm=draw(st.booleans()),
        dropout=draw(st.sampled_from([0.0, 0.5])),
        pool=draw(st.sampled_from(["max", "avg"])),
        seed=draw(st.integers(0, 2**16)),
    )


def _model(case):
    from hat.layers import Dropout, Flatten, InputLayer, Pool2D
    from hat.models import Sequential

    seq = Sequential()
    if case["images"]:
        seq.add(InputLayer((2, 6, 6)))
        seq.add(Conv2D(case["hidden"], 3, 3, act="relu", border_mode="same"))
        seq.add(Pool2D((2, 2), pool_mode=case["pool"]))
        if case["batchnorm"]:
            seq.add(BatchNorm())
        seq.add(Flatten())
    else:
        seq.add(InputLayer(7))
        seq.add(Dense(case["hidden"], act="relu"))
        if case["batchnorm"]:
            seq.add(BatchNorm())
    seq.add(Dropout(case["dropout"]))
    seq.add(Dense(3, act="softmax"))
    return seq.combine(seed=case["seed"])


@FAST
@given(model_cases())
def test_predict_in_batches_equals_one_batch(case):
    md = _model(case)
    shape = (2, 6, 6) if case["images"] else (7,)
    x = np.random.default_rng(case["seed"]).standard_normal((case["n"],) + shape)
    x = x.astype(np.float32)
    whole = md.predict(x, batch_size=None)
    batched = md.predict(x, batch_size=case["batch_size"])
    assert batched.shape == (case["n"], 3)
    np.testing.assert_allclose(batched, whole, rtol=0, atol=1e-6)
