"""One count of the global next-item counts moved in place, compiled (:meth:`wnn.next_items.NextItemCounts.add`).

The arena keeps each item's successors in one block of ``keys``/``values``; a successor is found by scanning its
row (a row is short next to the catalogue, and a compiled scan of a few hundred keys costs less than a Python
dictionary lookup with its surrounding code), so no index of slots is stored beside the arena.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, vectorize


@njit(cache=True, nogil=True)
def transition_scale(total: float) -> float:
    """What a count after an item is multiplied by in :func:`transition_score`: 100 over the item's total count of
    successors (at least 1). Taken once per item's row."""
    return 100.0 / max(total, 1.0)


@vectorize(["float64(float64, float64)"], cache=True)  # type: ignore[no-untyped-call,untyped-decorator]  # numba
def transition_score(count: float, scale: float) -> float:  # pragma: no cover  (compiled)
    """How strongly an item followed another in users' sequences, from its count after it and the other item's
    :func:`transition_scale`: ``log1p(100 * count / max(total, 1))``. With :func:`transition_scale`, the one
    definition of the sequence term's formula; a ufunc: the compiled ranking calls it per count, the numpy reference
    over arrays, so both round alike.

    >>> round(float(transition_score(3.0, transition_scale(4.0))), 4)
    4.3307
    """
    return math.log1p(count * scale)


#: What :func:`add_count` returns when ``following`` is new to a full row and the arena has no room left to move the
#: row to: the caller makes the arena larger and calls again.
ROW_FULL = -1


@njit(cache=True, nogil=True)
def add_count(
    keys: np.ndarray,
    values: np.ndarray,
    row_start: np.ndarray,
    row_length: np.ndarray,
    row_totals: np.ndarray,
    row_room: np.ndarray,
    used: np.ndarray,
    previous: int,
    following: int,
    weight: float,
) -> int:
    """Add ``weight`` to the count of ``previous -> following`` (a count back at zero gives its slot to the row's
    last successor) and to the row's total. A full row first moves to a block twice its length (at least 4) at the
    arena's end, ``used[0]`` (the slots handed out so far). Returns the row's length after, or :data:`ROW_FULL`
    (nothing changed)."""
    start, length = row_start[previous], row_length[previous]
    at = -1
    for p in range(start, start + length):
        if keys[p] == following:
            at = p
            break
    if at < 0:
        if length == row_room[previous]:
            room = max(4, 2 * length)
            end = used[0]
            if end + room > len(keys):
                return ROW_FULL
            keys[end : end + length] = keys[start : start + length]
            values[end : end + length] = values[start : start + length]
            row_start[previous], row_room[previous], used[0] = end, room, end + room
            start = end
        at = start + length
        keys[at], values[at] = following, 0.0
        length += 1
    value = values[at] + weight
    if value != 0.0:
        values[at] = value
    else:  # the pair is gone: the row's last successor takes its slot
        last = start + length - 1
        keys[at], values[at] = keys[last], values[last]
        length -= 1
    row_length[previous] = length
    row_totals[previous] = row_totals[previous] + weight
    return length


@njit(cache=True, nogil=True)
def counts_of(
    keys: np.ndarray,
    values: np.ndarray,
    row_start: np.ndarray,
    row_length: np.ndarray,
    previous: np.ndarray,
    following: np.ndarray,
) -> np.ndarray:
    """The count of ``previous[i] -> following[j]`` for every ``i, j`` (0.0 where never counted, or where
    ``previous[i]`` has no row), one scan of each previous item's row."""
    counts = np.zeros((len(previous), len(following)))
    for i in range(len(previous)):
        row = previous[i]
        if row >= len(row_start):
            continue
        start = row_start[row]
        for p in range(start, start + row_length[row]):
            for j in range(len(following)):
                if keys[p] == following[j]:
                    counts[i, j] = values[p]
    return counts
