import collections
import itertools
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.wnn.test_kernels import EXAMPLES
from tests.wnn.test_unlearning_contract import CONFIGS, DECIMAL, ON_DECIMAL, stream, system
from wnn import derivation
from wnn.contributions import learn_event, learn_run, transition_changes
from wnn.kernels import mode
from wnn.recommender import WNNRecommender
from wnn.system_state import differences, snapshot

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


def replay(config_name: str, events, learn) -> tuple[WNNRecommender, int]:
    """:func:`tests.wnn.test_unlearning_contract.run` with each stretch of one user's consecutive ratings handed to
    ``learn(rec, user, indices, ratings, stamps, event_ids)`` together, and a next-item arena small enough to fill.
    Returns the system and the time of the last rating."""
    config = CONFIGS[config_name]
    rec, ts, event_id, pending = system(config), 1_000_000, 0, []
    rec.space.next_items.keys, rec.space.next_items.values = np.zeros(6, np.int64), np.zeros(6)

    def flush() -> None:
        if pending:
            indices = np.array([rec.space.index(item) for _, item, _, _, _ in pending], dtype=np.int64)
            ratings = np.array([rating for _, _, rating, _, _ in pending], dtype=np.float64)
            stamps = np.array([stamp for *_, stamp, _ in pending], dtype=np.int64)
            learn(rec, pending[0][0], indices, ratings, stamps, np.array([e for *_, e in pending], dtype=np.int64))
            pending.clear()

    for event in events:
        if event[0] == "rate":
            _, user, item, rating, step = event
            ts += step * 600
            if pending and pending[0][0] != user:
                flush()
            pending.append((user, item, ON_DECIMAL[rating] if config.rating_scale == DECIMAL else rating, ts, event_id))
            event_id += 1
            continue
        flush()
        stored = [(u, p) for u, model in sorted(rec.users.items()) for p in model.pairs()]
        if stored:
            user, pair = stored[event[1] % len(stored)]
            if event[0] == "forget":
                rec.forget(user, pair["event_id"])
            else:
                rec.forget_item(user, pair["item"])
    flush()
    return rec, ts


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(CONFIGS)), stream, st.sampled_from([0, 3, derivation.TABLE_FROM_PAIRS]))
def test_learning_runs_compiled_equals_the_reference_rating_by_rating(config_name, events, table_from_pairs):
    """Random multi-user streams (repeated items, forgets, evictions, taste-window restarts, a next-item arena that
    fills): each user's stretches of ratings learned as compiled runs leave the whole system, and report every
    rating's prediction, pairs before, restart and centred value, bit for bit as the numpy reference predicting and
    learning them one by one (:func:`learn_event`)."""
    in_runs: list = []
    one_by_one: list = []

    def as_run(rec, user, indices, ratings, stamps, event_ids):
        learned = learn_run(rec.space, user, rec.user(user), indices, ratings, stamps, event_ids)
        in_runs.extend(zip(learned.predictions, learned.pairs_before, learned.restarted, learned.centred))
        assert set(learned.changes) <= set(range(len(indices)))

    def each(rec, user, indices, ratings, stamps, event_ids):
        model = rec.user(user)
        for index, rating, stamp, event_id in zip(indices, ratings, stamps, event_ids):
            prediction, before = model.predict_index(int(index)).rating, model.n_pairs
            learned = learn_event(rec.space, user, model, int(index), rating, int(stamp), int(event_id))
            one_by_one.append((prediction, before, learned.restarted, learned.added.centred))

    with mock.patch.object(derivation, "TABLE_FROM_PAIRS", table_from_pairs):
        rec, last_ts = replay(config_name, events, as_run)
    with mode.reference():
        reference, _ = replay(config_name, events, each)
        expected = snapshot(reference.space, reference.users, lists_at=last_ts)
    assert in_runs == one_by_one
    actual = snapshot(rec.space, rec.users, lists_at=last_ts)
    assert not differences(actual, expected), differences(actual, expected)
