"""A convolution and the 2x2 max pooling after it, computed together at inference.

Conv2D's im2col path, when a MaxPool2D is folded into it (hat.layers.pooling.fold_pools),
orders each sample's columns by window position: block q = 2 * dy + dx holds the outputs at
(2 * pi + dy, 2 * pj + dx) for every pooled pixel (pi, pj). The GEMM then leaves the four
values each pooled pixel takes its maximum of in four contiguous rows, so the bias, the
activation and the maximum are three passes over rows in cache instead of a strided walk over
the full-size output, and outputs no window covers (the last row or column of an odd size) are
never computed. Each value is the same sum as in the plain im2col path (the same columns and
weights), and bias, activation and maximum are applied in the same order as
bias_activate_nchw followed by pooling.maxpool2x2_values: the same bits. A layer of one input
channel with ReLU or no activation skips the columns: hat/kernels/conv_direct.py.
"""

import numpy as np

from hat.kernels.activations import LINEAR, RELU, activate_row
from hat.kernels.jit import jit


@jit
def im2col_pooled(xp, kh, kw, ph, pw, cols):
    """cols[(c*kh + i)*kw + j, s*4*P + q*P + pi*pw + pj] = xp[s, c, y + i, x + j] with
    (y, x) = (2*pi + dy, 2*pj + dx), q = 2*dy + dx, P = ph * pw: the columns of a stride-1
    convolution's outputs that the pooled pixels (ph x pw of them) read, grouped by window
    position. Each image is first split into its four phases (even or odd rows and columns),
    in which every column's run along pj is contiguous: copies as plain im2col's, not a
    stride-2 gather (4x as long for cnn_bn.py's first layer)."""
    n, c, hp, wp = xp.shape
    plane = ph * pw
    phase = np.empty((2, 2, (hp + 1) // 2, (wp + 1) // 2), xp.dtype)
    for s in range(n):
        for ch in range(c):
            for r in range(hp):
                src, even, odd = xp[s, ch, r], phase[r % 2, 0, r // 2], phase[r % 2, 1, r // 2]
                for t in range(wp // 2):
                    even[t], odd[t] = src[2 * t], src[2 * t + 1]
                if wp % 2:
                    even[wp // 2] = src[wp - 1]
            for i in range(kh):
                for j in range(kw):
                    row = cols[(ch * kh + i) * kw + j]
                    for q in range(4):
                        a, b = q // 2 + i, q % 2 + j  # the input offset of window position q
                        img, r0, c0 = phase[a % 2, b % 2], a // 2, b // 2
                        for p in range(ph):
                            start = (s * 4 + q) * plane + p * pw
                            dst, src = row[start : start + pw], img[r0 + p, c0 : c0 + pw]
                            for t in range(pw):
                                dst[t] = src[t]


# The loops below index one row with offsets (row[plane + p]) rather than taking four views
# of it and calling a helper: the helper's form measured 2x as long (2.0 against 1.0 ms for
# cnn_bn.py's first layer at 1,000 images, one thread).


@jit
def bias_act_max4(z, b, act, alpha, y):
    """y[s, f, p] = the maximum over q of act(z[f, (4 * s + q) * P + p] + b[f]) (b empty: no
    bias), z (F, S * 4 * P) as one GEMM over a chunk's columns leaves it, y (S, F, P); NaN
    wherever one of the four is NaN, as maxpool2x2_values.
    ReLU (as activate_row computes it: v times 0 or 1) in one pass; the other activations on
    z in place first."""
    n, nf, plane = y.shape
    has_bias = b.shape[0] == nf
    zero, one, nan = y.dtype.type(0.0), y.dtype.type(1.0), y.dtype.type(np.nan)
    for s in range(n):
        for f in range(nf):
            row, out = z[f, 4 * plane * s : 4 * plane * (s + 1)], y[s, f]
            bias = b[f] if has_bias else zero
            if act == RELU:  # a zero bias added changes no bits that ReLU keeps
                for p in range(plane):
                    a, c = row[p] + bias, row[plane + p] + bias
                    d, e = row[2 * plane + p] + bias, row[3 * plane + p] + bias
                    a, c = a * (one if a > zero else zero), c * (one if c > zero else zero)
                    d, e = d * (one if d > zero else zero), e * (one if e > zero else zero)
                    best = max(max(max(a, c), d), e)
                    out[p] = best if not ((a != a) | (c != c) | (d != d) | (e != e)) else nan
                continue
            if has_bias:
                for k in range(4 * plane):
                    row[k] += bias
            if act != LINEAR:
                activate_row(row, act, alpha)
            for p in range(plane):
                a, c = row[p], row[plane + p]
                d, e = row[2 * plane + p], row[3 * plane + p]
                best = max(max(max(a, c), d), e)
                out[p] = best if not ((a != a) | (c != c) | (d != d) | (e != e)) else nan
