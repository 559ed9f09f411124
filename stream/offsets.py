"""Offset continuity: notice when the framework skips input messages, and read them again.

faust 0.15 can skip a run of messages on a partition and then commit past them: its consumer marks a message as
read even when a rebalance suspends the flow before the message reaches the stream, and it treats the hole as a
gap in the log (as compaction leaves) that a commit may step over (faust-streaming issues 216, 221 and 312 describe
the same family). The fault suite saw 613 consecutive ratings of one partition vanish that way, neither processed
nor redelivered. The agent therefore checks that each partition's offsets arrive without holes and, on a hole,
seeks back to its start; the consumer (:class:`stream.transport.Consumer`) holds every hole back from commits
meanwhile. A hole that is still there after that seek is a real gap in the log (transaction markers, compaction):
it is confirmed, and commits may step over it.

>>> guard = OffsetContinuity()
>>> [guard.check(0, o) for o in (5, 6, 9)]
[None, None, Hole(partition=0, start=7, end=8, confirmed=False)]
>>> guard.check(0, 7), guard.check(0, 8), guard.check(0, 9)
(None, None, None)
>>> guard.check(0, 12)                       # a hole: read the partition again from 10
Hole(partition=0, start=10, end=11, confirmed=False)
>>> guard.check(0, 12)                       # the same hole after reading again: the log has nothing there
Hole(partition=0, start=10, end=11, confirmed=True)
>>> guard.check(0, 13) is None
True
>>> guard.begin(1, committed=40)             # after an assignment: the first message must be the committed one
>>> guard.check(1, 45)
Hole(partition=1, start=40, end=44, confirmed=False)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Hole:
    """Offsets ``start .. end`` (inclusive) of a partition that did not arrive. ``confirmed``: they were still
    missing after the partition was read again from ``start``, so the log really has no messages there."""

    partition: int
    start: int
    end: int
    confirmed: bool


class OffsetContinuity:
    """Per-partition next expected offset of one consumer generation."""

    def __init__(self) -> None:
        self.expected: dict[int, int] = {}
        self._reread: dict[int, int] = {}
        self.holes_read_again = 0
        self.holes_confirmed = 0

    def reset(self) -> None:
        """Forget everything (on a rebalance: the consumer starts again from the committed offsets)."""
        self.expected.clear()
        self._reread.clear()

    def begin(self, partition: int, committed: int | None) -> None:
        """Expect a partition's first message of this generation at its committed offset (if there is one)."""
        if partition not in self.expected and committed is not None:
            self.expected[partition] = committed

    def check(self, partition: int, offset: int) -> Hole | None:
        """Note a message; returns the :class:`Hole` before it, if any.

        An unconfirmed hole means: seek the partition back to ``hole.start`` and do not process this message now
        (it comes again). A message below the expected offset is a redelivery (the processor recognises it by event
        id) and is admitted without moving the expectation back.
        """
        expected = self.expected.get(partition)
        if expected is None or offset <= expected:
            self._reread.pop(partition, None)
            if expected is None or offset >= expected:
                self.expected[partition] = offset + 1
            return None
        hole_end = offset - 1
        if self._reread.pop(partition, None) == expected:
            self.expected[partition] = offset + 1
            self.holes_confirmed += 1
            return Hole(partition, expected, hole_end, confirmed=True)
        self._reread[partition] = expected
        self.holes_read_again += 1
        return Hole(partition, expected, hole_end, confirmed=False)

    def admit(self, positions: list[tuple[int, int]], committed: Callable[[int], int | None]
              ) -> tuple[list[int], dict[int, int], list[Hole]]:
        """Sort a batch's ``(partition, offset)`` positions: which to process now (their indices), which partitions
        to read again from which offset (the rest of that partition's batch comes again), and which holes are
        confirmed real. ``committed(partition)`` gives the committed offset a partition's first message of this
        generation is expected at.

        >>> guard = OffsetContinuity()
        >>> guard.admit([(0, 7), (1, 3), (0, 9), (0, 10), (1, 4)], committed={0: 7, 1: None}.get)
        ([0, 1, 4], {0: 8}, [])
        """
        admitted: list[int] = []
        reread: dict[int, int] = {}
        confirmed: list[Hole] = []
        for index, (partition, offset) in enumerate(positions):
            if partition in reread:
                continue
            if partition not in self.expected:
                self.begin(partition, committed(partition))
            hole = self.check(partition, offset)
            if hole is not None and not hole.confirmed:
                reread[partition] = hole.start
                continue
            if hole is not None:
                confirmed.append(hole)
            admitted.append(index)
        return admitted, reread, confirmed
