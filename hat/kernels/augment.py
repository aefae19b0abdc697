"""Data augmentation kernels."""

from hat.kernels.jit import jit


@jit
def shift_images(x, shifts, out):
    """out[n] = x[n] moved by shifts[n] = (down, right) pixels (negative: up, left), zero-filled.

    x and out are (N, C, H, W); shifts is (N, 2) int.
    """
    n, c, h, w = x.shape
    zero = x.dtype.type(0.0)
    for s in range(n):
        dy, dx = shifts[s, 0], shifts[s, 1]
        i_lo, i_hi = max(0, dy), min(h, h + dy)
        j_lo, j_hi = max(0, dx), min(w, w + dx)
        for ch in range(c):
            for i in range(h):
                row = out[s, ch, i]
                if i < i_lo or i >= i_hi:
                    row[:] = zero
                    continue
                src = x[s, ch, i - dy]
                for j in range(w):
                    row[j] = src[j - dx] if j_lo <= j < j_hi else zero
