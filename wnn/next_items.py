"""Global next-item counts: how often item ``j`` was rated right after item ``i`` in users' sequences.

Stored sparsely, each item's successors and their counts in a block of two shared arrays (an arena), so memory
grows with the distinct (item, next item) pairs seen and not with the square of the catalogue: a dense
``n_items x n_items`` array reached 411 MB after 8,000 unknown item ids. A compiled reader (the ranking's sequence
term, :func:`wnn.kernels.ranking.sequence_scores`) takes the arena and the rows' places as they are, with no copy per
list. Counts move by whole weights (+1 learned, -1 taken back after a forget), so they stay exact and a pair whose
count returns to zero is dropped.

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

from wnn.kernels import next_items as kernels


class NextItemCounts:
    """Sparse ``previous -> {next: count}`` with per-item totals, in an arena.

    Item ``i``'s successors are ``keys[start[i] : start[i] + length[i]]`` and their counts the same slice of
    ``values``, in no particular order (a successor whose count returns to zero gives its slot to the row's last
    one); ``totals[i]`` is the sum of the row. A row that outgrows its block moves to the arena's end with twice the
    room, so an addition costs O(1) amortised.
    """

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget every count."""
        self.keys = np.zeros(1024, dtype=np.int64)
        self.values = np.zeros(1024, dtype=np.float64)
        self.start = np.zeros(256, dtype=np.int64)
        self.length = np.zeros(256, dtype=np.int64)
        self.totals = np.zeros(256, dtype=np.float64)
        self.room = np.zeros(256, dtype=np.int64)  # each row's block size in the arena
        self.used = np.zeros(1, dtype=np.int64)  # arena slots handed out to rows so far (the kernels move rows)

    def add(self, previous: int, following: int, weight: float = 1.0) -> None:
        """Count that a user rated ``following`` right after ``previous`` (``weight=-1`` takes it back)."""
        self.reserve_row(previous)
        while kernels.add_count(*self.arena, previous, following, weight) == kernels.ROW_FULL:
            self.grow_arena(max(4, 2 * self.length.item(previous)))

    def reserve_row(self, previous: int) -> None:
        """Make sure item ``previous`` has a row (before a kernel counts in it)."""
        if previous >= len(self.start):
            self._grow_rows(previous + 1)

    @property
    def arena(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``keys``, ``values``, each row's start, length, total and room, and the slots handed out, as the kernels
        take them (views: valid until the counts next change)."""
        return self.keys, self.values, self.start, self.length, self.totals, self.room, self.used

    def _grow_rows(self, n: int) -> None:
        size = max(n, 2 * len(self.start))
        for name in ("start", "length", "totals", "room"):
            old = getattr(self, name)
            new = np.zeros(size, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def grow_arena(self, room: int) -> None:
        """Make the arena large enough for a row to move to a block of ``room`` slots at its end."""
        needed = self.used.item(0) + room
        if needed > len(self.keys):
            size = max(needed, 2 * len(self.keys))
            self.keys = np.concatenate([self.keys, np.zeros(size - len(self.keys), np.int64)])
            self.values = np.concatenate([self.values, np.zeros(size - len(self.values), np.float64)])

    def add_sequence(self, indices: Sequence[int] | np.ndarray, weight: float = 1.0) -> None:
        """Count every consecutive pair of one user's rating sequence."""
        items = [int(i) for i in indices]
        for previous, following in itertools.pairwise(items):
            self.add(previous, following, weight)

    def get(self, previous: int, following: int) -> float:
        return float(self.counts_of(np.array([previous]), np.array([following]))[0, 0])

    def counts_of(self, previous: np.ndarray, following: np.ndarray) -> np.ndarray:
        """The count of ``previous[i] -> following[j]`` for every ``i, j``, in one compiled pass over the rows."""
        return kernels.counts_of(
            self.keys, self.values, self.start, self.length, previous.astype(np.int64), following.astype(np.int64)
        )

    def total(self, previous: int) -> float:
        return self.totals.item(previous) if previous < len(self.totals) else 0.0

    def successors(self, previous: int) -> tuple[np.ndarray, np.ndarray]:
        """The items seen after ``previous`` and their counts, as arrays in no particular order (views: valid until
        the counts next change; do not modify)."""
        if previous >= len(self.start):
            return self.keys[:0], self.values[:0]
        row = slice(self.start.item(previous), self.start.item(previous) + self.length.item(previous))
        return self.keys[row], self.values[row]

    def as_dict(self) -> dict[int, dict[int, float]]:
        """Every count, ``{previous: {next: count}}`` (a copy)."""
        rows = {}
        for previous in np.flatnonzero(self.length).tolist():
            keys, values = self.successors(previous)
            if len(keys):
                rows[previous] = dict(zip(keys.tolist(), values.tolist()))
        return rows

    def transition_scores(self, previous: int, n_items: int, items: np.ndarray | None = None) -> np.ndarray:
        """How often each of ``n_items`` items (or each of ``items``) followed ``previous`` in users' sequences
        (:func:`wnn.kernels.next_items.transition_score`)."""
        row = self.row(previous, n_items)
        if items is not None:
            row = row[items]
        return np.asarray(kernels.transition_score(row, kernels.transition_scale(self.total(previous))))

    def sequence_scores(
        self, recent: np.ndarray, weights: np.ndarray, n_items: int, items: np.ndarray | None = None
    ) -> np.ndarray:
        """``sum_j weights[j] * transition_scores(recent[j])`` for each of ``n_items`` items (or each of ``items``):
        what tends to follow a user's recent items in everyone's sequences (the ranking's sequence term). One sparse
        row per recent item is added into one dense array; no dense row is built per item. The reference of
        :func:`wnn.kernels.ranking.sequence_scores`."""
        dense = np.zeros(n_items, dtype=np.float64)
        for previous, weight in zip(recent.tolist(), weights.tolist()):
            keys, values = self.successors(previous)
            if len(keys):
                inside = keys < n_items  # an item registered by another worker's share may not be here yet
                dense[keys[inside]] += weight * kernels.transition_score(
                    values[inside], kernels.transition_scale(self.total(previous))
                )
        return dense if items is None else dense[items]

    def row(self, previous: int, n_items: int) -> np.ndarray:
        """The counts of every item after ``previous``, dense over ``n_items``."""
        dense = np.zeros(n_items, dtype=np.float64)
        keys, values = self.successors(previous)
        inside = keys < n_items
        dense[keys[inside]] = values[inside]
        return dense

    @property
    def n_pairs(self) -> int:
        """Distinct (item, next item) pairs held."""
        return int(self.length.sum())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NextItemCounts):
            return False
        n = max(len(self.totals), len(other.totals))
        return self.as_dict() == other.as_dict() and np.array_equal(
            np.pad(self.totals, (0, n - len(self.totals))), np.pad(other.totals, (0, n - len(other.totals)))
        )

    __hash__ = None  # type: ignore[assignment]
