"""Masks on (batch, time) steps: the checks and the window arithmetic the sequence layers
share. A mask holds nonzero values (1 or True) on real steps and zeros on padding."""

import numpy as np


def as_mask(layer, mask, x: np.ndarray) -> np.ndarray | None:
    """mask as a C-contiguous (N, T) array of x's dtype, checked against x (N, T, ...); None
    stays None."""
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{type(layer).__name__} got a mask of dtype {arr.dtype}; expected 0/1 numbers or "
            "booleans, 1 on real steps"
        )
    if arr.shape != x.shape[:2]:
        raise ValueError(
            f"{type(layer).__name__} got a mask of shape {arr.shape}, which does not fit its "
            f"input of shape {x.shape}: expected (batch, time) = {x.shape[:2]}"
        )
    return np.ascontiguousarray(arr != 0, dtype=x.dtype)


def window_mask(mask, kernel: int, stride: int, pads: tuple[int, int], t_out: int):
    """The mask of a windowed layer's output: a step is real when its window (kernel steps
    every stride, after pads zero steps before and after) holds at least one real step."""
    if mask is None:
        return None
    real = np.asarray(mask) != 0
    padded = np.pad(real, ((0, 0), pads))
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=1)
    return windows[:, ::stride][:, :t_out].any(axis=2)
