import contextlib

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import learn_many, make_space
from wnn.config import WNNConfig
from wnn.network import FORMAT_VERSION, UNSEALED_FORMAT_VERSION, StateError, UserWNN
from wnn.state_format import seal, unseal


def events(n: int, seed: int = 0) -> list[tuple[int, float, int, int]]:
    rng = np.random.default_rng(seed)
    return [(int(rng.integers(0, 12)), float(rng.integers(1, 6)), 1000 + t, 10 * t) for t in range(n)]


def test_learning_pulls_similar_items_and_not_others(space):
    user = UserWNN(space)
    # Items 0 and 6 are Action+Comedy; item 3 is Horror+Romance.
    before_same, before_other = user.predict_one(6).rating, user.predict_one(3).rating
    for t in range(5):
        user.learn_one(0, 1.0, ts=t, event_id=t)
    assert user.predict_one(6).rating < before_same - 0.5
    assert user.predict_one(6).rating < user.predict_one(3).rating
    assert user.predict_one(6).like_probability < 0.5
    assert before_other - user.predict_one(3).rating < before_same - user.predict_one(6).rating


def test_predictions_stay_on_the_rating_scale(space):
    user = learn_many(UserWNN(space), [(i % 12, 5.0, i, i) for i in range(40)])
    for item in range(12):
        p = user.predict_one(item)
        assert 1.0 <= p.rating <= 5.0 and 0.0 <= p.like_probability <= 1.0


def test_repeated_event_id_is_ignored(space):
    once = learn_many(UserWNN(space), events(10))
    twice = learn_many(UserWNN(space), events(10) + events(10))
    assert once.to_bytes() == twice.to_bytes()


def test_forget_unknown_event_is_a_no_op(space):
    user = learn_many(UserWNN(space), events(5))
    state = user.to_bytes()
    assert user.forget(123456) is False
    assert user.to_bytes() == state


def test_forget_changes_future_predictions(space):
    user = learn_many(UserWNN(space), [(0, 1.0, 0, 1), (2, 4.0, 1, 2)])
    hated = user.predict_one(6).rating
    assert user.forget(1)
    assert user.predict_one(6).rating > hated


def test_recurrent_state_tracks_the_last_like(space):
    user = UserWNN(space)
    user.learn_one(0, 5.0, 0, 0)
    assert user.state & 1 == 1
    user.learn_one(1, 1.0, 1, 1)
    assert user.state & 1 == 0


def test_no_q_config_has_no_state():
    user = learn_many(UserWNN(make_space(config=WNNConfig(n_state_bits=0))), events(8))
    assert user.state == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 11), st.integers(1, 5)), min_size=1, max_size=40), st.data())
def test_forget_equals_never_learned(space, pairs, data):
    """Learning a sequence then forgetting one event gives the bytes of learning the sequence without it."""
    seq = [(item, float(rating), 100 + t, t) for t, (item, rating) in enumerate(pairs)]
    drop = data.draw(st.integers(0, len(seq) - 1))
    forgotten = learn_many(UserWNN(space), seq)
    assert forgotten.forget(seq[drop][3])
    never = learn_many(UserWNN(space), seq[:drop] + seq[drop + 1 :])
    assert forgotten.to_bytes() == never.to_bytes()
    assert forgotten.state == never.state
    assert np.array_equal(forgotten.derived()["table"], never.derived()["table"])
    for item in range(12):
        assert forgotten.predict_one(item) == never.predict_one(item)


def test_sliding_window_forgets_the_oldest():
    space = make_space(config=WNNConfig(max_pairs=5))
    user = learn_many(UserWNN(space), events(9))
    assert user.n_pairs == 5
    assert [p["event_id"] for p in user.pairs()] == [10 * t for t in range(4, 9)]
    windowed = learn_many(UserWNN(space), events(9)[4:])
    assert user.to_bytes() == windowed.to_bytes()


def test_a_large_window_evicts_its_oldest_tenth_at_once():
    space = make_space(config=WNNConfig(max_pairs=20))
    user = learn_many(UserWNN(space), events(21))
    assert [p["event_id"] for p in user.pairs()] == [10 * t for t in range(3, 21)]  # 18 = 20 - 20 // 10 kept


def test_round_trip_keeps_state_and_predictions(space):
    user = learn_many(UserWNN(space), events(30))
    data = user.to_bytes()
    loaded = UserWNN.from_bytes(data, space)
    assert loaded.to_bytes() == data
    assert loaded.state == user.state
    for item in range(12):
        assert loaded.predict_one(item) == user.predict_one(item)
    # learning continues identically after a reload
    user.learn_one(4, 2.0, 99, 999)
    loaded.learn_one(4, 2.0, 99, 999)
    assert loaded.to_bytes() == user.to_bytes()


