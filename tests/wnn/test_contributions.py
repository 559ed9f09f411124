import collections
import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from wnn.contributions import transition_changes

sequences = st.lists(st.integers(0, 6), max_size=30)


@settings(max_examples=200, deadline=None)
@given(sequences, sequences)
def test_transition_changes_are_the_difference_of_the_pair_counts(before, after):
    """The vectorised difference of two sequences' consecutive pairs equals counting them one by one."""
    expected = collections.Counter(itertools.pairwise(after))
    expected.subtract(itertools.pairwise(before))
    changes = transition_changes(np.array(before, dtype=np.int64), np.array(after, dtype=np.int64))
    assert {(a, b): c for a, b, c in changes} == {pair: c for pair, c in expected.items() if c}
    assert [(a, b) for a, b, _ in changes] == sorted((a, b) for a, b, _ in changes)
