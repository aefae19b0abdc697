"""A convolution of one input channel read straight from the image: the first layer of the
MNIST CNNs, forward (conv1_forward), with its 2x2 max pool folded at inference
(conv1_pooled), and its weights' gradient (conv1_weight_grad).

With one input channel the im2col path's product has k = kh * kw (9 or 25): too short for a
GEMM to pay for its columns. Each column matrix is a 9- or 25-fold copy of the image (kept
from forward to backward in training), and the product stores every output before the bias,
the activation or the pooling reads it again: the layer was bound by memory. Here
micro-kernels keep their sums in AVX-512 registers and read the image itself:
- forward: 8 filters x 32 columns of an output row (16 registers); per tap two input vectors
  and 8 broadcast weights;
- pooled: 4 filters x 2 rows x 32 columns, each window's four candidates taken from the
  registers (even and odd lanes); only the pooled values are stored;
- weights' gradient: per kernel row, 4 filters x 5 (3, 1) taps, dz times the shifted image
  rows summed in 16 lanes over the chunk, the lanes added at the end; dz computed once by
  the layer (built from dy and y inside the tiles, it was rebuilt once per kernel row).
Figures: docs/performance-keras.md, "The first convolution read from the image".

Bits: each output is a chain of fused multiply-adds from zero over the taps in row-major
order, as hat's GEMM (sgemm) computes it on columns, then the bias; so the forward is the
im2col path's bits wherever that ran on hat's GEMM (k >= 16, or the folded pooling for any
k), with ReLU (v times 1 or 0) as activations.activate_row applies it, and the pooled kernel
takes bias, ReLU and the window's maximum in conv_pool.bias_act_max4's order (numba's max:
the later value where it is greater), NaN wherever one of the four is NaN. The weights'
gradient sums in its own fixed order: the same bits every run, whichever thread, not numpy's.
Written in LLVM IR (intrinsics; hat/kernels/vector_ir.py), as sgemm's tile is: numba's own
loops kept such sums in memory (4-5x slower than im2col, see hat/kernels/conv.py).
"""

import os

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from hat.kernels.activations import RELU
from hat.kernels.jit import jit
from hat.kernels.vector_ir import LANES, Emit

ENABLED = os.environ.get("HAT_CONV_DIRECT", "1") != "0"
"""Whether Conv2D takes these kernels where they apply (applies()); HAT_CONV_DIRECT=0 turns
them off (the im2col path then runs, as before them). benchmarks/bench_conv.py
--first-layers switches it between rounds to compare the two."""
BLOCK_COLS = 2 * LANES  # output columns a tile covers (two vectors a row)
GEOMETRY = 11  # ints in the forward tiles' geometry tuple, see _pooled_tile
GRAD_GEOMETRY = 15  # ints in the weight-gradient tiles' tuple, see _grad_tile
ROW_FILTERS = 8  # filters a forward row tile computes (16 accumulators)
GRAD_TAPS = (5, 3, 1)  # taps of a kernel row one weight-gradient tile takes
GRAD_FILTERS = 4  # filters one weight-gradient tile takes (20 accumulators at 5 taps)


def _sum_taps(e, geometry, s, first_row, rows, q0, ncols, f0, filters, clamp=None):
    """Per filter f0 + f, per output row first_row + r (r < rows), per vector: the chain of
    fused multiply-adds from zero over the taps in row-major order (sgemm's order), in
    accumulator slots accs[(f * rows + r) * 2 + v]. clamp: the last filter index to read
    (filters past it repeat it), or None."""
    b = e.b
    x_data, xs, xr, w_data, kh, kw = geometry[:6]
    x_data, w_data = e.pointer(x_data), e.pointer(w_data)
    masks = e.block_masks(ncols)
    taps = b.mul(kh, kw)
    x_at = b.add(b.mul(s, xs), q0)
    weights_at = []
    for f in range(filters):
        channel = b.add(f0, e.const(f))
        if clamp is not None:
            channel = b.select(b.icmp_signed(">", channel, clamp), clamp, channel)
        weights_at.append(b.mul(channel, taps))
    accs = e.accumulators(filters * rows * 2)
    with cgutils.for_range(b, kh) as row_loop:
        i = row_loop.index
        with cgutils.for_range(b, kw) as col_loop:
            j = col_loop.index
            inputs = []
            for r in range(rows):
                row = b.add(b.add(first_row, e.const(r)), i)
                start = b.add(b.add(x_at, j), b.mul(row, xr))
                for v in range(2):
                    inputs.append(e.load(x_data, b.add(start, e.const(v * LANES)), masks[v]))
            tap = b.add(b.mul(i, kw), j)
            for f in range(filters):
                w = e.splat(e.scalar(w_data, b.add(weights_at[f], tap)))
                for k, value in enumerate(inputs):
                    e.fma_into(accs[f * rows * 2 + k], w, value)
    return accs, masks


