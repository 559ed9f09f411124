"""Exact, mergeable statistics of an item's ratings: the global side of the model, as sums that forget exactly.

Every quantity the item space derives an item's baseline, code, addresses and popularity from is a *sum over the
item's ratings* of an exact number:

* ``count`` and ``total`` (ratings are float32 values, whose float64 sums are exact);
* ``projection``: the rating's user-centred value times its user's random vector, in integer fixed point
  (:data:`PROJECTION_SCALE`); ``vector``: the user's vector alone, and ``centred``: the centred value alone, the
  same way, so the item-mean-centred projection can be derived (:meth:`wnn.item_space.ItemSpace` codes);
* ``popularity``: the integer popularity weight of :mod:`wnn.popularity`.

So an :class:`ItemPartial`, the statistics of any set of ratings of one item, is added and subtracted exactly, in any
order: the statistics of a set of ratings never depend on the order they were learned or forgotten in. A rating's
own contribution is an ``ItemPartial`` of count 1; a worker's share of an item (the ratings of one partition's
users) is the sum of its ratings'; the item's statistics are the sum of the shares.

>>> one = ItemPartial(1, 4.0, (3, -3), (1, -1), 2, 10)
>>> two = one + one
>>> two.count, two.total, (two - one) == one
(2, 8.0, True)
>>> ShareBucket.from_bytes(ShareBucket({"7": two}).to_bytes()).shares["7"] == two
True
"""

from __future__ import annotations

import dataclasses
import functools
import zlib
from collections.abc import Hashable, Mapping
from typing import Any, NamedTuple

import msgpack
import numpy as np

from wnn import popularity as popularity_weights

#: Bucket format: 4 is the fields of 3, zlib-compressed (a quarter of the bytes); 3 is still read.
FORMAT_VERSION = 4
READABLE_FORMAT_VERSIONS = (4, 3)
#: The most bytes a bucket's fields may decompress to (a corrupt or hostile value cannot take more memory).
MAX_BUCKET_BYTES = 64 << 20

#: Fixed-point scale of projections, user vectors and centred values: a rating adds ``round(x * SCALE)``.
PROJECTION_SCALE = float(1 << 16)


class ItemPartial:
    """Statistics of a set of ratings of one item (immutable: arithmetic returns a new one). Plain Python integers
    and tuples in a slotted class: a handful of numbers per item, cheaper to build and add than small numpy arrays
    or a frozen dataclass, and exact."""

    __slots__ = ("centred", "count", "popularity", "projection", "total", "vector")

    def __init__(
        self,
        count: int,
        total: float,
        projection: tuple[int, ...],
        vector: tuple[int, ...],
        centred: int,
        popularity: int,
    ) -> None:
        self.count = count
        self.total = total
        self.projection = projection
        self.vector = vector
        self.centred = centred
        self.popularity = popularity

    @classmethod
    def empty(cls, collab_bits: int) -> ItemPartial:
        zeros = (0,) * collab_bits
        return cls(0, 0.0, zeros, zeros, 0, 0)

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.count, self.total, self.projection, self.vector, self.centred, self.popularity)

    def __add__(self, other: ItemPartial) -> ItemPartial:
        return ItemPartial(
            self.count + other.count,
            self.total + other.total,
            tuple(a + b for a, b in zip(self.projection, other.projection)),
            tuple(a + b for a, b in zip(self.vector, other.vector)),
            self.centred + other.centred,
            self.popularity + other.popularity,
        )

    def __sub__(self, other: ItemPartial) -> ItemPartial:
        return ItemPartial(
            self.count - other.count,
            self.total - other.total,
            tuple(a - b for a, b in zip(self.projection, other.projection)),
            tuple(a - b for a, b in zip(self.vector, other.vector)),
            self.centred - other.centred,
            self.popularity - other.popularity,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ItemPartial) and self.as_tuple() == other.as_tuple()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"ItemPartial(count={self.count}, total={self.total}, projection={self.projection}, "
            f"vector={self.vector}, centred={self.centred}, popularity={self.popularity})"
        )


