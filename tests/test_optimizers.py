"""Optimizers: each against a hand-written numpy update, and against torch.optim.

The references follow the algorithms documented for torch.optim (dampening 0, no lr decay,
RMSprop uncentred without momentum, Adagrad starting from a zero accumulator).
"""

import math
import re

import numpy as np
import pytest

from hat import optimizers, threads
from hat.optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop, Rmsprop
from tests.helpers.optional import require

ATOL = {np.float32: 1e-6, np.float64: 1e-12}
DTYPES = [np.float32, np.float64]
STEPS = 3
SIZE = 7


@pytest.fixture(scope="module")
def torch():
    """PyTorch for the parity tests: skipped where it is missing, except in CI, where it fails."""
    return require("torch")


def _data(size=SIZE, seed=0):
    """Initial parameters and one different gradient per step, float64."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(size), [rng.standard_normal(size) for _ in range(STEPS)]


# Hand-written references: each takes float64 p, g and a dict for its state, returns new p.


def ref_sgd(p, g, state, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    g = g + weight_decay * p
    if momentum != 0:
        # torch starts the buffer at the first gradient, which equals momentum * 0 + g.
        b = g.copy() if "b" not in state else momentum * state["b"] + g
        state["b"] = b
        g = g + momentum * b if nesterov else b
    return p - lr * g


def ref_adam(p, g, state, lr, beta1, beta2, eps, weight_decay=0.0, decoupled=False):
    t = state["t"] = state.get("t", 0) + 1
    if decoupled:
        p = p * (1 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
    v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def ref_rmsprop(p, g, state, lr, alpha, eps, weight_decay=0.0):
    g = g + weight_decay * p
    v = state["v"] = alpha * state.get("v", 0.0) + (1 - alpha) * g * g
    return p - lr * g / (np.sqrt(v) + eps)


def ref_adagrad(p, g, state, lr, eps, weight_decay=0.0):
    g = g + weight_decay * p
    s = state["s"] = state.get("s", 0.0) + g * g
    return p - lr * g / (np.sqrt(s) + eps)


def ref_adadelta(p, g, state, lr, rho, eps, weight_decay=0.0):
    g = g + weight_decay * p
    v = state["v"] = rho * state.get("v", 0.0) + (1 - rho) * g * g
    u = state.get("u", 0.0)
    dx = np.sqrt(u + eps) / np.sqrt(v + eps) * g
    state["u"] = rho * u + (1 - rho) * dx * dx
    return p - lr * dx


# (id, hat class, hat kwargs, reference, reference kwargs)
CASES = [
    ("sgd", SGD, dict(lr=0.1), ref_sgd, dict(lr=0.1)),
    ("sgd_defaults", SGD, dict(), ref_sgd, dict(lr=0.01)),
    ("sgd_momentum", SGD, dict(lr=0.1, momentum=0.9), ref_sgd, dict(lr=0.1, momentum=0.9)),
    ("sgd_rho", SGD, dict(lr=0.1, rho=0.8), ref_sgd, dict(lr=0.1, momentum=0.8)),
    (
        "sgd_nesterov",
        SGD,
        dict(lr=0.1, momentum=0.9, nesterov=True),
        ref_sgd,
        dict(lr=0.1, momentum=0.9, nesterov=True),
    ),
    (
        "sgd_momentum_wd",
        SGD,
        dict(lr=0.1, momentum=0.9, weight_decay=0.1),
        ref_sgd,
        dict(lr=0.1, momentum=0.9, weight_decay=0.1),
    ),
    (
        "adam",
        Adam,
        dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7),
        ref_adam,
        dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7),
    ),
    ("adam_defaults", Adam, dict(), ref_adam, dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)),
    (
        "adam_wd",
        Adam,
        dict(lr=0.01, weight_decay=0.1),
        ref_adam,
        dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1),
    ),
    (
        "adamw",
        AdamW,
        dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7, weight_decay=0.1),
        ref_adam,
        dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7, weight_decay=0.1, decoupled=True),
    ),
    (
        "adamw_defaults",
        AdamW,
        dict(),
        ref_adam,
        dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01, decoupled=True),
    ),
    (
        "rmsprop",
        RMSprop,
        dict(lr=0.01, rho=0.8, eps=1e-6),
        ref_rmsprop,
        dict(lr=0.01, alpha=0.8, eps=1e-6),
    ),
    ("rmsprop_defaults", RMSprop, dict(), ref_rmsprop, dict(lr=1e-3, alpha=0.9, eps=1e-8)),
    (
        "Rmsprop_alias",
        Rmsprop,
        dict(lr=0.01, rho=0.8, eps=1e-6),
        ref_rmsprop,
        dict(lr=0.01, alpha=0.8, eps=1e-6),
    ),
    (
        "rmsprop_wd",
        RMSprop,
        dict(lr=0.01, rho=0.8, eps=1e-6, weight_decay=0.1),
        ref_rmsprop,
        dict(lr=0.01, alpha=0.8, eps=1e-6, weight_decay=0.1),
    ),
    ("adagrad", Adagrad, dict(lr=0.1, eps=1e-5), ref_adagrad, dict(lr=0.1, eps=1e-5)),
    ("adagrad_defaults", Adagrad, dict(), ref_adagrad, dict(lr=0.01, eps=1e-6)),
    (
        "adagrad_wd",
        Adagrad,
        dict(lr=0.1, eps=1e-5, weight_decay=0.1),
        ref_adagrad,
        dict(lr=0.1, eps=1e-5, weight_decay=0.1),
    ),
    (
        "adadelta",
        Adadelta,
        dict(lr=0.5, rho=0.9, eps=1e-6),
        ref_adadelta,
        dict(lr=0.5, rho=0.9, eps=1e-6),
    ),
    ("adadelta_defaults", Adadelta, dict(), ref_adadelta, dict(lr=1.0, rho=0.95, eps=1e-8)),
    (
        "adadelta_rou",
        Adadelta,
        dict(rou=0.8, eps=1e-6),
        ref_adadelta,
        dict(lr=1.0, rho=0.8, eps=1e-6),
    ),
    (
        "adadelta_wd",
        Adadelta,
        dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.1),
        ref_adadelta,
        dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.1),
    ),
]
CASE_IDS = [case[0] for case in CASES]


def _run_against_reference(opt, ref, ref_kwargs, dtype, transform=lambda g: g, segments=None):
    """Three steps of opt.update and of ref on the same data; compare after each."""
    p0, grads = _data()
    params = p0.astype(dtype)
    expected = params.astype(np.float64)
    ref_state = {}
    for step, g in enumerate(grads, start=1):
        g = g.astype(dtype)
        expected = ref(expected, transform(g.astype(np.float64)), ref_state, **ref_kwargs)
        opt.update(params, g.copy(), [(0, SIZE)] if segments is None else segments)
        assert params.dtype == dtype
        np.testing.assert_allclose(
            params, expected, rtol=0, atol=ATOL[dtype], err_msg=f"after step {step}"
        )
    return params


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, cls, kwargs, ref, ref_kwargs", CASES, ids=CASE_IDS)
def test_update_matches_handwritten_reference(name, cls, kwargs, ref, ref_kwargs, dtype):
    opt = cls(**kwargs)
    _run_against_reference(opt, ref, ref_kwargs, dtype)
    assert opt.iterations == STEPS


def test_aliases():
    assert Rmsprop is RMSprop
    assert SGD(rho=0.7).momentum == 0.7
    assert Adadelta(rou=0.7).rho == 0.7


# Clipping.


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, cls, kwargs, ref, ref_kwargs", CASES, ids=CASE_IDS)
def test_clipvalue_clips_the_raw_gradient(name, cls, kwargs, ref, ref_kwargs, dtype):
    """clipvalue applies to the gradient before weight decay is added, as clip_grad_value_."""
    opt = cls(**kwargs, clipvalue=0.3)
    _run_against_reference(opt, ref, ref_kwargs, dtype, transform=lambda g: np.clip(g, -0.3, 0.3))


@pytest.mark.parametrize(
    "clipvalue, clip, bound",
    [(None, 0.3, 0.3), (0.5, 0.2, 0.2), (0.1, 0.5, 0.1), (0.4, None, 0.4), (None, None, None)],
)
def test_fit_clip_combines_with_clipvalue_the_tighter_wins(clipvalue, clip, bound):
    p0, grads = _data()
    params = p0.copy()
    opt = SGD(lr=1.0, clipvalue=clipvalue)
    opt.update(params, grads[0].copy(), [(0, SIZE)], clip=clip)
    expected_step = grads[0] if bound is None else np.clip(grads[0], -bound, bound)
    np.testing.assert_allclose(params, p0 - expected_step, rtol=0, atol=1e-12)
    if bound is not None:  # the data must make the clip bite, or this checks nothing
        assert np.abs(grads[0]).max() > bound


SEGMENTS = [(0, 3), (3, 7), (7, 9)]


def _segmented_grads():
    """Gradients whose segments have norms 5, 0.5 and 13: two above 1.0, one below."""
    return np.array([3.0, 4.0, 0.0, 0.3, 0.4, 0.0, 0.0, 5.0, 12.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_clipnorm_clips_each_variable_to_its_own_norm(dtype):
    grads = _segmented_grads().astype(dtype)
    params = np.zeros(9, dtype)
    SGD(lr=1.0, clipnorm=1.0).update(params, grads.copy(), SEGMENTS)
    expected = -np.concatenate(
        [[0.6, 0.8, 0.0], [0.3, 0.4, 0.0, 0.0], [5 / 13, 12 / 13]]
    )  # first and last scaled to norm 1; the middle (norm 0.5) untouched
    np.testing.assert_allclose(params, expected, rtol=0, atol=ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_clipnorm_clips_by_the_norm_of_all_variables(dtype):
    grads = _segmented_grads().astype(dtype)
    global_norm = math.sqrt(25 + 0.25 + 169)
    params = np.zeros(9, dtype)
    SGD(lr=1.0, global_clipnorm=2.0).update(params, grads.copy(), SEGMENTS)
    expected = -_segmented_grads() * (2.0 / global_norm)
    np.testing.assert_allclose(params, expected, rtol=0, atol=ATOL[dtype])

    params = np.zeros(9, dtype)  # below the bound: unchanged
    SGD(lr=1.0, global_clipnorm=100.0).update(params, grads.copy(), SEGMENTS)
    np.testing.assert_allclose(params, -_segmented_grads(), rtol=0, atol=ATOL[dtype])


# Against torch.optim.


def _torch_cases(torch):
    """(id, hat optimizer factory, torch optimizer factory taking the parameter list)."""
    o = torch.optim
    return {
        "sgd": (lambda: SGD(lr=0.1), lambda ps: o.SGD(ps, lr=0.1)),
        "sgd_momentum_wd": (
            lambda: SGD(lr=0.1, momentum=0.9, weight_decay=0.05),
            lambda ps: o.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.05),
        ),
        "sgd_nesterov_wd": (
            lambda: SGD(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05),
            lambda ps: o.SGD(ps, lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.05),
        ),
        "adam": (
            lambda: Adam(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7),
            lambda ps: o.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-7),
        ),
        "adam_defaults": (Adam, lambda ps: o.Adam(ps)),
        "adam_wd": (
            lambda: Adam(lr=0.01, weight_decay=0.1),
            lambda ps: o.Adam(ps, lr=0.01, weight_decay=0.1),
        ),
        "adamw": (
            lambda: AdamW(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-7, weight_decay=0.1),
            lambda ps: o.AdamW(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.1),
        ),
        "adamw_defaults": (AdamW, lambda ps: o.AdamW(ps)),
        "rmsprop_wd": (
            lambda: RMSprop(lr=0.01, rho=0.8, eps=1e-6, weight_decay=0.05),
            lambda ps: o.RMSprop(ps, lr=0.01, alpha=0.8, eps=1e-6, weight_decay=0.05),
        ),
        "adagrad_wd": (
            lambda: Adagrad(lr=0.1, eps=1e-6, weight_decay=0.05),
            lambda ps: o.Adagrad(
                ps, lr=0.1, eps=1e-6, weight_decay=0.05, initial_accumulator_value=0.0
            ),
        ),
        "adadelta_wd": (
            lambda: Adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.05),
            lambda ps: o.Adadelta(ps, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.05),
        ),
        "adadelta_rou": (
            lambda: Adadelta(rou=0.8, eps=1e-6),
            lambda ps: o.Adadelta(ps, lr=1.0, rho=0.8, eps=1e-6),
        ),
    }


TORCH_CASE_IDS = [
    "sgd",
    "sgd_momentum_wd",
    "sgd_nesterov_wd",
    "adam",
    "adam_defaults",
    "adam_wd",
    "adamw",
    "adamw_defaults",
    "rmsprop_wd",
    "adagrad_wd",
    "adadelta_wd",
    "adadelta_rou",
]


def _compare_with_torch(
    torch, hat_opt, torch_opt_factory, dtype, sizes, clip_torch=None, atol=None
):
    """Three steps on variables of the given sizes, held flat in hat and as tensors in torch.

    clip_torch(tensors) clips the torch gradients in place before each step.
    """
    atol = atol or (ATOL[dtype] if dtype == np.float32 else 1e-10)
    bounds = np.cumsum([0, *sizes])
    segments = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
    p0, grads = _data(int(bounds[-1]), seed=1)
    grads = [3.0 * g for g in grads]  # large enough that the clipping tests clip
    params = p0.astype(dtype)
    tensors = [torch.tensor(params[a:b].copy(), requires_grad=True) for a, b in segments]
    torch_opt = torch_opt_factory(tensors)
    for step, g in enumerate(grads, start=1):
        g = g.astype(dtype)
        for t, (a, b) in zip(tensors, segments, strict=True):
            t.grad = torch.tensor(g[a:b].copy())
        if clip_torch is not None:
            clip_torch(tensors)
        torch_opt.step()
        hat_opt.update(params, g.copy(), segments)
        expected = np.concatenate([t.detach().numpy() for t in tensors])
        assert expected.dtype == dtype
        np.testing.assert_allclose(
            params, expected, rtol=0, atol=atol, err_msg=f"after step {step}"
        )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", TORCH_CASE_IDS)
def test_matches_torch_optim(torch, case, dtype):
    hat_factory, torch_factory = _torch_cases(torch)[case]
    _compare_with_torch(torch, hat_factory(), torch_factory, dtype, sizes=[SIZE])


@pytest.mark.parametrize("dtype", DTYPES)
def test_clipnorm_matches_torch_clip_grad_norm_per_variable(torch, dtype):
    def clip_each(tensors):
        for t in tensors:
            torch.nn.utils.clip_grad_norm_([t], max_norm=2.0)

    _compare_with_torch(
        torch,
        SGD(lr=0.1, momentum=0.9, clipnorm=2.0),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
        dtype,
        sizes=[1, 4, 9],  # a norm of one 3-sigma value is below 2 now and then; 9 values is not
        clip_torch=clip_each,
        atol=1e-6,  # clip_grad_norm_ scales by max_norm / (norm + 1e-6), hat by max_norm / norm
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_clipnorm_matches_torch_clip_grad_norm(torch, dtype):
    _compare_with_torch(
        torch,
        Adam(lr=0.01, global_clipnorm=2.0),
        lambda ps: torch.optim.Adam(ps, lr=0.01),
        dtype,
        sizes=[3, 6],
        clip_torch=lambda ts: torch.nn.utils.clip_grad_norm_(ts, max_norm=2.0),
        atol=1e-6,  # clip_grad_norm_ scales by max_norm / (norm + 1e-6), hat by max_norm / norm
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_clipvalue_matches_torch_clip_grad_value(torch, dtype):
    _compare_with_torch(
        torch,
        RMSprop(lr=0.01, weight_decay=0.05, clipvalue=1.5),
        lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, weight_decay=0.05),
        dtype,
        sizes=[3, 6],
        clip_torch=lambda ts: torch.nn.utils.clip_grad_value_(ts, clip_value=1.5),
    )


# State.


@pytest.mark.parametrize(
    "make", [lambda: SGD(momentum=0.9), Adam, AdamW, RMSprop, Adagrad, Adadelta]
)
def test_state_is_a_dict_of_arrays_counting_iterations(make):
    opt = make()
    cls = type(opt)
    assert opt.state == {} and opt.iterations == 0
    p0, grads = _data()
    params = p0.astype(np.float32)
    for step, g in enumerate(grads, start=1):
        opt.update(params, g.astype(np.float32), [(0, SIZE)])
        assert isinstance(opt.state, dict)
        assert set(opt.state) == set(cls.slots) | {"iterations"}
        assert all(isinstance(v, np.ndarray) for v in opt.state.values())
        assert int(opt.state["iterations"]) == step == opt.iterations
        for name in cls.slots:
            assert opt.state[name].shape == (SIZE,)
            assert opt.state[name].dtype == np.float32
    assert any(np.any(opt.state[name] != 0) for name in cls.slots)


def _fresh_result(params, grads):
    """What a new Adam makes of one step."""
    params = params.copy()
    Adam(lr=0.01).update(params, grads.copy(), [(0, params.size)])
    return params


def test_reset_forgets_state():
    p0, grads = _data()
    opt = Adam(lr=0.01)
    params = p0.copy()
    opt.update(params, grads[0].copy(), [(0, SIZE)])
    opt.update(params, grads[1].copy(), [(0, SIZE)])
    opt.reset()
    assert opt.state == {} and opt.iterations == 0
    before = params.copy()
    opt.update(params, grads[2].copy(), [(0, SIZE)])
    assert opt.iterations == 1
    np.testing.assert_allclose(params, _fresh_result(before, grads[2]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("size, dtype", [(SIZE + 4, np.float64), (SIZE, np.float32)])
def test_state_is_rebuilt_for_a_different_buffer(size, dtype):
    p0, grads = _data()
    opt = Adam(lr=0.01)
    params = p0.copy()
    opt.update(params, grads[0].copy(), [(0, SIZE)])
    opt.update(params, grads[1].copy(), [(0, SIZE)])
    other, other_grads = _data(size, seed=2)
    other, g = other.astype(dtype), other_grads[0].astype(dtype)
    before = other.copy()
    opt.update(other, g.copy(), [(0, size)])
    assert opt.iterations == 1
    assert all(opt.state[name].shape == (size,) for name in Adam.slots)
    assert all(opt.state[name].dtype == dtype for name in Adam.slots)
    np.testing.assert_allclose(other, _fresh_result(before, g), rtol=0, atol=ATOL[dtype])


# Learning-rate schedules.


def test_lr_schedule_is_called_with_the_steps_taken_so_far():
    """As in Keras and torch's LambdaLR, the first step uses lr(0), the second lr(1), ..."""
    calls = []

    def rate(iterations):
        return 0.1 * (iterations + 1)

    def schedule(iterations):
        calls.append(iterations)
        return rate(iterations)

    p0, grads = _data()
    params = p0.copy()
    opt = SGD(lr=schedule)
    for step, g in enumerate(grads):
        before = params.copy()
        assert opt.iterations == step
        opt.update(params, g.copy(), [(0, SIZE)])
        lr_used = (before - params) / g  # plain SGD: p -= lr * g
        np.testing.assert_allclose(
            lr_used, rate(step), rtol=1e-9, err_msg=f"step {step + 1} should use lr({step})"
        )
    assert calls == [0, 1, 2]


