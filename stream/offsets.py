"""Offset continuity: notice when the framework skips input messages, and read them again.

faust 0.15 can skip a run of messages on a partition and then commit past them: its consumer marks a message as
read even when a rebalance suspends the flow before the message reaches the stream, and it treats the hole as a
gap in the log (as compaction leaves) that a commit may step over (faust-streaming issues 216, 221 and 312 describe
the same family). The fault suite saw 613 consecutive ratings of one partition vanish that way, neither processed
nor redelivered. The agent therefore checks that each partition's offsets arrive without holes and, on a hole,
seeks back to its start. A hole that is still there after that seek is a real gap in the log (transaction markers,
compaction) and is accepted.

>>> guard = OffsetContinuity()
>>> [guard.check(0, o) for o in (5, 6, 9)]
[None, None, 7]
>>> guard.check(0, 7), guard.check(0, 8), guard.check(0, 9)
(None, None, None)
>>> guard.check(0, 12), guard.check(0, 12)   # the same hole again after the seek: a real gap
(10, None)
"""

from __future__ import annotations


class OffsetContinuity:
    """Per-partition next expected offset of one consumer generation."""

    def __init__(self) -> None:
        self.expected: dict[int, int] = {}
        self._reseeked: dict[int, int] = {}
        self.holes_found = 0

    def reset(self) -> None:
        """Forget everything (on a rebalance: the consumer starts again from the committed offsets)."""
        self.expected.clear()
        self._reseeked.clear()

    def check(self, partition: int, offset: int) -> int | None:
        """Note a message; returns the first skipped offset if it arrives after a hole, else None.

        A message below the expected offset is a redelivery (the processor recognises it by event id) and is
        admitted without moving the expectation back.
        """
        expected = self.expected.get(partition)
        if expected is None or offset <= expected or self._reseeked.get(partition) == expected:
            self._reseeked.pop(partition, None)
            if expected is None or offset >= expected:
                self.expected[partition] = offset + 1
            return None
        self._reseeked[partition] = expected
        self.holes_found += 1
        return expected
