import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from tests.conftest import learn_many, make_space
from wnn.drift import RECENT_SPAN, genre_mixes, js_divergence, recent_weights, taste_shift
from wnn.kernels import drift as drift_kernels
from wnn.network import UserWNN


@pytest.mark.parametrize("seed", range(5))
def test_js_divergence_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    p, q = rng.random(19) * (rng.random(19) > 0.3), rng.random(19)
    assert js_divergence(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-9)


def exponentially_weighted(genres: np.ndarray, weight: float) -> np.ndarray:
    """The recent mix as a running update, one rating at a time (what taste_shift computes in one go)."""
    recent = None
    for row in genres.astype(np.float64):
        mix = row / row.sum() if row.sum() else row
        recent = mix.copy() if recent is None else (1 - weight) * recent + weight * mix
    return recent


@pytest.mark.parametrize("seed", range(3))
def test_taste_shift_is_the_divergence_of_the_running_recent_mix(seed):
    genres = (np.random.default_rng(seed).random((40, 5)) > 0.6).astype(np.int64)
    long_run = (genres / np.maximum(genres.sum(axis=1, keepdims=True), 1)).sum(axis=0)
    expected = js_divergence(exponentially_weighted(genres, 0.2), long_run)
    assert taste_shift(genres) == pytest.approx(expected, abs=1e-12)


def test_taste_shift_edge_cases():
    assert taste_shift(np.zeros((0, 4))) == 0.0
    assert taste_shift(np.zeros((3, 4))) == 0.0  # no rated item has a genre
    assert taste_shift(np.array([[1, 0]] * 10)) == pytest.approx(0.0, abs=1e-12)


def test_a_forgotten_rating_leaves_no_trace_in_the_taste_shift(space):
    """The drift signals are derived from the pairs: forgetting equals never having rated."""
    seq = [(t % 6, 4.0, t, t) for t in range(12)] + [(3, 5.0, 12, 12)]
    forgotten = learn_many(UserWNN(space), seq)
    forgotten.forget(12)
    never = learn_many(UserWNN(space), seq[:-1])
    assert forgotten.taste_shift() == never.taste_shift()
    assert forgotten.window_start == never.window_start


def test_the_users_taste_shift_reads_the_genres_of_their_items():
    space = make_space()
    user = learn_many(UserWNN(space), [(0, 4.0, t, t) for t in range(20)])
    steady = user.taste_shift()
    learn_many(user, [(3, 4.0, 20 + t, 20 + t) for t in range(5)])  # item 3's genres differ from item 0's
    assert steady == pytest.approx(0.0, abs=1e-12) and user.taste_shift() > 0.1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 11), st.booleans(), st.booleans()), min_size=1, max_size=160))
def test_the_kept_up_long_run_mix_equals_the_taste_shift_of_every_pair(steps):
    """A network keeps the long-run genre mix as a running sum; after any appends, reads and forgets it gives the
    taste shift of all its pairs, bit for bit."""
    space = make_space()
    user = UserWNN(space)
    for t, (item, read, forget) in enumerate(steps):
        user.learn_one(item, 4.0, ts=t, event_id=t)
        if forget and user.n_pairs > 1:
            user.forget(int(user.pair_log.event_ids[t % user.n_pairs]))
        if read or t == len(steps) - 1:
            slots = space.config.n_genre_slots
            assert user.taste_shift() == taste_shift(space.bits[user.pair_log.items, :slots])


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 300),
    st.integers(1, 19),
    st.floats(0.05, 0.95),
    st.integers(0, 2**32 - 1),
)
def test_the_compiled_taste_shift_equals_the_reference_bit_for_bit(n, slots, weight, seed):
    """The kernels' long-run mix, recent mix and divergence give the numpy reference's floats exactly, for any
    number of ratings (below and beyond the recent span) and items with and without genres."""
    rng = np.random.default_rng(seed)
    bits = (rng.random((12, slots + 2)) > rng.uniform(0.3, 0.95)).astype(np.uint8)
    items = rng.integers(0, len(bits), size=n)
    total = np.zeros(slots)
    drift_kernels.add_genre_mixes(bits, slots, items, 0, n // 2, total)
    drift_kernels.add_genre_mixes(bits, slots, items, n // 2, n, total)
    genres = bits[items, :slots]
    assert total.tolist() == genre_mixes(genres).sum(axis=0).tolist()
    weights = recent_weights(weight, min(n, RECENT_SPAN))
    compiled = drift_kernels.recent_shift(bits, slots, items, n, total, weights)
    assert compiled == (taste_shift(genres, weight) if n else 0.0)
    p, q = rng.random(slots) * (rng.random(slots) > 0.3), rng.random(slots) + 0.01
    p[rng.integers(slots)] += 0.5  # callers divide only mixes with some weight
    assert drift_kernels.js_divergence(p, q) == js_divergence(p, q)
