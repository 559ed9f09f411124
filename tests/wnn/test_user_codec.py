"""A user's pairs as stored bytes (wnn.user_codec): packed segments round-trip every column exactly, segments of the
previous version are still read, and damaged bytes are refused with the reason."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wnn import user_codec
from wnn.config import WNNConfig
from wnn.item_space import ItemSpace
from wnn.pairs import PairLog
from wnn.rating_scale import RatingScale
from wnn.state_format import StateError, seal, unseal
from wnn.validation import MAX_TS

# Any rating within the scale is accepted, on its step or not (float16 holds the first kind exactly, not the second).
SPACE = ItemSpace(WNNConfig(rating_scale=RatingScale(0.0, 10.0, 0.5)))

pairs = st.lists(
    st.tuples(
        st.integers(-(2**63), 2**63 - 1),
        st.integers(0, 30),
        st.one_of(st.sampled_from([0.5, 1.0, 3.5, 10.0]), st.floats(0.0, 10.0, width=32)),
        st.integers(0, MAX_TS),
    ),
    max_size=70,
    unique_by=lambda pair: pair[0],
)


def log_of(rows) -> PairLog:
    log = PairLog()
    for event_id, item, rating, ts in rows:
        log.append(event_id, SPACE.index(str(item)), str(item), rating, ts)
    return log


@given(pairs, st.data())
def test_a_packed_segment_round_trips_every_column_exactly(rows, data):
    log = log_of(rows)
    start = data.draw(st.integers(0, log.n))
    stop = data.draw(st.integers(start, log.n))
    decoded = user_codec.decode_segment(user_codec.encode_segment(log, start, stop), SPACE)
    assert decoded.listing() == log.listing()[start:stop]
    assert decoded.ratings.dtype == np.float32 and decoded.event_ids.dtype == decoded.ts.dtype == np.int64


def test_a_packed_segment_is_about_half_a_version_1_segment():
    log = log_of([(10**12 + 37 * e, e % 20, 1.0 + e % 5, 880_000_000 + 300 * e) for e in range(64)])
    assert len(user_codec.encode_segment(log)) < 0.6 * len(version_1_segment(log))


def test_a_version_1_segment_is_still_read():
    log = log_of([(5, 1, 4.0, 100), (9, 2, 2.5, 200)])
    assert user_codec.decode_segment(version_1_segment(log), SPACE).listing() == log.listing()


@pytest.mark.parametrize("field", ["e", "t"])
def test_a_damaged_packed_column_is_refused(field):
    log = log_of([(5, 1, 4.0, 100), (9, 2, 2.5, 200), (11, 3, 1.0, 300)])
    doc = msgpack.unpackb(unseal(user_codec.encode_segment(log)), raw=False)
    for damaged in (doc[field][:-1], bytes([9]) + doc[field][1:], b""):
        with pytest.raises(StateError, match=f"field '{field}' is truncated or corrupt"):
            user_codec.decode_segment(seal(msgpack.packb({**doc, field: damaged}, use_bin_type=True)), SPACE)


def version_1_segment(log: PairLog) -> bytes:
    return seal(
        msgpack.packb(
            {
                "v": 1,
                "n": log.n,
                "e": log.event_ids.tobytes(),
                "i": log.keys,
                "r": log.ratings.tobytes(),
                "t": log.ts.tobytes(),
            },
            use_bin_type=True,
        )
    )