def test_lr_schedule_drives_adam():
    """A schedule's value reaches the kernels that take lr with other terms (Adam's step size)."""
    p0, grads = _data()
    params = p0.copy()
    opt = Adam(lr=lambda it: 0.01 / (1 + it))
    expected, ref_state = p0.copy(), {}
    for step, g in enumerate(grads):
        opt.update(params, g.copy(), [(0, SIZE)])
        ref_kwargs = dict(lr=0.01 / (1 + step), beta1=0.9, beta2=0.999, eps=1e-8)
        expected = ref_adam(expected, g, ref_state, **ref_kwargs)
        np.testing.assert_allclose(params, expected, rtol=0, atol=1e-12, err_msg=f"step {step + 1}")


def test_lr_schedule_returning_a_negative_rate_raises():
    opt = SGD(lr=lambda it: -0.1)
    p0, grads = _data()
    with pytest.raises(ValueError, match="learning rate"):
        opt.update(p0.copy(), grads[0].copy(), [(0, SIZE)])


# Validation.


@pytest.mark.parametrize("cls", [SGD, Adam, RMSprop, Adagrad, Adadelta])
@pytest.mark.parametrize("lr", [-0.1, 0.0, float("nan"), float("inf")])
def test_bad_lr_raises_value_error_naming_it(cls, lr):
    with pytest.raises(ValueError, match=rf"lr .*{re.escape(repr(float(lr)))}"):
        cls(lr=lr)


