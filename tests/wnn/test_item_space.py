import numpy as np
import pytest

from tests.conftest import make_space
from wnn.config import WNNConfig
from wnn.item_space import ItemSpace, stable_hash


def test_wiring_and_addresses_are_a_function_of_the_seed():
    a, b = make_space(), make_space()
    assert np.array_equal(a.tuples, b.tuples)
    assert np.array_equal(a.addresses[: a.n_items], b.addresses[: b.n_items])
    c = make_space(config=WNNConfig(seed=99))
    assert not np.array_equal(a.tuples, c.tuples)


def test_bias_neuron_reads_no_bits(space):
    assert (space.addresses[: space.n_items, 0] == 0).all()


def test_addresses_are_cached_and_match_the_bits(space):
    pow2 = 1 << np.arange(space.config.tuple_size)
    expected = space.bits[: space.n_items][:, space.tuples] @ pow2
    assert np.array_equal(space.addresses[: space.n_items], expected)


def test_update_moves_the_baseline_and_refreshes_addresses(space):
    before = space.baseline(3)
    for ts in range(4):
        space.update(3, 5.0, centered=1.0, user=f"u{ts}", ts=ts)
    assert space.baseline(3) > before
    assert space.counts[3] == 4
    pow2 = 1 << np.arange(space.config.tuple_size)
    assert np.array_equal(space.addresses[3], space.bits[3][space.tuples] @ pow2)
    assert space.item_bits(3)["popularity"].sum() >= 2  # thermometer: count 4 passes thresholds 1 and 3


def test_unknown_item_is_registered_on_first_use(space):
    n = space.n_items
    idx = space.index("brand-new")
    assert idx == n and space.key(idx) == "brand-new"
    assert space.item_bits(idx)["genres"].sum() == 0


def test_space_grows_past_its_capacity():
    space = ItemSpace(capacity=4)
    for i in range(50):
        space.add_item(i, genres=("Drama",), year=1990)
    assert space.n_items == 50 and space.capacity >= 50
    assert space.key(49) == 49


def test_content_only_space_has_no_global_bits():
    space = make_space(config=WNNConfig(hybrid=False))
    assert set(space.item_bits(0)) == {"genres", "year"}
    space.update(0, 5.0, 1.0, "u", 0)
    assert space.baseline(0) == space.global_mean


def test_popularity_decays_with_event_time(space):
    space.update(1, 4.0, 0.0, "u", ts=0)
    half_life = space.config.popularity_half_life_s
    assert np.isclose(space.popularity_at(half_life)[1], 0.5)


def test_stable_hash_is_stable():
    assert stable_hash("user-1") == stable_hash("user-1") != stable_hash("user-2")


def test_partials_reproduce_direct_updates():
    """A worker applying its own shares gets the same item space as direct updates (the single-worker path)."""
    from wnn.item_stats import ItemPartial

    direct, shared = make_space(), make_space()
    partial = None
    half_life = direct.config.popularity_half_life_s
    for t in range(70):
        rating, centered, user = float(1 + t % 5), (t % 5) - 2.0, f"u{t % 9}"
        direct.update(2, rating, centered, user, ts=100 * t)
        new = (partial or ItemPartial.empty(shared.config.collab_bits)).added(
            rating, shared.projection_of(user, centered), 100 * t, half_life)
        shared.replace_partial(2, partial, new)
        partial = new
    assert shared.counts[2] == direct.counts[2] and shared.sums[2] == direct.sums[2]
    assert np.array_equal(shared.projections[2], direct.projections[2])
    assert np.isclose(shared.decayed_popularity[2], direct.decayed_popularity[2])
    assert shared.dynamic_codes[2] == direct.dynamic_codes[2]
    assert np.array_equal(shared.addresses[2], direct.addresses[2])
    assert shared.global_mean == direct.global_mean


