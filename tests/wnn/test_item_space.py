import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

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
    for i in range(space.n_items):
        groups = space.item_bits(i)
        row = np.zeros(space.layout.width, dtype=np.uint8)
        row[: space.layout.content_bits] = np.concatenate((groups["genres"], groups["year"]))
        row[space.layout.pop_at : space.layout.zero_bit] = np.concatenate(
            (groups["popularity"], groups["mean"], groups["collab"])
        )
        row[space.layout.one_bit] = 1
        assert np.array_equal(space.addresses[i], row[space.tuples] @ pow2)


def test_update_moves_the_baseline_and_refreshes_addresses(space):
    before, addresses = space.baseline(3), space.addresses[3].copy()
    for ts in range(4):
        space.update(3, 5.0, centred=1.0, user=f"u{ts}", ts=ts)
    assert space.baseline(3) > before
    assert space.counts[3] == 4
    assert space.item_bits(3)["popularity"].sum() >= 2  # thermometer: count 4 passes thresholds 1 and 3
    assert not np.array_equal(space.addresses[3], addresses)
    assert np.array_equal(space.addresses_for(np.array([3]), space.dynamic_codes[3:4])[0], space.addresses[3])


def test_q_channels_read_content_bits_only():
    """Q's channels never change with the stream, so a user's Q states depend on their own pairs only."""
    for seed in range(20):
        space = make_space(config=WNNConfig(seed=seed))
        assert (space.channel_bits[1:] < space.layout.content_bits).all()
        assert space.channel_bits[0] == space.layout.one_bit


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
    assert space.baseline(0) == space.config.prior_mean  # content-only: the prior mean, whatever the ratings


def test_popularity_decays_with_event_time(space):
    space.update(1, 4.0, 0.0, "u", ts=0)
    half_life = space.config.popularity_half_life_s
    assert np.isclose(space.popularity_at(half_life)[1], 0.5)
    assert np.isclose(space.popularity_at(0.0)[1], 1.0)


def test_stable_hash_is_stable():
    assert stable_hash("user-1") == stable_hash("user-1") != stable_hash("user-2")


def statistics(space, i):
    return (
        space.statistics(i),
        int(space.dynamic_codes[i]),
        space.addresses[i].tolist(),
        float(space.log2_popularity[i]),
        space.baseline(i),
    )


def test_partials_reproduce_direct_updates():
    """A worker applying shares gets the same item space as direct updates (the single-worker path), bit for bit."""
    from wnn.item_stats import ItemPartial

    direct, shared = make_space(), make_space()
    partial = ItemPartial.empty(shared.config.collab_bits)
    for t in range(70):
        rating, centred, user = float(1 + t % 5), (t % 5) - 2.0, f"u{t % 9}"
        added = direct.rating_contributions([direct.update(2, rating, centred, user, ts=100 * t)]).row(0)
        shared.replace_partial(2, partial, partial + added)
        partial = partial + added
    assert statistics(shared, 2) == statistics(direct, 2)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 4), st.sampled_from([1.0, 2.5, 4.0, 5.0]), st.integers(0, 10**9)),
        min_size=1,
        max_size=40,
    ),
    st.randoms(),
)
def test_statistics_are_a_function_of_the_set_of_ratings(ratings, rng):
    """Adding ratings in any order, and removing some again, leaves the statistics (and everything derived from
    them: code, addresses, popularity, candidate order) of a space that only ever added the rest."""
    one, two = make_space(n_items=5), make_space(n_items=5)
    rows = [one.update(i, r, (r - 3) / 2, f"u{k % 3}", ts) for k, (i, r, ts) in enumerate(ratings)]
    added = [one.rating_contributions([row]).row(0) for row in rows]
    keep = [k for k in range(len(ratings)) if rng.random() < 0.6]
    for k in sorted(set(range(len(ratings))) - set(keep), key=lambda _: rng.random()):
        one.apply(ratings[k][0], added[k], sign=-1)
    for k in sorted(keep, key=lambda _: rng.random()):
        i, r, ts = ratings[k]
        two.update(i, r, (r - 3) / 2, f"u{k % 3}", ts)
    assert [statistics(one, i) for i in range(5)] == [statistics(two, i) for i in range(5)]
    assert one.candidates(0, 5).tolist() == two.candidates(0, 5).tolist()


def test_shares_derived_from_contributions_equal_the_incremental_ones():
    """Derived state: the shares rebuilt from stored ratings equal the ones built rating by rating, in any order,
    and removing a rating is the exact inverse of adding it."""
    from wnn.item_stats import Contributions, ItemPartial

    rng = np.random.default_rng(3)
    space = make_space()
    n = 400
    items = rng.integers(0, 7, n)
    ratings = (rng.integers(1, 11, n) / 2.0).astype(np.float32)
    stamps = rng.integers(0, 100_000, n)
    centred = np.round(rng.normal(0, 1, n) * 256) / 256
    contributions = Contributions.concatenate(
        [
            space.contributions(
                f"u{k % 5}", items[k : k + 1], ratings[k : k + 1], stamps[k : k + 1], centred[k : k + 1]
            )
            for k in range(n)
        ],
        space.config.collab_bits,
    )
    incremental: dict[int, ItemPartial] = {}
    for k in rng.permutation(n):
        old = incremental.get(int(items[k]), ItemPartial.empty(4))
        incremental[int(items[k])] = old + contributions.row(int(k))
    assert contributions.shares() == incremental
    keep = np.arange(n) != 0
    rebuilt = Contributions(
        items[keep],
        ratings[keep],
        contributions.projections[keep],
        contributions.vectors[keep],
        contributions.centred[keep],
        contributions.stamps[keep],
        contributions.half_life,
    ).shares()
    assert incremental[int(items[0])] - contributions.row(0) == rebuilt[int(items[0])]


