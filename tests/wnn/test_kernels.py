"""The compiled kernels against their numpy reference, bit for bit.

A random multi-user stream (repeats, redeliveries, forgets of ratings and of items, evictions by the size limit,
taste-window restarts, half-star scales) runs once on the kernels and once on the reference; the whole system
(:func:`wnn.system_state.snapshot`: stored pairs, every derived value, item statistics, every prediction, every
top-10) and every prediction made along the way must be equal.
"""

from __future__ import annotations

import os
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.wnn.test_unlearning_contract import CONFIGS, ITEMS, run, stream, system
from wnn import derivation, taste_change, user_codec
from wnn.item_bits import LEVEL_BITS
from wnn.item_space import ItemSpace
from wnn.kernels import derivation as derivation_kernels
from wnn.kernels import item_statistics as statistics_kernels
from wnn.kernels import mode
from wnn.kernels.sums import MAX_TERMS, pairwise_sum
from wnn.system_state import differences, snapshot
from wnn.taste_change import REFERENCE_PRIOR

#: Examples per run; a long soak: WNN_KERNEL_EXAMPLES=5000 pytest tests/wnn/test_kernels.py
EXAMPLES = int(os.environ.get("WNN_KERNEL_EXAMPLES", "150"))


def test_pairwise_sum_adds_in_numpys_order_for_every_length():
    rng = np.random.default_rng(0)
    for n in range(MAX_TERMS + 1):
        rows = rng.standard_normal((4, n)) * 10.0 ** rng.integers(-8, 9, size=(4, n))
        expected = rows.sum(axis=1)  # the reference's reduction: the last axis of a C-ordered array
        assert [pairwise_sum(row, 0, n) for row in rows] == expected.tolist(), n


def test_the_reference_mode_switch_is_scoped():
    assert mode.compiled()
    with mode.reference():
        assert not mode.compiled()
    assert mode.compiled()


def state_and_predictions(config_name: str, events) -> tuple[dict, list]:
    along: list = []
    rec, _, _, last_ts = run(CONFIGS[config_name], events, predictions=along)
    along += [rec.predict_one(user, item) for user in sorted(rec.users) for item in ITEMS]
    return snapshot(rec.space, rec.users, lists_at=last_ts), along


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(CONFIGS)), stream, st.sampled_from([0, 3, derivation.TABLE_FROM_PAIRS]))
def test_the_kernels_equal_the_reference(config_name, events, table_from_pairs):
    """``table_from_pairs``: the window size from which the kernels keep a table (the reference always keeps one),
    small as well as the default, so that short streams run both the table and the table-less paths."""
    with mock.patch.object(derivation, "TABLE_FROM_PAIRS", table_from_pairs):
        compiled, compiled_predictions = state_and_predictions(config_name, events)
    with mode.reference():
        reference, reference_predictions = state_and_predictions(config_name, events)
    assert not differences(compiled, reference), differences(compiled, reference)
    assert compiled_predictions == reference_predictions


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-1024, 1024), max_size=120),
    st.sampled_from([0.0, 0.05, 0.5]),
    st.sampled_from([0.3, 1.0, 4.0]),
)
def test_the_compiled_taste_window_equals_the_reference_scan(units, allowance, threshold):
    residuals = np.array(units, dtype=np.int32)
    compiled = derivation_kernels.scan(residuals, allowance, threshold, REFERENCE_PRIOR)
    assert compiled.tolist() == list(taste_change.scan(residuals, allowance, threshold))
    stepped = np.zeros(10)  # the compiled step, pair by pair (what learning does)
    for p in range(len(residuals)):
        derivation_kernels.window_step(stepped, residuals[p], allowance, threshold, residuals[: p + 1], REFERENCE_PRIOR)
    assert stepped.tobytes() == compiled.tobytes()


def test_a_network_kept_without_a_table_continues_exactly_under_the_reference():
    """The kernels keep no table for a short window; the reference, handed such a network, counts it first."""
    ratings = [("a", 4.0), ("b", 2.0), ("c", 5.0), ("d", 1.0), ("a", 3.0)]

    def learned(split: int) -> dict:
        rec = system(CONFIGS["default"])
        for k, (item, rating) in enumerate(ratings):
            if k == split and k:
                assert not rec.users["u"].derived_state.keeps_table
            if k < split:
                rec.learn_one("u", item, rating, 1_000_000 + 600 * k, k)
            else:
                with mode.reference():
                    rec.learn_one("u", item, rating, 1_000_000 + 600 * k, k)
        with mode.reference():
            return snapshot(rec.space, rec.users, lists_at=2_000_000)

    everything_reference = learned(0)
    for split in (1, 3, 4):
        assert not differences(learned(split), everything_reference), split


def item_side(ratings: list[tuple[int, float, int]]) -> dict[str, list]:
    space = ItemSpace()
    for item in range(3):
        space.add_item(item, genres=("Drama",), year=1990 + item)
    for k, (item, rating, user) in enumerate(ratings):
        space.update(item, rating, centred=(rating - 3.3) / (1 + user), user=f"u{user}", ts=600 * k)
    space.withdraw(2)
    space.add_item(2, genres=("Comedy",), year=1990)  # content bits change: addresses derived again
    n = space.n_items
    arrays = ("counts", "sums", "projection_sums", "vector_sums", "centred_sums", "log2_popularity")
    derived = ("dynamic_codes", "addresses", "cell_base", "channels")
    return {name: getattr(space, name)[:n].tolist() for name in arrays + derived} | {
        "popularity": space.popularity,
        "candidates": space.candidates(0, n).tolist(),
    }


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2), st.sampled_from([1.0, 2.5, 3.0, 4.0, 5.0]), st.integers(0, 40)), max_size=400)
)
def test_compiled_item_statistics_equal_the_reference(ratings):
    """Counts crossing every popularity level, means crossing every mean level, codes flipping: the compiled update
    and code refresh leave every statistic and everything derived from them as the reference does."""
    compiled = item_side(ratings)
    with mode.reference():
        reference = item_side(ratings)
    assert compiled == reference


def test_the_code_kernel_packs_levels_as_the_layout_does():
    assert statistics_kernels.LEVEL_BITS == LEVEL_BITS


INT64 = st.integers(-(2**63), 2**63 - 1)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.lists(INT64, min_size=1, max_size=40),  # differences that wrap in 64 bits
        st.tuples(INT64, st.lists(st.integers(-(2**33), 2**33), max_size=40)).map(
            lambda first_steps: list(np.cumsum([first_steps[0], *first_steps[1]], dtype=np.int64).tolist())
        ),  # a column of small steps: every narrow type and its bounds
    )
)
def test_the_column_kernels_pack_and_unpack_as_the_reference(values):
    column = np.array(values, dtype=np.int64)
    packed = user_codec.pack_column(column)
    assert packed == user_codec.pack_column_reference(column)
    unpacked = user_codec.unpack_column(packed, len(column), "test", "c")
    with mode.reference():
        assert unpacked.tolist() == user_codec.unpack_column(packed, len(column), "test", "c").tolist() == values


@pytest.mark.parametrize("step", [127, 128, -128, -129, 2**15 - 1, 2**15, -(2**15), 2**31 - 1, 2**31, -(2**31) - 1])
def test_the_column_kernel_takes_the_narrowest_type_at_each_bound(step):
    column = np.array([5, 5 + step], dtype=np.int64)
    packed = user_codec.pack_column(column)
    assert packed == user_codec.pack_column_reference(column)
    assert user_codec.unpack_column(packed, 2, "test", "c").tolist() == [5, 5 + step]
