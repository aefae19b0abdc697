"""LLVM IR for hat's vector micro-kernels (numba intrinsics): 16-float AVX-512 vectors,
masked loads and stores, fused multiply-adds, lane sums. Shared by hat/kernels/conv_direct.py
and sgemm_nt.py; hat/kernels/sgemm.py writes its own (its tile came first)."""

from llvmlite import ir
from numba.core import cgutils

LANES = 16  # floats in one AVX-512 register


class Emit:
    """The LLVM IR the tiles share: constants, splats, masked vector loads and stores."""

    def __init__(self, builder):
        self.b = builder
        self.i32, self.i64, self.f32 = ir.IntType(32), ir.IntType(64), ir.FloatType()
        self.vec = ir.VectorType(self.f32, LANES)
        mask_ty, vptr = ir.VectorType(ir.IntType(1), LANES), self.vec.as_pointer()
        self.align = ir.Constant(self.i32, 4)
        module = builder.module
        self._fma = cgutils.get_or_insert_function(
            module, ir.FunctionType(self.vec, [self.vec] * 3), "llvm.fma.v16f32"
        )
        self._load = cgutils.get_or_insert_function(
            module,
            ir.FunctionType(self.vec, [vptr, self.i32, mask_ty, self.vec]),
            "llvm.masked.load.v16f32.p0",
        )
        self._store = cgutils.get_or_insert_function(
            module,
            ir.FunctionType(ir.VoidType(), [self.vec, vptr, self.i32, mask_ty]),
            "llvm.masked.store.v16f32.p0",
        )
        self.zero = self.fill(0.0)
        self.one = self.fill(1.0)
        self._lanes = ir.Constant(
            ir.VectorType(self.i64, LANES), [self.const(j) for j in range(LANES)]
        )

    def const(self, v):
        return ir.Constant(self.i64, v)

    def fill(self, value):
        return ir.Constant(self.vec, [ir.Constant(self.f32, value)] * LANES)

    def splat(self, value, ty=None):
        ty = ty or self.f32
        undef = ir.Constant(ir.VectorType(ty, LANES), ir.Undefined)
        one = self.b.insert_element(undef, value, ir.Constant(self.i32, 0))
        zeros = ir.Constant(ir.VectorType(self.i32, LANES), [0] * LANES)
        return self.b.shuffle_vector(one, undef, zeros)

    def pointer(self, address):
        return self.b.inttoptr(address, self.f32.as_pointer())

    def below(self, count):
        """The mask of the lanes below count."""
        return self.b.icmp_signed("<", self._lanes, self.splat(count, self.i64))

    def block_masks(self, ncols):
        """The masks of a 32-column block's two vectors, ncols of its columns in use."""
        return [self.below(ncols), self.below(self.b.sub(ncols, self.const(LANES)))]

    def _at(self, data, offset):
        return self.b.bitcast(self.b.gep(data, [offset]), self.vec.as_pointer())

    def load(self, data, offset, mask):
        return self.b.call(self._load, [self._at(data, offset), self.align, mask, self.zero])

    def store(self, value, data, offset, mask):
        self.b.call(self._store, [value, self._at(data, offset), self.align, mask])

    def scalar(self, data, offset):
        return self.b.load(self.b.gep(data, [offset]))

    def fma(self, a, b, c):
        return self.b.call(self._fma, [a, b, c])

    def accumulators(self, count):
        """Zeroed vector slots that LLVM promotes to registers."""
        return [cgutils.alloca_once_value(self.b, self.zero) for _ in range(count)]

    def add_to(self, slot, value):
        self.b.store(self.b.fadd(self.b.load(slot), value), slot)

    def fma_into(self, slot, a, b):
        self.b.store(self.fma(a, b, self.b.load(slot)), slot)

    def relu(self, z):
        """z times 1 or 0, as activations.activate_row computes ReLU."""
        positive = self.b.fcmp_ordered(">", z, self.zero)
        return self.b.fmul(z, self.b.select(positive, self.one, self.zero))

    def flag(self, value):
        return self.b.icmp_unsigned("!=", value, ir.Constant(value.type, 0))

    def lane_sum(self, v):
        """The sum of v's lanes, halves added pairwise (8 + 8, 4 + 4, 2 + 2, 1 + 1)."""
        undef = ir.Constant(self.vec, ir.Undefined)
        width = LANES // 2
        while width:
            picks = [ir.Constant(self.i32, j + width) for j in range(width)]
            picks += [ir.Constant(self.i32, j) for j in range(LANES - width)]
            upper = self.b.shuffle_vector(
                v, undef, ir.Constant(ir.VectorType(self.i32, LANES), picks)
            )
            v = self.b.fadd(v, upper)
            width //= 2
        return self.b.extract_element(v, ir.Constant(self.i32, 0))

    def picks(self, indices):
        return ir.Constant(
            ir.VectorType(self.i32, len(indices)), [ir.Constant(self.i32, i) for i in indices]
        )

    def lane_sums(self, vectors):
        """One vector whose lane t is lane_sum(vectors[t]), for 16 vectors, bit for bit (the
        same additions: halves by halves), in 45 instructions instead of 16 x 8: each step
        adds the halves of two vectors' live lanes in one addition."""
        assert len(vectors) == LANES
        width = LANES // 2  # live lanes per source vector after this step
        groups = 1  # source vectors packed into each vector
        while len(vectors) > 1:
            paired = []
            for left, right in zip(vectors[0::2], vectors[1::2], strict=True):
                lo, hi = [], []
                for vector_base in (0, LANES):  # left, then right
                    for g in range(groups):
                        base = vector_base + g * 2 * width
                        lo += [base + j for j in range(width)]
                        hi += [base + width + j for j in range(width)]
                low = self.b.shuffle_vector(left, right, self.picks(lo))
                high = self.b.shuffle_vector(left, right, self.picks(hi))
                paired.append(self.b.fadd(low, high))
            vectors, width, groups = paired, width // 2, groups * 2
        return vectors[0]