def _check_geometry(g, count):
    return isinstance(g, types.UniTuple) and g.count == count and g.dtype == types.int64


def _pooled_tile(filters: int):
    """The intrinsic tile(g, s, pi, q0, ncols, f0, relu, has_bias): for filters f0 ..
    f0 + filters - 1 of sample s, the outputs of rows 2 * pi and 2 * pi + 1, columns q0 ..
    q0 + ncols - 1 (ncols even, at most 32), act(conv + bias) 2x2 max pooled into y[s, f, pi,
    q0 / 2 ...]. g: (x's address, its sample and row strides, W's address (F, kh * kw rows),
    kh, kw, b's address, y's address, its sample, channel and row strides), strides in
    floats; x's and y's rows unit-stride."""

    @intrinsic
    def tile(typingctx, g, s, pi, q0, ncols, f0, relu, has_bias):
        if not _check_geometry(g, GEOMETRY):
            return None
        sig = types.void(g, s, pi, q0, ncols, f0, relu, has_bias)

        def codegen(context, builder, signature, args):
            e, b = Emit(builder), builder
            geometry = cgutils.unpack_tuple(builder, args[0])
            s_, pi_, q0_, ncols_, f0_, relu_, bias_ = args[1:]
            b_data, y_data, ys, yc, yr = geometry[6:]
            b_data, y_data = e.pointer(b_data), e.pointer(y_data)
            first_row = b.mul(pi_, e.const(2))
            accs, _ = _sum_taps(e, geometry, s_, first_row, 2, q0_, ncols_, f0_, filters)
            out_mask = e.below(b.ashr(ncols_, e.const(1)))
            nan = e.fill(float("nan"))
            relu_on = e.flag(relu_)
            # ReLU adds the bias even when there is none (a zero then), as bias_act_max4
            # does; a linear activation adds only a real one.
            add_bias = b.or_(relu_on, e.flag(bias_))
            picks = ir.VectorType(e.i32, LANES)
            even = ir.Constant(picks, [ir.Constant(e.i32, 2 * t) for t in range(LANES)])
            odd = ir.Constant(picks, [ir.Constant(e.i32, 2 * t + 1) for t in range(LANES)])

            def later_if_greater(acc, v):  # numba's max(acc, v)
                return b.select(b.fcmp_ordered(">", v, acc), v, acc)

            def is_nan(v):
                return b.fcmp_unordered("uno", v, v)

            for f in range(filters):
                channel = b.add(f0_, e.const(f))
                bias = b.select(e.flag(bias_), e.scalar(b_data, channel), ir.Constant(e.f32, 0.0))
                bias = e.splat(bias)
                values = []
                for k in range(4):
                    z = b.load(accs[f * 4 + k])
                    z = b.select(add_bias, b.fadd(z, bias), z)
                    values.append(b.select(relu_on, e.relu(z), z))
                # Window (t): a, c = row 0's columns 2t, 2t + 1; d, e = row 1's.
                a = b.shuffle_vector(values[0], values[1], even)
                c = b.shuffle_vector(values[0], values[1], odd)
                d = b.shuffle_vector(values[2], values[3], even)
                w = b.shuffle_vector(values[2], values[3], odd)
                best = later_if_greater(later_if_greater(later_if_greater(a, c), d), w)
                any_nan = b.or_(b.or_(is_nan(a), is_nan(c)), b.or_(is_nan(d), is_nan(w)))
                best = b.select(any_nan, nan, best)
                out = b.add(
                    b.add(b.mul(s_, ys), b.mul(channel, yc)),
                    b.add(b.mul(pi_, yr), b.ashr(q0_, e.const(1))),
                )
                e.store(best, y_data, out, out_mask)
            return context.get_dummy_value()

        return sig, codegen

    return tile


