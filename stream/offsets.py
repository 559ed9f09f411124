"""Offset continuity: notice when the framework skips input messages, read them again, and say what is processed.

faust 0.15 can skip a run of messages on a partition: its consumer marks a message as read even when a rebalance
suspends the flow before the message reaches the stream, and messages fetched before a seek can still arrive after
it (faust-streaming issues 216, 221 and 312 describe the same family). Its commits would then step over the hole,
and the fault suite saw runs of up to 2,000 ratings vanish that way, neither processed nor redelivered.

So the agent expects each partition's first message of a consumer generation at the group's committed offset, and
every later one at the next offset. On a hole it asks the log for the first offset that really exists from the
hole's start (a hole can be real: transaction markers, compaction), makes the consumer read the partition again
from there, and skips whatever of that partition still arrives from before the seek until that offset comes.
What the agent has read without a hole (:attr:`OffsetContinuity.expected`) is, once the batch's output is
delivered, what the consumer may commit (:meth:`stream.faust_app.Consumer.mark_processed`).

>>> guard = OffsetContinuity()
>>> guard.begin(0, committed=5)
>>> [guard.check(0, o) for o in (5, 6, 9)]
[True, True, Hole(partition=0, start=7, end=8)]
>>> guard.read_again_from(0, 7)              # the log has offset 7: read again from there
>>> guard.check(0, 10), guard.check(0, 7)    # 10 was fetched before the seek: skipped; 7 resumes the partition
(False, True)
>>> guard.check(0, 8), guard.check(0, 6)     # a redelivery below the expected offset is processed too
(True, True)
>>> guard.expected
{0: 9}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Hole:
    """Offsets ``start .. end`` (inclusive) of a partition that did not arrive in order."""

    partition: int
    start: int
    end: int


class OffsetContinuity:
    """Per-partition next expected offset of one consumer generation, and the partitions being read again."""

    def __init__(self) -> None:
        self.expected: dict[int, int] = {}
        self.awaiting: dict[int, int] = {}
        self.holes = 0
        self.stale_skipped = 0
        self.dropped_in_rebalance = 0
        self.stalls = 0  # times the app's stall watchdog read the partitions again

    def reset(self) -> None:
        """Forget everything (on a rebalance: the consumer starts again from the committed offsets)."""
        self.expected.clear()
        self.awaiting.clear()

    def begin(self, partition: int, committed: int | None) -> None:
        """Expect a partition's first message of this generation at its committed offset (if there is one)."""
        if partition not in self.expected and committed is not None:
            self.expected[partition] = committed

    def read_again_from(self, partition: int, offset: int) -> None:
        """The consumer now reads ``partition`` again from ``offset`` (the first offset the log has at or after a
        hole's start): until it arrives, the partition's messages from before the seek are skipped."""
        self.awaiting[partition] = offset

    def check(self, partition: int, offset: int) -> bool | Hole:
        """Note a message: True to process it, False to skip it (fetched before a seek; it comes again), or the
        :class:`Hole` before it (not processed; read the partition again, see :meth:`read_again_from`).

        A message below the expected offset is a redelivery (the processor recognises it by event id): processed,
        without moving the expectation back.
        """
        expected = self.expected.get(partition)
        awaited = self.awaiting.get(partition)
        if awaited is not None:
            if offset > awaited:
                self.stale_skipped += 1
                return False
            if offset == awaited:
                del self.awaiting[partition]
                self.expected[partition] = offset + 1
            return True
        if expected is None or offset <= expected:
            if expected is None or offset == expected:
                self.expected[partition] = offset + 1
            return True
        self.holes += 1
        return Hole(partition, expected, offset - 1)

    def admit(
        self, positions: list[tuple[int, int]], start: Callable[[int], int | None]
    ) -> tuple[list[int], list[Hole]]:
        """Sort a batch's ``(partition, offset)`` positions: the indices to process now, and the holes found (the
        rest of a partition's batch after its hole is not processed; it comes again). ``start(partition)`` gives
        the offset a partition's first message of this generation is expected at (the committed one); see
        :meth:`unknown_partitions`.

        >>> guard = OffsetContinuity()
        >>> guard.admit([(0, 7), (1, 3), (0, 9), (0, 10), (1, 4)], start={0: 7, 1: None}.get)
        ([0, 1, 4], [Hole(partition=0, start=8, end=8)])
        >>> guard.expected
        {0: 8, 1: 5}
        """
        admitted: list[int] = []
        holes: dict[int, Hole] = {}
        for index, (partition, offset) in enumerate(positions):
            if partition in holes:
                continue
            if partition not in self.expected:
                self.begin(partition, start(partition))
            verdict = self.check(partition, offset)
            if isinstance(verdict, Hole):
                holes[partition] = verdict
            elif verdict:
                admitted.append(index)
        return admitted, list(holes.values())

    def next_offset(self, partition: int) -> int | None:
        """The offset the agent needs next from ``partition``: the one being read again, else the expected one;
        None before the partition's first message of this generation."""
        return self.awaiting.get(partition, self.expected.get(partition))

    def behind(self, log_ends: dict[int, int], start: Callable[[int], int]) -> dict[int, tuple[int, int]]:
        """Partitions whose log holds more than the agent has taken: ``{partition: (next offset, log end)}``.
        ``start(partition)`` gives the committed offset of a partition with no message yet.

        >>> guard = OffsetContinuity()
        >>> guard.expected.update({0: 10, 1: 5})
        >>> guard.behind({0: 10, 1: 9, 2: 4}, start={2: 0}.get)
        {1: (5, 9), 2: (0, 4)}
        """
        behind = {}
        for partition, end in log_ends.items():
            at = self.next_offset(partition)
            at = start(partition) if at is None else at
            if at < end:
                behind[partition] = (at, end)
        return behind

    def unknown_partitions(self, positions: list[tuple[int, int]]) -> set[int]:
        """Partitions of a batch whose start in this generation is not known yet."""
        return {partition for partition, _ in positions} - self.expected.keys()
