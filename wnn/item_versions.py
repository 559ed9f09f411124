"""Which items changed, by generation: what lets a reader catch up on only the items that changed since it last read.

Each change advances a counter (the *generation*) and stamps the item with it; a reader remembers the generation it
read at and asks which of *its* items carry a later stamp. That costs the reader one vectorised comparison over the
items it holds, however long ago it last read and however many other items changed since: a bounded log of recent
changes made a reader that returned after many changes read every item again.

>>> versions = ItemVersions()
>>> for index in (4, 7, 4, 9, 1):
...     versions.record(index)
>>> versions.generation, versions.changed_since(3, np.array([1, 4, 7, 9, 12])).tolist()
(5, [1, 9])
"""

from __future__ import annotations

import numpy as np


class ItemVersions:
    """A counter of changes and, per item, the generation of its latest change (0: never changed)."""

    def __init__(self, capacity: int = 1024) -> None:
        #: How many changes there have been (a reader remembers the value it synced at).
        self.generation = 0
        self._stamps = np.zeros(capacity, dtype=np.int64)

    def record(self, index: int) -> None:
        """One change of item ``index``."""
        self.reserve(index)
        self.generation += 1
        self._stamps[index] = self.generation

    def reserve(self, index: int) -> None:
        """Make room for a stamp of items up to ``index`` (before a compiled run stamps them, :meth:`advanced`)."""
        if index >= len(self._stamps):
            grown = np.zeros(max(index + 1, 2 * len(self._stamps)), dtype=np.int64)
            grown[: len(self._stamps)] = self._stamps
            self._stamps = grown

    def advanced(self, generation: int) -> None:
        """Take the changes a compiled run stamped into :attr:`stamps` itself, as :meth:`record` of each would: the
        counter is ``generation`` after them."""
        self.generation = generation

    def record_many(self, indices: np.ndarray) -> None:
        """One change of each of ``indices`` (distinct), in their order: what :meth:`record` of each gives."""
        if not len(indices):
            return
        self.reserve(int(indices.max()))
        self._stamps[indices] = self.generation + 1 + np.arange(len(indices), dtype=np.int64)
        self.generation += len(indices)

    @property
    def stamps(self) -> np.ndarray:
        """Each item's latest change (for the kernels that test many pairs' items at once; do not modify)."""
        return self._stamps

    def changed_since(self, generation: int, items: np.ndarray) -> np.ndarray:
        """Those of ``items`` (dense indices) changed after ``generation``."""
        inside = items[items < len(self._stamps)]
        return inside[self._stamps[inside] > generation]
