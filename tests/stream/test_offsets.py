"""Offset continuity (stream.offsets): whatever the consumer skips, the agent processes every offset of a partition
from the committed one, and what it reports as read has no hole."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stream.offsets import Hole, OffsetContinuity


def test_a_partition_read_in_order_is_admitted_whole():
    guard = OffsetContinuity()
    admitted, holes = guard.admit([(0, 5), (0, 6), (1, 0), (0, 7)], start={0: 5, 1: 0}.get)
    assert admitted == [0, 1, 2, 3] and holes == [] and guard.expected == {0: 8, 1: 1}


def test_a_first_message_after_the_committed_offset_is_a_hole():
    guard = OffsetContinuity()
    admitted, holes = guard.admit([(0, 9)], start={0: 5}.get)
    assert admitted == [] and holes == [Hole(0, 5, 8)] and guard.holes == 1


def test_a_redelivery_below_the_expectation_is_processed_without_moving_it_back():
    guard = OffsetContinuity()
    guard.admit([(0, 5), (0, 6)], start={0: 5}.get)
    assert guard.check(0, 5) is True and guard.expected == {0: 7}


def test_behind_names_partitions_whose_log_has_more():
    guard = OffsetContinuity()
    guard.admit([(0, 0), (0, 1)], start={0: 0}.get)
    assert guard.behind({0: 2, 1: 3}, start={1: 1}.get) == {1: (1, 3)}


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.integers(0, 3), st.tuples(st.integers(0, 50), st.integers(1, 40)), min_size=1),
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 39), st.integers(1, 10)), max_size=4),
    st.data(),
)
def test_whatever_the_consumer_skips_every_offset_is_processed_and_read_has_no_hole(logs, skips, data):
    """``logs``: partition -> (committed offset, messages). The consumer delivers each partition's log in order, but
    drops the runs in ``skips`` (a rebalance, a seek) and, after a re-read, may still deliver messages fetched before
    it. The agent reads a partition again from a hole's start whenever it sees one, and the stall watchdog reads
    again what the log holds beyond what the agent took once nothing more arrives (a skipped tail has no later
    message to reveal it)."""
    guard = OffsetContinuity()
    pending = {p: list(range(c, c + n)) for p, (c, n) in logs.items()}
    for p, at, length in skips:
        if pending.get(p):
            start = pending[p][0] + at % len(pending[p])
            pending[p] = [o for o in pending[p] if not start <= o < start + length]
    processed: dict[int, set[int]] = {p: set() for p in logs}
    ends = {p: c + n for p, (c, n) in logs.items()}
    for _ in range(400):
        if not any(pending.values()):
            # nothing more arrives: the stall watchdog reads again what the log has beyond what the agent took
            behind = guard.behind(ends, start=lambda p: logs[p][0])
            if not behind:
                break
            for p, (at, end) in behind.items():
                guard.read_again_from(p, at)
                pending[p] = list(range(at, end))
            continue
        partition = data.draw(st.sampled_from(sorted(p for p, offsets in pending.items() if offsets)))
        take = data.draw(st.integers(1, 8))
        positions = [(partition, o) for o in pending[partition][:take]]
        pending[partition] = pending[partition][take:]
        admitted, holes = guard.admit(positions, start=lambda p: logs[p][0])
        for i in admitted:  # never past a gap: each offset processed has every earlier one processed before it
            offset = positions[i][1]
            assert set(range(logs[partition][0], offset)) <= processed[partition], (partition, offset)
            processed[partition].add(offset)
        for hole in holes:
            committed, n = logs[hole.partition]
            guard.read_again_from(hole.partition, hole.start)
            stale = [o for o in pending[hole.partition] if o > hole.start][: data.draw(st.integers(0, 3))]
            pending[hole.partition] = stale + list(range(hole.start, committed + n))  # the re-read log
    for p, (committed, n) in logs.items():
        assert processed[p] == set(range(committed, committed + n))
        assert guard.expected[p] == committed + n
