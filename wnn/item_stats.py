"""Mergeable shares of an item's global statistics, so several workers can agree on the global item signal.

Each worker owns some user partitions. For every item it keeps one :class:`ItemPartial` per owned partition: the
count, rating sum, collaborative projection and decayed popularity contributed by that partition's users. Shares of
different partitions add up to the item's totals, and each share has exactly one writer (the partition's owner), so
publishing shares needs no locking and no conflict resolution: :meth:`wnn.item_space.ItemSpace.replace_partial` swaps
an old share for a new one in any worker's item space.

A share is *derived* state: every rating's contribution is kept in the rating user's own state (see
:meth:`wnn.network.UserWNN.contributions`), so a partition's shares can always be rebuilt from its users
(:func:`shares_from_contributions`) and can never drift from them after a crash. To make rebuilt and incrementally
updated shares equal bit for bit, whatever the order, projections are sums of integers (fixed point,
:data:`PROJECTION_SCALE`) and ratings are sums of exactly representable numbers. Only the decayed popularity is a
float sum whose last bits depend on the order (relative differences around 1e-15).

>>> p = ItemPartial.empty(collab_bits=2)
>>> q = p.added(rating=4.0, projection=np.array([3, -3]), ts=10, half_life_s=100.0)
>>> q.count, q.total
(1, 4.0)
>>> q.removed(rating=4.0, projection=np.array([3, -3]), ts=10, half_life_s=100.0).count
0
>>> ShareBucket.from_bytes(ShareBucket({"7": q}).to_bytes()).shares["7"] == q
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Iterable, Mapping

import msgpack
import numpy as np

FORMAT_VERSION = 2

#: Fixed-point scale of projection contributions: a rating adds ``round(centered * user_vector * SCALE)``.
PROJECTION_SCALE = float(1 << 16)


def projection_contribution(centered: float | np.ndarray, user_vector: np.ndarray) -> np.ndarray:
    """What a rating adds to its item's collaborative projection, as exact integers.

    ``centered`` is one value (→ shape (bits,)) or one per rating (→ (n, bits)); ``user_vector`` is (bits,) or
    (n, bits).
    """
    centered = np.asarray(centered, dtype=np.float64)
    if centered.ndim:
        centered = centered[:, None]
    return np.rint(centered * user_vector.astype(np.float64) * PROJECTION_SCALE).astype(np.int64)


def _decay(age: float, half_life_s: float) -> float:
    return 2.0 ** (-age / half_life_s)


@dataclasses.dataclass(frozen=True, eq=False)
class ItemPartial:
    """One partition's share of an item's statistics (immutable: updates return a new share)."""

    count: int
    total: float
    projection: np.ndarray  # int64, fixed point (PROJECTION_SCALE)
    popularity: float
    popularity_ts: float

    @classmethod
    def empty(cls, collab_bits: int) -> "ItemPartial":
        return cls(0, 0.0, np.zeros(collab_bits, dtype=np.int64), 0.0, 0.0)

    def added(self, rating: float, projection: np.ndarray, ts: float, half_life_s: float) -> "ItemPartial":
        """This share after one more rating (``projection``: its :func:`projection_contribution`).

        Popularity is the sum over ratings of ``2 ** -(popularity_ts - ts) / half_life``, with ``popularity_ts`` the
        newest rating time, so a late rating adds its decayed weight rather than a full 1.
        """
        if self.count == 0:
            return ItemPartial(1, float(rating), np.asarray(projection, dtype=np.int64).copy(), 1.0, float(ts))
        if ts >= self.popularity_ts:
            popularity, at = self.popularity * _decay(ts - self.popularity_ts, half_life_s) + 1.0, float(ts)
        else:
            popularity, at = self.popularity + _decay(self.popularity_ts - ts, half_life_s), self.popularity_ts
        return ItemPartial(self.count + 1, self.total + rating, self.projection + projection, popularity, at)

    def removed(self, rating: float, projection: np.ndarray, ts: float, half_life_s: float) -> "ItemPartial":
        """The exact inverse of :meth:`added` for count, total and projection (popularity up to float rounding)."""
        if self.count <= 1:
            return ItemPartial.empty(len(self.projection))
        popularity = max(self.popularity - _decay(max(self.popularity_ts - ts, 0.0), half_life_s), 0.0)
        return ItemPartial(self.count - 1, self.total - rating, self.projection - projection, popularity,
                           self.popularity_ts)

    def merged(self, other: "ItemPartial", half_life_s: float) -> "ItemPartial":
        """This share plus another set of ratings' share of the same item (as if they had been added one by one)."""
        if not other.count:
            return self
        if not self.count:
            return other
        at = max(self.popularity_ts, other.popularity_ts)
        return ItemPartial(self.count + other.count, self.total + other.total, self.projection + other.projection,
                           self.popularity_at(at, half_life_s) + other.popularity_at(at, half_life_s), at)

    def popularity_at(self, ts: float, half_life_s: float) -> float:
        return self.popularity * _decay(max(ts - self.popularity_ts, 0.0), half_life_s)

    def same_as(self, other: "ItemPartial", rel_tol: float = 1e-9) -> bool:
        """Equal counts, totals and projections, and popularity equal up to ``rel_tol`` (its float sum depends on
        the order ratings were added)."""
        return (self.count == other.count and self.total == other.total
                and np.array_equal(self.projection, other.projection) and self.popularity_ts == other.popularity_ts
                and abs(self.popularity - other.popularity) <= rel_tol * max(abs(self.popularity), 1.0))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ItemPartial) and self.count == other.count and self.total == other.total
                and np.array_equal(self.projection, other.projection) and self.popularity == other.popularity
                and self.popularity_ts == other.popularity_ts)