def _row_tile(filters: int):
    """The intrinsic tile(g, s, p, q0, ncols, f0, nf, relu, has_bias): act(conv + bias) of
    sample s's output row p, columns q0 .. q0 + ncols - 1 (at most 32), for filters f0 ..
    min(f0 + filters, nf) - 1, into y[s, f, p, q0 ...]; g as _pooled_tile's. The bias and
    ReLU as conv.bias_activate_nchw applies them (the bias only where there is one)."""

    @intrinsic
    def tile(typingctx, g, s, p, q0, ncols, f0, nf, relu, has_bias):
        if not _check_geometry(g, GEOMETRY):
            return None
        sig = types.void(g, s, p, q0, ncols, f0, nf, relu, has_bias)

        def codegen(context, builder, signature, args):
            e, b = Emit(builder), builder
            geometry = cgutils.unpack_tuple(builder, args[0])
            s_, p_, q0_, ncols_, f0_, nf_, relu_, bias_ = args[1:]
            b_data, y_data, ys, yc, yr = geometry[6:]
            b_data, y_data = e.pointer(b_data), e.pointer(y_data)
            last = b.sub(nf_, e.const(1))
            accs, masks = _sum_taps(e, geometry, s_, p_, 1, q0_, ncols_, f0_, filters, last)
            relu_on, add_bias = e.flag(relu_), e.flag(bias_)
            row_at = b.add(b.add(b.mul(s_, ys), b.mul(p_, yr)), q0_)
            for f in range(filters):
                channel = b.add(f0_, e.const(f))
                with b.if_then(b.icmp_signed("<", channel, nf_)):
                    bias = e.splat(e.scalar(b_data, channel))
                    out = b.add(row_at, b.mul(channel, yc))
                    for v in range(2):
                        z = b.load(accs[f * 2 + v])
                        z = b.select(add_bias, b.fadd(z, bias), z)
                        z = b.select(relu_on, e.relu(z), z)
                        e.store(z, y_data, b.add(out, e.const(v * LANES)), masks[v])
            return context.get_dummy_value()

        return sig, codegen

    return tile


