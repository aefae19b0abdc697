"""The one float64 central finite-difference checker shared by every layer and loss test."""

import copy

import numpy as np


def numeric_grad(f, arr: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """dF/d(arr) by central differences, where f(arr) -> float reads arr, perturbed in place.

    arr is restored entry by entry, so f may close over it instead of using its argument.
    """
    grad = np.zeros(arr.shape, dtype=np.float64)
    for index in np.ndindex(arr.shape):
        old = arr[index]
        arr[index] = old + eps
        f_plus = float(f(arr))
        arr[index] = old - eps
        f_minus = float(f(arr))
        arr[index] = old
        grad[index] = (f_plus - f_minus) / (2 * eps)
    return grad


def check_layer_gradients(
    layer,
    input_shape: tuple,
    rng_seed: int = 0,
    batch: int = 3,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    preactivation: bool = False,
    x: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Build `layer` in float64 and compare backward's dx and its trainable grads with finite
    differences.

    The scalar is L = sum(forward(x, training=True) * g) for a random upstream gradient g. A layer
    with a generator (`layer.rng`, as Dropout) gets the same generator state before every
    forward, so its random mask is fixed. preactivation=True checks backward(g,
    preactivation=True) against L = sum(z * g), z being the input of the layer's activation.
    Returns the analytic gradients ({'x': dx, **grads}) for further checks.
    """
    input_shape = tuple(input_shape)
    layer.setup(input_shape, np.random.default_rng(rng_seed), np.float64)
    data_rng = np.random.default_rng(rng_seed + 1)
    if x is None:
        x = data_rng.standard_normal((batch,) + input_shape)
    x = np.array(x, dtype=np.float64)
    g = data_rng.standard_normal((x.shape[0],) + tuple(layer.output_shape))

    layer_rng = getattr(layer, "rng", None)
    rng_state = copy.deepcopy(layer_rng.bit_generator.state) if layer_rng is not None else None

    def forward(inputs):
        if layer_rng is not None:
            layer_rng.bit_generator.state = copy.deepcopy(rng_state)
        return layer.forward(inputs, training=True)

    # Analytic side: copies, because the layer reuses its buffers on the next call.
    forward(x)
    if preactivation:
        dx = layer.backward(g, preactivation=True)
    else:
        dx = layer.backward(g)
    analytic = {"x": np.array(dx, copy=True)}
    analytic.update({k: v.copy() for k, v in layer.grads.items()})

    if preactivation:
        from hat import activations

        real_activation = layer.activation
        layer.activation = activations.get("linear")

    def loss(_=None):
        return float(np.sum(forward(x) * g))

    try:
        numeric = {"x": numeric_grad(loss, x, eps)}
        for key in layer.trainable:  # a frozen param's grads are not computed
            numeric[key] = numeric_grad(loss, layer.params[key], eps)
    finally:
        if preactivation:
            layer.activation = real_activation

    assert set(layer.grads) == set(layer.params), "grads must have the same keys as params"
    for key, expected in numeric.items():
        got = analytic[key]
        assert got.shape == expected.shape, f"d{key}: shape {got.shape} != {expected.shape}"
        np.testing.assert_allclose(
            got, expected, rtol=rtol, atol=atol, err_msg=f"{type(layer).__name__} d{key}"
        )
    return analytic
