"""The one place where numba's options live."""

import numba

# fastmath without 'nnan' and 'ninf': NaN and Inf checks must keep working.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Kernels are serial and release the GIL (nogil): layers run them on batch chunks on
# hat.threads' pool of Python threads. numba's prange pool spins like OpenBLAS's, and two
# spinning pools on two cores cost a factor (see docs/performance.md).
jit = numba.njit(cache=True, fastmath=FASTMATH, nogil=True)
