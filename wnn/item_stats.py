"""Mergeable shares of an item's global statistics, so several workers can agree on the global item signal.

Each worker owns some user partitions. For every item it keeps one :class:`ItemPartial` per owned partition: the
count, rating sum, collaborative projection and decayed popularity contributed by that partition's users. Shares of
different partitions add up to the item's totals, and each share has exactly one writer (the partition's owner), so
publishing shares (the stream uses a Faust GlobalTable) needs no locking and no conflict resolution:
:meth:`wnn.item_space.ItemSpace.replace_partial` swaps an old share for a new one in any worker's item space.

>>> p = ItemPartial.empty(collab_bits=2)
>>> q = p.added(rating=4.0, projection=np.array([0.5, -0.5], dtype=np.float32), ts=10, half_life_s=100.0)
>>> q.count, q.total
(1.0, 4.0)
>>> ItemPartial.from_bytes(q.to_bytes()) == q
True
"""

from __future__ import annotations

import dataclasses

import msgpack
import numpy as np

FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True, eq=False)
class ItemPartial:
    """One partition's share of an item's statistics (immutable: updates return a new share)."""

    count: float
    total: float
    projection: np.ndarray
    popularity: float
    popularity_ts: float

    @classmethod
    def empty(cls, collab_bits: int) -> "ItemPartial":
        return cls(0.0, 0.0, np.zeros(collab_bits, dtype=np.float32), 0.0, 0.0)

    def added(self, rating: float, projection: np.ndarray, ts: float, half_life_s: float) -> "ItemPartial":
        """This share after one more rating (``projection``: the rating's contribution to the item's code)."""
        decay = 2.0 ** (-(ts - self.popularity_ts) / half_life_s) if ts > self.popularity_ts else 1.0
        return ItemPartial(self.count + 1.0, self.total + rating, self.projection + projection,
                           self.popularity * decay + 1.0, max(ts, self.popularity_ts))

    def popularity_at(self, ts: float, half_life_s: float) -> float:
        return self.popularity * 2.0 ** (-max(ts - self.popularity_ts, 0.0) / half_life_s)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ItemPartial) and self.count == other.count and self.total == other.total
                and np.array_equal(self.projection, other.projection) and self.popularity == other.popularity
                and self.popularity_ts == other.popularity_ts)

    def to_bytes(self) -> bytes:
        return msgpack.packb({"v": FORMAT_VERSION, "n": self.count, "s": self.total,
                              "p": self.projection.astype(np.float32).tobytes(), "pop": self.popularity,
                              "pop_ts": self.popularity_ts}, use_bin_type=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> "ItemPartial":
        try:
            doc = msgpack.unpackb(data, raw=False)
            if doc["v"] != FORMAT_VERSION:
                raise ValueError(f"format version {doc['v']!r}, expected {FORMAT_VERSION}")
            return cls(float(doc["n"]), float(doc["s"]), np.frombuffer(doc["p"], dtype=np.float32).copy(),
                       float(doc["pop"]), float(doc["pop_ts"]))
        except Exception as exc:
            raise ValueError(f"item statistics share is corrupt ({type(exc).__name__}: {exc})") from None
