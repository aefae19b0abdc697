"""Bounded, GIL-free waits on a counter that another thread bumps: hat.threads' pool.

A hand-off to a helper thread that sleeps costs its wake-up (tens of microseconds on this
project's 2-vCPU machine); a helper that spins a short while after each job, outside the GIL,
sees the next job at once. The loops read the counter with an atomic acquire load (a plain
load could be hoisted out of the loop: nothing in it writes the counter) and, on x86, pause
between reads, as spin locks do. They give up after `pauses` reads: the caller then blocks.
"""

import platform

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from hat.kernels.jit import jit

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


@intrinsic
def _load_acquire(typingctx, flags, i):
    """flags[i] (int64), read with an atomic acquire load."""
    sig = types.int64(flags, i)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]])
        return builder.load_atomic(ptr, ordering="acquire", align=8)

    return sig, codegen


@intrinsic
def _pause(typingctx):
    """The x86 PAUSE instruction (nothing elsewhere): a spin loop's hint to the core."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        if _X86:
            fnty = ir.FunctionType(ir.VoidType(), [])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.sse2.pause")
            builder.call(fn, [])
        return context.get_dummy_value()

    return sig, codegen


@jit
def wait_while(flags, i, value, pauses):
    """Spin while flags[i] == value, at most `pauses` reads; whether it changed."""
    for _ in range(pauses):
        if _load_acquire(flags, i) != value:
            return True
        _pause()
    return False


@jit
def wait_until(flags, i, value, pauses):
    """Spin until flags[i] == value, at most `pauses` reads; whether it got there."""
    for _ in range(pauses):
        if _load_acquire(flags, i) == value:
            return True
        _pause()
    return False


# (kernel, hat.kernels.ahead spec): what a cold start compiles ahead, in the helper process
KERNELS = [(wait_while, "L1 i i i"), (wait_until, "L1 i i i")]


def ready() -> bool:
    """Whether both loops are compiled in this process or in numba's cache: the pool spins
    only then, so that a cold start never waits for them (0.37 s to compile here)."""
    from hat.kernels import ahead

    return all(ahead._is_ready(k, ahead.signature(spec, np.float64)) for k, spec in KERNELS)


def warm() -> None:
    """Compile (or load) both loops now, so that no job waits for them."""
    flags = np.zeros(1, np.int64)
    wait_while(flags, 0, 1, 1)
    wait_until(flags, 0, 1, 1)
