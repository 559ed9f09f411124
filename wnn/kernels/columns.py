"""Packed integer columns of the stored pairs (:func:`wnn.user_codec.pack_column`): the first value and the differences
after it in the narrowest signed type that holds them, written in one pass.

The numpy reference makes five small arrays and three scalar round trips per column; a user's state write packs
four columns, every batch, for every touched user, so at a million users those calls were a tenth of a rating's cost.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Byte width of each type code of :data:`wnn.user_codec._NARROW` (int8, int16, int32, int64).
WIDTHS = (1, 2, 4, 8)


@njit(cache=True, nogil=True)
def pack_column(values: np.ndarray) -> np.ndarray:
    """The packed bytes of a non-empty int64 column, as uint8: the type code, the first value (8 bytes), then each
    difference (wrapping in 64 bits) in that type, little-endian, as numpy writes them on this machine."""
    n = len(values)
    low, high = 0, 0
    for i in range(1, n):
        delta = values[i] - values[i - 1]
        if i == 1 or delta < low:
            low = delta
        if i == 1 or delta > high:
            high = delta
    code = 3
    for narrow in range(3):
        bound = 1 << (8 * WIDTHS[narrow] - 1)
        if low >= -bound and high < bound:
            code = narrow
            break
    width = WIDTHS[code]
    out = np.empty(9 + (n - 1) * width, dtype=np.uint8)
    out[0] = code
    _write(out, 1, values[0], 8)
    for i in range(1, n):
        _write(out, 9 + (i - 1) * width, values[i] - values[i - 1], width)
    return out


@njit(cache=True, nogil=True, inline="always")
def _write(out: np.ndarray, at: int, value: np.int64, width: int) -> None:
    """``value``'s low ``width`` bytes, little-endian (two's complement, so a negative difference narrows as a cast
    does)."""
    for j in range(width):
        out[at + j] = (value >> (8 * j)) & 0xFF


@njit(cache=True, nogil=True)
def unpack_column(raw: np.ndarray, n: int, width: int) -> np.ndarray:
    """The ``n`` int64 values of a packed column's bytes (as uint8, already checked to hold 9 + (n - 1) * ``width``
    bytes): the first value, then each difference sign-extended from ``width`` bytes and added (wrapping in 64
    bits)."""
    values = np.empty(n, dtype=np.int64)
    values[0] = _read(raw, 1, 8)
    for i in range(1, n):
        values[i] = values[i - 1] + _read(raw, 9 + (i - 1) * width, width)
    return values


@njit(cache=True, nogil=True, inline="always")
def _read(raw: np.ndarray, at: int, width: int) -> np.int64:
    """The signed little-endian integer of ``width`` bytes at ``at``."""
    value = np.int64(0)
    for j in range(width):
        value |= np.int64(raw[at + j]) << (8 * j)
    if width < 8 and value >= np.int64(1) << (8 * width - 1):
        value -= np.int64(1) << (8 * width)
    return value