def test_round_trip_of_an_empty_user(space):
    assert UserWNN.from_bytes(UserWNN(space).to_bytes(), space).n_pairs == 0


def test_round_trip_into_a_space_with_other_indices():
    """Items are stored by id, so a worker whose space numbered them differently loads the same pairs."""
    space = make_space()
    user = learn_many(UserWNN(space), events(10))
    other = make_space()
    other.add_item("extra-first", genres=("Drama",), year=2000)
    loaded = UserWNN.from_bytes(user.to_bytes(), other)
    assert loaded.pairs() == user.pairs()


def test_state_size_at_100_ratings_is_small(space):
    user = learn_many(UserWNN(space), [(t % 12, float(1 + t % 5), 1_600_000_000 + t, 10**9 + t) for t in range(100)])
    assert user.nbytes <= 8 * 1024


@pytest.mark.parametrize(
    "bad, reason",
    [
        (b"", "failed its checksum"),
        (b"\xc1\xc1\xc1", "failed its checksum"),
        (seal(b"\xc1\xc1\xc1"), "not valid msgpack"),
        (seal(msgpack.packb([1, 2, 3])), "must be a msgpack map"),
        (seal(msgpack.packb({"v": FORMAT_VERSION + 1})), "format version"),
        (seal(msgpack.packb({"v": FORMAT_VERSION, "cfg": "other"})), "different WNN config"),
        (msgpack.packb({"v": FORMAT_VERSION, "cfg": "other"}), "failed its checksum"),  # current format, unsealed
    ],
)
def test_corrupt_state_raises_a_clear_error(space, bad, reason):
    with pytest.raises(StateError, match=reason):
        UserWNN.from_bytes(bad, space)