@pytest.mark.parametrize("lr", ["0.1", None, True, [0.1]])
def test_lr_of_the_wrong_type_raises_type_error_naming_it(lr):
    with pytest.raises(TypeError, match=r"lr must be a number"):
        Adam(lr=lr)


@pytest.mark.parametrize(
    "make, error, name",
    [
        (lambda: SGD(momentum=1.0), ValueError, "momentum"),
        (lambda: SGD(momentum=1.5), ValueError, "momentum"),
        (lambda: SGD(momentum=-0.1), ValueError, "momentum"),
        (lambda: SGD(momentum="0.9"), TypeError, "momentum"),
        (lambda: SGD(nesterov=True), ValueError, "nesterov"),
        (lambda: SGD(momentum=0.0, nesterov=True), ValueError, "nesterov"),
        (lambda: Adam(beta1=1.0), ValueError, "beta1"),
        (lambda: Adam(beta1=1.2), ValueError, "beta1"),
        (lambda: AdamW(beta2=1.0), ValueError, "beta2"),
        (lambda: Adam(eps=-1e-8), ValueError, "eps"),
        (lambda: RMSprop(rho=-0.5), ValueError, "rho"),
        (lambda: Adadelta(rho=float("nan")), ValueError, "rho"),
        (lambda: Adam(weight_decay=-0.01), ValueError, "weight_decay"),
        (lambda: SGD(clipnorm=0.0), ValueError, "clipnorm"),
        (lambda: SGD(clipvalue=-1.0), ValueError, "clipvalue"),
        (lambda: SGD(global_clipnorm=0.0), ValueError, "global_clipnorm"),
    ],
)
def test_bad_hyperparameters_raise_naming_the_argument(make, error, name):
    with pytest.raises(error, match=name):
        make()


