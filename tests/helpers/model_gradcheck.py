"""A whole-model gradient check: loss -> backward -> flat gradient buffer -> the update.

The gradient is read from what the optimizer did: one train_on_batch with plain SGD moves the
flat parameters by -lr * g, so g = (p_before - p_after) / lr. It is compared with float64
central differences of the model's training loss (regularizers included) along random
directions of the flat parameters. A gradient that is never written, or never reaches the
update, fails the check.
"""

import numpy as np

from hat.optimizers import SGD


def training_loss(md, xs, ys, plan) -> float:
    """The loss fit would report on this batch (training mode), without an update."""
    state = md.rng.bit_generator.state
    md._program.forward(xs, training=True)
    value, _, _ = plan.value_and_seeds(md, ys)
    md.rng.bit_generator.state = state  # the same dropout masks on every evaluation
    penalty = 0.0
    for layer in md.layers:
        for key, reg in layer.regularizers.items():
            penalty += reg.value(layer.params[key])
    return float(value) + penalty


def model_gradient_error(md, x, y, loss_func, directions: int = 6, eps: float = 1e-6, seed=0):
    """Max relative error between g . v from the update and the finite difference along v."""
    assert md.dtype == np.float64, "check gradients in float64"
    xs = md._inputs(x)
    plan = md._plan(loss_func)
    ys = md._targets(y, plan, xs[0].shape[0])
    start = md._flat_params.copy()
    state = md.rng.bit_generator.state
    lr = 1e-3
    md.train_on_batch(x, y, loss_func=loss_func, optimizer=SGD(lr=lr, rho=0.0))
    g = (start - md._flat_params) / lr
    md._flat_params[...] = start
    md.rng.bit_generator.state = state
    rng = np.random.default_rng(seed)
    vectors = [rng.standard_normal(start.shape) for _ in range(directions)]
    # And one per parameter array: a missing gradient may hide in a random direction's sum.
    for first, stop in md._segments:
        v = np.zeros_like(start)
        v[first:stop] = rng.standard_normal(stop - first)
        vectors.append(v)
    worst = 0.0
    for v in vectors:
        v = v / np.linalg.norm(v)
        md._flat_params[...] = start + eps * v
        plus = training_loss(md, xs, ys, plan)
        md._flat_params[...] = start - eps * v
        minus = training_loss(md, xs, ys, plan)
        md._flat_params[...] = start
        numeric = (plus - minus) / (2 * eps)
        analytic = float(g @ v)
        worst = max(worst, abs(numeric - analytic) / max(1e-8, abs(numeric), abs(analytic)))
    return worst
