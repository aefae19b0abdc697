"""numba kernels: plain functions on arrays. Nothing here imports the rest of hat."""
