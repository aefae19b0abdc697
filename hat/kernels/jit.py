"""The one place where numba's options live, and the notice that kernels are compiling."""

import os
import sys

import numba
from numba.core import event

# fastmath without 'nnan' and 'ninf': NaN and Inf checks must keep working.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Kernels are serial and release the GIL (nogil): layers run them on batch chunks on
# hat.threads' pool of Python threads. numba's prange pool spins like OpenBLAS's, and two
# spinning pools on two cores cost a factor (see docs/performance.md).
jit = numba.njit(cache=True, fastmath=FASTMATH, nogil=True)

# For elementwise kernels with a division in their loop: a division by zero gives inf or NaN
# as in numpy instead of raising ZeroDivisionError. numba's default check before every
# division keeps LLVM from vectorizing the loop: Adam's update over 648,010 parameters took
# 1.29 ms scalar and 0.26 ms vectorized (vsqrtps, vdivps), with the same bits (IEEE division
# and square root are exact either way). Not for kernels with reductions, whose vectorized
# sums under fastmath would add in another order.
jit_elementwise = numba.njit(cache=True, fastmath=FASTMATH, nogil=True, error_model="numpy")

COMPILE_NOTICE = (
    "hat: compiling kernels (first run only: numba caches them on disk; about 2-15 s by model)...\n"
)


class _CompileNotice(event.Listener):
    """Writes COMPILE_NOTICE to stderr once a process, when numba starts compiling one of
    hat's kernels, i.e. when it found none in its on-disk cache: a newcomer's first run would
    otherwise sit silent for seconds before its progress bar appears. HAT_QUIET=1 turns it
    off."""

    def __init__(self):
        self.shown = False

    def on_start(self, ev):
        if self.shown:
            return
        func = getattr(ev.data.get("dispatcher"), "py_func", None)
        if getattr(func, "__module__", "").startswith("hat.") and not os.environ.get("HAT_QUIET"):
            self.shown = True
            sys.stderr.write(COMPILE_NOTICE)
            sys.stderr.flush()

    def on_end(self, ev):
        pass


compile_notice = _CompileNotice()
event.register("numba:compile", compile_notice)