def _grad_tile(taps: int):
    """The intrinsic tile(g, i, j0, f0): for filters f0 .. f0 + 3 (those past the last, nf -
    1, repeat it and are not written), the weights' gradient at kernel row i, taps j0 .. j0 +
    taps - 1, summed over a chunk: dW[f, i * kw + j] = the sum over (s, p, q) of dz[s, f, p,
    q] * x[s, p + i, q + j]; with j0 = 0 at i = 0 also db[f] = the sum of dz. Each sum runs in
    16 lanes over (s, p, 16-column block) in order, then the lanes halves by halves: a fixed
    order. g: (x's address, its sample and row strides, dz's address, its sample, channel and
    row strides, samples, output rows, output columns, nf, dW's address (F, kh * kw rows),
    db's address, kh, kw)."""

    @intrinsic
    def tile(typingctx, g, i, j0, f0):
        if not _check_geometry(g, GRAD_GEOMETRY):
            return None
        sig = types.void(g, i, j0, f0)

        def codegen(context, builder, signature, args):
            e, b = Emit(builder), builder
            geometry = cgutils.unpack_tuple(builder, args[0])
            i_, j0_, f0_ = args[1:]
            x_data, xs, xr, dz_data, ds, dc, dr, n, oh, ow, nf = geometry[:11]
            dw_data, db_data, kh, kw = geometry[11:]
            x_data, dz_data = e.pointer(x_data), e.pointer(dz_data)
            dw_data, db_data = e.pointer(dw_data), e.pointer(db_data)
            last = b.sub(nf, e.const(1))
            channels, wanted = [], []
            for f in range(GRAD_FILTERS):
                channel = b.add(f0_, e.const(f))
                wanted.append(b.icmp_signed("<=", channel, last))
                channels.append(b.select(wanted[-1], channel, last))
            accs = e.accumulators(GRAD_FILTERS * taps)  # [f * taps + j]
            sums = e.accumulators(GRAD_FILTERS)  # db
            vectors = b.sdiv(b.add(ow, e.const(LANES - 1)), e.const(LANES))
            with cgutils.for_range(b, n) as sample_loop:
                s = sample_loop.index
                with cgutils.for_range(b, oh) as row_loop:
                    p = row_loop.index
                    with cgutils.for_range(b, vectors) as vector_loop:
                        q0 = b.mul(vector_loop.index, e.const(LANES))
                        mask = e.below(b.sub(ow, q0))
                        grads = []
                        for channel in channels:
                            at = b.add(b.add(b.mul(s, ds), b.mul(channel, dc)), b.mul(p, dr))
                            grads.append(e.load(dz_data, b.add(at, q0), mask))
                        x_at = b.add(b.add(b.mul(s, xs), b.mul(b.add(p, i_), xr)), q0)
                        x_at = b.add(x_at, j0_)
                        for j in range(taps):
                            x = e.load(x_data, b.add(x_at, e.const(j)), mask)
                            for f in range(GRAD_FILTERS):
                                e.fma_into(accs[f * taps + j], grads[f], x)
                        for f in range(GRAD_FILTERS):
                            e.add_to(sums[f], grads[f])
            first_tap = b.add(b.mul(i_, kw), j0_)
            want_db = b.and_(
                b.icmp_signed("==", i_, e.const(0)), b.icmp_signed("==", j0_, e.const(0))
            )
            for f in range(GRAD_FILTERS):
                with b.if_then(wanted[f]):
                    row = b.add(b.mul(channels[f], b.mul(kh, kw)), first_tap)
                    for j in range(taps):
                        total = e.lane_sum(b.load(accs[f * taps + j]))
                        b.store(total, b.gep(dw_data, [b.add(row, e.const(j))]))
                    with b.if_then(want_db):
                        b.store(e.lane_sum(b.load(sums[f])), b.gep(db_data, [channels[f]]))
            return context.get_dummy_value()

        return sig, codegen

    return tile


_tile4, _tile1 = _pooled_tile(4), _pooled_tile(1)
_row8 = _row_tile(ROW_FILTERS)
_grad5, _grad3, _grad1 = (_grad_tile(taps) for taps in GRAD_TAPS)


