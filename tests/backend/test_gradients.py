"""Every K op differentiated on the tape, against float64 finite differences and torch.autograd.

Each case is (id, K function, torch function or None, inputs); an input is (shape, domain),
the domain keeping the op away from where it has no derivative (log of negatives, ties of max,
the kinks of abs, clip and relu). The scalar differentiated is sum(f(inputs) * G), G random.
"""

import numpy as np
import pytest

import hat.backend as K
from hat.backend import tape as T
from tests.helpers.gradcheck import numeric_grad
from tests.helpers.optional import require

R = "normal"  # standard normal: no two entries tie
P = "positive"  # in [0.5, 2]
U = "unit"  # in [0.1, 0.9]: probabilities, sigmoids' inputs away from clipping
A = "away"  # |x| in [0.3, 2] with random signs: off the kinks at 0, on both sides of 1

ONE_HOT = np.eye(4)[[0, 3, 1]]  # (3, 4) targets
LABELS = np.array([0, 3, 1])
MASK = np.array([[True, False, True, False], [False, False, True, True], [True] * 4])


def tt():
    return require("torch")


CASES = [
    # -- arithmetic and broadcasting
    ("add", lambda a, b: a + b, lambda a, b: a + b, [((3, 4), R), ((4,), R)]),
    ("add_both_broadcast", K.add, lambda a, b: a + b, [((2, 1, 4), R), ((3, 1), R)]),
    (
        "radd_array",
        lambda a: np.ones((2, 3)) + a,
        lambda a: tt().ones(2, 3, dtype=a.dtype) + a,
        [((3,), R)],
    ),
    ("subtract", lambda a, b: a - b, lambda a, b: a - b, [((3, 1), R), ((1, 4), R)]),
    ("rsub_array", lambda a: 0.05 * np.ones(4) - a, lambda a: 0.05 - a, [((4,), R)]),
    ("multiply", lambda a, b: a * b, lambda a, b: a * b, [((2, 3, 4), R), ((3, 1), R)]),
    ("self_used_thrice", lambda a: a * a + a, lambda a: a * a + a, [((3, 2), R)]),
    ("divide", lambda a, b: a / b, lambda a, b: a / b, [((3, 4), R), ((4,), P)]),
    ("rdiv_number", lambda a: 2.0 / a, lambda a: 2.0 / a, [((5,), P)]),
    ("power_number", lambda a: a**3, lambda a: a**3, [((2, 3), R)]),
    ("power_fraction", lambda a: K.power(a, 1.5), lambda a: a**1.5, [((2, 3), P)]),
    ("power_both", K.power, lambda a, b: a**b, [((2, 3), P), ((3,), R)]),
    ("rpow", lambda a: 2.0**a, lambda a: 2.0**a, [((4,), R)]),
    ("negative", lambda a: -a, lambda a: -a, [((3,), R)]),
    ("maximum", K.maximum, lambda a, b: a.maximum(b), [((3, 4), R), ((4,), R)]),
    ("minimum", K.minimum, lambda a, b: a.minimum(b), [((3, 4), R), ((3, 1), R)]),
    # -- elementwise
    ("exp", K.exp, lambda a: a.exp(), [((2, 3), R)]),
    ("log", K.log, lambda a: a.log(), [((2, 3), P)]),
    ("sqrt", K.sqrt, lambda a: a.sqrt(), [((2, 3), P)]),
    ("sqr", K.sqr, lambda a: a**2, [((2, 3), R)]),
    ("abs", K.abs, lambda a: a.abs(), [((2, 3), A)]),
    ("clip", lambda a: K.clip(a, -1.0, 1.0), lambda a: a.clamp(-1.0, 1.0), [((3, 4), A)]),
    ("clip_open", lambda a: K.clip(a, 1.0, np.inf), lambda a: a.clamp(min=1.0), [((6,), P)]),
    (
        "clip_variable_bounds",
        lambda a, lo, hi: K.clip(a, lo - 1.0, hi + 1.0),
        lambda a, lo, hi: a.clamp(lo - 1.0, hi + 1.0),
        [((3, 4), A), ((4,), U), ((3, 1), U)],
    ),
    (
        "switch",
        lambda c, a, b: K.switch(K.gt(c, 0), a, b),
        lambda c, a, b: tt().where(c > 0, a, b),
        [((3, 4), R), ((3, 4), R), ((4,), R)],
    ),
    ("gt_times", lambda a: K.gt(a, 0) * a, lambda a: (a > 0) * a, [((3, 4), A)]),
    # -- reductions
    ("sum_all", K.sum, lambda a: a.sum(), [((3, 4), R)]),
    ("sum_axis", lambda a: K.sum(a, axis=1), lambda a: a.sum(1), [((3, 4, 2), R)]),
    ("sum_tuple", lambda a: K.sum(a, (0, 2)), lambda a: a.sum((0, 2)), [((3, 4, 2), R)]),
    (
        "sum_keepdims",
        lambda a: K.sum(a, -1, keepdims=True),
        lambda a: a.sum(-1, keepdim=True),
        [((3, 4), R)],
    ),
    ("mean_all", K.mean, lambda a: a.mean(), [((3, 4), R)]),
    (
        "mean_23",
        lambda a: K.mean(a, axis=(2, 3)),
        lambda a: a.mean((2, 3)),
        [((2, 3, 2, 2), R)],
    ),
    ("mean_method", lambda a: a.mean(axis=0), lambda a: a.mean(0), [((3, 4), R)]),
    ("max_all", K.max, lambda a: a.max(), [((3, 4), R)]),
    ("max_tuple", lambda a: K.max(a, (0, 2)), lambda a: a.amax((0, 2)), [((3, 4, 2), R)]),
    ("min_axis", lambda a: K.min(a, axis=-1), lambda a: a.amin(-1), [((3, 4), R)]),
    (
        "min_keepdims",
        lambda a: K.min(a, (1, 2), keepdims=True),
        lambda a: a.amin((1, 2), keepdim=True),
        [((2, 3, 2), R)],
    ),
    ("prod_all", K.prod, lambda a: a.prod(), [((2, 3), R)]),
    ("prod_axis", lambda a: K.prod(a, axis=0), lambda a: a.prod(0), [((3, 4), R)]),
    ("prod_tuple", lambda a: K.prod(a, (0, 2)), None, [((2, 3, 2), R)]),
    ("var_all", K.var, lambda a: a.var(correction=0), [((3, 4), R)]),
    (
        "var_tuple",
        lambda a: K.var(a, (0, 2)),
        lambda a: a.var((0, 2), correction=0),
        [((3, 2, 4), R)],
    ),
    ("std_axis", lambda a: K.std(a, 0), lambda a: a.std(0, correction=0), [((5, 3), R)]),
    # -- products
    ("dot_2_2", K.dot, lambda a, b: a @ b, [((3, 4), R), ((4, 2), R)]),
    ("dot_3_2", K.dot, lambda a, b: a @ b, [((2, 3, 4), R), ((4, 2), R)]),
    ("dot_3_1", K.dot, lambda a, b: a @ b, [((2, 3, 4), R), ((4,), R)]),
    ("dot_1_2", K.dot, lambda a, b: a @ b, [((4,), R), ((4, 3), R)]),
    ("dot_1_1", K.dot, lambda a, b: a @ b, [((4,), R), ((4,), R)]),
    ("matmul_operator", lambda a, b: a @ b, lambda a, b: a @ b, [((3, 4), R), ((4, 2), R)]),
    ("dot_scalar", lambda a: K.dot(a, 3.0), lambda a: a * 3.0, [((3,), R)]),
    # -- moving entries
    ("reshape", lambda a: K.reshape(a, (4, -1)), lambda a: a.reshape(4, -1), [((2, 3, 2), R)]),
    ("reshape_method", lambda a: a.reshape(3, 4), lambda a: a.reshape(3, 4), [((12,), R)]),
    ("flatten", K.flatten, lambda a: a.flatten(), [((2, 3, 2), R)]),
    ("batch_flatten", K.batch_flatten, lambda a: a.flatten(1), [((2, 3, 2), R)]),
    (
        "transpose",
        lambda a: K.transpose(a, (1, 2, 0)),
        lambda a: a.permute(1, 2, 0),
        [((2, 3, 4), R)],
    ),
    ("T", lambda a: a.T, lambda a: a.T, [((2, 3), R)]),
    ("swapaxes", lambda a: K.swapaxes(a, 0, 2), lambda a: a.transpose(0, 2), [((2, 3, 4), R)]),
    ("expand_dims", lambda a: K.expand_dims(a, 1), lambda a: a.unsqueeze(1), [((2, 3), R)]),
    ("squeeze", lambda a: K.squeeze(a, 1), lambda a: a.squeeze(1), [((2, 1, 3), R)]),
    (
        "broadcast",
        lambda a, b: a * K.broadcast(b, 1, (0, 2, 3)),
        lambda a, b: a * b[None, :, None, None],
        [((2, 3, 2, 2), R), ((3,), R)],
    ),
    ("tile", lambda a: K.tile(a, (2, 3)), lambda a: a.tile(2, 3), [((2, 3), R)]),
    ("tile_ndim", lambda a: K.tile(a, 2, ndim=3), lambda a: a.tile(1, 1, 2), [((2, 3), R)]),
    (
        "repeat",
        lambda a: K.repeat(a, 3, axis=1),
        lambda a: a.repeat_interleave(3, 1),
        [((2, 3), R)],
    ),
    (
        "repeat_counts",
        lambda a: K.repeat(a, [1, 0, 2], axis=0),
        lambda a: a.repeat_interleave(tt().tensor([1, 0, 2]), 0),
        [((3, 2), R)],
    ),
    (
        "repeat_flat",
        lambda a: K.repeat(a, 2),
        lambda a: a.flatten().repeat_interleave(2),
        [((2, 2), R)],
    ),
    (
        "concatenate",
        lambda a, b: K.concatenate([a, np.ones((2, 1)), b], axis=1),
        lambda a, b: tt().cat([a, tt().ones(2, 1, dtype=a.dtype), b], 1),
        [((2, 3), R), ((2, 2), R)],
    ),
    (
        "stack",
        lambda a, b: K.stack([a, b, a], axis=-1),
        lambda a, b: tt().stack([a, b, a], -1),
        [((2, 3), R), ((2, 3), R)],
    ),
    ("index_int", lambda a: a[1], lambda a: a[1], [((3, 4), R)]),
    ("index_slices", lambda a: a[:, -1, ::2], lambda a: a[:, -1, ::2], [((2, 3, 4), R)]),
    (
        "index_none_ellipsis",
        lambda a: a[..., None, 1:],
        lambda a: a[..., None, 1:],
        [((2, 3), R)],
    ),
    ("index_reversed", lambda a: a[::-1], lambda a: a.flip(0), [((4,), R)]),
    (
        "index_repeated_ints",
        lambda a: a[[0, 2, 0, 0]],
        lambda a: a[[0, 2, 0, 0]],
        [((3, 2), R)],
    ),
    (
        "index_int_arrays",
        lambda a: a[np.array([0, 1, 1]), np.array([2, 2, 0])],
        lambda a: a[[0, 1, 1], [2, 2, 0]],
        [((2, 3), R)],
    ),
    ("index_mask", lambda a: a[MASK], lambda a: a[tt().tensor(MASK)], [((3, 4), R)]),
    # -- activations and losses
    ("softmax", K.softmax, lambda a: a.softmax(-1), [((3, 4), R)]),
    ("softmax_3d", K.softmax, lambda a: a.softmax(-1), [((2, 2, 3), R)]),
    ("sigmoid", K.sigmoid, lambda a: a.sigmoid(), [((3, 4), R)]),
    ("tanh", K.tanh, lambda a: a.tanh(), [((3, 4), R)]),
    ("relu", K.relu, lambda a: a.relu(), [((3, 4), A)]),
    (
        "relu_leaky_capped",
        lambda a: K.relu(a, alpha=0.1, max_value=1.0),
        lambda a: tt().where(a > 0, a, 0.1 * a).clamp(max=1.0),
        [((3, 4), A)],
    ),
    (
        "hard_sigmoid",
        K.hard_sigmoid,
        lambda a: (0.2 * a + 0.5).clamp(0, 1),
        [((3, 4), A)],
    ),
    (
        "categorical_crossentropy",
        lambda p: K.categorical_crossentropy(p, ONE_HOT),
        lambda p: -(tt().tensor(ONE_HOT) * p.log()).sum(-1),
        [((3, 4), U)],
    ),
    (
        "categorical_crossentropy_labels",
        lambda p: K.categorical_crossentropy(p, LABELS),
        lambda p: -p[[0, 1, 2], tt().tensor(LABELS)].log(),
        [((3, 4), U)],
    ),
    (
        "categorical_crossentropy_soft_targets",
        K.categorical_crossentropy,
        lambda p, y: -(y * p.log()).sum(-1),
        [((3, 4), U), ((3, 4), U)],
    ),
    (
        "binary_crossentropy",
        K.binary_crossentropy,
        lambda p, y: -(y * p.log() + (1 - y) * (1 - p).log()),
        [((3, 4), U), ((3, 4), U)],
    ),
    (
        "batch_normalization",
        lambda x, g, b, m, v: K.batch_normalization(x, g, b, m, v, 1e-3),
        lambda x, g, b, m, v: (x - m) / (v + 1e-3).sqrt() * g + b,
        [((4, 3), R), ((3,), R), ((3,), R), ((3,), R), ((3,), P)],
    ),
    (
        "moving_average",
        lambda r, v: K.moving_average(r, v, 0.9),
        lambda r, v: 0.9 * r + 0.1 * v,
        [((3,), R), ((3,), R)],
    ),
    (
        "lambda_like_expression",
        lambda a, b: K.mean(K.sqr(a[:, 1:] - b), axis=0) + K.sum(a * 2, axis=(0, 1)),
        lambda a, b: ((a[:, 1:] - b) ** 2).mean(0) + (a * 2).sum((0, 1)),
        [((3, 3), R), ((3, 2), R)],
    ),
]
IDS = [case[0] for case in CASES]


