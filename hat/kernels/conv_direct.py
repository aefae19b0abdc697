"""A one-channel convolution read straight from the image, with its bias, activation and
2x2 max pooling, at inference: the first layer of the MNIST CNNs.

With one input channel the im2col path's product has k = kh * kw (9 or 25): too short for a
GEMM to pay for its columns. Each column matrix is a 9- or 25-fold copy of the image, and the
product then stores every output before the pooling reads it again. Here a micro-kernel keeps
the outputs of 4 filters x 2 rows x 32 columns in 16 AVX-512 registers, reads each tap's two
input rows once for the 4 filters, and leaves only the pooled values: no columns, no
full-size output. For cnn_bn.py's first layer (32 filters 3x3 on 28 x 28, pooled to 13 x 13),
one thread, 1,000 images: see docs/performance-keras.md.

The same bits as the im2col path on hat's GEMM (sgemm), which the folded pooling takes for
every k: each output is a chain of fused multiply-adds from zero over the taps in row-major
order, then the bias is added, then ReLU (v times 1 or 0) and the window's maximum in the
order conv_pool.bias_act_max4 takes them (numba's max: the later value where it is greater),
NaN wherever one of the four is NaN. Written in LLVM IR (an intrinsic), as sgemm's tile is:
numba's own loops kept such accumulators in memory.
"""

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from hat.kernels.activations import RELU
from hat.kernels.jit import jit

LANES = 16
BLOCK_COLS = 2 * LANES  # output columns a tile covers (two vectors a row)
GEOMETRY = 11  # ints in the tiles' geometry tuple, see _pooled_tile


def _pooled_tile(filters: int):
    """The intrinsic tile(g, s, pi, q0, ncols, f0, relu, has_bias): for filters f0 ..
    f0 + filters - 1 of sample s, the outputs of rows 2 * pi and 2 * pi + 1, columns q0 ..
    q0 + ncols - 1 (ncols even, at most 32), act(conv + bias) 2x2 max pooled into y[s, f, pi,
    q0 / 2 ...]. g: (x's address, its sample and row strides, W's address (F, kh * kw rows),
    kh, kw, b's address, y's address, its sample, channel and row strides), strides in
    floats; x's and y's rows unit-stride."""

    @intrinsic
    def tile(typingctx, g, s, pi, q0, ncols, f0, relu, has_bias):
        if not (isinstance(g, types.UniTuple) and g.count == GEOMETRY and g.dtype == types.int64):
            return None
        sig = types.void(g, s, pi, q0, ncols, f0, relu, has_bias)

        def codegen(context, builder, signature, args):
            geometry = cgutils.unpack_tuple(builder, args[0])
            s_, pi_, q0_, ncols_, f0_, relu_, bias_ = args[1:]
            i1, i32, i64, f32 = ir.IntType(1), ir.IntType(32), ir.IntType(64), ir.FloatType()
            vec, mask_ty = ir.VectorType(f32, LANES), ir.VectorType(i1, LANES)
            vptr, align = vec.as_pointer(), ir.Constant(i32, 4)
            module = builder.module
            fma = cgutils.get_or_insert_function(
                module, ir.FunctionType(vec, [vec, vec, vec]), "llvm.fma.v16f32"
            )
            load = cgutils.get_or_insert_function(
                module,
                ir.FunctionType(vec, [vptr, i32, mask_ty, vec]),
                "llvm.masked.load.v16f32.p0",
            )
            store = cgutils.get_or_insert_function(
                module,
                ir.FunctionType(ir.VoidType(), [vec, vptr, i32, mask_ty]),
                "llvm.masked.store.v16f32.p0",
            )

            def const(v):
                return ir.Constant(i64, v)

            def splat(value, ty=f32):
                undef = ir.Constant(ir.VectorType(ty, LANES), ir.Undefined)
                one = builder.insert_element(undef, value, ir.Constant(i32, 0))
                zeros = ir.Constant(ir.VectorType(i32, LANES), [0] * LANES)
                return builder.shuffle_vector(one, undef, zeros)

            fptr = f32.as_pointer()
            x_data, xs, xr, w_data, kh, kw, b_data, y_data, ys, yc, yr = geometry
            x_data, w_data, b_data, y_data = (
                builder.inttoptr(v, fptr) for v in (x_data, w_data, b_data, y_data)
            )

            def at(data, offset):
                return builder.bitcast(builder.gep(data, [offset]), vptr)

            lanes = ir.Constant(ir.VectorType(i64, LANES), [const(j) for j in range(LANES)])

            def first(count):  # the mask of lanes below count
                return builder.icmp_signed("<", lanes, splat(count, i64))

            in_masks = [first(ncols_), first(builder.sub(ncols_, const(LANES)))]
            out_mask = first(builder.ashr(ncols_, const(1)))
            zero = ir.Constant(vec, [ir.Constant(f32, 0.0)] * LANES)
            taps = builder.mul(kh, kw)
            x_at = builder.add(builder.mul(s_, xs), q0_)
            rows = [builder.add(builder.mul(pi_, const(2)), const(r)) for r in range(2)]

            # accs[(f * 2 + r) * 2 + v]: filter f0 + f, output row 2 * pi + r, vector v.
            accs = [cgutils.alloca_once_value(builder, zero) for _ in range(filters * 4)]
            with cgutils.for_range(builder, kh) as row_loop:
                i = row_loop.index
                with cgutils.for_range(builder, kw) as col_loop:
                    j = col_loop.index
                    inputs = []
                    for r in range(2):
                        start = builder.add(
                            builder.add(x_at, j), builder.mul(builder.add(rows[r], i), xr)
                        )
                        for v in range(2):
                            p = at(x_data, builder.add(start, const(v * LANES)))
                            inputs.append(builder.call(load, [p, align, in_masks[v], zero]))
                    tap = builder.add(builder.mul(i, kw), j)
                    for f in range(filters):
                        w_at = builder.add(builder.mul(builder.add(f0_, const(f)), taps), tap)
                        w = splat(builder.load(builder.gep(w_data, [w_at])))
                        for k in range(4):
                            slot = accs[f * 4 + k]
                            value = builder.call(fma, [w, inputs[k], builder.load(slot)])
                            builder.store(value, slot)

            one = ir.Constant(vec, [ir.Constant(f32, 1.0)] * LANES)
            nan = ir.Constant(vec, [ir.Constant(f32, float("nan"))] * LANES)
            relu_on = builder.icmp_unsigned("!=", relu_, ir.Constant(relu_.type, 0))
            # ReLU adds the bias even when there is none (b holds zeros then), as
            # bias_act_max4 does; a linear activation adds only a real one.
            add_bias = builder.or_(
                relu_on, builder.icmp_unsigned("!=", bias_, ir.Constant(bias_.type, 0))
            )
            picks = ir.VectorType(i32, LANES)
            even = ir.Constant(picks, [ir.Constant(i32, 2 * t) for t in range(LANES)])
            odd = ir.Constant(picks, [ir.Constant(i32, 2 * t + 1) for t in range(LANES)])

            def later_if_greater(acc, v):  # numba's max(acc, v)
                return builder.select(builder.fcmp_ordered(">", v, acc), v, acc)

            def is_nan(v):
                return builder.fcmp_unordered("uno", v, v)

            for f in range(filters):
                channel = builder.add(f0_, const(f))
                bias = splat(builder.load(builder.gep(b_data, [channel])))
                values = []
                for k in range(4):
                    z = builder.load(accs[f * 4 + k])
                    z = builder.select(add_bias, builder.fadd(z, bias), z)
                    positive = builder.fcmp_ordered(">", z, zero)
                    rectified = builder.fmul(z, builder.select(positive, one, zero))
                    values.append(builder.select(relu_on, rectified, z))
                # Window (t): a, c = row 0's columns 2t, 2t + 1; d, e = row 1's.
                a = builder.shuffle_vector(values[0], values[1], even)
                c = builder.shuffle_vector(values[0], values[1], odd)
                d = builder.shuffle_vector(values[2], values[3], even)
                e = builder.shuffle_vector(values[2], values[3], odd)
                best = later_if_greater(later_if_greater(later_if_greater(a, c), d), e)
                any_nan = builder.or_(
                    builder.or_(is_nan(a), is_nan(c)), builder.or_(is_nan(d), is_nan(e))
                )
                best = builder.select(any_nan, nan, best)
                out = builder.add(
                    builder.add(builder.mul(s_, ys), builder.mul(channel, yc)),
                    builder.add(builder.mul(pi_, yr), builder.ashr(q0_, const(1))),
                )
                builder.call(store, [best, at(y_data, out), align, out_mask])
            return context.get_dummy_value()

        return sig, codegen

    return tile


