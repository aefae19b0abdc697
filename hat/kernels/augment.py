"""Data augmentation kernels."""

import numpy as np

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


@jit
def affine_images(x, params, out):
    """out[n] = x[n] rotated, scaled and moved about the image's centre, sampled bilinearly,
    zero outside. params[n] = (cos(a) / s, sin(a) / s, down, right) for an angle a
    (counter-clockwise), a scale s and a shift in pixels: output pixel p takes the input at
    R(-a) (p - centre - shift) / s + centre.

    x and out are (N, C, H, W); params is (N, 4) float64.
    """
    n, c, h, w = x.shape
    ci, cj = (h - 1) / 2.0, (w - 1) / 2.0
    zero = x.dtype.type(0.0)
    for s in range(n):
        cs, sn, ti, tj = params[s, 0], params[s, 1], params[s, 2], params[s, 3]
        for i in range(h):
            for j in range(w):
                di, dj = i - ci - ti, j - cj - tj
                # R(-a) in (row, column) coordinates, rows growing downwards.
                si = ci + cs * di + sn * dj
                sj = cj - sn * di + cs * dj
                i0, j0 = int(np.floor(si)), int(np.floor(sj))
                fi, fj = si - i0, sj - j0
                w00 = x.dtype.type((1.0 - fi) * (1.0 - fj))
                w01 = x.dtype.type((1.0 - fi) * fj)
                w10 = x.dtype.type(fi * (1.0 - fj))
                w11 = x.dtype.type(fi * fj)
                in_i0, in_i1 = 0 <= i0 < h, 0 <= i0 + 1 < h
                in_j0, in_j1 = 0 <= j0 < w, 0 <= j0 + 1 < w
                for ch in range(c):
                    img = x[s, ch]
                    v = zero
                    if in_i0 and in_j0:
                        v += w00 * img[i0, j0]
                    if in_i0 and in_j1:
                        v += w01 * img[i0, j0 + 1]
                    if in_i1 and in_j0:
                        v += w10 * img[i0 + 1, j0]
                    if in_i1 and in_j1:
                        v += w11 * img[i0 + 1, j0 + 1]
                    out[s, ch, i, j] = v