def test_get_by_name():
    assert type(optimizers.get("adam")) is Adam
    assert type(optimizers.get("Adam")) is Adam
    assert type(optimizers.get("sgd")) is SGD
    assert type(optimizers.get("rmsprop")) is RMSprop
    assert type(optimizers.get("adadelta")) is Adadelta
    opt = SGD(lr=0.5)
    assert optimizers.get(opt) is opt


@pytest.mark.parametrize("name", ["nope", 3, None])
def test_get_unknown_raises_listing_names(name):
    with pytest.raises(ValueError) as info:
        optimizers.get(name)
    message = str(info.value)
    assert repr(name) in message
    for known in ("adadelta", "adagrad", "adam", "adamw", "rmsprop", "sgd"):
        assert known in message


# get_updates: Hat's name for one step over lists of arrays.


def test_get_updates_updates_a_list_of_arrays_in_place():
    rng = np.random.default_rng(3)
    W, b = rng.standard_normal((2, 3)), rng.standard_normal(4)
    dW, db = rng.standard_normal((2, 3)), rng.standard_normal(4)
    W0, b0 = W.copy(), b.copy()
    SGD(lr=0.1).get_updates([W, b], [dW, db])
    np.testing.assert_allclose(W, W0 - 0.1 * dW, rtol=0, atol=1e-12)
    np.testing.assert_allclose(b, b0 - 0.1 * db, rtol=0, atol=1e-12)


