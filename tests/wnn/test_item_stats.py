"""The published form of item-statistics shares: compressed buckets that round-trip exactly."""

import zlib

import msgpack
import numpy as np
import pytest

from wnn import item_stats
from wnn.item_stats import ItemPartial, ShareBucket


def a_bucket(n_items: int = 60, bits: int = 4) -> ShareBucket:
    """Shares of the size and spread a partition holds after a few thousand ratings (fixed-point sums of +-1e6)."""
    rng = np.random.default_rng(0)
    return ShareBucket(
        {
            str(item): ItemPartial(
                int(rng.integers(1, 30)),
                float(rng.integers(1, 150)),
                tuple(int(x) for x in rng.integers(-500_000, 500_000, bits)),
                tuple(int(x) for x in rng.integers(-900_000, 900_000, bits)),
                int(rng.integers(-400_000, 400_000)),
                int(rng.integers(0, 1 << 40)),
            )
            for item in range(n_items)
        }
    )


def test_a_bucket_round_trips_exactly_in_a_quarter_of_the_bytes_or_less():
    bucket = a_bucket()
    data = bucket.to_bytes()
    assert ShareBucket.from_bytes(data).shares == bucket.shares
    plain = msgpack.packb({"v": 3, **bucket.fields()}, use_bin_type=True)
    assert len(data) < len(plain) / 2
    assert ShareBucket.from_bytes(data).to_bytes() == data  # canonical: equal buckets give equal bytes


def test_buckets_of_the_previous_format_are_still_read():
    bucket = a_bucket()
    version_3 = msgpack.packb({"v": 3, **bucket.fields()}, use_bin_type=True)
    assert ShareBucket.from_bytes(version_3).shares == bucket.shares


@pytest.mark.parametrize(
    "data",
    [
        msgpack.packb({"v": 4, "z": zlib.compress(msgpack.packb({"v": 3}))[:-3]}),  # truncated
        msgpack.packb({"v": 4, "z": b"not zlib"}),
        msgpack.packb({"v": 5, "z": b""}),
        b"garbage",
    ],
)
def test_a_corrupt_bucket_is_refused_with_the_reason(data):
    with pytest.raises(ValueError, match="item statistics bucket is corrupt"):
        ShareBucket.from_bytes(data)


def test_a_bucket_that_inflates_beyond_the_bound_is_refused(monkeypatch):
    data = a_bucket().to_bytes()
    monkeypatch.setattr(item_stats, "MAX_BUCKET_BYTES", 1_000)
    with pytest.raises(ValueError, match="exceed 1000 bytes"):
        ShareBucket.from_bytes(data)
