"""The global candidate order: every listable item, strongest first, kept sorted as the statistics change.

A list is ranked over the ``n_candidates`` globally strongest items only (candidate generation, then ranking). An
item's strength is ``log`` of its decayed popularity plus ``rating_weight`` times its baseline. All popularities
decay by the same factor as time passes, so the *order* does not depend on the time it is read at: it changes only
when an item's statistics change, and then only that item moves (``O(log n)``, sortedcontainers' ``SortedList``).
Ties break on a stable hash of the item id, never on the order items were registered in, so the candidate set is a
function of the item statistics alone.

>>> order = CandidateOrder()
>>> order.set(0, strength=1.0, tie=5)
>>> order.set(1, strength=2.0, tie=9)
>>> order.set(2, strength=1.0, tie=3)
>>> order.top(3).tolist()
[1, 2, 0]
>>> order.discard(1)
>>> order.top(5).tolist()
[2, 0]
"""

from __future__ import annotations

import numpy as np
from sortedcontainers import SortedList


class CandidateOrder:
    """Items sorted by descending strength, then by tie key."""

    def __init__(self) -> None:
        self._sorted = SortedList()
        self._keys: dict[int, tuple[float, int, int]] = {}
        self._top: np.ndarray | None = None  # the head of the order, as an array, until it changes

    def set(self, index: int, strength: float, tie: int) -> None:
        """Place item ``index`` at ``strength`` (``-inf`` sorts last)."""
        key = (-strength, tie, index)
        old = self._keys.get(index)
        if old == key:
            return
        if old is not None:
            self._sorted.remove(old)
            self._invalidate(old)
        self._sorted.add(key)
        self._keys[index] = key
        self._invalidate(key)

    def discard(self, index: int) -> None:
        """Take an item out of the order (it can no longer be listed)."""
        old = self._keys.pop(index, None)
        if old is not None:
            self._invalidate(old)
            self._sorted.remove(old)

    def _invalidate(self, key: tuple[float, int, int]) -> None:
        top = self._top
        if top is not None and (len(top) == 0 or key <= self._keys.get(int(top[-1]), key)):
            self._top = None

    def top(self, n: int) -> np.ndarray:
        """The ``n`` strongest items' indices, strongest first (do not modify)."""
        top = self._top
        if top is None or len(top) < min(n, len(self._sorted)):
            top = self._top = np.fromiter((k[2] for k in self._sorted.islice(0, max(n, 256))), dtype=np.int64)
        return top[:n]

    def __len__(self) -> int:
        return len(self._sorted)
