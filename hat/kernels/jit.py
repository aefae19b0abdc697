"""The one place where numba's options live."""

import numba

# fastmath without 'nnan' and 'ninf': NaN and Inf checks must keep working.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Kernels are serial: BLAS owns the threads during a training step, and two spinning
# thread pools on two cores cost a factor (see docs/performance.md).
jit = numba.njit(cache=True, fastmath=FASTMATH, nogil=True)
