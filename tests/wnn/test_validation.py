"""The model's input boundary: a refused learn call raises InvalidEvent naming the field and leaves no trace."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wnn.config import WNNConfig
from wnn.rating_scale import HALF_STARS, WHOLE_STARS
from wnn.recommender import WNNRecommender
from wnn.validation import MAX_TS, InvalidEvent

#: The default config's scale: 1-5 (ML-100K's).
MIN_RATING, MAX_RATING = WHOLE_STARS.low, WHOLE_STARS.high

BAD_CASES = [
    ("rating", dict(rating=float("nan"))),
    ("rating", dict(rating=float("inf"))),
    ("rating", dict(rating=0.0)),
    ("rating", dict(rating=0.5)),
    ("rating", dict(rating=6.0)),
    ("rating", dict(rating=-1.0)),
    ("rating", dict(rating=11)),
    ("rating", dict(rating="4")),
    ("rating", dict(rating=True)),
    ("rating", dict(rating=None)),
    ("ts", dict(ts=-1e20)),
    ("ts", dict(ts=-1)),
    ("ts", dict(ts=float("nan"))),
    ("ts", dict(ts=1.5)),
    ("ts", dict(ts=MAX_TS + 1)),
    ("ts", dict(ts="881250949")),
    ("event_id", dict(event_id=1e30)),
    ("event_id", dict(event_id=2**63)),
    ("event_id", dict(event_id=1.0)),
    ("event_id", dict(event_id=None)),
    ("item", dict(item=10**30)),
    ("item", dict(item="x" * 300)),
    ("item", dict(item="")),
    ("item", dict(item=(1, 2))),
    ("item", dict(item=None)),
    ("user", dict(user=10**30)),
    ("user", dict(user=[1])),
]


def fingerprint(rec: WNNRecommender) -> tuple:
    """Everything a learn call could touch."""
    space = rec.space
    return (
        sorted(map(str, rec.users)),
        {str(u): m.to_bytes() for u, m in rec.users.items()},
        space.n_items,
        space.counts[: space.n_items].tobytes(),
        space.next_items.as_dict(),
        space.sums[: space.n_items].tobytes(),
    )


def warmed() -> WNNRecommender:
    rec = WNNRecommender()
    for t, (user, item, rating) in enumerate([("u1", "a", 4.0), ("u1", "b", 2.0), ("u2", "a", 5.0)]):
        rec.learn_one(user, item, rating, ts=1_000 + t, event_id=t)
    return rec


@pytest.mark.parametrize("field, bad", BAD_CASES, ids=[f"{f}={next(iter(b.values()))!r:.20}" for f, b in BAD_CASES])
def test_a_bad_field_raises_naming_it_and_changes_nothing(field, bad):
    rec = warmed()
    before = fingerprint(rec)
    call = dict(user="u1", item="c", rating=3.0, ts=2_000, event_id=99) | bad
    with pytest.raises(InvalidEvent) as error:
        rec.learn_one(**call)
    assert error.value.field == field and str(error.value).startswith(f"{field} = ")
    assert fingerprint(rec) == before
    rec.learn_one("u1", "c", 3.0, ts=2_000, event_id=99)  # the corrected retry is learned
    assert any(p["event_id"] == 99 for p in rec.user("u1").pairs())


@settings(max_examples=300, deadline=None)
@given(
    rating=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 20)),
    ts=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**12), 10**12)),
    event_id=st.one_of(st.integers(-(2**70), 2**70), st.floats()),
)
def test_any_input_is_learned_or_refused_without_a_trace(rating, ts, event_id):
    rec = warmed()
    before = fingerprint(rec)
    valid = (MIN_RATING <= rating <= MAX_RATING and isinstance(ts, int) and 0 <= ts <= MAX_TS) or (
        isinstance(ts, float)
        and math.isfinite(ts)
        and ts.is_integer()
        and 0 <= ts <= MAX_TS
        and MIN_RATING <= rating <= MAX_RATING
    )
    valid = valid and isinstance(event_id, int) and -(2**63) <= event_id < 2**63
    try:
        rec.learn_one("u1", "c", rating, ts, event_id)
    except InvalidEvent:
        assert not valid
        assert fingerprint(rec) == before
    else:
        assert valid


def test_the_configured_scale_decides_what_is_a_rating():
    half_stars = WNNRecommender(WNNConfig(rating_scale=HALF_STARS))
    half_stars.learn_one("u1", "a", 0.5, ts=1_000, event_id=1)
    assert half_stars.user("u1").pairs()[0]["rating"] == 0.5
    with pytest.raises(InvalidEvent, match=r"within 1\.\.5"):
        WNNRecommender().learn_one("u1", "a", 0.5, ts=1_000, event_id=1)
