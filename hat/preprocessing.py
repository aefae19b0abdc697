"""Label encodings: class indices to one-hot rows and back."""

import numpy as np


def sparse_to_categorical(x, n_out: int) -> np.ndarray:
    """One-hot float32 rows of width n_out for integer labels x (shape x.shape + (n_out,))."""
    x = np.asarray(x)
    if isinstance(n_out, bool) or not isinstance(n_out, (int, np.integer)) or n_out < 1:
        raise ValueError(f"n_out must be a positive int; got {n_out!r}")
    if x.dtype.kind == "f":
        if not np.all(np.isfinite(x)) or np.any(x != np.round(x)):
            raise ValueError("sparse_to_categorical expects integer class labels; got non-integers")
    elif x.dtype.kind not in "iub":
        raise TypeError(f"sparse_to_categorical expects integer labels; got dtype {x.dtype}")
    labels = x.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_out):
        raise ValueError(
            f"labels must lie in [0, {n_out - 1}] for n_out={n_out}; "
            f"got values from {labels.min()} to {labels.max()}"
        )
    out = np.zeros(labels.shape + (n_out,), dtype=np.float32)
    np.put_along_axis(out, labels[..., None], 1.0, axis=-1)
    return out


def categorical_to_sparse(x) -> np.ndarray:
    """Class indices (int64) of one-hot or probability rows: the argmax of the last axis."""
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ValueError(f"categorical_to_sparse expects rows of class scores; got shape {x.shape}")
    return x.argmax(axis=-1).astype(np.int64)