def test_transition_scores_follow_the_counts(space):
    space.next_items.add(0, 3)
    space.next_items.add(0, 3)
    space.next_items.add(0, 5)
    scores = space.next_items.transition_scores(0, space.n_items)
    assert scores[3] > scores[5] > scores[4] == 0.0
    assert np.allclose(space.next_items.transition_scores(0, space.n_items, np.array([5, 3])), scores[[5, 3]])
    space.next_items.add_sequence(np.array([1, 2, 1, 2]))
    assert space.next_items.get(1, 2) == 2 and space.next_items.get(2, 1) == 1


def test_sequence_scores_are_the_weighted_sum_of_each_recent_items_transitions(space):
    space.next_items.add_sequence(np.array([0, 3, 5, 0, 3, 7, 2, 5, 9]))
    recent, weights = np.array([5, 3, 0]), np.array([0.5, 0.45, 0.405])
    expected = sum(w * space.next_items.transition_scores(int(p), space.n_items) for p, w in zip(recent, weights))
    assert np.allclose(space.next_items.sequence_scores(recent, weights, space.n_items), expected)
    assert np.allclose(
        space.next_items.sequence_scores(recent, weights, space.n_items, np.array([9, 2])), expected[[9, 2]]
    )
    space.next_items.add(5, 9)  # a changed row is read fresh, not from the cached arrays
    expected = sum(w * space.next_items.transition_scores(int(p), space.n_items) for p, w in zip(recent, weights))
    assert np.allclose(space.next_items.sequence_scores(recent, weights, space.n_items), expected)
    space.next_items.add_sequence(np.array([0, 3, 5, 0, 3, 7, 2, 5, 9]), weight=-1.0)
    space.next_items.add(5, 9, weight=-1.0)
    assert not space.next_items.sequence_scores(recent, weights, space.n_items).any()


def test_a_withdrawn_item_is_never_listed_and_keeps_its_ratings():
    from wnn.recommender import WNNRecommender

    rec = WNNRecommender()
    space = rec.space
    for item in ["a", "b", "c"]:
        space.add_item(item, genres=["Drama"], year=1995)
    for e, (user, item) in enumerate([("u1", "a"), ("u2", "a"), ("u3", "b"), ("u1", "c")]):
        rec.learn_one(user, item, 5.0, 1000 + e, e)
    a = space.find("a")
    space.withdraw("a")
    assert not space.listable(np.array([a]))[0] and a not in space.candidates(2000, 10).tolist()
    assert "a" not in rec.user("u4").score(ts=2000, k=10)[0]
    assert space.counts[a] == 2 and rec.user("u1").n_pairs == 2  # its ratings stay stored and counted
    space.add_item("a", genres=["Drama"], year=1995)  # published again
    assert space.listable(np.array([a]))[0] and a in space.candidates(2000, 10).tolist()


def test_an_item_withdrawn_before_anyone_rated_it_stays_unlisted_when_rated():
    space = ItemSpace()
    idx = space.withdraw("gone")
    space.update(idx, 4.0, centred=0.5, user="u", ts=1)
    assert not space.listable(np.array([idx]))[0] and idx not in space.candidates(2, 10).tolist()


def test_free_attributes_use_the_declared_category_slots():
    """Attributes are hashed onto the genre slots: the layout, the wiring and the fingerprint stay the same."""
    plain, attributed = ItemSpace(), ItemSpace()
    plain.add_item("x", genres=["Comedy"], year=1990)
    idx = attributed.add_item("x", genres=["Comedy"], year=1990, attributes={"language": "cs", "studio": "Barrandov"})
    assert attributed.layout.width == plain.layout.width and np.array_equal(attributed.tuples, plain.tuples)
    assert attributed.config.fingerprint() == plain.config.fingerprint()
    genres = attributed.item_bits(idx)["genres"]
    assert genres[attributed.bucketer.slot("Comedy")] == 1
    assert genres[attributed.bucketer.slot("language=cs")] == 1 and genres[attributed.bucketer.slot("studio=Barrandov")]
    again = ItemSpace()
    again.add_item("x", genres=["Comedy"], year=1990, attributes={"studio": "Barrandov", "language": "cs"})
    assert np.array_equal(again.bits[0], attributed.bits[0])  # the order attributes come in does not matter


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 40), st.integers(0, 2**32 - 1))
def test_item_deltas_are_the_per_item_difference_of_the_shares(n, seed):
    """ItemDeltas.between gives, for every item whose statistics move, ``after`` less ``before`` exactly (popularity
    included, weighed only for the ratings that do not cancel), and no row for an item that does not move."""
    from wnn.item_stats import ItemDeltas, ItemPartial

    space = make_space()
    rng = np.random.default_rng(seed)
    items = rng.integers(0, space.n_items, n)
    ratings = (rng.integers(1, 11, n) / 2.0).astype(np.float32)
    stamps = rng.integers(0, 10**6, n)
    centred = np.round(rng.normal(0, 1, n) * 256) / 256
    before = space.contributions("u", items, ratings, stamps, centred)
    gone = rng.random(n) < 0.3  # a forget: some ratings go, some of those after it move
    moved = np.where(rng.random(n) < 0.5, centred + 1 / 256, centred)[~gone]
    after = space.contributions("u", items[~gone], ratings[~gone], stamps[~gone], moved)
    deltas = ItemDeltas.between(before, after)
    old, new = before.shares(), after.shares()
    empty = ItemPartial.empty(space.config.collab_bits)
    expected = {i: new.get(i, empty) - old.get(i, empty) for i in set(old) | set(new)}
    expected = {i: d for i, d in expected.items() if d != empty}
    assert {int(i): deltas.partial(k) for k, i in enumerate(deltas.items)} == expected