@jit
def _forward_geometry(xp, W, b, y):
    """The forward tiles' geometry tuple (see _pooled_tile). With no bias, b's address is W's:
    memory the tiles may read but whose values they do not use (a zero array made here would
    be freed after its last use in the caller, before the tiles read it)."""
    bias_at = b.ctypes.data if b.shape[0] == W.shape[0] else W.ctypes.data
    return (
        np.int64(xp.ctypes.data), np.int64(xp.strides[0] // 4), np.int64(xp.strides[2] // 4),
        np.int64(W.ctypes.data), np.int64(W.shape[2]), np.int64(W.shape[3]), np.int64(bias_at),
        np.int64(y.ctypes.data), np.int64(y.strides[0] // 4), np.int64(y.strides[1] // 4),
        np.int64(y.strides[2] // 4),
    )  # fmt: skip


@jit
def conv1_pooled(xp, W, b, act, y):
    """y[s, f] = the 2x2 max pooling of act(conv(xp[s, 0], W[f, 0]) + b[f]) for a stride-1
    convolution of one input channel; xp (S, 1, HP, WP) the (padded) input, W (F, 1, kh, kw)
    C-contiguous, b (F,) or empty (no bias), act RELU or LINEAR, y (S, F, PH, PW) with
    2 * PH + kh - 1 <= HP and 2 * PW + kw - 1 <= WP. Rows of xp and y unit-stride."""
    n, nf, ph, pw = y.shape
    g = _forward_geometry(xp, W, b, y)
    relu, has_bias = act == RELU, b.shape[0] == nf
    for s in range(n):
        for pi in range(ph):
            for q0 in range(0, 2 * pw, BLOCK_COLS):
                ncols = min(BLOCK_COLS, 2 * pw - q0)
                f0 = 0
                while f0 + 4 <= nf:
                    _tile4(g, s, pi, q0, ncols, f0, relu, has_bias)
                    f0 += 4
                while f0 < nf:
                    _tile1(g, s, pi, q0, ncols, f0, relu, has_bias)
                    f0 += 1


def applies(layer_dtype, n_in: int, strides, code) -> bool:
    """Whether Conv2D's im2col path takes these kernels: ENABLED, float32, one input channel,
    stride 1, ReLU or linear, on a host where hat's own GEMM runs (AVX-512; the same bits as
    its product)."""
    from hat.kernels import sgemm
    from hat.kernels.activations import LINEAR

    return (
        ENABLED
        and np.dtype(layer_dtype) == np.float32
        and n_in == 1
        and tuple(strides) == (1, 1)
        and code in (RELU, LINEAR)
        and sgemm.available()
        and not numba.config.DISABLE_JIT
    )


@jit
def conv1_forward(xp, W, b, act, y):
    """y[s, f] = act(conv(xp[s, 0], W[f, 0]) + b[f]) for a stride-1 convolution of one input
    channel, the bias and ReLU as conv.bias_activate_nchw applies them; xp (S, 1, HP, WP) the
    (padded) input, W (F, 1, kh, kw) C-contiguous, b (F,) or empty, act RELU or LINEAR, y
    (S, F, OH, OW) with OH + kh - 1 <= HP and OW + kw - 1 <= WP."""
    n, nf, oh, ow = y.shape
    g = _forward_geometry(xp, W, b, y)
    relu, has_bias = act == RELU, b.shape[0] == nf
    for s in range(n):
        for p in range(oh):
            for q0 in range(0, ow, BLOCK_COLS):
                ncols = min(BLOCK_COLS, ow - q0)
                for f0 in range(0, nf, ROW_FILTERS):
                    _row8(g, s, p, q0, ncols, f0, nf, relu, has_bias)


@jit
def conv1_weight_grad(xp, dz, dW, db):
    """The weights' and bias's gradients of conv1_forward over these samples: dW (F, kh *
    kw) and db (F,) = the sums of dz[s, f] * xp[s, 0] under each tap and of dz, where dz (S,
    F, OH, OW), C-contiguous, is the gradient at the layer's pre-activation (Conv2D computes
    it once, through the activation's slope: built inside the tiles it was rebuilt once per
    kernel row). The sums run in a fixed order (see _grad_tile): the same bits every run,
    whichever thread computes them."""
    n, nf, oh, ow = dz.shape
    kh, kw = xp.shape[2] - oh + 1, xp.shape[3] - ow + 1
    g = (
        np.int64(xp.ctypes.data), np.int64(xp.strides[0] // 4), np.int64(xp.strides[2] // 4),
        np.int64(dz.ctypes.data),
        np.int64(dz.strides[0] // 4), np.int64(dz.strides[1] // 4), np.int64(dz.strides[2] // 4),
        np.int64(n), np.int64(oh), np.int64(ow), np.int64(nf),
        np.int64(dW.ctypes.data), np.int64(db.ctypes.data), np.int64(kh), np.int64(kw),
    )  # fmt: skip
    for i in range(kh):
        for f0 in range(0, nf, GRAD_FILTERS):
            j0 = 0
            while j0 + 5 <= kw:
                _grad5(g, i, j0, f0)
                j0 += 5
            while j0 + 3 <= kw:
                _grad3(g, i, j0, f0)
                j0 += 3
            while j0 < kw:
                _grad1(g, i, j0, f0)
                j0 += 1
