"""Which items changed, by generation: what lets a reader catch up on only the items that changed since it last read.

>>> log = ChangeLog(keep=2)
>>> for index in (4, 7, 4, 9, 1):
...     log.record(index)
>>> log.generation, log.since(3), log.since(0) is None  # generation 0 is further back than the log reaches
(5, [9, 1], True)
"""

from __future__ import annotations


class ChangeLog:
    """A counter of changes and the items of the latest ``keep`` (at least) of them."""

    def __init__(self, keep: int = 512) -> None:
        self.keep = keep
        #: How many changes there have been (a reader remembers the value it synced at).
        self.generation = 0
        self._items: list[int] = []
        self._from = 0  # the generation the first remembered change follows

    def record(self, index: int) -> None:
        """One change of item ``index``."""
        self.generation += 1
        items = self._items
        items.append(index)
        if len(items) > 2 * self.keep:  # trimmed in bulk, so recording stays O(1) amortised
            del items[: len(items) - self.keep]
            self._from = self.generation - len(items)

    def since(self, generation: int) -> list[int] | None:
        """The items changed after ``generation``, or None when that is further back than the log reaches (then a
        reader must read every item again)."""
        if generation < self._from:
            return None
        return self._items[generation - self._from :]
