"""The IDX format of MNIST and Fashion-MNIST: a big-endian magic number (0x0800 | rank for
unsigned bytes), one 4-byte size per dimension, then the bytes, optionally gzip-compressed."""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

import numpy as np

from hat.datasets._files import DatasetError, open_maybe_gzip

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
RETRY = "Delete it and retry; load_data downloads a fresh copy."


def read_idx(file: Path, magic: int) -> tuple[np.ndarray, str]:
    """The uint8 array in an IDX file, and the sha256 of its decompressed bytes."""
    try:
        with open_maybe_gzip(file) as f:
            head = f.read(4)
            if len(head) < 4 or struct.unpack(">I", head)[0] != magic:
                got = f"0x{struct.unpack('>I', head)[0]:08x}" if len(head) == 4 else repr(head)
                raise DatasetError(
                    f"{file} is not the IDX file expected: magic number {got}, "
                    f"expected 0x{magic:08x}. {RETRY}"
                )
            n_dims = magic & 0xFF
            dims_bytes = f.read(4 * n_dims)
            if len(dims_bytes) < 4 * n_dims:
                raise DatasetError(f"{file} ends inside its IDX header. {RETRY}")
            dims = struct.unpack(f">{n_dims}I", dims_bytes)
            # Read straight into the final array: no bytes object and no copy, so the peak
            # memory is the array itself, and the array is writable.
            data = np.empty(dims, dtype=np.uint8)
            n_read = _read_into(f, memoryview(data.reshape(-1)))
            if n_read < data.size:
                raise DatasetError(
                    f"{file} is truncated: its header declares shape {dims} ({data.size} bytes) "
                    f"but only {n_read} bytes follow. {RETRY}"
                )
            if f.read(1):
                raise DatasetError(
                    f"{file} holds more bytes than the shape {dims} in its header. {RETRY}"
                )
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise DatasetError(f"{file} could not be decompressed ({err}). {RETRY}") from err
    digest = hashlib.sha256(head)
    digest.update(dims_bytes)
    digest.update(memoryview(data.reshape(-1)))
    return data, digest.hexdigest()


def _read_into(f, buffer: memoryview) -> int:
    """Fill `buffer` from `f`; return the bytes read (fewer only at end of file)."""
    # In chunks: gzip's readinto makes a temporary bytes object as large as the request.
    total = 0
    while total < len(buffer):
        n = f.readinto(buffer[total : total + (1 << 20)])
        if not n:
            break
        total += n
    return total
