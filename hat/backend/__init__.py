"""Hat's backend, `import hat.backend as K`: differentiable array operations on numpy.

Every op acts on plain numpy arrays and numbers (it is then plain numpy, returns a plain result
and records nothing, so K is also a numpy helper) and on symbolic Variables, the values inside
a Lambda body or a loss function, where a reverse-mode tape records it and differentiates it:

    import numpy as np
    import hat.backend as K
    from hat.backend import tape as T

    x = np.random.rand(64, 32, 14, 14).astype("float32")
    with T.Tape() as t:
        v = t.watch(x)                        # a T.Variable; its array is v.value
        out = K.mean(v, axis=(2, 3))          # ops and operators on Variables record on t
    dx, = t.gradient(out, [v], seed=np.ones((64, 32), "float32"))

- `t.gradient(out, variables, seed=None)` returns one fresh ndarray per variable, in the
  variable's dtype (float32 stays float32), zeros for a variable that `out` does not depend on
  (also when `out` is a plain number or array); seed is dL/dout, 1.0 by default for a scalar
  out. Gradients add up where a Variable is used several times. A tape answers once.
- `T.is_symbolic(x)` tells a Variable; `T.value(x)` gives its array (or x itself).
- Variables support + - * / ** @ and unary -, the comparisons (0/1 floats), indexing with ints,
  slices, None, Ellipsis, integer and boolean arrays (its VJP a scatter-add), `.shape`,
  `.ndim`, `.dtype`, `.T`, `len()`, and numpy-style `.sum`, `.mean`, `.max`, `.min`,
  `.reshape`, `.flatten`, `.transpose`, `.astype`. Numpy hands `array + variable` to the
  Variable. Using one where Python needs a bool or a number (`if v:`, `float(v)`) raises a
  TypeError: it is symbolic; use `K.switch`, `K.gt` or its `.value`.
- An op given a non-numeric value (a string, None) raises a TypeError naming the op, the
  value and what it expected.

The ops, with Hat's names and argument names: `add`, `subtract`, `multiply`, `divide`,
`negative`, `power(x, a)`, `maximum`, `minimum`; `eq`, `neq`, `gt`, `lt`, `ge`, `le` (0/1
floats, no gradient, as Theano's); `exp`, `log`, `sqrt`, `sqr`, `abs`, `clip(x, min_, max_)`,
`switch`, `cast(x, type)`; `sum`, `mean`, `max`, `min`, `prod`, `var`, `std` (axis None, an int
or a tuple; keepdims), `argmax`, `argmin` (no gradient); `dot(X, Y)`; `reshape`, `flatten(x,
ndim=1)`, `batch_flatten`, `transpose(x, axes)`, `swapaxes`, `expand_dims`, `squeeze`,
`broadcast(x, x_ndim, bc_axis)`, `tile(x, reps, ndim)`, `repeat(x, n_repeats, axis)`,
`concatenate(inputs, axis)`, `stack(tensors, axis)`, `getitem`; `softmax` (last axis),
`sigmoid`, `tanh`, `hard_sigmoid`, `relu(x, alpha, max_value)`; `categorical_crossentropy` and
`binary_crossentropy` (Theano's: per sample or elementwise, no clipping or mean; see
hat.objectives for Hat's losses); `batch_normalization`, `moving_average`, `ifelse`;
`zeros`, `ones`, `zeros_like`, `ones_like` (plain arrays), `ndim`, `format_data`, `get_value`;
`floatx`, `epsilon`, `cast_to_floatx`.

Choices: `max`/`min` send the gradient to the first extremum of each group, `maximum`/`minimum`
to x on a tie, `abs` has gradient 0 at 0, `clip` passes it for min_ <= x <= max_ (as torch).
Dtypes follow numpy: a float32 Variable times a Python float stays float32, times a float64
array becomes float64 (its gradient is still float32).

Left out of Hat's backend, and why: `placeholder`, `shared`, `set_value`, `function_given`,
`function_no_given`, `grad`, `scan`, `rnn` and `common_tr_phase_node` are Theano's graph
compiler, which a tape replaces; `set_subtensor` (Variables are immutable: build the result
with `concatenate` or `switch`); `conv2d`, `conv2d_transpose`, `pool2d` (use the Conv2D and
pooling layers, whose kernels are fast); `rng_normal`, `rng_binomial` (randomness comes from the
model's generator, so that runs repeat: use Dropout).
"""

from hat.backend import tape
from hat.backend.common import cast_to_floatx, epsilon, floatx
from hat.backend.nn_ops import (
    batch_normalization,
    binary_crossentropy,
    categorical_crossentropy,
    format_data,
    get_value,
    hard_sigmoid,
    ifelse,
    moving_average,
    ndim,
    ones,
    ones_like,
    relu,
    sigmoid,
    softmax,
    tanh,
    zeros,
    zeros_like,
)
from hat.backend.ops import (
    abs,
    add,
    cast,
    clip,
    divide,
    eq,
    exp,
    ge,
    gt,
    le,
    log,
    lt,
    maximum,
    minimum,
    multiply,
    negative,
    neq,
    power,
    sqr,
    sqrt,
    subtract,
    switch,
)
from hat.backend.reduce_ops import (
    argmax,
    argmin,
    dot,
    max,
    mean,
    min,
    prod,
    std,
    sum,
    var,
)
from hat.backend.shape_ops import (
    batch_flatten,
    broadcast,
    concatenate,
    expand_dims,
    flatten,
    getitem,
    repeat,
    reshape,
    squeeze,
    stack,
    swapaxes,
    tile,
    transpose,
)

__all__ = [
    "tape",
    "abs",
    "add",
    "argmax",
    "argmin",
    "batch_flatten",
    "batch_normalization",
    "binary_crossentropy",
    "broadcast",
    "cast",
    "cast_to_floatx",
    "categorical_crossentropy",
    "clip",
    "concatenate",
    "divide",
    "dot",
    "epsilon",
    "eq",
    "exp",
    "expand_dims",
    "flatten",
    "floatx",
    "format_data",
    "ge",
    "get_value",
    "getitem",
    "gt",
    "hard_sigmoid",
    "ifelse",
    "le",
    "log",
    "lt",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "moving_average",
    "multiply",
    "ndim",
    "negative",
    "neq",
    "ones",
    "ones_like",
    "power",
    "prod",
    "relu",
    "repeat",
    "reshape",
    "sigmoid",
    "softmax",
    "sqr",
    "sqrt",
    "squeeze",
    "stack",
    "std",
    "subtract",
    "sum",
    "swapaxes",
    "switch",
    "tanh",
    "tile",
    "transpose",
    "var",
    "zeros",
    "zeros_like",
]
