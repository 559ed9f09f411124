"""The next-item counts' arena against a plain dictionary of counts."""

from __future__ import annotations

import collections

from hypothesis import given, settings
from hypothesis import strategies as st

from wnn.next_items import NextItemCounts

steps = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 40), st.sampled_from([1.0, -1.0])), max_size=600)


@settings(max_examples=80, deadline=None)
@given(steps)
def test_the_arena_holds_what_a_dictionary_of_counts_holds(changes):
    """Rows that grow past their block (moved to the arena's end), pairs that come and go (slots given to the last
    successor), items far beyond the rows allocated: every count, total and row as a dictionary would have them."""
    counts = NextItemCounts()
    expected: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
    for previous, following, weight in changes:
        following = following * 7 % 41 + previous  # rows of up to 41 distinct successors
        if weight < 0 and not expected[previous][following]:
            continue  # only take back what was counted, as forgets do
        counts.add(previous, following, weight)
        expected[previous][following] += weight
    wanted = {p: {f: c for f, c in row.items() if c} for p, row in expected.items()}
    assert counts.as_dict() == {p: row for p, row in wanted.items() if row}
    for previous, row in wanted.items():
        keys, values = counts.successors(previous)
        assert dict(zip(keys.tolist(), values.tolist())) == row
        assert counts.total(previous) == sum(row.values())
        assert all(counts.get(previous, f) == c for f, c in row.items())
    assert counts.n_pairs == sum(len(row) for row in wanted.values())
    rebuilt = NextItemCounts()
    for previous, row in sorted(wanted.items(), reverse=True):
        for following, count in row.items():
            rebuilt.add(previous, following, count)
    assert rebuilt == counts


def test_cleared_counts_hold_nothing():
    counts = NextItemCounts()
    counts.add_sequence([1, 2, 3, 1, 2])
    counts.clear()
    assert counts.as_dict() == {} and counts.n_pairs == 0 and counts.total(1) == 0.0
