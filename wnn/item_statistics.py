"""Every item's exact rating statistics, and what derives from them alone: baselines, decayed popularity and the
collaborative projection.

Each item's statistics are sums over its ratings of exact numbers (:mod:`wnn.item_stats`): the count, the rating total
(float64 sums of float32 values), fixed-point sums of the centred ratings times their users' random vectors, of the
vectors and of the centred values, and the popularity accumulator (an integer, :mod:`wnn.popularity`). So they are a
function of which ratings exist, never of the order they were learned or forgotten in. Kept as one array per field
(the kernels read and add to them in place, :mod:`wnn.kernels.item_statistics`), grown by the
:class:`~wnn.item_space.ItemSpace` that owns them, which derives each item's code and addresses from them.

>>> from wnn.config import WNNConfig
>>> statistics = ItemStatistics(WNNConfig(seed=1), capacity=4)
>>> statistics.register()
0
>>> _ = statistics.add_rating(0, rating=5.0, centred=1.0, user=7, ts=0)
>>> int(statistics.counts[0]), round(statistics.baseline(0), 4)
(1, 3.75)
"""

from __future__ import annotations

import functools
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from wnn import popularity
from wnn.config import WNNConfig
from wnn.encoding import stable_hash
from wnn.item_stats import PROJECTION_SCALE, Contributions, ItemDeltas, ItemPartial, RatingRow
from wnn.kernels import item_statistics as kernels
from wnn.kernels import libm, mode

#: Users whose scaled random vectors are kept (about 450 bytes each; recomputing one costs ~20 us).
VECTORS_HELD = 65_536


def _user_vector(seed: int, collab_bits: int, user: Hashable) -> np.ndarray:
    rng = np.random.default_rng((seed, stable_hash(user)))
    return rng.standard_normal(collab_bits).astype(np.float32)


@functools.lru_cache(maxsize=VECTORS_HELD)  # C-implemented: a hit costs a tenth of cachetools' LRUCache's
def _scaled_vector(seed: int, collab_bits: int, user: Hashable) -> tuple[np.ndarray, np.ndarray]:
    vector = _user_vector(seed, collab_bits, user).astype(np.float64) * PROJECTION_SCALE
    vector.setflags(write=False)
    units = np.rint(vector).astype(np.int64)
    units.setflags(write=False)
    return vector, units