def test_partials_of_two_partitions_merge_in_any_order():
    from wnn.item_stats import ItemPartial

    half_life = 1e9
    ones = np.ones(4, np.int64)
    a = ItemPartial.empty(4).added(5.0, ones, 10, half_life).added(4.0, ones, 20, half_life)
    b = ItemPartial.empty(4).added(1.0, -ones, 15, half_life)
    one, two = make_space(), make_space()
    one.replace_partial(0, None, a); one.replace_partial(0, None, b)
    two.replace_partial(0, None, b); two.replace_partial(0, None, a)
    for space in (one, two):
        assert space.counts[0] == 3 and space.sums[0] == 10.0
    assert np.array_equal(one.projections[0], two.projections[0])
    assert np.isclose(one.decayed_popularity[0], two.decayed_popularity[0])


def test_shares_derived_from_contributions_equal_the_incremental_ones():
    """Derived state: the shares rebuilt from stored ratings equal the ones built rating by rating, in any order,
    and removing a rating is the exact inverse of adding it."""
    from wnn.item_stats import ItemPartial, projection_contribution, shares_from_contributions

    rng = np.random.default_rng(3)
    n, half_life = 400, 5000.0
    items = rng.integers(0, 7, n)
    ratings = rng.integers(1, 11, n) / 2.0
    stamps = rng.integers(0, 100_000, n)
    centered = np.round(rng.normal(0, 1, n) * 256) / 256
    vectors = rng.standard_normal((n, 4)).astype(np.float32)
    contributions = projection_contribution(centered, vectors)
    incremental: dict[int, ItemPartial] = {}
    for k in rng.permutation(n):
        old = incremental.get(int(items[k]), ItemPartial.empty(4))
        incremental[int(items[k])] = old.added(ratings[k], contributions[k], stamps[k], half_life)
    derived = shares_from_contributions(items, ratings, stamps, contributions, half_life)
    assert sorted(derived) == sorted(incremental)
    assert all(derived[i].same_as(incremental[i]) for i in derived)
    # forget the first rating of item items[0]: the inverse leaves exactly the share of the others
    keep = np.arange(n) != 0
    i0 = int(items[0])
    after = incremental[i0].removed(ratings[0], contributions[0], stamps[0], half_life)
    rebuilt = shares_from_contributions(items[keep], ratings[keep], stamps[keep], contributions[keep], half_life)
    assert after.count == rebuilt[i0].count and after.total == rebuilt[i0].total
    assert np.array_equal(after.projection, rebuilt[i0].projection)
    assert after.popularity == pytest.approx(rebuilt[i0].popularity, rel=1e-9)


def test_transition_scores_follow_the_counts(space):
    space.add_transition(0, 3)
    space.add_transition(0, 3)
    space.add_transition(0, 5)
    scores = space.transition_scores(0)
    assert scores[3] > scores[5] > scores[4] == 0.0
    assert np.allclose(space.transition_scores(0, np.array([5, 3])), scores[[5, 3]])
    space.add_sequence(np.array([1, 2, 1, 2]))
    assert space.next_items.get(1, 2) == 2 and space.next_items.get(2, 1) == 1


def test_sequence_scores_are_the_weighted_sum_of_each_recent_items_transitions(space):
    space.add_sequence(np.array([0, 3, 5, 0, 3, 7, 2, 5, 9]))
    recent, weights = np.array([5, 3, 0]), np.array([0.5, 0.45, 0.405])
    expected = sum(w * space.transition_scores(int(p)) for p, w in zip(recent, weights))
    assert np.allclose(space.sequence_scores(recent, weights), expected)
    assert np.allclose(space.sequence_scores(recent, weights, np.array([9, 2])), expected[[9, 2]])
    space.add_transition(5, 9)  # a changed row is read fresh, not from the cached arrays
    expected = sum(w * space.transition_scores(int(p)) for p, w in zip(recent, weights))
    assert np.allclose(space.sequence_scores(recent, weights), expected)
    space.add_sequence(np.array([0, 3, 5, 0, 3, 7, 2, 5, 9]), weight=-1.0)
    space.add_transition(5, 9, weight=-1.0)
    assert not space.sequence_scores(recent, weights).any()
