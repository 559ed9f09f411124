"""Global next-item counts: how often item ``j`` was rated right after item ``i`` in users' sequences.

Stored sparsely, one dict of successors per item, so memory grows with the distinct (item, next item) pairs seen
and not with the square of the catalogue: a dense ``n_items x n_items`` array reached 411 MB after 8,000 unknown
item ids. Counts move by whole weights (+1 learned, -1 taken back after a forget), so they stay exact and a pair
whose count returns to zero is dropped.

>>> counts = NextItemCounts()
>>> counts.add_sequence([1, 2, 1, 2])
>>> counts.get(1, 2), counts.get(2, 1), counts.total(1)
(2.0, 1.0, 2.0)
>>> counts.row(1, n_items=4).tolist()
[0.0, 0.0, 2.0, 0.0]
>>> counts.add_sequence([1, 2, 1, 2], weight=-1.0)
>>> counts.n_pairs, counts.total(1)
(0, 0.0)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np


class NextItemCounts:
    """Sparse ``previous -> {next: count}`` with per-item totals."""

    def __init__(self) -> None:
        self._successors: dict[int, dict[int, float]] = {}
        self._totals: dict[int, float] = {}
        # previous -> (successor indices, counts) as arrays: ranking reads ~20 rows per list, writes touch one row
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def add(self, previous: int, following: int, weight: float = 1.0) -> None:
        """Count that a user rated ``following`` right after ``previous`` (``weight=-1`` takes it back)."""
        self._arrays.pop(previous, None)
        row = self._successors.setdefault(previous, {})
        value = row.get(following, 0.0) + weight
        if value:
            row[following] = value
        else:
            del row[following]
            if not row:
                del self._successors[previous]
        total = self._totals.get(previous, 0.0) + weight
        if total:
            self._totals[previous] = total
        else:
            self._totals.pop(previous, None)

    def add_sequence(self, indices: Sequence[int] | np.ndarray, weight: float = 1.0) -> None:
        """Count every consecutive pair of one user's rating sequence."""
        items = [int(i) for i in indices]
        for previous, following in itertools.pairwise(items):
            self.add(previous, following, weight)

    def get(self, previous: int, following: int) -> float:
        return self._successors.get(previous, {}).get(following, 0.0)

    def total(self, previous: int) -> float:
        return self._totals.get(previous, 0.0)

    def successors(self, previous: int) -> tuple[np.ndarray, np.ndarray]:
        """The items seen after ``previous`` and their counts, as arrays (cached until the row changes; do not
        modify)."""
        arrays = self._arrays.get(previous)
        if arrays is None:
            successors = self._successors.get(previous, {})
            arrays = (
                np.fromiter(successors.keys(), dtype=np.int64, count=len(successors)),
                np.fromiter(successors.values(), dtype=np.float64, count=len(successors)),
            )
            self._arrays[previous] = arrays
        return arrays

    def flat_rows(self, previous_items: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The successor rows of ``previous_items`` laid end to end, for a compiled reader: the successors, their
        counts, where each row starts (one more entry: where the last ends) and each row's scale
        ``100 / max(total, 1)`` (:meth:`wnn.item_space.ItemSpace.sequence_scores`)."""
        rows = [self.successors(previous) for previous in previous_items]
        starts = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(keys) for keys, _ in rows], out=starts[1:])
        scales = np.array([100.0 / max(self.total(previous), 1.0) for previous in previous_items], dtype=np.float64)
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.float64), starts, scales
        return np.concatenate([keys for keys, _ in rows]), np.concatenate([v for _, v in rows]), starts, scales

    def row(self, previous: int, n_items: int) -> np.ndarray:
        """The counts of every item after ``previous``, dense over ``n_items``."""
        dense = np.zeros(n_items, dtype=np.float64)
        keys, values = self.successors(previous)
        inside = keys < n_items
        dense[keys[inside]] = values[inside]
        return dense

    def clear(self) -> None:
        self._successors.clear()
        self._totals.clear()
        self._arrays.clear()

    @property
    def n_pairs(self) -> int:
        """Distinct (item, next item) pairs held."""
        return sum(len(row) for row in self._successors.values())

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, NextItemCounts)
            and self._successors == other._successors
            and self._totals == other._totals
        )