def _list_and_flat(shapes, seed=4):
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(STEPS)]
    bounds = np.cumsum([0, *(int(np.prod(s)) for s in shapes)])
    segments = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
    return params, grads, segments


@pytest.mark.parametrize("shapes", [[(2, 3), (3,)], [(3,), (3,)]], ids=["sizes_differ", "same"])
def test_get_updates_keeps_state_across_steps_like_one_flat_update(shapes):
    """Three get_updates steps equal three updates of the concatenated buffer, per variable."""
    params, grads, segments = _list_and_flat(shapes)
    flat = np.concatenate([p.reshape(-1) for p in params])
    listed, flat_opt = Adam(lr=0.01), Adam(lr=0.01)
    for step, gs in enumerate(grads, start=1):
        listed.get_updates(params, [g.copy() for g in gs])
        flat_opt.update(flat, np.concatenate([g.reshape(-1) for g in gs]), segments)
        assert listed.iterations == step
        for p, (a, b) in zip(params, segments, strict=True):
            np.testing.assert_allclose(
                p.reshape(-1), flat[a:b], rtol=0, atol=1e-12, err_msg=f"after step {step}"
            )


def test_get_updates_global_clipnorm_uses_the_norm_of_all_arrays():
    params, grads, segments = _list_and_flat([(2, 3), (4,)])
    flat = np.concatenate([p.reshape(-1) for p in params])
    gs = grads[0]
    SGD(lr=1.0, global_clipnorm=0.5).get_updates(params, [g.copy() for g in gs])
    SGD(lr=1.0, global_clipnorm=0.5).update(
        flat, np.concatenate([g.reshape(-1) for g in gs]), segments
    )
    for p, (a, b) in zip(params, segments, strict=True):
        np.testing.assert_allclose(p.reshape(-1), flat[a:b], rtol=0, atol=1e-12)


