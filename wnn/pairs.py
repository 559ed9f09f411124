"""A user's stored training pairs: the state a network is derived from, and what the user inspects and deletes.

Columns in learning order (oldest first), in one block of the process's column arena (:mod:`wnn.arena`) that moves to
a block twice as large when full, so that an append costs O(1). The pair is the unit of
forgetting: :meth:`PairLog.delete` removes pairs, and everything derived from them (tables, Q, taste window, the
user's share of the global statistics) is derived again by the caller.

>>> log = PairLog()
>>> log.append(event_id=7, item=0, key="toy-story", rating=4.0, ts=100)
>>> log.n, log.knows(7), log.listing()
(1, True, [{'event_id': 7, 'item': 'toy-story', 'rating': 4.0, 'ts': 100}])
>>> log.delete([0])
>>> log.n, log.knows(7)
(0, False)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from wnn.arena import ColumnArena, block_rows

#: Column name -> dtype. Nothing that depends on the rest of the world is stored: residuals, addresses and tables
#: are derived from these and the item space as it is now (:meth:`wnn.network.UserWNN.reconcile`).
COLUMNS: dict[str, type] = {"event_ids": np.int64, "items": np.int64, "ratings": np.float32, "ts": np.int64}
#: Room beside each pair for what its network derives from it (:mod:`wnn.derivation`): the residual in 1/256 star
#: against the item's baseline and the item's dynamic code when the pair was last read, and Q before the pair
#: (within the taste window). Not stored, not copied by :meth:`PairLog.from_columns`.
DERIVED_COLUMNS: dict[str, type] = {"units": np.int32, "codes": np.uint32, "q_before": np.int8}

#: The process's pairs and derived columns: every log's block lies in one of its pages (:mod:`wnn.arena`).
ARENA = ColumnArena({**COLUMNS, **DERIVED_COLUMNS})

#: What :attr:`PairLog._newest_id` holds without pairs: the lowest signed 64-bit event id (an id equal to it is looked
#: up in the column, which is empty; a compiled run takes it as it is).
_NO_ID = -(2**63)


def _newest(event_ids: np.ndarray) -> int:
    return int(event_ids.max()) if len(event_ids) else _NO_ID


class PairLog:
    """Columns of stored pairs (and the room for what is derived from them) in one block of :data:`ARENA`, and the
    item ids the pairs refer to. The block goes back to the arena when the log is dropped."""

    __slots__ = ("_newest_id", "_offset", "_page", "keys", "n", "rating_total")

    def __init__(self, capacity: int = 0) -> None:
        self.n = 0
        self._page, self._offset = ARENA.allocate(capacity) if capacity else (ARENA.empty, 0)
        self.keys: list[Hashable] = []  # the pairs' item ids, kept for serialization and listings
        self._newest_id = _NO_ID  # the largest event id stored (derived; ids mostly arrive in increasing order)
        #: Sum of the stored ratings (float64 of float32 values: exact, in any order of appends and deletes).
        self.rating_total = 0.0

    def __del__(self) -> None:
        try:  # noqa: SIM105 (contextlib may be gone already when this runs at interpreter exit)
            ARENA.release(self._page, self._offset)
        except (AttributeError, TypeError):  # never fully built, or the interpreter is shutting down
            pass

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Copies (and :func:`copy.deepcopy`) take a block of their own, with the derived columns as they are."""
        columns = {name: self._page.columns[name][self._offset : self._offset + self.n].copy() for name in ARENA.dtypes}
        return _restored, (columns, list(self.keys))

    @classmethod
    def from_columns(cls, columns: dict[str, np.ndarray], keys: list[Hashable]) -> PairLog:
        """A log holding given columns (each of length ``len(keys)``; the caller validated them)."""
        n = len(keys)
        log = cls(n)
        for name in COLUMNS:
            log._page.columns[name][log._offset : log._offset + n] = columns[name][:n]
        log.n = n
        log.keys = list(keys)
        log._newest_id = _newest(log.event_ids)
        log.rating_total = float(log.ratings.astype(np.float64).sum())
        return log

    @classmethod
    def concatenate(cls, logs: Sequence[PairLog]) -> PairLog:
        """The pairs of ``logs`` one after the other (a user's state read back from its stored segments)."""
        if not logs:
            return cls()
        columns = {name: np.concatenate([log.column(name) for log in logs]) for name in COLUMNS}
        return cls.from_columns(columns, [key for log in logs for key in log.keys])

    def slice(self, start: int, stop: int) -> PairLog:
        """A copy of the pairs at positions ``start .. stop`` (one stored segment)."""
        return PairLog.from_columns({name: self.column(name)[start:stop] for name in COLUMNS}, self.keys[start:stop])

    def column(self, name: str) -> np.ndarray:
        """The first ``n`` values of a column, stored or derived (a view: valid until the next append or delete)."""
        return self._page.columns[name][self._offset : self._offset + self.n]

    def room(self, name: str) -> np.ndarray:
        """The whole block of a column, ``capacity`` rows (a view: valid until the next append or delete)."""
        page = self._page
        return page.columns[name][self._offset : self._offset + page.block_rows]

    @property
    def event_ids(self) -> np.ndarray:
        return self.column("event_ids")

    @property
    def items(self) -> np.ndarray:
        """Dense item indices of the pairs' items in the shared item space."""
        return self.column("items")

    @property
    def ratings(self) -> np.ndarray:
        return self.column("ratings")

    @property
    def ts(self) -> np.ndarray:
        return self.column("ts")

    @property
    def newest_id(self) -> int:
        """The largest event id stored (the lowest 64-bit id without pairs): an id above it is certainly new."""
        return self._newest_id

    def knows(self, event_id: int) -> bool:
        """Whether a pair with this event id is stored: one comparison for an id above every stored one (the usual
        case: a user's events arrive in order), else a scan of the ids; no set of them is kept beside the column."""
        return event_id <= self._newest_id and bool((self.event_ids == event_id).any())

    def append(self, event_id: int, item: int, key: Hashable, rating: float, ts: int) -> None:
        n = self.n
        if n == self._page.block_rows:
            self._move(n + 1)
        columns, row = self._page.columns, self._offset + n
        columns["event_ids"][row] = event_id
        columns["items"][row] = item
        columns["ratings"][row] = rating
        columns["ts"][row] = ts
        # Committed last, so a failure above leaves the pair unseen and a retry appends it.
        self.keys.append(key)
        self._newest_id = max(self._newest_id, event_id)
        self.n = n + 1
        self.rating_total += float(columns["ratings"][row])

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` pairs in all (a block of that size or larger), for a compiled run to write into."""
        if rows > self._page.block_rows:
            self._move(rows)

    def appended(self, count: int, keys: Sequence[Hashable], newest_id: int, rating_total: float) -> None:
        """Take the ``count`` pairs a compiled run wrote past the stored ones (:func:`wnn.kernels.runs.learn_run`):
        their item ids ``keys``, the largest of their event ids and the ratings' new total (which the run added up in
        :meth:`append`'s order)."""
        self.keys.extend(keys)
        self._newest_id = max(self._newest_id, newest_id)
        self.n += count
        self.rating_total = rating_total

    def _move(self, rows: int) -> None:
        """Into a block of room for ``rows`` rows, with the first ``n`` rows of every column (derived ones too)."""
        old, old_offset, n = self._page, self._offset, self.n
        page, offset = ARENA.allocate(rows) if rows else (ARENA.empty, 0)
        for name, column in page.columns.items():
            column[offset : offset + n] = old.columns[name][old_offset : old_offset + n]
        self._page, self._offset = page, offset
        ARENA.release(old, old_offset)

    def positions_of_many(self, event_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Positions of the stored pairs with any of ``event_ids``, ascending."""
        wanted = np.asarray(event_ids, dtype=np.int64)
        if len(wanted) <= 16:  # one comparison per id: np.isin costs ~0.1 ms of set-up on arrays this small
            return np.flatnonzero((self.event_ids[:, None] == wanted[None, :]).any(axis=1))
        return np.flatnonzero(np.isin(self.event_ids, wanted))

    def delete(self, positions: Sequence[int] | np.ndarray) -> None:
        """Remove the pairs at ``positions``; the rest keep their order (in every column, derived ones too). A log
        left with a quarter of its room or less moves to a smaller block."""
        keep = np.ones(self.n, dtype=bool)
        keep[np.asarray(positions, dtype=np.int64)] = False
        for name in ARENA.dtypes:
            column = self.column(name)
            kept = column[keep]
            column[: len(kept)] = kept
        self.keys = [key for key, kept in zip(self.keys, keep.tolist()) if kept]
        self.n = len(self.keys)
        if block_rows(self.n) < self.capacity // 2 or not self.n:
            self._move(self.n)
        self._newest_id = _newest(self.event_ids)
        self.rating_total = float(self.ratings.astype(np.float64).sum())

    def listing(self) -> list[dict[str, Any]]:
        """The pairs as the user sees them, oldest first."""
        return [
            dict(event_id=e, item=i, rating=r, ts=t)
            for e, i, r, t in zip(self.event_ids.tolist(), self.keys, self.ratings.tolist(), self.ts.tolist())
        ]

    @property
    def capacity(self) -> int:
        return self._page.block_rows


def _restored(columns: dict[str, np.ndarray], keys: list[Hashable]) -> PairLog:
    """A log of ``columns`` (every column of the arena, derived ones included) and ``keys``: what a copy holds."""
    log = PairLog.from_columns(columns, keys)
    for name in DERIVED_COLUMNS:
        log.room(name)[: log.n] = columns[name]
    return log