class ItemStatistics:
    """The statistics of items ``0 .. n_items - 1``, one array per field. See the module docstring."""

    counts: np.ndarray
    sums: np.ndarray
    projection_sums: np.ndarray
    vector_sums: np.ndarray
    centred_sums: np.ndarray
    log2_popularity: np.ndarray

    def __init__(self, config: WNNConfig, capacity: int) -> None:
        self.config = config
        #: Per item, the popularity accumulator (:mod:`wnn.popularity`): a Python integer of some 1,500 bits, exact.
        self.popularity: list[int] = []
        self.grow(capacity)

    def grow(self, capacity: int) -> None:
        """Room for ``capacity`` items (the items held keep their values)."""
        bits, old = self.config.collab_bits, self.n_items
        shapes: dict[str, tuple[tuple[int, ...], type]] = {
            "counts": ((capacity,), np.int64),
            "sums": ((capacity,), np.float64),
            "projection_sums": ((capacity, bits), np.int64),
            "vector_sums": ((capacity, bits), np.int64),
            "centred_sums": ((capacity,), np.int64),
            "log2_popularity": ((capacity,), np.float64),
        }
        for name, (shape, dtype) in shapes.items():
            new: np.ndarray = np.zeros(shape, dtype=dtype)
            if name == "log2_popularity":
                new[:] = -np.inf
            current = getattr(self, name, None)
            if current is not None:
                new[:old] = current[:old]
            setattr(self, name, new)

    def register(self) -> int:
        """Add an item without ratings; returns its index (the owner made room for it)."""
        self.popularity.append(0)
        return self.n_items - 1

    @property
    def n_items(self) -> int:
        """How many items the statistics hold (one popularity accumulator each)."""
        return len(self.popularity)

    @property
    def summed(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The summed fields, in the order the kernels take them: counts, rating sums, projection sums, vector sums,
        centred sums."""
        return self.counts, self.sums, self.projection_sums, self.vector_sums, self.centred_sums

    # ------------------------------------------------------------------ derived
    def baseline(self, index: int) -> float:
        """The global prediction for an item: its mean rating shrunk toward ``prior_mean`` by ``item_prior``
        pseudo-ratings (hybrid), else ``prior_mean`` alone (content-only)."""
        cfg = self.config
        if not cfg.hybrid:
            return cfg.prior_mean
        beta = cfg.item_prior
        return (self.sums.item(index) + beta * cfg.prior_mean) / (self.counts.item(index) + beta)

    def baselines(self, items: np.ndarray | None = None) -> np.ndarray:
        """:meth:`baseline` of every item (or of ``items``), vectorised."""
        cfg = self.config
        counts, sums = (
            (self.counts[: self.n_items], self.sums[: self.n_items])
            if items is None
            else (self.counts[items], self.sums[items])
        )
        if not cfg.hybrid:
            return np.full(len(counts), cfg.prior_mean)
        beta = cfg.item_prior
        return (sums + beta * cfg.prior_mean) / (counts + beta)

    def popularity_at(self, ts: float, items: np.ndarray | None = None) -> np.ndarray:
        """Time-decayed rating count of every item (or of ``items``) at event time ``ts``."""
        chosen = slice(0, self.n_items) if items is None else items
        return libm.exp2(self.log2_popularity[chosen] - ts / self.config.popularity_half_life_s)

    def collab_projection(self, index: int) -> list[float]:
        """The item's item-mean-centred collaborative projection: ``sum over raters of (c - mean c) * v``, derived
        from the exact sums (``projection - centred / count * vector``, in float64). Its signs are the collab bits."""
        count = self.counts.item(index)
        mean = self.centred_sums.item(index) / count / PROJECTION_SCALE if count else 0.0
        return [p - mean * v for p, v in zip(self.projection_sums[index].tolist(), self.vector_sums[index].tolist())]

    @property
    def projections(self) -> np.ndarray:
        """Every item's collaborative projection sum (n_items, collab_bits), fixed point (a copy)."""
        return self.projection_sums[: self.n_items].copy()

    # ------------------------------------------------------------------ users' vectors
    def user_vector(self, user: Hashable) -> np.ndarray:
        """The user's fixed Gaussian projection vector, derived from the global seed and the user id."""
        return _user_vector(self.config.seed, self.config.collab_bits, user)

    def scaled(self, user: Hashable) -> tuple[np.ndarray, np.ndarray]:
        """The user's vector times the fixed-point scale, and that rounded (the vector's contribution). Derived
        from the user id, so only the :data:`VECTORS_HELD` most recently used are kept: a worker that sees a million
        users does not hold a vector for each."""
        return _scaled_vector(self.config.seed, self.config.collab_bits, user)

    # ------------------------------------------------------------------ contributions
    def contributions(
        self, user: Hashable, items: np.ndarray, ratings: np.ndarray, stamps: np.ndarray, centred: np.ndarray
    ) -> Contributions:
        """What ratings of one user add to the item statistics (fixed point; see :mod:`wnn.item_stats`):
        ``centred`` are the ratings' user-centred values (:meth:`wnn.network.UserWNN.centred_ratings`)."""
        vector, units = self.scaled(user)
        rows = (len(items), len(vector))
        return self._contributions(
            items, ratings, stamps, centred, np.broadcast_to(vector, rows), np.broadcast_to(units, rows)
        )

    def runs_contributions(
        self,
        users: Sequence[Hashable],
        counts: Sequence[int],
        items: np.ndarray,
        ratings: np.ndarray,
        stamps: np.ndarray,
        centred: np.ndarray,
    ) -> Contributions:
        """:meth:`contributions` of several users in one call: the columns hold ``counts[k]`` ratings of
        ``users[k]``, each user's run after the one before. Equal to their runs' contributions concatenated
        (re-deriving a partition's statistics from its stored users takes one call instead of one per user)."""
        bits = self.config.collab_bits
        scaled = [self.scaled(user) for user in users]
        vectors = np.array([vector for vector, _ in scaled]).reshape(len(users), bits)
        units = np.array([unit for _, unit in scaled]).reshape(len(users), bits)
        repeats = np.asarray(counts, dtype=np.int64)
        return self._contributions(
            items, ratings, stamps, centred, np.repeat(vectors, repeats, axis=0), np.repeat(units, repeats, axis=0)
        )

    def rating_contributions(self, ratings: Sequence[RatingRow]) -> Contributions:
        """What single ratings, of any users, add to the item statistics: the same rows :meth:`contributions` gives
        for each (a caller that keeps per-partition shares folds the ratings :meth:`add_rating` took with this)."""
        bits = self.config.collab_bits
        if not ratings:
            return Contributions.empty(bits, self.config.popularity_half_life_s)
        scaled = [self.scaled(row.user) for row in ratings]
        return self._contributions(
            [row.item for row in ratings],
            [row.rating for row in ratings],
            [row.ts for row in ratings],
            [row.centred for row in ratings],
            np.array([vector for vector, _ in scaled]).reshape(len(ratings), bits),
            np.array([units for _, units in scaled]).reshape(len(ratings), bits),
        )

    def _contributions(
        self,
        items: Any,
        ratings: Any,
        stamps: Any,
        centred: Any,
        vectors: np.ndarray,
        vector_units: np.ndarray,
    ) -> Contributions:
        centred = np.asarray(centred, dtype=np.float64)
        # Copies: the columns of a user's pairs are views of the pair arena, reused once the user's log is dropped.
        return Contributions(
            np.array(items, dtype=np.int64),
            np.array(ratings, dtype=np.float32),
            np.rint(centred[:, None] * vectors).astype(np.int64),
            np.array(vector_units, dtype=np.int64),
            np.rint(centred * PROJECTION_SCALE).astype(np.int64),
            np.array(stamps),
            self.config.popularity_half_life_s,
        )

    # ------------------------------------------------------------------ changes
    def add_rating(self, index: int, rating: float, centred: float, user: Hashable, ts: float) -> RatingRow:
        """Fold one rating (its user-centred value ``centred``) into the item's statistics; returns the rating as
        :meth:`rating_contributions` takes it."""
        rating = float(np.float32(rating))
        row = RatingRow(index, rating, centred, user, ts)
        vector, units = self.scaled(user)
        if not mode.compiled():
            rows = (1, len(vector))
            added = self._contributions(
                [index], [rating], [ts], [centred], vector.reshape(rows), units.reshape(rows)
            ).row(0)
            self.apply(index, added)
            return row
        kernels.add_rating(*self.summed, index, rating, centred, vector, units)
        self.add_popularity(index, ts)
        return row

    def add_popularity(self, index: int, ts: float) -> None:
        """Add one rating at event time ``ts`` to the item's popularity (the part of :meth:`add_rating` that stays
        in Python: the accumulator is an exact Python integer)."""
        self.add_popularities([index], [ts])

    def add_popularities(self, indices: list[int], stamps: list[int] | list[float]) -> None:
        """:meth:`add_popularity` of each rating (item ``indices[k]`` at event time ``stamps[k]``), in order."""
        half_life, accumulators, logs = self.config.popularity_half_life_s, self.popularity, self.log2_popularity
        for index, ts in zip(indices, stamps):
            accumulator = accumulators[index] = accumulators[index] + popularity.weight(ts, half_life)
            logs[index] = popularity.log2_popularity(accumulator)

    def apply(self, index: int, delta: ItemPartial, sign: int = 1) -> None:
        """Add (``sign=1``) or take back (``-1``) statistics of some ratings of the item, exactly."""
        # Scalar reads with .item() and plain stores: cheaper than numpy's in-place scalar arithmetic.
        self.counts[index] = self.counts.item(index) + sign * delta.count
        self.sums[index] = self.sums.item(index) + delta.total if sign > 0 else self.sums.item(index) - delta.total
        if delta.projection:
            self.projection_sums[index] += sign * np.array(delta.projection, dtype=np.int64)
            self.vector_sums[index] += sign * np.array(delta.vector, dtype=np.int64)
        self.centred_sums[index] = self.centred_sums.item(index) + sign * delta.centred
        accumulator = self.popularity[index] = self.popularity[index] + sign * delta.popularity
        self.log2_popularity[index] = popularity.log2_popularity(accumulator)

    def apply_deltas(self, deltas: ItemDeltas) -> None:
        """Add each row of ``deltas`` to its item's statistics, exactly (:meth:`apply` of every row, vectorised; the
        items are distinct)."""
        items = deltas.items
        self.counts[items] += deltas.counts
        self.sums[items] = self.sums[items] + deltas.totals
        self.projection_sums[items] += deltas.projections
        self.vector_sums[items] += deltas.vectors
        self.centred_sums[items] += deltas.centred
        for index, weight in zip(items.tolist(), deltas.popularity):
            if weight:
                accumulator = self.popularity[index] = self.popularity[index] + weight
                self.log2_popularity[index] = popularity.log2_popularity(accumulator)

    def statistics(self, index: int) -> ItemPartial:
        """The item's statistics."""
        return ItemPartial(
            self.counts.item(index),
            self.sums.item(index),
            tuple(self.projection_sums[index].tolist()),
            tuple(self.vector_sums[index].tolist()),
            self.centred_sums.item(index),
            self.popularity[index],
        )
