"""The global, shared side of the model: item bits, the neuron wiring and each item's precomputed addresses.

Every user's network reads items through one :class:`ItemSpace`. It holds

* the static content bits of each item (genres, multi-hot with bucketing; release year, thermometer),
* the global, stream-derived bits (``hybrid=True``): popularity so far and running mean so far (thermometers) and a
  collaborative binary code, the sign bits of a streaming random projection of the item's centred ratings
  (SimHash: items rated alike by the same users get codes with a small Hamming distance),
* the wiring (which bits each RAM neuron reads) from one global seed, and
* every item's RAM addresses, computed once when its bits change and then shared by all users.

Only the item that was just rated changes, so an update costs O(bits), not O(items).

>>> from wnn.config import WNNConfig
>>> space = ItemSpace(WNNConfig(seed=1))
>>> i = space.add_item(42, genres=("Comedy",), year=1994)
>>> space.addresses[i].shape == (space.config.n_neurons,)
True
>>> _ = space.update(i, rating=5.0, centered=1.0, user=7, ts=0)
>>> float(space.counts[i]), float(space.baseline(i))
(1.0, 5.0)
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable, Sequence

import numpy as np

from wnn.config import WNNConfig
from wnn.next_items import NextItemCounts
from wnn.item_stats import PROJECTION_SCALE, ItemPartial
from wnn.encoding import MOVIELENS_GENRES, YEAR_THRESHOLDS, CategoryBucketer, thermometer
from wnn.item_bits import BitLayout
from wnn.wiring import Wiring

_LN2 = float(np.log(2.0))


def stable_hash(key: Hashable) -> int:
    """A 64-bit hash that is the same in every process (Python's ``hash`` of a str is salted per process)."""
    return int.from_bytes(hashlib.blake2b(repr(key).encode("utf-8"), digest_size=8).digest(), "little")


def _milestone(count: int) -> int:
    """How many refresh points (:func:`_refresh_due`) lie in 1..count: powers of two, plus multiples of 64, minus the
    powers of two that are multiples of 64 (counted twice)."""
    if count <= 0:
        return 0
    bits = count.bit_length()
    return bits + count // 64 - max(0, bits - 6)


def _refresh_due(count: int) -> bool:
    """Whether an item's stream-derived bits are re-read after its ``count``-th rating: at powers of two, then every
    64 ratings. Codes of new items settle fast, and popular items keep stable addresses, so the addresses users stored
    stay meaningful and are recomputed rarely."""
    return count & (count - 1) == 0 or count % 64 == 0


class ItemSpace:
    """Shared item encoder, wiring and address cache. See the module docstring."""

    _GROW = 1.5

    def __init__(self, config: WNNConfig | None = None, genre_vocabulary: Sequence[str] = MOVIELENS_GENRES,
                 capacity: int = 2048) -> None:
        self.config = config or WNNConfig()
        cfg = self.config
        self.bucketer = CategoryBucketer(genre_vocabulary, cfg.n_genre_slots)
        self.layout = BitLayout(cfg)
        self.n_feature_bits = self.layout.n_feature_bits
        self.wiring = Wiring(cfg, self.layout)
        self.tuples, self.channel_bits = self.wiring.tuples, self.wiring.channel_bits
        self._neuron_offsets = np.array(cfg.neuron_offsets()[0], dtype=np.int64)

        self._keys: list[Hashable] = []
        self._index: dict[Hashable, int] = {}
        self._user_vectors: dict[Hashable, np.ndarray] = {}
        self._scaled_vectors: dict[Hashable, np.ndarray] = {}
        self._candidate_cache: tuple | None = None
        self.n_items = 0
        self._n_ratings = 0
        self._sum_ratings = 0.0
        self._allocate(capacity)

    # ------------------------------------------------------------------ storage
    def _allocate(self, capacity: int) -> None:
        cfg = self.config
        old = self.n_items

        def grow(arr: np.ndarray | None, shape: tuple[int, ...], dtype) -> np.ndarray:
            new = np.zeros(shape, dtype=dtype)
            if arr is not None:
                new[:old] = arr[:old]
            return new

        g = getattr
        self.bits = grow(g(self, "bits", None), (capacity, self.layout.width), np.uint8)
        self.addresses = grow(g(self, "addresses", None), (capacity, cfg.n_neurons), np.uint8)
        self.cell_base = grow(g(self, "cell_base", None), (capacity, cfg.n_neurons), np.int64)
        self.dynamic_codes = grow(g(self, "dynamic_codes", None), (capacity,), np.uint32)
        self.channels = grow(g(self, "channels", None), (capacity,), np.uint8)
        self.counts = grow(g(self, "counts", None), (capacity,), np.float64)
        self.sums = grow(g(self, "sums", None), (capacity,), np.float64)
        # Fixed point (wnn.item_stats.PROJECTION_SCALE): sums of integers are exact in any order, so shares rebuilt
        # from stored ratings equal the ones updated rating by rating, and a forgotten rating subtracts exactly.
        self.projections = grow(g(self, "projections", None), (capacity, cfg.collab_bits), np.int64)
        self.decayed_popularity = grow(g(self, "decayed_popularity", None), (capacity,), np.float64)
        self.popularity_ts = grow(g(self, "popularity_ts", None), (capacity,), np.float64)
        if getattr(self, "next_items", None) is None:
            self.next_items = NextItemCounts()  # sparse: grows with the pairs seen, not with capacity squared
        self.capacity = capacity

    def add_item(self, key: Hashable, genres: Iterable[str] = (), year: int | float | None = None) -> int:
        """Register an item with its content features; returns its dense index. Re-adding updates the content bits."""
        idx = self._index.get(key)
        if idx is None:
            idx = self.n_items
            if idx >= self.capacity:
                self._allocate(int(self.capacity * self._GROW) + 1)
            self._index[key] = idx
            self._keys.append(key)
            self.n_items += 1
            self.bits[idx, self.layout.one_bit] = 1
        layout = self.layout
        self.bits[idx, : layout.year_at] = self.bucketer.encode(genres)
        y = float(year) if year is not None and year > 0 else -np.inf
        self.bits[idx, layout.year_at: layout.content_bits] = thermometer(y, YEAR_THRESHOLDS)
        self._refresh_addresses(idx)
        return idx

    def index(self, key: Hashable) -> int:
        """Dense index of an item; an item never seen gets registered with empty content."""
        idx = self._index.get(key)
        return idx if idx is not None else self.add_item(key)

    def find(self, key: Hashable) -> int | None:
        """Dense index of a known item, None for an item never seen (nothing is registered)."""
        return self._index.get(key)

    def key(self, index: int) -> Hashable:
        """The caller's id of a dense item index."""
        return self._keys[index]

    # ------------------------------------------------------------------ global statistics
    @property
    def global_mean(self) -> float:
        return self._sum_ratings / self._n_ratings if self._n_ratings else 3.5

    def baseline(self, index: int) -> float:
        """The global prediction for an item: its running mean shrunk toward the global mean (hybrid), else the
        global mean alone (content-only)."""
        mu = self.global_mean
        if not self.config.hybrid:
            return mu
        beta = self.config.item_prior
        return (self.sums.item(index) + beta * mu) / (self.counts.item(index) + beta)

    def baselines(self, items: np.ndarray | None = None) -> np.ndarray:
        """:meth:`baseline` of every item (or of ``items``), vectorised."""
        counts, sums = (self.counts[: self.n_items], self.sums[: self.n_items]) if items is None else \
            (self.counts[items], self.sums[items])
        mu = self.global_mean
        if not self.config.hybrid:
            return np.full(len(counts), mu)
        beta = self.config.item_prior
        return (sums + beta * mu) / (counts + beta)

    def popularity_at(self, ts: float, items: np.ndarray | None = None) -> np.ndarray:
        """Time-decayed rating count of every item (or of ``items``) at event time ``ts``."""
        if items is None:
            items = slice(0, self.n_items)
        age = np.maximum(ts - self.popularity_ts[items], 0.0)
        return self.decayed_popularity[items] * np.exp2(-age / self.config.popularity_half_life_s)

    def candidates(self, ts: float, n: int) -> np.ndarray:
        """The ``n`` items with the best global ranking score at ``ts`` (decayed popularity and baseline), best first.

        The global order is cached and recomputed after 256 rating updates or a day of event time, whichever comes
        first, so a stream that refreshes a list per event pays for the sort rarely.
        """
        cached = self._candidate_cache
        if (cached is None or cached[2] != self.n_items or not 0 <= ts - cached[0] < 86400.0
                or self._n_ratings - cached[1] >= 256):
            score = np.log1p(self.popularity_at(ts)) + self.config.rating_weight * self.baselines()
            cached = self._candidate_cache = (ts, self._n_ratings, self.n_items, np.argsort(-score, kind="stable"))
        return cached[3][:n]

    def user_vector(self, user: Hashable) -> np.ndarray:
        """The user's fixed Gaussian projection vector, derived from the global seed and the user id."""
        vec = self._user_vectors.get(user)
        if vec is None:
            rng = np.random.default_rng((self.config.seed, stable_hash(user)))
            vec = rng.standard_normal(self.config.collab_bits).astype(np.float32)
            self._user_vectors[user] = vec
        return vec

    def update(self, index: int, rating: float, centered: float, user: Hashable, ts: float) -> np.ndarray | None:
        """Fold one rating into the global item statistics and refresh that item's bits and addresses.

        ``centered`` is the rating minus the user's own expectation; it drives the collaborative projection so that
        codes reflect relative, not absolute, taste. This runs once per event, so it touches one item only and
        recomputes that item's addresses only when one of its bits flipped. Returns the rating's projection
        contribution (None for a content-only config), for a caller that also keeps per-partition shares.
        """
        cfg = self.config
        self._n_ratings += 1
        self._sum_ratings += rating
        count = self.counts.item(index) + 1.0
        self.counts[index] = count
        self.sums[index] = self.sums.item(index) + rating
        last = self.popularity_ts.item(index)
        if ts >= last:
            self.decayed_popularity[index] = self.decayed_popularity.item(index) * \
                2.0 ** (-(ts - last) / cfg.popularity_half_life_s) + 1.0
            self.popularity_ts[index] = ts
        else:  # a late rating adds its decayed weight (as ItemPartial.added does)
            self.decayed_popularity[index] += 2.0 ** (-(last - ts) / cfg.popularity_half_life_s)
        if not cfg.hybrid:
            return None
        projection = self.projection_of(user, centered)
        self.projections[index] += projection
        if _refresh_due(int(count)):
            self._refresh_dynamic_code(index)
        return projection

    def add_transition(self, previous: int, index: int, weight: float = 1.0) -> None:
        """Count that a user rated ``index`` right after ``previous`` (the global next-item signal)."""
        self.next_items.add(previous, index, weight)

    def add_sequence(self, indices: np.ndarray, weight: float = 1.0) -> None:
        """Count every consecutive pair of one user's rating sequence (rebuilding the signal from stored pairs);
        ``weight=-1`` takes a sequence back out (after a forget changes it)."""
        self.next_items.add_sequence(indices, weight)

    def transition_scores(self, previous: int, items: np.ndarray | None = None) -> np.ndarray:
        """How often each item (or each of ``items``) followed ``previous`` in users' sequences, as
        ``log1p(100 * share of previous's successors)``."""
        row = self.next_items.row(previous, self.n_items)
        if items is not None:
            row = row[items]
        return np.log1p(row * (100.0 / max(self.next_items.total(previous), 1.0)))

    def sequence_scores(self, recent: np.ndarray, weights: np.ndarray, items: np.ndarray | None = None
                        ) -> np.ndarray:
        """``sum_j weights[j] * transition_scores(recent[j])`` for every item (or each of ``items``): what tends to
        follow the user's recent items in everyone's sequences. One sparse row per recent item is added into one
        dense array; no dense row is built per item."""
        dense = np.zeros(self.n_items, dtype=np.float64)
        counts = self.next_items
        for previous, weight in zip(recent.tolist(), weights.tolist()):
            keys, values = counts.successors(previous)
            if len(keys):
                inside = keys < self.n_items  # an item registered by another worker's share may not be here yet
                scale = 100.0 / max(counts.total(previous), 1.0)
                dense[keys[inside]] += weight * np.log1p(values[inside] * scale)
        return dense if items is None else dense[items]

    def projection_of(self, user: Hashable, centered: float | np.ndarray) -> np.ndarray:
        """A rating's contribution to its item's collaborative projection, shape (bits,), or one per rating,
        shape (n, bits), for an array of centred ratings: the same integers as
        :func:`wnn.item_stats.projection_contribution`, with the user's vector scaled once (the scale is a power of
        two, so scaling first changes no bit)."""
        scaled = self._scaled_vectors.get(user)
        if scaled is None:
            scaled = self._scaled_vectors[user] = self.user_vector(user).astype(np.float64) * PROJECTION_SCALE
        return np.rint(np.multiply.outer(np.asarray(centered, dtype=np.float64), scaled)).astype(np.int64)

    def replace_partial(self, index: int, old: ItemPartial | None, new: ItemPartial) -> None:
        """Swap one partition's share of an item's statistics (see :mod:`wnn.item_stats`) for a newer one.

        The owner of a partition calls it with its own shares as it processes ratings, and every other worker calls
        it as the shares arrive, so all item spaces converge on the same totals.
        """
        cfg = self.config
        old = old or ItemPartial.empty(cfg.collab_bits)
        before = self.counts.item(index)
        d_count, d_total = new.count - old.count, new.total - old.total
        self._n_ratings += int(d_count)
        self._sum_ratings += d_total
        self.counts[index] = before + d_count
        self.sums[index] = self.sums.item(index) + d_total
        if cfg.hybrid:
            self.projections[index] += new.projection - old.projection
        at = max(self.popularity_ts.item(index), new.popularity_ts)
        half_life = cfg.popularity_half_life_s
        current = self.decayed_popularity.item(index) * 2.0 ** (-(at - self.popularity_ts.item(index)) / half_life)
        self.decayed_popularity[index] = max(
            current - old.popularity_at(at, half_life) + new.popularity_at(at, half_life), 0.0)
        self.popularity_ts[index] = at
        if cfg.hybrid and _milestone(int(self.counts.item(index))) != _milestone(int(before)):
            self._refresh_dynamic_code(index)

    def _refresh_dynamic_code(self, index: int) -> None:
        code = self.layout.code(self.counts.item(index), self.baseline(index), self.projections[index])
        if code != self.dynamic_codes.item(index):
            self.dynamic_codes[index] = code
            self.layout.write_dynamic(self.bits[index: index + 1], np.array([code], dtype=np.uint32))
            self._refresh_addresses(index)

    def addresses_for(self, items: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Z-neuron addresses (n, M) and Q channel bits (n,) of ``items`` as they were when their dynamic bits were
        ``codes`` (what :attr:`dynamic_codes` held then). Lets a user's memory be rebuilt exactly from its pairs."""
        rows = self.bits[items]
        if self.config.hybrid:
            self.layout.write_dynamic(rows, codes)
        return self.wiring.addresses(rows), self.wiring.channels(rows)

    def valid_code(self, codes: np.ndarray) -> bool:
        """Whether packed dynamic codes are within the layout of this config."""
        return self.layout.valid_code(codes)

    def _refresh_addresses(self, index: int) -> None:
        row = self.bits[index]
        self.addresses[index] = self.wiring.addresses(row)
        self.cell_base[index] = self._neuron_offsets + self.addresses[index]
        if self.config.n_state_bits:
            self.channels[index] = self.wiring.channels(row)

    def genre_bits(self, index: int) -> np.ndarray:
        """The item's genre slots (a view; do not modify)."""
        return self.bits[index, : self.config.n_genre_slots]

    def item_bits(self, index: int) -> dict[str, np.ndarray]:
        """The item's bit vector split into its named groups, for explanations and debugging."""
        return self.layout.groups(self.bits[index])