class RatingRow(NamedTuple):
    """One rating as the item statistics took it: its item (dense index), the rating (a float32 value), its
    user-centred value, its user and its event time (what :meth:`wnn.item_space.ItemSpace.rating_contributions`
    turns into a :class:`Contributions` row)."""

    item: int
    rating: float
    centred: float
    user: Hashable
    ts: float


def _uncancelled(items: np.ndarray, stamps: np.ndarray, sign: np.ndarray) -> list[tuple[int, Any, int]]:
    """The (item, event time) pairs whose signed counts do not add up to zero, with that count: the ratings whose
    popularity weights do not cancel between two contributions (a forget's own, not the unchanged ones after it)."""
    order = np.lexsort((stamps, items))
    items, stamps, sign = items[order], stamps[order], sign[order]
    starts = np.flatnonzero(np.concatenate(([True], (items[1:] != items[:-1]) | (stamps[1:] != stamps[:-1]))))
    times = np.add.reduceat(sign, starts)
    kept = starts[times != 0]
    return list(zip(items[kept].tolist(), stamps[kept].tolist(), times[times != 0].tolist()))


@dataclasses.dataclass(frozen=True)
class ItemDeltas:
    """How far some items' statistics move: one row per item that moves, by item (the exact difference between two
    :class:`Contributions`, :meth:`between`), applied in one vectorised step
    (:meth:`wnn.item_statistics.ItemStatistics.apply_deltas`)."""

    items: np.ndarray  # int64 (k,), ascending
    counts: np.ndarray  # int64 (k,)
    totals: np.ndarray  # float64 (k,)
    projections: np.ndarray  # int64 (k, bits)
    vectors: np.ndarray  # int64 (k, bits)
    centred: np.ndarray  # int64 (k,)
    popularity: list[int]

    @classmethod
    def between(cls, before: Contributions, after: Contributions) -> ItemDeltas:
        """``after`` less ``before``, per item: the rows of both grouped by item in one pass (``before``'s with their
        sign turned), and only the items whose statistics move kept. Exact: integer sums, and float64 sums of float32
        ratings."""
        items = np.concatenate([after.items, before.items])
        if not len(items):
            bits = after.projections.shape[1]
            return cls(
                items, items, np.zeros(0), np.zeros((0, bits), np.int64), np.zeros((0, bits), np.int64), items, []
            )
        sign = np.ones(len(items), dtype=np.int64)
        sign[len(after) :] = -1
        order = np.argsort(items, kind="stable")
        unique, starts = np.unique(items[order], return_index=True)
        signed = sign[order]
        counts = np.add.reduceat(signed, starts)
        ratings = np.concatenate([after.ratings, before.ratings]).astype(np.float64)[order]
        totals = np.add.reduceat(ratings * signed, starts)
        projections = np.concatenate([after.projections, before.projections])[order] * signed[:, None]
        vectors = np.concatenate([after.vectors, before.vectors])[order] * signed[:, None]
        if projections.shape[1]:
            projections = np.add.reduceat(projections, starts, axis=0)
            vectors = np.add.reduceat(vectors, starts, axis=0)
        else:
            projections = vectors = np.zeros((len(unique), 0), dtype=np.int64)
        centred = np.add.reduceat(np.concatenate([after.centred, before.centred])[order] * signed, starts)
        weights = dict.fromkeys(unique.tolist(), 0)
        half_life = after.half_life if len(after) else before.half_life
        for item, stamp, times in _uncancelled(items, np.concatenate([after.stamps, before.stamps]), sign):
            weights[item] += times * popularity_weights.weight(stamp, half_life)
        popularity = np.array([w != 0 for w in weights.values()], dtype=bool)
        moved = (
            (counts != 0)
            | (totals != 0.0)
            | (projections != 0).any(axis=1)
            | (vectors != 0).any(axis=1)
            | (centred != 0)
            | popularity
        )
        kept = np.flatnonzero(moved)
        return cls(
            unique[kept],
            counts[kept],
            totals[kept],
            projections[kept],
            vectors[kept],
            centred[kept],
            [weights[i] for i in unique[kept].tolist()],
        )

    def __len__(self) -> int:
        return len(self.items)

    def partial(self, k: int) -> ItemPartial:
        """Row ``k`` (item ``items[k]``) as an :class:`ItemPartial`."""
        return ItemPartial(
            int(self.counts[k]),
            float(self.totals[k]),
            tuple(self.projections[k].tolist()),
            tuple(self.vectors[k].tolist()),
            int(self.centred[k]),
            self.popularity[k],
        )


