"""Weight initializations by Hat's names. Each draws from the generator it is given.

Every initializer is a function `init(shape, rng, dtype) -> np.ndarray`; layers take one by
name (`Dense(10, init_type="he_uniform")`) or as a function.

`fan_in` and `fan_out` follow Keras: for a 2-D weight (n_in, n_out) they are its two sides;
for a convolution kernel (n_out, n_in, kh, kw) they are `n_in * kh * kw` and
`n_out * kh * kw`.
"""

from collections.abc import Callable

import numpy as np


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 4:
        receptive = shape[2] * shape[3]
        return shape[1] * receptive, shape[0] * receptive
    size = int(np.prod(shape))
    return size, size


def zeros(shape, rng, dtype=np.float32):
    """All zeros (biases' default); `rng` is not drawn from.

    Args:
        shape (tuple[int, ...]): The array's shape, such as (n_in, n_out) or
            (n_out, n_in, kh, kw).
        rng (np.random.Generator): The generator to draw from (the model's).
        dtype (np.dtype): Default np.float32. The array's dtype.

    Returns:
        np.ndarray: The array.
    """
    return np.zeros(shape, dtype)


def ones(shape, rng, dtype=np.float32):
    """All ones; `rng` is not drawn from.

    Args:
        shape (tuple[int, ...]): The array's shape, such as (n_in, n_out) or
            (n_out, n_in, kh, kw).
        rng (np.random.Generator): The generator to draw from (the model's).
        dtype (np.dtype): Default np.float32. The array's dtype.

    Returns:
        np.ndarray: The array.
    """
    return np.ones(shape, dtype)


def uniform(shape, rng, dtype=np.float32, scale=0.01):
    """Uniform on [-scale, scale].

    Args:
        shape (tuple[int, ...]): The array's shape, such as (n_in, n_out) or
            (n_out, n_in, kh, kw).
        rng (np.random.Generator): The generator to draw from (the model's).
        dtype (np.dtype): Default np.float32. The array's dtype.
        scale (float): Default 0.01. The half-width of the interval.

    Returns:
        np.ndarray: The array.
    """
    return rng.uniform(-scale, scale, shape).astype(dtype)


def normal(shape, rng, dtype=np.float32, scale=0.01):
    """Normal with mean 0 and standard deviation `scale`.

    Args:
        shape (tuple[int, ...]): The array's shape, such as (n_in, n_out) or
            (n_out, n_in, kh, kw).
        rng (np.random.Generator): The generator to draw from (the model's).
        dtype (np.dtype): Default np.float32. The array's dtype.
        scale (float): Default 0.01. The standard deviation.

    Returns:
        np.ndarray: The array.
    """
    return rng.normal(0.0, scale, shape).astype(dtype)


def glorot_uniform(shape, rng, dtype=np.float32):
    """Glorot (Xavier) uniform: on [-l, l], l = sqrt(6 / (fan_in + fan_out)). The default.

    Args:
        shape (tuple[int, ...]): The array's shape, such as (n_in, n_out) or
            (n_out, n_in, kh, kw).
        rng (np.random.Generator): The generator to draw from (the model's).
        dtype (np.dtype): Default np.float32. The array's dtype.

    Returns:
        np.ndarray: The array.
    """
    fan_in, fan_out = _fans(shape)
    return uniform(shape, rng, dtype, scale=np.sqrt(6.0 / (fan_in + fan_out)))


def glorot_normal(shape, rng, dtype=np.float32):
    """Glorot normal: standard deviation sqrt(2 / (fan_in + fan_out)) (not truncated).

    Args:
        shape (tuple[int, ...]): The array's shape, such as (n_in, n_out) or
            (n_out, n_in, kh, kw).
        rng (np.random.Generator): The generator to draw from (the model's).
        dtype (np.dtype): Default np.float32. The array's dtype.

    Returns:
        np.ndarray: The array.
    """
    fan_in, fan_out = _fans(shape)
    return normal(shape, rng, dtype, scale=np.sqrt(2.0 / (fan_in + fan_out)))


def he_uniform(shape, rng, dtype=np.float32):
    """He uniform: on [-l, l], l = sqrt(6 / fan_in); for ReLU layers.

    Args:
        shape (tuple[int, ...]): The array's shape, such as (n_in, n_out) or
            (n_out, n_in, kh, kw).
        rng (np.random.Generator): The generator to draw from (the model's).
        dtype (np.dtype): Default np.float32. The array's dtype.

    Returns:
        np.ndarray: The array.
    """
    return uniform(shape, rng, dtype, scale=np.sqrt(6.0 / _fans(shape)[0]))


def he_normal(shape, rng, dtype=np.float32):
    """He normal: standard deviation sqrt(2 / fan_in) (not truncated); for ReLU layers.

    Args:
        shape (tuple[int, ...]): The array's shape, such as (n_in, n_out) or
            (n_out, n_in, kh, kw).
        rng (np.random.Generator): The generator to draw from (the model's).
        dtype (np.dtype): Default np.float32. The array's dtype.

    Returns:
        np.ndarray: The array.
    """
    return normal(shape, rng, dtype, scale=np.sqrt(2.0 / _fans(shape)[0]))


def orthogonal(shape, rng, dtype=np.float32, scale=1.1):
    """Hat's orthogonal init (gain 1.1): rows or columns orthonormal after flattening to 2-D.

    Args:
        shape (tuple[int, ...]): The array's shape, such as (n_in, n_out) or
            (n_out, n_in, kh, kw).
        rng (np.random.Generator): The generator to draw from (the model's).
        dtype (np.dtype): Default np.float32. The array's dtype.
        scale (float): Default 1.1. The gain the orthonormal matrix is multiplied by.

    Returns:
        np.ndarray: The array.
    """
    rows, cols = shape[0], int(np.prod(shape[1:]))
    a = rng.normal(0.0, 1.0, (max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))  # makes the result unique, hence repeatable
    if rows < cols:
        q = q.T
    return (scale * q.reshape(shape)).astype(dtype)


_INITS = {
    f.__name__: f
    for f in (
        zeros,
        ones,
        uniform,
        normal,
        glorot_uniform,
        glorot_normal,
        he_uniform,
        he_normal,
        orthogonal,
    )
}


def names() -> list[str]:
    """The names `get` accepts, sorted.

    Returns:
        list[str]: "glorot_uniform", "he_normal", ...
    """
    return sorted(_INITS)


def get(init_type: "str | Callable") -> Callable:
    """An initializer by name, or a callable init(shape, rng, dtype) given as is.

    Args:
        init_type (str | callable): A name from `names()`, or an initializer function.

    Returns:
        callable: The initializer.

    Raises:
        ValueError: The name is unknown.
    """
    if callable(init_type):
        return init_type
    if isinstance(init_type, str) and init_type in _INITS:
        return _INITS[init_type]
    raise ValueError(
        f"unknown init_type {init_type!r}; expected one of: " + ", ".join(sorted(_INITS))
    )