def test_get_updates_updates_arrays_that_are_not_c_contiguous():
    rng = np.random.default_rng(5)
    W = np.asfortranarray(rng.standard_normal((3, 4)))
    dW = rng.standard_normal((3, 4))
    W0 = W.copy()
    SGD(lr=0.1).get_updates([W], [dW])
    np.testing.assert_allclose(W, W0 - 0.1 * dW, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "opt",
    [
        SGD(0.1, momentum=0.9, nesterov=True),
        Adam(1e-2),
        AdamW(1e-2),
        RMSprop(1e-2),
        Adagrad(0.1),
        Adadelta(1.0),
    ],  # fmt: skip
    ids=lambda o: type(o).__name__,
)
def test_update_in_parts_on_the_pool_gives_the_same_bits(monkeypatch, opt):
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal(1001).astype(np.float32)
    grads = [rng.standard_normal(1001).astype(np.float32) for _ in range(3)]

    def run(parallel_min, n_threads):
        monkeypatch.setattr(optimizers, "PARALLEL_MIN", parallel_min)
        monkeypatch.setenv("HAT_NUM_THREADS", str(n_threads))
        opt.reset()
        p = p0.copy()
        with threads.single_threaded_blas():  # the pool is used only then
            for g in grads:
                opt.update(p, g.copy())
        return p

    whole = run(1 << 30, 1)
    calls = []
    original = threads.parallel_for
    monkeypatch.setattr(threads, "parallel_for", lambda t, n: calls.append(n) or original(t, n))
    for n_threads in (2, 3):
        np.testing.assert_array_equal(run(1, n_threads), whole)
    assert calls == [2] * 3 + [3] * 3  # the updates did run in parts on the pool


@pytest.mark.jit
@pytest.mark.parametrize("decoupled, clipvalue", [(False, 0.0), (True, 0.5)])
def test_vectorized_adam_kernel_gives_the_bits_of_the_scalar_build(decoupled, clipvalue):
    """The update kernels compile with numpy's error model so that their loops vectorize
    (hat.kernels.jit.jit_elementwise); the default model's build, scalar, gives the same bits."""
    import numba

    from hat.kernels import optim
    from hat.kernels.jit import FASTMATH

    scalar = numba.njit(fastmath=FASTMATH, nogil=True)(optim.adam_update.py_func)
    rng = np.random.default_rng(0)
    base = [rng.standard_normal(1003).astype(np.float32) for _ in range(4)]
    base[3] = np.abs(base[3])
    results = []
    for kernel in (optim.adam_update, scalar):
        arrays = [a.copy() for a in base]
        kernel(*arrays, 1e-3, 0.9, 0.999, 1e-7, 3, 0.01, decoupled, clipvalue)
        results.append(arrays)
    for one, two in zip(*results, strict=True):
        assert np.array_equal(one, two)