@dataclasses.dataclass(frozen=True)
class Contributions:
    """What some ratings add to the item statistics, one row per rating: dense item index, rating, projection and
    vector rows, centred value and popularity weight (all fixed point, see the module docstring)."""

    items: np.ndarray  # int64 (n,)
    ratings: np.ndarray  # float32 (n,)
    projections: np.ndarray  # int64 (n, bits)
    vectors: np.ndarray  # int64 (n, bits)
    centred: np.ndarray  # int64 (n,)
    stamps: np.ndarray  # (n,) event times
    half_life: float  # of the popularity weights, in seconds

    @functools.cached_property
    def popularity(self) -> list[int]:
        """Each rating's popularity weight (:func:`wnn.popularity.weight`), computed when first read: a caller that
        compares two contributions weighs only the ratings that differ (:meth:`ItemDeltas.between`)."""
        return [popularity_weights.weight(t, self.half_life) for t in self.stamps.tolist()]

    @classmethod
    def empty(cls, collab_bits: int, half_life: float = 1.0) -> Contributions:
        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.float32),
            np.zeros((0, collab_bits), np.int64),
            np.zeros((0, collab_bits), np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            half_life,
        )

    @classmethod
    def concatenate(cls, parts: list[Contributions], collab_bits: int) -> Contributions:
        if not parts:
            return cls.empty(collab_bits)
        return cls(
            np.concatenate([p.items for p in parts]),
            np.concatenate([p.ratings for p in parts]),
            np.concatenate([p.projections for p in parts]),
            np.concatenate([p.vectors for p in parts]),
            np.concatenate([p.centred for p in parts]),
            np.concatenate([p.stamps for p in parts]),
            parts[0].half_life,
        )

    def __len__(self) -> int:
        return len(self.items)

    def row(self, k: int) -> ItemPartial:
        """Rating ``k``'s own contribution."""
        return ItemPartial(
            1,
            float(self.ratings[k]),
            tuple(self.projections[k].tolist()),
            tuple(self.vectors[k].tolist()),
            int(self.centred[k]),
            self.popularity[k],
        )

    def shares(self, only: set[int] | None = None) -> dict[int, ItemPartial]:
        """The statistics of these ratings per item (of the items in ``only``, if given). Vectorised for the array
        fields (one grouping by item); the popularity integers are summed per rating."""
        if not len(self.items):
            return {}
        order = np.argsort(self.items, kind="stable")
        items = self.items[order]
        unique, starts = np.unique(items, return_index=True)
        counts = np.diff(np.append(starts, len(items)))
        totals = np.add.reduceat(self.ratings[order].astype(np.float64), starts)
        bits = self.projections.shape[1]
        if bits:
            projections = np.add.reduceat(self.projections[order], starts, axis=0)
            vectors = np.add.reduceat(self.vectors[order], starts, axis=0)
        else:
            projections = vectors = np.zeros((len(unique), 0), dtype=np.int64)
        centred = np.add.reduceat(self.centred[order], starts)
        popularity: dict[int, int] = {}
        for item, w in zip(self.items.tolist(), self.popularity):
            popularity[item] = popularity.get(item, 0) + w
        return {
            i: ItemPartial(c, s, tuple(p), tuple(v), k, popularity[i])
            for i, c, s, p, v, k in zip(
                unique.tolist(),
                counts.tolist(),
                totals.tolist(),
                projections.tolist(),
                vectors.tolist(),
                centred.tolist(),
            )
            if only is None or i in only
        }


@dataclasses.dataclass(frozen=True)
class ContributionChange:
    """A user's contribution before and after a change of their pairs, from the pair before the first one the change
    touched on (the pairs before that keep their centred values and their transitions, so they are left out)."""

    before: Contributions
    after: Contributions

    @functools.cached_property
    def deltas(self) -> ItemDeltas:
        """How far each item's statistics move (only the items that move)."""
        return ItemDeltas.between(self.before, self.after)


