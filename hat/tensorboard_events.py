"""TensorBoard event files, written with the standard library alone.

An event file is a sequence of TFRecords. Each record is

    uint64 length | uint32 masked_crc32c(the 8 length bytes) | data | uint32 masked_crc32c(data)

with integers little-endian, crc32c the CRC-32 of Castagnoli's polynomial (reflected
0x82F63B78), and the mask ((crc >> 15) | (crc << 17)) + 0xA282EAD8, modulo 2**32. The data
is one serialized `Event` protocol buffer (tensorflow/core/util/event.proto). hat writes
these fields only:

    Event          1 wall_time: double    2 step: int64    3 file_version: string
                   5 summary: Summary
    Summary        1 value: repeated Summary.Value
    Summary.Value  1 tag: string          2 simple_value: float    5 histo: HistogramProto
    HistogramProto 1 min  2 max  3 num  4 sum  5 sum_squares: double
                   6 bucket_limit: packed repeated double  7 bucket: packed repeated double

A protocol buffer field is a varint key (field_number << 3 | wire_type) then its value:
wire type 0 a varint, 1 eight little-endian bytes (double), 2 a varint length then the bytes
(strings, messages, packed arrays), 5 four little-endian bytes (float). The first record of a
file is an Event with file_version "brain.Event:2", as TensorFlow writes it.

Every record is flushed as it is written, so a run killed at any point leaves a file whose
complete records TensorBoard reads (its reader stops at a truncated last record).
"""

from __future__ import annotations

import os
import socket
import struct
import time
from itertools import count

import numpy as np

FILE_VERSION = "brain.Event:2"
"""The file_version of an event file's first record, as TensorBoard expects it."""
HISTOGRAM_BUCKETS = 30  # as tf.summary.histogram's default
"""Buckets of a weight histogram (tf.summary.histogram's default)."""


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of `data`, table-driven, one byte at a time.

    Args:
        data (bytes): the bytes to check.

    Returns:
        int: the CRC, in [0, 2**32).
    """
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC (a CRC of data that itself holds CRCs is weak; the mask fixes it).

    Args:
        data (bytes): the bytes to check.

    Returns:
        int: the masked CRC-32C, in [0, 2**32).
    """
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def record(data: bytes) -> bytes:
    """One TFRecord around `data`: its length, the length's CRC, the data, the data's CRC.

    Args:
        data (bytes): a serialized Event.

    Returns:
        bytes: the record, 16 bytes longer than `data`.
    """
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


# -- protocol buffer encoding --------------------------------------------------------------
def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64: two's complement in ten bytes, as protobuf does
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _double(field: int, value: float) -> bytes:
    return _key(field, 1) + struct.pack("<d", value)


def _float(field: int, value: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", value)


def _bytes(field: int, value: bytes) -> bytes:
    return _key(field, 2) + _varint(len(value)) + value


def _packed_doubles(field: int, values) -> bytes:
    return _bytes(field, struct.pack(f"<{len(values)}d", *values))


def event(step: int, wall_time: float, values: list[bytes] = (), file_version: str = "") -> bytes:
    """A serialized Event holding a Summary of the given serialized Summary.Values.

    Args:
        step (int): the Event's step (an int64).
        wall_time (float): seconds since the Unix epoch.
        values (list[bytes]): Default empty. Serialized Summary.Values; none: no Summary.
        file_version (str, default ''): set only in a file's first Event.

    Returns:
        bytes: the Event's protocol-buffer encoding.
    """
    data = _double(1, wall_time) + _key(2, 0) + _varint(step)
    if file_version:
        data += _bytes(3, file_version.encode())
    if values:
        data += _bytes(5, b"".join(_bytes(1, v) for v in values))
    return data


def scalar_value(tag: str, value: float) -> bytes:
    """A Summary.Value with simple_value (float32, as TensorBoard stores scalars).

    Args:
        tag (str): the scalar's name, such as 'epoch_loss'.
        value (float): its value, rounded to float32.

    Returns:
        bytes: the Summary.Value's encoding.
    """
    return _bytes(1, tag.encode()) + _float(2, float(value))


def histogram_value(tag: str, values: np.ndarray, buckets: int = HISTOGRAM_BUCKETS) -> bytes:
    """A Summary.Value with a HistogramProto of `values`: equal-width buckets from the minimum
    to the maximum, bucket_limit holding each bucket's right edge.

    Args:
        tag (str): the histogram's name, such as 'Dense_1/W/histogram'.
        values (array): the numbers to count (any shape).
        buckets (int, default 30): the number of buckets (one if every value is equal).

    Returns:
        bytes: the Summary.Value's encoding.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        lo = hi = 0.0
        limits, counts = [0.0], [0.0]
    else:
        lo, hi = float(v.min()), float(v.max())
        if lo == hi:
            limits, counts = [hi], [float(v.size)]
        else:
            counts, edges = np.histogram(v, bins=buckets, range=(lo, hi))
            limits, counts = edges[1:].tolist(), counts.astype(np.float64).tolist()
    histo = (
        _double(1, lo)
        + _double(2, hi)
        + _double(3, float(v.size))
        + _double(4, float(v.sum()))
        + _double(5, float(np.dot(v, v)))
        + _packed_doubles(6, limits)
        + _packed_doubles(7, counts)
    )
    return _bytes(1, tag.encode()) + _bytes(5, histo)


# -- the file ------------------------------------------------------------------------------
_SEQUENCE = count()


class EventFileWriter:
    """Appends events to a new file events.out.tfevents.<time>.<host>.<pid>.<n> in `folder`.

    The only place in hat that writes event files: the folder and the file are made at the
    first write, and each record is flushed as it is written.

    Args:
        folder (str or PathLike): the run's folder (created if missing).
    """

    def __init__(self, folder):
        self.folder = os.fspath(folder)
        self.path: str | None = None
        self._file = None

    def add(self, step: int, values: list[bytes], wall_time: float | None = None) -> None:
        """Write one Event at `step` holding `values` (from scalar_value, histogram_value).

        Args:
            step (int): the step TensorBoard plots it at (an epoch or a batch count).
            values (list of bytes): serialized Summary.Values.
            wall_time (float or None, default None): seconds since the epoch; None: now.
        """
        self._append(event(step, time.time() if wall_time is None else wall_time, values))

    def _append(self, data: bytes) -> None:
        if self._file is None:
            os.makedirs(self.folder, exist_ok=True)
            now = time.time()
            name = f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}"
            self.path = os.path.join(self.folder, f"{name}.{next(_SEQUENCE)}")
            self._file = open(self.path, "ab")  # kept open between records
            self._file.write(record(event(0, now, file_version=FILE_VERSION)))
        self._file.write(record(data))
        self._file.flush()

    def close(self) -> None:
        """Close the file (a later add opens a new one); closing twice does nothing."""
        if self._file is not None:
            self._file.close()
            self._file = None