_tile4, _tile1 = _pooled_tile(4), _pooled_tile(1)


@jit
def conv1_pooled(xp, W, b, act, y):
    """y[s, f] = the 2x2 max pooling of act(conv(xp[s, 0], W[f, 0]) + b[f]) for a stride-1
    convolution of one input channel; xp (S, 1, HP, WP) the (padded) input, W (F, 1, kh, kw)
    C-contiguous, b (F,) or empty (no bias), act RELU or LINEAR, y (S, F, PH, PW) with
    2 * PH + kh - 1 <= HP and 2 * PW + kw - 1 <= WP. Rows of xp and y unit-stride."""
    n, nf, ph, pw = y.shape
    bias = b if b.shape[0] == nf else np.zeros(nf, y.dtype)
    g = (
        np.int64(xp.ctypes.data), np.int64(xp.strides[0] // 4), np.int64(xp.strides[2] // 4),
        np.int64(W.ctypes.data), np.int64(W.shape[2]), np.int64(W.shape[3]),
        np.int64(bias.ctypes.data),
        np.int64(y.ctypes.data), np.int64(y.strides[0] // 4), np.int64(y.strides[1] // 4),
        np.int64(y.strides[2] // 4),
    )  # fmt: skip
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
    """Whether conv1_pooled computes a folded pooling: float32, one input channel, stride 1,
    ReLU or linear, on a host where hat's own GEMM runs (AVX-512; the same bits as its
    product)."""
    from hat.kernels import sgemm
    from hat.kernels.activations import LINEAR

    return (
        np.dtype(layer_dtype) == np.float32
        and n_in == 1
        and tuple(strides) == (1, 1)
        and code in (RELU, LINEAR)
        and sgemm.available()
        and not numba.config.DISABLE_JIT
    )