def test_truncated_state_raises_state_error(space):
    data = learn_many(UserWNN(space), events(20)).to_bytes()
    for cut in (1, len(data) // 3, len(data) - 1):
        with pytest.raises(StateError):
            UserWNN.from_bytes(data[:cut], space)


def test_field_with_wrong_length_is_named(space):
    doc = msgpack.unpackb(unseal(learn_many(UserWNN(space), events(4)).to_bytes()))
    doc["ratings"] = doc["ratings"][:-4]
    with pytest.raises(StateError, match="'ratings' is truncated"):
        UserWNN.from_bytes(seal(msgpack.packb(doc)), space)


@pytest.mark.parametrize(
    "field, value, reason",
    [
        ("ratings", np.array([9.0, 1, 1, 1], np.float32).tobytes(), "outside the rating scale 1-5"),
        ("ts", np.array([-5, 1, 2, 3], np.int64).tobytes(), "event times outside"),
        ("event_ids", np.array([1, 1, 2, 3], np.int64).tobytes(), "event id twice"),
    ],
)
def test_out_of_range_fields_are_rejected(space, field, value, reason):
    doc = msgpack.unpackb(unseal(learn_many(UserWNN(space), events(4)).to_bytes()))
    doc[field] = value
    with pytest.raises(StateError, match=reason):
        UserWNN.from_bytes(seal(msgpack.packb(doc)), space)


def test_a_format_3_state_loads_with_its_stored_residuals_and_codes_ignored(space):
    """Format 3 stored each pair's residual and item code from learning time; both are derived now."""
    user = learn_many(UserWNN(space), events(8))
    doc = msgpack.unpackb(unseal(user.to_bytes()))
    doc.update(v=3, residuals=np.full(8, 9.0, np.float32).tobytes(), codes=np.full(8, 7, np.uint32).tobytes())
    loaded = UserWNN.from_bytes(seal(msgpack.packb(doc)), space)
    assert loaded.to_bytes() == user.to_bytes()
    assert [loaded.predict_one(i) for i in range(12)] == [user.predict_one(i) for i in range(12)]


def test_a_state_written_before_the_checksum_still_loads(space):
    user = learn_many(UserWNN(space), events(6))
    doc = msgpack.unpackb(unseal(user.to_bytes()))
    doc["v"] = UNSEALED_FORMAT_VERSION
    assert UserWNN.from_bytes(msgpack.packb(doc, use_bin_type=True), space).pairs() == user.pairs()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_bit_flips_never_load_silently(space, data):
    """1-3 flipped bits anywhere in a stored state are reported as StateError (62% loaded silently before)."""
    state = bytearray(learn_many(UserWNN(space), events(12)).to_bytes())
    positions = data.draw(st.lists(st.integers(0, len(state) * 8 - 1), min_size=1, max_size=3, unique=True))
    for bit in positions:
        state[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(StateError):
        UserWNN.from_bytes(bytes(state), space)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_corruption_never_crashes_inside_numpy(space, data):
    state = learn_many(UserWNN(space), events(12)).to_bytes()
    pos = data.draw(st.integers(0, len(state) - 1))
    value = data.draw(st.integers(0, 255))
    corrupted = state[:pos] + bytes([value]) + state[pos + 1 :]
    try:
        loaded = UserWNN.from_bytes(corrupted, space)
    except StateError:
        return
    loaded.predict_one(0)  # whatever loaded must be usable


def test_score_excludes_rated_items_and_ranks_all_others(space):
    user = learn_many(UserWNN(space), events(6))
    rated = set(user.rated_items())
    keys, scores = user.score(k=20)
    assert not rated & set(keys)
    assert len(keys) == space.n_items - len(rated)
    assert list(scores) == sorted(scores, reverse=True)
    top3, _ = user.score(k=3)
    assert top3 == keys[:3]


def test_score_prefers_what_the_user_likes():
    space = make_space()
    user = UserWNN(space)
    for t in range(6):
        user.learn_one(0, 5.0, t, t)  # Action+Comedy, loved
        user.learn_one(3, 1.0, t, 100 + t)  # Horror+Romance, hated
    keys, _ = user.score(k=space.n_items)
    assert keys.index(6) < keys.index(9)  # 6 shares item 0's genres; 9 shares item 3's


def test_explain_names_the_pairs_that_drove_the_score(space):
    user = UserWNN(space)
    user.learn_one(0, 1.0, 0, 7)
    user.learn_one(3, 5.0, 1, 8)
    explanation = user.explain(6)
    assert explanation.pairs[0]["event_id"] == 7
    assert explanation.pairs[0]["pull"] < 0
    assert explanation.neurons and explanation.neurons[0]["neuron"] == 0
    total = explanation.baseline + explanation.user_bias + sum(p["pull"] for p in user.explain(6, top=100).pairs)
    assert total == pytest.approx(explanation.prediction.rating, abs=1e-4)


def test_user_centred_values_depend_on_the_users_own_ratings_only(space):
    """What a rating adds to its item's collaborative projection is centred on the user's earlier ratings, so it is
    derived from the stored pairs alone: learning returns what the stored pairs give back, after a reload too."""
    model = UserWNN(space)
    rng = np.random.default_rng(5)
    expected = []
    for t in range(60):
        rating = float(rng.integers(1, 6))
        expected.append(model.centred_rating(rating))
        model.learn_one(space.key(int(rng.integers(0, space.n_items))), rating, t, t)
    assert model.centred_ratings().tolist() == expected
    assert UserWNN.from_bytes(model.to_bytes(), space).centred_ratings().tolist() == expected


def test_derived_state_follows_the_item_space_exactly(space):
    """Change the item statistics under a user (ratings by others) and the items' descriptions (a catalogue update:
    content bits, hence addresses and Q channels): the reconciled network equals one rebuilt from its pairs against
    the space as it is now, bit for bit."""
    user = learn_many(UserWNN(space), events(40, seed=2))
    rng = np.random.default_rng(9)
    genres = ["Drama", "Comedy", "Horror", "Sci-Fi", "Romance", "a genre nobody declared"]
    for t in range(300):
        space.update(int(rng.integers(0, 12)), float(rng.integers(1, 6)), float(rng.normal()), f"o{t % 7}", t)
        if t % 7 == 3:
            space.add_item(
                space.key(int(rng.integers(0, 12))),
                genres=list(rng.choice(genres, size=int(rng.integers(0, 3)), replace=False)),
                year=int(rng.integers(1950, 2030)),
            )
        if t % 37 == 0:
            user.learn_one(int(rng.integers(0, 12)), float(rng.integers(1, 6)), 1000 + t, 10_000 + t)
        if t % 11 == 0:
            fresh = UserWNN.from_bytes(user.to_bytes(), space)
            for name, value in user.derived().items():
                assert np.array_equal(value, fresh.derived()[name]), name
            assert [user.predict_one(i) for i in range(12)] == [fresh.predict_one(i) for i in range(12)]


def test_a_taste_flip_stops_the_old_pairs_voting():
    """30 likes of Action+Comedy films, then 6 hates of them: with the taste window the old likes stop voting."""
    flip = [(0, 5.0, t, t) for t in range(30)] + [(6, 1.0, 30 + t, 30 + t) for t in range(6)]
    with_window = learn_many(UserWNN(make_space()), flip)
    without = learn_many(UserWNN(make_space(config=WNNConfig(drift_threshold=None))), flip)
    assert with_window.window.start > 0 and without.window.start == 0
    assert with_window.predict_one(0).rating < 3.0 < without.predict_one(0).rating
    assert len(with_window.pairs()) == 36  # older pairs stay stored, listed and forgettable


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 11), st.integers(1, 5)), min_size=1, max_size=40), st.data())
def test_forget_equals_never_learned_across_taste_changes(pairs, data):
    """A sensitive detector restarts the window often; a forget still leaves exactly the never-learned state."""
    space = make_space(config=WNNConfig(drift_threshold=1.0, drift_allowance=0.2))
    seq = [(item, float(rating), 100 + t, t) for t, (item, rating) in enumerate(pairs)]
    drop = data.draw(st.integers(0, len(seq) - 1))
    forgotten = learn_many(UserWNN(space), seq)
    assert forgotten.forget(seq[drop][3])
    never = learn_many(UserWNN(space), seq[:drop] + seq[drop + 1 :])
    assert forgotten.window == never.window
    assert forgotten.state == never.state
    assert np.array_equal(forgotten.derived()["table"], never.derived()["table"])
    loaded = UserWNN.from_bytes(forgotten.to_bytes(), space)
    assert loaded.window == forgotten.window
    for item in range(12):
        assert forgotten.predict_one(item) == never.predict_one(item) == loaded.predict_one(item)