def _inputs(specs, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = []
    for shape, domain in specs:
        if domain == R:
            arrays.append(rng.standard_normal(shape))
        elif domain == P:
            arrays.append(rng.uniform(0.5, 2.0, shape))
        elif domain == U:
            arrays.append(rng.uniform(0.1, 0.9, shape))
        else:
            arrays.append(rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape))
    return arrays


def _tape_gradients(fn, arrays, seed_grad=None):
    with T.Tape() as t:
        variables = [t.watch(a) for a in arrays]
        out = fn(*variables)
    if seed_grad is None:
        seed_grad = np.random.default_rng(99).standard_normal(np.shape(out.value))
    return out, seed_grad, t.gradient(out, variables, seed=seed_grad)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_gradient_matches_finite_differences(case):
    _, fn, _, specs = case
    arrays = _inputs(specs, seed=len(IDS))
    out, g, grads = _tape_gradients(fn, arrays)
    np.testing.assert_allclose(out.value, fn(*arrays), rtol=1e-12, atol=1e-12)
    for i, (array, grad) in enumerate(zip(arrays, grads, strict=True)):
        numeric = numeric_grad(lambda _: np.sum(fn(*arrays) * g), array)
        assert grad.shape == array.shape and grad.dtype == np.float64
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8, err_msg=f"input {i}")


@pytest.mark.parametrize("case", [c for c in CASES if c[2] is not None], ids=lambda c: c[0])
def test_gradient_matches_torch(case):
    torch = require("torch")
    _, fn, torch_fn, specs = case
    arrays = _inputs(specs, seed=7)
    out, g, grads = _tape_gradients(fn, arrays)
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = torch_fn(*tensors)
    (expected * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(out.value, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    for i, (grad, tensor) in enumerate(zip(grads, tensors, strict=True)):
        # torch leaves .grad None for an input with no path to the output (a condition)
        expected = np.zeros_like(grad) if tensor.grad is None else tensor.grad.numpy()
        np.testing.assert_allclose(grad, expected, rtol=1e-10, atol=1e-12, err_msg=f"input {i}")