@dataclasses.dataclass
class ShareBucket:
    """Several items' shares of one partition, the unit a worker publishes (one message per bucket per batch).

    Keys are the callers' item ids, so a bucket means the same thing to every worker.
    """

    shares: Mapping[Hashable, ItemPartial]

    def to_bytes(self) -> bytes:
        """The bucket as msgpack, items in a canonical order (equal buckets give equal bytes), its fields compressed.

        The sums are fixed-point integers far below their int64 columns' range, so zlib's fastest level takes a
        bucket to about a quarter (measured on 64 buckets of a 10,000-user stream: 809 KB to 205 KB, 5.5 ms to
        compress them all); a partition's buckets are published once thousands of ratings changed them, so the
        compression costs well under a microsecond a rating.
        """
        fields = msgpack.packb(self.fields(), use_bin_type=True)
        return msgpack.packb({"v": FORMAT_VERSION, "z": zlib.compress(fields, 1)}, use_bin_type=True)

    def fields(self) -> dict[str, Any]:
        """The bucket's columns as msgpack takes them (what format 3 stored as they are, and format 4 compresses)."""
        keys = sorted(self.shares, key=repr)
        parts = [self.shares[k] for k in keys]
        bits = len(parts[0].projection) if parts else 0
        return {
            "items": keys,
            "bits": bits,
            "n": np.array([p.count for p in parts], dtype=np.int64).tobytes(),
            "s": np.array([p.total for p in parts], dtype=np.float64).tobytes(),
            "p": np.array([p.projection for p in parts], dtype=np.int64).tobytes(),
            "u": np.array([p.vector for p in parts], dtype=np.int64).tobytes(),
            "k": np.array([p.centred for p in parts], dtype=np.int64).tobytes(),
            "pop": [popularity_weights.to_bytes(p.popularity) for p in parts],
        }

    @classmethod
    def from_bytes(cls, data: bytes) -> ShareBucket:
        """Raises ValueError with the reason for anything that is not a bucket of this format."""
        try:
            doc = msgpack.unpackb(data, raw=False, strict_map_key=False)
            if doc["v"] not in READABLE_FORMAT_VERSIONS:
                raise ValueError(f"format version {doc['v']!r}, expected one of {READABLE_FORMAT_VERSIONS}")
            if doc["v"] == 4:
                inflate = zlib.decompressobj()
                fields = inflate.decompress(doc["z"], MAX_BUCKET_BYTES)
                if inflate.unconsumed_tail or not inflate.eof:
                    raise ValueError(f"compressed fields are truncated or exceed {MAX_BUCKET_BYTES} bytes")
                doc = msgpack.unpackb(fields, raw=False, strict_map_key=False)
            keys, bits = doc["items"], int(doc["bits"])
            n = len(keys)
            counts = np.frombuffer(doc["n"], dtype=np.int64, count=n)
            totals = np.frombuffer(doc["s"], dtype=np.float64, count=n)
            projections = np.frombuffer(doc["p"], dtype=np.int64, count=n * bits).reshape(n, bits)
            vectors = np.frombuffer(doc["u"], dtype=np.int64, count=n * bits).reshape(n, bits)
            centred = np.frombuffer(doc["k"], dtype=np.int64, count=n)
            popularity = [popularity_weights.from_bytes(b) for b in doc["pop"]]
            if (
                len(popularity) != n
                or (counts < 0).any()
                or not np.isfinite(totals).all()
                or any(w < 0 for w in popularity)
            ):
                raise ValueError("negative counts or popularity, or non-finite sums")
        except Exception as exc:
            raise ValueError(f"item statistics bucket is corrupt ({type(exc).__name__}: {exc})") from None
        return cls(
            {
                k: ItemPartial(int(c), float(s), tuple(p), tuple(u), int(q), w)
                for k, c, s, p, u, q, w in zip(
                    keys,
                    counts.tolist(),
                    totals.tolist(),
                    projections.tolist(),
                    vectors.tolist(),
                    centred.tolist(),
                    popularity,
                )
            }
        )
