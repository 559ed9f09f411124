import numpy as np

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
