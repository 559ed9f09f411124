"""The unlearning contract, by property: forgetting a set S of ratings (one by one, by item, or a whole user's) after
learning a stream s leaves the whole system equal, bit for bit, to one that learned s - S - E, where E is what the
forgetting system's size limit evicted.

"The whole system" is :func:`wnn.system_state.snapshot`: every user's pairs and derived state (residuals, codes read,
Q states, tables, taste window, taste shift), every listable item's statistics, code and addresses, the next-item
counts, the candidate order, every predicted rating and every top-10, compared by user and item id.
"""

from __future__ import annotations

import os

import hypothesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wnn.config import WNNConfig
from wnn.rating_scale import HALF_STARS, RatingScale
from wnn.recommender import WNNRecommender
from wnn.system_state import differences, snapshot

#: Examples per run; a long soak: WNN_CONTRACT_EXAMPLES=5000 pytest tests/wnn/test_unlearning_contract.py
EXAMPLES = int(os.environ.get("WNN_CONTRACT_EXAMPLES", "200"))
DECIMAL = RatingScale(0.1, 0.9, 0.1)
USERS = ["u0", "u1", "u2"]
ITEMS = ["a", "b", "c", "d", "e", "f", "g"]  # a-d come from the catalogue; e-g are registered when first rated
CONFIGS = {
    "default": WNNConfig(n_candidates=3),
    "evicting": WNNConfig(max_pairs=4, n_candidates=3),
    "restarting": WNNConfig(drift_threshold=0.4, drift_allowance=0.05, n_candidates=None),
    "both": WNNConfig(max_pairs=3, drift_threshold=0.5, drift_allowance=0.05),
    "half-stars": WNNConfig(rating_scale=HALF_STARS, max_pairs=4, drift_threshold=0.5, drift_allowance=0.05),
    # A scale whose like threshold float32 cannot hold (0.7000000000000001): 0.7 is a like on every path.
    "decimal": WNNConfig(rating_scale=DECIMAL, max_pairs=4, drift_threshold=0.5, drift_allowance=0.05),
}

#: The drawn ratings as the decimal scale has them (1 star -> 0.1, 4 stars -> 0.7, 5 stars -> 0.9).
ON_DECIMAL = {1.0: 0.1, 1.5: 0.2, 2.0: 0.3, 3.0: 0.5, 3.5: 0.6, 3.7: 0.65, 4.0: 0.7, 5.0: 0.9}

rating_event = st.tuples(
    st.just("rate"),
    st.sampled_from(USERS),
    st.sampled_from(ITEMS),
    st.sampled_from([1.0, 2.0, 3.0, 3.5, 4.0, 5.0, 1.5, 3.7]),
    st.integers(0, 5),
)
forget_event = st.tuples(st.sampled_from(["forget", "forget-item", "forget-user"]), st.integers(0, 10_000))
stream = st.integers(1, 90).flatmap(
    lambda n: st.lists(st.one_of(rating_event, rating_event, rating_event, forget_event), min_size=n, max_size=n)
)


def system(config: WNNConfig) -> WNNRecommender:
    rec = WNNRecommender(config)
    for k, item in enumerate(ITEMS[:4]):
        rec.space.add_item(item, genres=(["Drama", "Comedy", "Horror"][k % 3],), year=1980 + 5 * k)
    return rec


def run(
    config: WNNConfig, events, predictions: list | None = None
) -> tuple[WNNRecommender, list[tuple], set[int], int]:
    """Learn ``events`` (forgets pick a stored rating by the drawn number); returns the system, the rating events
    learned (with their event ids), the event ids forgotten and the time of the last rating. With ``predictions``,
    each rating's item is predicted for its user first (prequential) and appended there."""
    rec, learned, forgotten, ts = system(config), [], set(), 1_000_000
    for event in events:
        if event[0] == "rate":
            _, user, item, rating, step = event
            rating = ON_DECIMAL[rating] if config.rating_scale == DECIMAL else rating
            ts += step * 600  # steps of 0 give equal event times
            event_id = len(learned)
            if predictions is not None:
                predictions.append(rec.predict_one(user, item))
            rec.learn_one(user, item, rating, ts, event_id)
            if event_id % 7 == 3:  # an at-least-once redelivery changes nothing
                rec.learn_one(user, item, rating, ts, event_id)
            learned.append((user, item, rating, ts, event_id))
        else:
            stored = [(u, p) for u, model in sorted(rec.users.items()) for p in model.pairs()]
            if not stored:
                continue
            user, pair = stored[event[1] % len(stored)]
            if event[0] == "forget":
                assert rec.forget(user, pair["event_id"])
                forgotten.add(pair["event_id"])
            elif event[0] == "forget-user":  # erase the user: every rating of theirs, and the user
                removed = rec.forget_user(user)
                assert pair["event_id"] in removed and user not in rec.users
                forgotten.update(removed)
            else:
                removed = rec.forget_item(user, pair["item"])
                assert pair["event_id"] in removed
                forgotten.update(removed)
    return rec, learned, forgotten, ts


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(CONFIGS)), stream)
def test_forgetting_equals_never_learning(config_name, events):
    config = CONFIGS[config_name]
    forgetting, learned, forgotten, last_ts = run(config, events)
    kept = {p["event_id"] for model in forgetting.users.values() for p in model.pairs()}
    evicted = {e[-1] for e in learned} - kept - forgotten
    hypothesis.event(
        f"{config_name}: {'evicted' if evicted else 'no eviction'}, "
        f"{'a window restarted' if any(m.window_start for m in forgetting.users.values()) else 'no restart'}, "
        f"{'forgets' if forgotten else 'no forget'}"
    )
    never = system(config)
    for user, item, rating, ts, event_id in learned:  # s - S - E, in the same order
        if event_id in kept:
            never.learn_one(user, item, rating, ts, event_id)
    a = snapshot(forgetting.space, forgetting.users, lists_at=last_ts)
    b = snapshot(never.space, never.users, lists_at=last_ts)
    assert not differences(a, b), differences(a, b)
    for user in a["users"]:  # the one-item prediction path (drift records, the API) too
        assert [forgetting.predict_one(user, i) for i in ITEMS] == [never.predict_one(user, i) for i in ITEMS]