def test_a_listed_items_terms_add_up_to_its_ranking_score(space):
    user = learn_many(UserWNN(space), [(0, 5.0, 0, 0), (1, 4.0, 60, 1), (3, 1.0, 120, 2), (0, 5.0, 180, 3)])
    for previous, following in [(0, 6), (1, 6), (6, 7)]:
        space.next_items.add(previous, following)
    keys, scores = user.score(k=5, use_candidates=False)
    explained = user.explain_list(keys)
    assert [e["item"] for e in explained] == keys
    for entry, score in zip(explained, scores.tolist()):
        assert entry["score"] == pytest.approx(score, abs=1e-9)
        assert 1.0 <= entry["predicted_rating"] <= 5.0 and 0.0 <= entry["like_probability"] <= 1.0
    six = user.explain_list([6])[0]
    assert {f["item"] for f in six["followed"]} == {0, 1} and six["sequence"] > 0


def test_a_user_whose_every_rating_is_forgotten_predicts_like_a_new_one(space):
    user = learn_many(UserWNN(space), events(5))
    for pair in user.pairs():
        assert user.forget(pair["event_id"])
    fresh = UserWNN(space)
    assert [user.predict_one(i) for i in range(12)] == [fresh.predict_one(i) for i in range(12)]
    assert user.memory.empty and user.state == 0


@pytest.mark.parametrize("n_pairs", [1, 10, 30])
def test_memory_bytes_is_within_15_percent_of_what_a_network_allocates(n_pairs):
    """The user cache is bounded by ``memory_bytes``; it must count what a live network really holds (measured by
    tracemalloc over 200 networks kept without tables; of the pages of the pair arena, the blocks they took)."""
    import gc
    import tracemalloc

    from wnn.pairs import ARENA

    space = make_space()
    learn_many(UserWNN(space), [(0, 4.0, 0, 10**9)]).predict_one(1)  # the space's caches, before measuring
    gc.collect()
    tracemalloc.start()
    try:
        start, reserved, in_use = tracemalloc.get_traced_memory()[0], ARENA.bytes_reserved, ARENA.bytes_in_use
        users = []
        for u in range(200):
            user = learn_many(UserWNN(space), [(t % 12, 4.0, t, 10**9 + 1000 * u + t) for t in range(n_pairs)])
            user.predict_one(1)
            users.append(user)
        objects = tracemalloc.get_traced_memory()[0] - start - (ARENA.bytes_reserved - reserved)
        real = (objects + ARENA.bytes_in_use - in_use) / len(users)
    finally:
        tracemalloc.stop()
    estimate = float(np.mean([user.memory_bytes for user in users]))
    assert not users[0].derived_state.keeps_table
    assert abs(estimate - real) <= 0.15 * real, (estimate, real)


@pytest.mark.parametrize("compiled", [True, False])
def test_a_rating_at_a_like_threshold_that_float32_cannot_hold_is_one_like_on_every_path(compiled):
    """On a 0.1–0.9 scale the like threshold is 0.7000000000000001, which float32 cannot hold: a stored 0.7 must
    be a like (or not) alike for the pair appended one by one and for the window counted afresh, or a forget (which
    counts afresh) would not give what a network that never learned the rating has."""
    from wnn.kernels import mode
    from wnn.rating_scale import RatingScale

    config = WNNConfig(rating_scale=RatingScale(0.1, 0.9, 0.1), drift_threshold=None)
    with mode.reference() if not compiled else contextlib.nullcontext():
        space = make_space(config=config)
        user = learn_many(UserWNN(space), [(t % 12, 0.7, t, t) for t in range(80)])
        user.reconcile()
        appended, state = user.derived_state.table().copy(), user.derived_state.state
        user.derived_state.rebuild()
        assert np.array_equal(user.derived_state.table(), appended)
        assert user.derived_state.state == state
