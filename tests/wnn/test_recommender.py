"""WNNRecommender.forget takes a rating back out of everything it fed, not only the user's own network."""

from hypothesis import given, settings
from hypothesis import strategies as st

from wnn.contributions import user_contributions
from wnn.item_stats import Contributions
from wnn.recommender import WNNRecommender

ITEMS = ["a", "b", "c", "d"]


def learned(events) -> WNNRecommender:
    rec = WNNRecommender()
    for item in ITEMS:
        rec.space.add_item(item, genres=("Drama",), year=1995)
    for event_id, (user, item, rating) in enumerate(events):
        rec.learn_one(user, item, rating, ts=1_000 + 60 * event_id, event_id=event_id)
    return rec


def global_aggregates(rec: WNNRecommender) -> dict:
    space = rec.space
    return {str(space.key(i)): space.statistics(i) for i in range(space.n_items)}


event = st.tuples(st.sampled_from(["u1", "u2"]), st.sampled_from(ITEMS), st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0]))


@settings(max_examples=100, deadline=None)
@given(events=st.lists(event, min_size=1, max_size=12), data=st.data())
def test_forget_takes_back_every_direct_contribution(events, data):
    target = data.draw(st.integers(0, len(events) - 1))
    rec = learned(events)
    assert rec.forget(events[target][0], target)
    # what the rating added: counts and sums, projections (what the user's remaining pairs derive), next-item counts
    again = learned(events)
    counts = {item: sum(1 for k, (_, i, _) in enumerate(events) if i == item and k != target) for item in ITEMS}
    sums = {item: sum(r for k, (_, i, r) in enumerate(events) if i == item and k != target) for item in ITEMS}
    aggregates = global_aggregates(rec)
    assert {item: (aggregates[item].count, aggregates[item].total) for item in ITEMS} == {
        item: (counts[item], sums[item]) for item in ITEMS
    }
    sequences: dict[str, list[str]] = {}
    for k, (user, item, _) in enumerate(events):
        if k != target:
            sequences.setdefault(user, []).append(item)
    expected_pairs = sum(len(s) - 1 for s in sequences.values() if len(s) > 1)
    assert sum(rec.space.next_items.total(rec.space.index(i)) for i in ITEMS) == expected_pairs
    assert again.forget(events[target][0], target)  # forgetting is deterministic
    assert global_aggregates(again) == aggregates


def test_projections_equal_what_the_remaining_pairs_derive():
    events = [("u1", "a", 5.0), ("u2", "a", 1.0), ("u1", "b", 4.0), ("u1", "a", 2.0)]
    rec = learned(events)
    rec.forget("u1", 0)
    space = rec.space
    derived = Contributions.concatenate(
        [user_contributions(space, user, model) for user, model in rec.users.items()], space.config.collab_bits
    ).shares()
    assert all(space.statistics(i) == derived[i] for i in derived)


def test_forget_of_an_unknown_rating_changes_nothing():
    rec = learned([("u1", "a", 4.0)])
    before = global_aggregates(rec)
    assert not rec.forget("u1", 99) and not rec.forget("nobody", 0)
    assert global_aggregates(rec) == before and "nobody" not in rec.users


def test_a_copy_of_a_system_goes_on_exactly_like_the_original():
    """The full-stream audit restarts from copies of a running system: a copy must not share or split state."""
    import copy

    from wnn.system_state import differences, snapshot

    rec = learned([(f"u{k % 3}", ITEMS[k % 4], float(1 + k % 5)) for k in range(30)])
    twin = copy.deepcopy(rec)
    for system in (rec, twin):
        for k in range(30, 45):
            system.learn_one(f"u{k % 3}", ITEMS[(3 * k) % 4], float(1 + (2 * k) % 5), ts=1_000 + 60 * k, event_id=k)
        system.forget("u1", 4)
    a, b = snapshot(rec.space, rec.users, lists_at=5_000), snapshot(twin.space, twin.users, lists_at=5_000)
    assert not differences(a, b)
