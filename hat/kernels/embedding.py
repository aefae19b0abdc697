"""Embedding kernels: a checked gather of rows by token id, and its scatter-add gradient.

The model hands its inputs over as floats (it casts them to its dtype), so the gather reads
ids of any numeric dtype and checks each one while it converts it: one pass instead of
numpy's separate conversion, whole-number, range and gather passes.
"""

from hat.kernels.jit import jit


@jit
def gather_rows(x, W, ids, y):
    """ids[i] = x[i] as an integer and y[i] = W[ids[i]] for the flat id array x; returns -1,
    or the index of the first entry that is not a whole number in [0, len(W)) (y and ids
    are then only partly written)."""
    n_vocab, width = W.shape
    for i in range(x.shape[0]):
        v = x[i]
        # The range test first, on the value itself: it also rejects NaN and Inf, which
        # have no integer to convert to.
        if not (v >= 0 and v < n_vocab):
            return i
        token = int(v)
        if token != v:
            return i
        ids[i] = token
        row, out = W[token], y[i]
        for j in range(width):
            out[j] = row[j]
    return -1


@jit
def scatter_add_rows(ids, dy, dW):
    """dW = 0, then dW[ids[i]] += dy[i] for i in order: a token seen several times sums its
    gradients in a fixed order, so the same batch gives the same bits."""
    dW[...] = 0
    width = dW.shape[1]
    for i in range(ids.shape[0]):
        src, dst = dy[i], dW[ids[i]]
        for j in range(width):
            dst[j] += src[j]