def shares_from_contributions(items: np.ndarray, ratings: np.ndarray, ts: np.ndarray, projections: np.ndarray,
                              half_life_s: float) -> dict[int, ItemPartial]:
    """Derive the per-item shares of a set of ratings (for example all stored ratings of one partition's users).

    ``items`` (n,) are dense item indices, ``projections`` (n, bits) each rating's
    :func:`projection_contribution`. Vectorised: one grouping by item, no loop over ratings.
    """
    if not len(items):
        return {}
    order = np.lexsort((ts, items))
    items, ratings, ts, projections = items[order], ratings[order], ts[order].astype(np.float64), projections[order]
    unique, starts = np.unique(items, return_index=True)
    counts = np.diff(np.append(starts, len(items)))
    totals = np.add.reduceat(ratings.astype(np.float64), starts)
    summed = np.add.reduceat(projections, starts, axis=0) if projections.shape[1] else \
        np.zeros((len(unique), 0), dtype=np.int64)
    newest = np.maximum.reduceat(ts, starts)
    weights = np.exp2(-(np.repeat(newest, counts) - ts) / half_life_s)
    popularity = np.add.reduceat(weights, starts)
    return {int(i): ItemPartial(int(c), float(s), p, float(pop), float(at))
            for i, c, s, p, pop, at in zip(unique.tolist(), counts.tolist(), totals.tolist(), summed, popularity,
                                           newest.tolist())}


@dataclasses.dataclass
class ShareBucket:
    """Several items' shares of one partition, the unit a worker publishes (one message per bucket per batch).

    Keys are the callers' item ids, so a bucket means the same thing to every worker.
    """

    shares: Mapping[Hashable, ItemPartial]

    def to_bytes(self) -> bytes:
        keys = list(self.shares)
        parts = [self.shares[k] for k in keys]
        bits = len(parts[0].projection) if parts else 0
        return msgpack.packb({
            "v": FORMAT_VERSION, "items": keys, "bits": bits,
            "n": np.array([p.count for p in parts], dtype=np.int64).tobytes(),
            "s": np.array([p.total for p in parts], dtype=np.float64).tobytes(),
            "p": (np.stack([p.projection for p in parts]) if parts else np.zeros((0, 0), np.int64)).tobytes(),
            "pop": np.array([p.popularity for p in parts], dtype=np.float64).tobytes(),
            "pop_ts": np.array([p.popularity_ts for p in parts], dtype=np.float64).tobytes(),
        }, use_bin_type=True)

    @classmethod
    def from_bytes(cls, data: bytes) -> "ShareBucket":
        """Raises ValueError with the reason for anything that is not a bucket of this format."""
        try:
            doc = msgpack.unpackb(data, raw=False, strict_map_key=False)
            if doc["v"] != FORMAT_VERSION:
                raise ValueError(f"format version {doc['v']!r}, expected {FORMAT_VERSION}")
            keys, bits = doc["items"], int(doc["bits"])
            n = len(keys)
            counts = np.frombuffer(doc["n"], dtype=np.int64, count=n)
            totals = np.frombuffer(doc["s"], dtype=np.float64, count=n)
            projections = np.frombuffer(doc["p"], dtype=np.int64, count=n * bits).reshape(n, bits)
            popularity = np.frombuffer(doc["pop"], dtype=np.float64, count=n)
            stamps = np.frombuffer(doc["pop_ts"], dtype=np.float64, count=n)
            if (counts < 0).any() or not (np.isfinite(totals).all() and np.isfinite(popularity).all()):
                raise ValueError("negative counts or non-finite sums")
        except Exception as exc:
            raise ValueError(f"item statistics bucket is corrupt ({type(exc).__name__}: {exc})") from None
        return cls({k: ItemPartial(int(c), float(s), p.copy(), float(pop), float(at))
                    for k, c, s, p, pop, at in zip(keys, counts.tolist(), totals.tolist(), projections,
                                                   popularity.tolist(), stamps.tolist())})


def user_partials(items: np.ndarray, ratings: np.ndarray, stamps: np.ndarray, projections: np.ndarray,
                  indices: Iterable[int], collab_bits: int, half_life_s: float) -> dict[int, ItemPartial]:
    """One user's contributions to each of ``indices``, as :class:`ItemPartial` (what forgetting takes back).

    ``items``, ``ratings``, ``stamps`` and ``projections`` are the user's stored pairs in learning order (see
    :meth:`wnn.network.UserWNN.contributions` and :meth:`wnn.item_space.ItemSpace.projection_of`).
    """
    partials = {}
    for idx in indices:
        partial = ItemPartial.empty(collab_bits)
        for k in np.flatnonzero(items == idx).tolist():
            partial = partial.added(float(ratings[k]), projections[k], int(stamps[k]), half_life_s)
        partials[idx] = partial
    return partials
