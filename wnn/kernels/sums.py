"""Floating-point sums in numpy's own order, so that a kernel's sum equals the reference's bit for bit.

numpy adds a contiguous run of float64 (``ndarray.sum`` along the last axis of a C-ordered array) by pairwise
summation: runs of fewer than 8 left to right; up to 128 in eight interleaved partial sums combined as a tree, then the
tail left to right; longer runs split in two halves at a multiple of 8 (``pairwise_sum`` in numpy's
``loops_utils.h.src``). A plain loop would round differently. The property in ``tests/wnn/test_kernels.py`` checks
this against ``ndarray.sum`` on random rows of every length up to 300, so a numpy that changes its order fails there.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: The longest run :func:`pairwise_sum` adds (a Z layer has at most 254 neurons besides the bias neuron).
MAX_TERMS = 480


@njit(cache=True, nogil=True)
def pairwise_sum(values: np.ndarray, start: int, n: int) -> float:
    """Sum of ``values[start:start + n]`` in numpy's pairwise order (``n`` up to :data:`MAX_TERMS`).

    numpy's own function is recursive; numba's on-disk cache does not hold recursive functions, so the two levels of
    splitting a run of up to 480 needs are written out."""
    if n <= 128:
        return _block_sum(values, start, n)
    if n > MAX_TERMS:
        raise ValueError("pairwise_sum: more terms than MAX_TERMS")
    half = _split(n)
    return _half_sum(values, start, half) + _half_sum(values, start + half, n - half)


@njit(cache=True, nogil=True)
def _split(n: int) -> int:
    half = n // 2
    return half - half % 8


@njit(cache=True, nogil=True)
def _half_sum(values: np.ndarray, start: int, n: int) -> float:
    if n <= 128:
        return _block_sum(values, start, n)
    half = _split(n)  # n <= 247, so both halves hold at most 128
    return _block_sum(values, start, half) + _block_sum(values, start + half, n - half)


@njit(cache=True, nogil=True)
def _block_sum(values: np.ndarray, start: int, n: int) -> float:
    """numpy's order for a run of at most 128."""
    if n < 8:
        total = 0.0
        for i in range(n):
            total += values[start + i]
        return total
    r0, r1, r2, r3 = values[start], values[start + 1], values[start + 2], values[start + 3]
    r4, r5, r6, r7 = values[start + 4], values[start + 5], values[start + 6], values[start + 7]
    body = n - n % 8
    for i in range(start + 8, start + body, 8):
        r0 += values[i]
        r1 += values[i + 1]
        r2 += values[i + 2]
        r3 += values[i + 3]
        r4 += values[i + 4]
        r5 += values[i + 5]
        r6 += values[i + 6]
        r7 += values[i + 7]
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(start + body, start + n):
        total += values[i]
    return total
