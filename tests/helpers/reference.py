"""Naive numpy references for the kernels and layers, written from the maths, not from hat.

Everything computes in float64 and loops where a loop is the plainest statement.
"""

import numpy as np

LEAKY_ALPHA = 0.2  # Hat's leaky_relu slope
ACTIVATION_NAMES = ["linear", "relu", "leaky_relu", "sigmoid", "hard_sigmoid", "tanh", "softmax"]


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax along the last axis, one row at a time."""
    z = np.asarray(z, dtype=np.float64)
    rows = z.reshape(-1, z.shape[-1])
    out = np.empty_like(rows)
    for i, row in enumerate(rows):
        e = np.exp(row - row.max())
        out[i] = e / e.sum()
    return out.reshape(z.shape)


def activation(name: str, z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    if name == "linear":
        return z.copy()
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, LEAKY_ALPHA * z)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "hard_sigmoid":
        return np.minimum(np.maximum(0.2 * z + 0.5, 0.0), 1.0)
    if name == "tanh":
        return np.tanh(z)
    if name == "softmax":
        return softmax(z)
    raise KeyError(name)


def activation_grad(name: str, z: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dL/dz from dL/dy for y = act(z), from the derivative in z (softmax: its Jacobian)."""
    z = np.asarray(z, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    if name == "linear":
        return dy.copy()
    if name == "relu":
        return np.where(z > 0, dy, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, dy, LEAKY_ALPHA * dy)
    if name == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return dy * s * (1.0 - s)
    if name == "hard_sigmoid":
        return np.where(np.abs(z) < 2.5, 0.2 * dy, 0.0)
    if name == "tanh":
        return dy * (1.0 - np.tanh(z) ** 2)
    if name == "softmax":
        return softmax_backward(softmax(z), dy)
    raise KeyError(name)


def softmax_backward(p: np.ndarray, dp: np.ndarray) -> np.ndarray:
    """dL/dz = J^T dL/dp with the full Jacobian J[i, j] = p_i (delta_ij - p_j), row by row."""
    p = np.asarray(p, dtype=np.float64)
    rows_p = p.reshape(-1, p.shape[-1])
    rows_dp = np.asarray(dp, dtype=np.float64).reshape(rows_p.shape)
    out = np.empty_like(rows_p)
    for r in range(rows_p.shape[0]):
        q = rows_p[r]
        jac = np.diag(q) - np.outer(q, q)
        out[r] = jac.T @ rows_dp[r]
    return out.reshape(p.shape)


def dense_forward(x, W, b, act: str = "linear") -> np.ndarray:
    x, W, b = (np.asarray(a, dtype=np.float64) for a in (x, W, b))
    n, n_in = x.shape
    n_out = W.shape[1]
    z = np.zeros((n, n_out))
    for i in range(n):
        for j in range(n_out):
            z[i, j] = sum(x[i, k] * W[k, j] for k in range(n_in)) + b[j]
    return activation(act, z)


def dropout_uniform(key: int, n: int) -> np.ndarray:
    """The n uniforms in [0, 1) of one dropout call: the top 24 bits of splitmix64 at states
    key + i * 0x9E3779B97F4A7C15 (numpy's uint64 arrays wrap, as the kernel's integers do)."""
    z = np.uint64(key) + np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return (z >> np.uint64(40)).astype(np.float64) / 2.0**24


def dropout_forward(x, key: int, p_drop: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverted dropout: (y, mask) with mask 1/(1-p) where the call's uniform >= p, else 0."""
    x = np.asarray(x, dtype=np.float64)
    keep = dropout_uniform(key, x.size).reshape(x.shape) >= p_drop
    mask = np.where(keep, 1.0 / (1.0 - p_drop), 0.0)
    return x * mask, mask


# -- losses: mean over samples of a sum over the last axis; gradients wrt the prediction p ------


def _clip_bounds(p, eps) -> tuple[float, float]:
    """eps and 1 - eps as the prediction's dtype holds them (1 - 1e-7 rounds in float32)."""
    dtype = np.asarray(p).dtype if np.asarray(p).dtype.kind == "f" else np.float64
    return float(dtype.type(eps)), float(dtype.type(1.0 - eps))


def categorical_crossentropy(p, y, eps=1e-7) -> tuple[float, np.ndarray]:
    lo, hi = _clip_bounds(p, eps)
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    n = p.shape[0]
    q = np.clip(p, lo, hi)
    value = -np.sum(y * np.log(q)) / n
    grad = np.where((p >= lo) & (p <= hi), -y / q / n, 0.0)
    return float(value), grad


def sparse_categorical_crossentropy(p, labels, eps=1e-7) -> tuple[float, np.ndarray]:
    p = np.asarray(p)
    onehot = np.zeros(p.shape, dtype=p.dtype)
    onehot[np.arange(p.shape[0]), np.asarray(labels).reshape(-1)] = 1
    return categorical_crossentropy(p, onehot, eps)


def binary_crossentropy(p, y, eps=1e-7) -> tuple[float, np.ndarray]:
    lo, hi = _clip_bounds(p, eps)
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    n = p.shape[0]
    q = np.clip(p, lo, hi)
    value = -np.sum(y * np.log(q) + (1 - y) * np.log(1 - q)) / n
    grad = np.where((p >= lo) & (p <= hi), (-y / q + (1 - y) / (1 - q)) / n, 0.0)
    return float(value), grad


def mean_squared_error(p, y) -> tuple[float, np.ndarray]:
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    n = p.shape[0]
    return float(np.sum((p - y) ** 2) / n), 2 * (p - y) / n


def mean_absolute_error(p, y) -> tuple[float, np.ndarray]:
    p, y = np.asarray(p, np.float64), np.asarray(y, np.float64)
    n = p.shape[0]
    return float(np.sum(np.abs(p - y)) / n), np.sign(p - y) / n


def sigmoid_backward(p, dp) -> np.ndarray:
    """dL/dz for p = sigmoid(z)."""
    p = np.asarray(p, np.float64)
    return np.asarray(dp, np.float64) * p * (1 - p)


# -- convolution, pooling, batch normalization (NCHW) -------------------------------------------


def pad2d(x, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def conv2d_forward(x, W, b, stride=(1, 1), pads=(0, 0, 0, 0)) -> np.ndarray:
    """Cross-correlation of x (N, C, H, W) with W (F, C, kh, kw), plus b; pads (t, b, l, r)."""
    xp = pad2d(x, *pads)
    W, b = np.asarray(W, np.float64), np.asarray(b, np.float64)
    n, f = xp.shape[0], W.shape[0]
    kh, kw = W.shape[2:]
    oh = (xp.shape[2] - kh) // stride[0] + 1
    ow = (xp.shape[3] - kw) // stride[1] + 1
    y = np.zeros((n, f, oh, ow))
    for s in range(n):
        for k in range(f):
            for p in range(oh):
                for q in range(ow):
                    r, c = p * stride[0], q * stride[1]
                    y[s, k, p, q] = np.sum(xp[s, :, r : r + kh, c : c + kw] * W[k]) + b[k]
    return y


def conv2d_backward(x, W, dy, stride=(1, 1), pads=(0, 0, 0, 0)):
    """(dx, dW, db) for conv2d_forward, by scattering each output's gradient."""
    xp = pad2d(x, *pads)
    W, dy = np.asarray(W, np.float64), np.asarray(dy, np.float64)
    kh, kw = W.shape[2:]
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    n, f, oh, ow = dy.shape
    for s in range(n):
        for k in range(f):
            for p in range(oh):
                for q in range(ow):
                    r, c = p * stride[0], q * stride[1]
                    dxp[s, :, r : r + kh, c : c + kw] += dy[s, k, p, q] * W[k]
                    dW[k] += dy[s, k, p, q] * xp[s, :, r : r + kh, c : c + kw]
    t, _, left, _ = pads
    dx = dxp[:, :, t : t + x.shape[2], left : left + x.shape[3]]
    return dx, dW, dy.sum(axis=(0, 2, 3))


def _windows(shape, pool, stride):
    oh = (shape[2] - pool[0]) // stride[0] + 1
    ow = (shape[3] - pool[1]) // stride[1] + 1
    for p in range(oh):
        for q in range(ow):
            r, c = p * stride[0], q * stride[1]
            yield p, q, slice(r, r + pool[0]), slice(c, c + pool[1])


def _pool_out(shape, pool, stride):
    return (
        shape[0],
        shape[1],
        (shape[2] - pool[0]) // stride[0] + 1,
        (shape[3] - pool[1]) // stride[1] + 1,
    )


def maxpool2d_forward(x, pool=(2, 2), stride=None) -> np.ndarray:
    x = np.asarray(x, np.float64)
    stride = stride or pool
    y = np.zeros(_pool_out(x.shape, pool, stride))
    for p, q, rows, cols in _windows(x.shape, pool, stride):
        y[:, :, p, q] = x[:, :, rows, cols].max(axis=(2, 3))
    return y


def maxpool2d_backward(x, dy, pool=(2, 2), stride=None) -> np.ndarray:
    """Each window's gradient goes to its first maximum in row-major order (PyTorch's rule)."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    stride = stride or pool
    dx = np.zeros_like(x)
    for p, q, rows, cols in _windows(x.shape, pool, stride):
        for s in range(x.shape[0]):
            for c in range(x.shape[1]):
                window = x[s, c, rows, cols]
                i, j = np.unravel_index(np.argmax(window), window.shape)  # argmax: the first
                dx[s, c, rows.start + i, cols.start + j] += dy[s, c, p, q]
    return dx


def avgpool2d_forward(x, pool=(2, 2), stride=None) -> np.ndarray:
    x = np.asarray(x, np.float64)
    stride = stride or pool
    y = np.zeros(_pool_out(x.shape, pool, stride))
    for p, q, rows, cols in _windows(x.shape, pool, stride):
        y[:, :, p, q] = x[:, :, rows, cols].mean(axis=(2, 3))
    return y


def avgpool2d_backward(x_shape, dy, pool=(2, 2), stride=None) -> np.ndarray:
    dy = np.asarray(dy, np.float64)
    stride = stride or pool
    dx = np.zeros(x_shape)
    for p, q, rows, cols in _windows(x_shape, pool, stride):
        dx[:, :, rows, cols] += dy[:, :, p, q][:, :, None, None] / (pool[0] * pool[1])
    return dx


def batchnorm_forward(x, gamma, beta, eps, axes, mean=None, var=None) -> np.ndarray:
    """gamma * (x - mean) / sqrt(var + eps) + beta over the reduced axes; mean and var default
    to the batch's (biased variance). gamma, beta, mean, var have the kept axes' shape."""
    x = np.asarray(x, np.float64)
    kept_shape = [1 if a in axes else d for a, d in enumerate(x.shape)]
    if mean is None:
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)

    def b(a):
        return np.asarray(a, np.float64).reshape(kept_shape)

    return b(gamma) * (x - b(mean)) / np.sqrt(b(var) + eps) + b(beta)
