"""The global, shared side of the model: item bits, the neuron wiring, each item's addresses and statistics.

Every user's network reads items through one :class:`ItemSpace`. It holds

* the catalogue (:class:`~wnn.item_catalogue.ItemCatalogue`): each item's id, dense index and static content bits
  (genres, multi-hot with bucketing; release year, thermometer),
* each item's exact rating statistics (:class:`~wnn.item_statistics.ItemStatistics`: count, rating total,
  fixed-point collaborative projection, popularity accumulator, and the baseline and decayed popularity derived from
  them), and what the space derives from them with the wiring: the stream-derived bits (``hybrid=True``:
  popularity level, mean level and a collaborative code, the sign bits of the item-mean-centred projection; SimHash:
  items rated alike by the same users get codes at a small Hamming distance), the RAM addresses and the item's
  place in the candidate order,
* the wiring (which bits each RAM neuron reads) from one global seed, and
* the global next-item counts (:class:`~wnn.next_items.NextItemCounts`, which also derives the sequence scores).

**Everything derived is a pure function of the statistics**, and the statistics are exact sums over the stored
ratings: so the whole item side is a function of *which* ratings are stored, never of the order they arrived or
were forgotten in. Only the item a rating touches is recomputed, in O(bits). Each change of an item's derived values
advances the space's ``generation`` and is logged, so a user's network asks which of its items changed since it last
read them (:meth:`wnn.network.UserWNN.reconcile`).

>>> from wnn.config import WNNConfig
>>> space = ItemSpace(WNNConfig(seed=1))
>>> i = space.add_item(42, genres=("Comedy",), year=1994)
>>> space.addresses[i].shape == (space.config.n_neurons,)
True
>>> _ = space.update(i, rating=5.0, centred=1.0, user=7, ts=0)
>>> int(space.counts[i]), round(space.baseline(i), 4)
(1, 3.75)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from wnn.candidates import CandidateOrder
from wnn.code_addresses import CodeAddresses
from wnn.config import WNNConfig
from wnn.encoding import MOVIELENS_GENRES, stable_hash
from wnn.item_bits import BitLayout
from wnn.item_catalogue import Catalogue, ItemCatalogue
from wnn.item_statistics import ItemStatistics
from wnn.item_stats import Contributions, ItemDeltas, ItemPartial, RatingRow
from wnn.item_versions import ItemVersions
from wnn.kernels import item_statistics as statistics_kernels
from wnn.kernels import mode
from wnn.kernels import pooled as pooled_kernels
from wnn.kernels.next_items import ROW_FULL
from wnn.next_items import NextItemCounts
from wnn.wiring import Wiring

_LN2 = math.log(2.0)


__all__ = ["ItemSpace", "stable_hash"]


class ItemSpace:
    """Shared item encoder, wiring, statistics and address cache. See the module docstring."""

    _GROW = 1.5

    # Per-item arrays, allocated and grown together by _allocate (with the catalogue's and the statistics').
    addresses: np.ndarray
    _static_addresses: np.ndarray
    cell_base: np.ndarray
    dynamic_codes: np.ndarray
    channels: np.ndarray

    def __init__(
        self, config: WNNConfig | None = None, genre_vocabulary: Sequence[str] = MOVIELENS_GENRES, capacity: int = 2048
    ) -> None:
        self.config = config or WNNConfig()
        cfg = self.config
        self.layout = BitLayout(cfg)
        #: Which items exist and what they are (wnn.item_catalogue).
        self.catalogue = ItemCatalogue(self.layout, capacity, genre_vocabulary)
        self.n_feature_bits = self.layout.n_feature_bits
        self.wiring = Wiring(cfg, self.layout)
        self.tuples, self.channel_bits = self.wiring.tuples, self.wiring.channel_bits
        #: Each dynamic code's share of the Z neurons' addresses (wnn.code_addresses).
        self.code_addresses = CodeAddresses(cfg, self.layout, self.wiring)
        #: Each item's exact rating statistics (wnn.item_statistics); the code and addresses derive from them here.
        self.stats = ItemStatistics(cfg, capacity)
        self._order = CandidateOrder()
        self._unplaced: set[int] = set()
        self.next_items = NextItemCounts()  # sparse: grows with the pairs seen, not with the catalogue squared
        #: Changes of item-derived values (baseline, code, addresses): a reader that synced at generation g asks
        #: ``changes.changed_since(g, its_items)`` which items to read again.
        self.changes = ItemVersions(capacity)
        #: Changes of items' content bits (a catalogue update): they move the Q channels too, so a network holding
        #: such an item derives everything again.
        self.content_changes = ItemVersions(capacity)
        self._allocate(capacity)

    # ------------------------------------------------------------------ storage
    def _allocate(self, capacity: int) -> None:
        cfg = self.config
        old = self.n_items

        def grow(name: str, shape: tuple[int, ...], dtype: type) -> None:
            new: np.ndarray = np.zeros(shape, dtype=dtype)
            current = getattr(self, name, None)
            if current is not None:
                new[:old] = current[:old]
            setattr(self, name, new)

        grow("addresses", (capacity, cfg.n_neurons), np.uint8)
        grow("_static_addresses", (capacity, cfg.n_neurons), np.int64)
        grow("cell_base", (capacity, cfg.n_neurons), np.int64)
        grow("dynamic_codes", (capacity,), np.uint32)
        grow("channels", (capacity,), np.uint8)
        if len(self.stats.counts) < capacity:
            self.catalogue.grow(capacity)
            self.stats.grow(capacity)
        self.capacity = capacity

    def add_item(
        self,
        key: Hashable,
        genres: Iterable[str] = (),
        year: int | float | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> int:
        """Register an item of the catalogue with its content features; returns its dense index. Re-adding updates
        the content bits (and brings back an item that was withdrawn). A catalogued item can be listed before anyone
        rated it.

        ``attributes`` are free categorical features (``{"language": "cs"}``): each ``name=value`` is hashed onto
        the category slots the genres use (:class:`wnn.encoding.CategoryBucketer`), so a new attribute never changes
        the bit layout, the wiring or the config fingerprint, and stored states keep loading.

        >>> space = ItemSpace()
        >>> idx = space.add_item("kolya", genres=["Comedy"], year=1996, attributes={"language": "cs"})
        >>> int(space.bits[idx, : space.layout.year_at].sum())  # Comedy, and language=cs hashed onto a slot
        2
        """
        idx = self._register(key)
        content_changed = self.catalogue.set_content(idx, genres, year, attributes)
        if not self.catalogued[idx] or self.withdrawn[idx] or content_changed:
            self.catalogued[idx] = True
            self.withdrawn[idx] = False
            self._refresh(idx, bits_changed=True)
        if content_changed:
            self.content_changes.record(idx)
        return idx

    def withdraw(self, key: Hashable) -> int:
        """Take an item out of every list (a tombstone on the catalogue's topic); returns its dense index.

        Its stored ratings stay what they are: the users' history, still learned from, still counted in the item's
        statistics, still forgettable. Only listing stops; :meth:`add_item` brings it back. An unknown item is
        registered withdrawn, so ratings of it arriving later do not list it either."""
        idx = self._register(key)
        if not self.withdrawn[idx]:
            self.withdrawn[idx] = True
            self._refresh(idx)
        return idx

    def add_catalogue(self, dataset: Catalogue, keys: str = "id") -> None:
        """Register every item of a catalogue (a loaded dataset, say) with its genres and year, keyed by its id
        (``keys="id"``, as the stream and River see items) or by its dense index in the dataset (``"index"``, as the
        evaluation protocols replay it)."""
        if keys not in ("id", "index"):
            raise ValueError(f"keys must be 'id' or 'index', got {keys!r}")
        for index, item_id in enumerate(dataset.item_ids):
            self.add_item(
                item_id if keys == "id" else index,
                genres=dataset.item_genres[index],
                year=int(dataset.item_years[index]),
            )

    def _register(self, key: Hashable) -> int:
        idx = self.catalogue.find(key)
        if idx is None:
            if self.n_items >= self.capacity:
                self._allocate(int(self.capacity * self._GROW) + 1)
            idx = self.catalogue.register(key)
            self.stats.register()
            self._refresh(idx, bits_changed=True)
        return idx

    @property
    def n_items(self) -> int:
        """How many items the space knows (registered in the catalogue)."""
        return self.catalogue.n_items

    def index(self, key: Hashable) -> int:
        """Dense index of an item; an item never seen gets registered with empty content (not catalogued: it is
        listed only while it has ratings)."""
        idx = self.catalogue.find(key)
        return idx if idx is not None else self._register(key)

    def find(self, key: Hashable) -> int | None:
        """Dense index of a known item, None for an item never seen (nothing is registered)."""
        return self.catalogue.find(key)

    def key(self, index: int) -> Hashable:
        """The caller's id of a dense item index."""
        return self.catalogue.key(index)

    # The catalogue's arrays and encoder, read through the space (do not rebind).
    bits = property(lambda self: self.catalogue.bits, doc="Each item's bit vector (content and constant bits).")
    tie_keys = property(lambda self: self.catalogue.tie_keys, doc="Each item's stable tie key.")
    catalogued = property(lambda self: self.catalogue.catalogued, doc="Whether each item is in the catalogue.")
    withdrawn = property(lambda self: self.catalogue.withdrawn, doc="Whether each item was withdrawn.")
    bucketer = property(lambda self: self.catalogue.bucketer, doc="The genre and attribute slots.")

    def listable(self, items: np.ndarray | None = None) -> np.ndarray:
        """Whether each item (of ``items``, else every item) may be listed: catalogued, or rated by someone, and not
        withdrawn (:meth:`withdraw`).

        An item known only from ratings that were all forgotten is not, so a forget leaves the lists a system that
        never saw the ratings would show."""
        chosen = slice(0, self.n_items) if items is None else items
        return (self.catalogued[chosen] | (self.counts[chosen] > 0)) & ~self.withdrawn[chosen]

    # ------------------------------------------------------------------ derived from the statistics
    def baseline(self, index: int) -> float:
        """The global prediction for an item (:meth:`wnn.item_statistics.ItemStatistics.baseline`)."""
        return self.stats.baseline(index)

    def baselines(self, items: np.ndarray | None = None) -> np.ndarray:
        """:meth:`baseline` of every item (or of ``items``), vectorised."""
        return self.stats.baselines(items)

    def popularity_at(self, ts: float, items: np.ndarray | None = None) -> np.ndarray:
        """Time-decayed rating count of every item (or of ``items``) at event time ``ts``."""
        return self.stats.popularity_at(ts, items)

    # The statistics' arrays, read through the space (the kernels take them from here; do not rebind).
    counts = property(lambda self: self.stats.counts, doc="Each item's rating count.")
    sums = property(lambda self: self.stats.sums, doc="Each item's rating total.")
    projection_sums = property(lambda self: self.stats.projection_sums, doc="Each item's projection sums.")
    vector_sums = property(lambda self: self.stats.vector_sums, doc="Each item's user-vector sums.")
    centred_sums = property(lambda self: self.stats.centred_sums, doc="Each item's centred-value sum.")
    log2_popularity = property(lambda self: self.stats.log2_popularity, doc="log2 of each item's popularity at 0.")
    popularity = property(lambda self: self.stats.popularity, doc="Each item's popularity accumulator.")

    def candidates(self, ts: float, n: int) -> np.ndarray:
        """The ``n`` strongest listable items (decayed popularity and baseline), strongest first.

        The order is the same at every time ``ts`` (:mod:`wnn.candidates`), so it is kept up to date as the statistics
        change instead of being sorted per list (the items changed since the last read are placed when it is read);
        ``ts`` is accepted for the callers' symmetry with the ranking."""
        return self.candidate_order().top(n)

    def candidate_order(self) -> CandidateOrder:
        """Every listable item, strongest first (up to date)."""
        if self._unplaced:
            order, rating_weight = self._order, self.config.rating_weight / self.config.rating_scale.star
            for index in self._unplaced:
                if (self.catalogued.item(index) or self.counts.item(index) > 0) and not self.withdrawn.item(index):
                    strength = self.log2_popularity.item(index) * _LN2 + rating_weight * self.baseline(index)
                    order.set(index, strength, int(self.tie_keys[index]))
                else:
                    order.discard(index)
            self._unplaced.clear()
        return self._order

    def _refresh(self, index: int, bits_changed: bool = False) -> None:
        """Recompute everything derived from the item's statistics (and, with ``bits_changed``, its content bits):
        code, addresses, channels, candidate place; log the change."""
        cfg = self.config
        if bits_changed:  # content bits (and the constant ones): their share of the addresses, and the Q channels
            row = self.bits[index]
            self._static_addresses[index] = self.wiring.addresses(row)
            if cfg.n_state_bits:
                self.channels[index] = self.wiring.channels(row)
        arguments = self.code_kernel_arguments if cfg.hybrid and mode.compiled() else None
        if arguments is not None:
            constants, popularity_thresholds, mean_thresholds, code_cells, neuron_offsets = arguments
            statistics_kernels.refresh_code(
                *self.stats.summed,
                index,
                constants,
                popularity_thresholds,
                mean_thresholds,
                code_cells,
                neuron_offsets,
                self._static_addresses,
                self.dynamic_codes,
                self.cell_base,
                self.addresses,
                bits_changed,
            )
        else:
            code = self.dynamic_codes.item(index)
            if cfg.hybrid:
                code = self.layout.code(
                    self.counts.item(index), self.baseline(index), self.stats.collab_projection(index)
                )
                if code != self.dynamic_codes.item(index):
                    self.dynamic_codes[index] = code
                    bits_changed = True
            if bits_changed:
                # An address is a sum of bit weights, so it splits into the content bits' part and the code's part.
                addresses = self._static_addresses[index] + self.code_addresses.part(code)
                self.addresses[index] = addresses
                self.cell_base[index] = self.code_addresses.neuron_offsets + addresses
        self._unplaced.add(index)  # placed in the candidate order when the order is next read
        self.changes.record(index)

    @functools.cached_property
    def kernel_constants(self) -> np.ndarray:
        """The model constants as the compiled kernels take them (:func:`wnn.kernels.pooled.constants`; read only)."""
        return pooled_kernels.constants(self.config)

    @functools.cached_property
    def code_kernel_arguments(self) -> tuple[np.ndarray, ...] | None:
        """What the compiled code refresh takes (:meth:`wnn.code_addresses.CodeAddresses.kernel_arguments`)."""
        return self.code_addresses.kernel_arguments(self.kernel_constants)

    # ------------------------------------------------------------------ statistics
    def contributions(
        self, user: Hashable, items: np.ndarray, ratings: np.ndarray, stamps: np.ndarray, centred: np.ndarray
    ) -> Contributions:
        """What ratings of one user add to the item statistics (:meth:`ItemStatistics.contributions`)."""
        return self.stats.contributions(user, items, ratings, stamps, centred)

    def runs_contributions(
        self,
        users: Sequence[Hashable],
        counts: Sequence[int],
        items: np.ndarray,
        ratings: np.ndarray,
        stamps: np.ndarray,
        centred: np.ndarray,
    ) -> Contributions:
        """:meth:`contributions` of several users' runs of ratings in one call
        (:meth:`ItemStatistics.runs_contributions`)."""
        return self.stats.runs_contributions(users, counts, items, ratings, stamps, centred)

    def rating_contributions(self, ratings: Sequence[RatingRow]) -> Contributions:
        """What single ratings of any users add to the item statistics (:meth:`ItemStatistics.rating_contributions`):
        a caller that keeps per-partition shares folds the ratings :meth:`update` took with this."""
        return self.stats.rating_contributions(ratings)

    def update(
        self, index: int, rating: float, centred: float, user: Hashable, ts: float, previous: int | None = None
    ) -> RatingRow:
        """Fold one rating (its user-centred value ``centred``) into the item's statistics and refresh what derives
        from them, and count the transition from the user's ``previous`` item (if any); returns the rating as
        :meth:`rating_contributions` takes it. The compiled path does all of it in one kernel call
        (:func:`wnn.kernels.item_statistics.learn_rating`)."""
        arguments = self.code_kernel_arguments if self.config.hybrid and mode.compiled() else None
        if arguments is None:
            row = self.stats.add_rating(index, rating, centred, user, ts)
            self._refresh(index)
            if previous is not None:
                self.next_items.add(previous, index)
            return row
        rating = float(np.float32(rating))
        vector, units = self.stats.scaled(user)
        counts = self.next_items
        if previous is not None:
            counts.reserve_row(previous)
        constants, popularity_thresholds, mean_thresholds, code_cells, neuron_offsets = arguments
        counted = statistics_kernels.learn_rating(
            *self.stats.summed, index, rating, centred, vector, units, constants, popularity_thresholds,
            mean_thresholds, code_cells, neuron_offsets, self._static_addresses, self.dynamic_codes, self.cell_base,
            self.addresses, *counts.arena, -1 if previous is None else previous,
        )  # fmt: skip
        self.stats.add_popularity(index, ts)
        if counted == ROW_FULL and previous is not None:  # no room for the row: make it, then count
            counts.add(previous, index)
        self._unplaced.add(index)
        self.changes.record(index)
        return RatingRow(index, rating, centred, user, ts)

    def run_kernel_arguments(self, user: Hashable, largest_item: int) -> tuple[Any, ...] | None:
        """What :func:`wnn.kernels.runs.learn_run` takes of the space for a run of ``user``'s ratings whose items
        (and the item before them) are at most ``largest_item`` (a change stamp and a next-item row are made for
        each first): the change stamps and generation, the statistics, the user's vector, the code
        refresh's arguments, codes, addresses, Q channels and the next-item counts. None where the
        compiled item side does not run (:meth:`update` takes each rating then). Views: valid until the space next
        grows."""
        arguments = self.code_kernel_arguments if self.config.hybrid and mode.compiled() else None
        if arguments is None:
            return None
        counts, changes = self.next_items, self.changes
        counts.reserve_row(largest_item)
        changes.reserve(largest_item)
        return (
            changes.stamps, changes.generation, *self.stats.summed, *self.stats.scaled(user), *arguments,
            self._static_addresses, self.dynamic_codes, self.cell_base, self.addresses, self.channels, *counts.arena,
        )  # fmt: skip

    def rated(self, indices: list[int], stamps: list[int], generation: int) -> None:
        """What :meth:`update` does in Python, for ratings of ``indices`` at event times ``stamps`` whose statistics,
        codes, change stamps (up to ``generation``) and next-item counts a compiled run took
        (:func:`wnn.kernels.runs.learn_run`): their popularity and their place in the candidate order."""
        self.stats.add_popularities(indices, stamps)
        self._unplaced.update(indices)
        self.changes.advanced(generation)

    def apply(self, index: int, delta: ItemPartial, sign: int = 1) -> None:
        """Add (``sign=1``) or take back (``-1``) statistics of some ratings of the item, exactly, and refresh what
        derives from them."""
        self.stats.apply(index, delta, sign)
        self._refresh(index)

    def apply_deltas(self, deltas: ItemDeltas) -> None:
        """Move several items' statistics at once (:meth:`ItemStatistics.apply_deltas`) and refresh what derives from
        them: the same state as :meth:`apply` of each row in item order, the code refresh in one compiled call."""
        if not len(deltas):
            return
        arguments = self.code_kernel_arguments if self.config.hybrid and mode.compiled() else None
        if arguments is None:
            for k, index in enumerate(deltas.items.tolist()):
                self.apply(index, deltas.partial(k))
            return
        self.stats.apply_deltas(deltas)
        constants, popularity_thresholds, mean_thresholds, code_cells, neuron_offsets = arguments
        statistics_kernels.refresh_codes(
            *self.stats.summed, deltas.items, constants, popularity_thresholds, mean_thresholds, code_cells,
            neuron_offsets, self._static_addresses, self.dynamic_codes, self.cell_base, self.addresses,
        )  # fmt: skip
        self._unplaced.update(deltas.items.tolist())
        self.changes.record_many(deltas.items)

    def replace_partial(self, index: int, old: ItemPartial | None, new: ItemPartial) -> None:
        """Swap one share of an item's statistics (a partition's, a user's) for a newer one."""
        if old is not None:
            if old == new:
                return
            new = new - old
        self.apply(index, new)

    def statistics(self, index: int) -> ItemPartial:
        """The item's statistics."""
        return self.stats.statistics(index)

    # ------------------------------------------------------------------ next-item signal
    # ------------------------------------------------------------------ addresses
    @property
    def static_addresses(self) -> np.ndarray:
        """Each item's content bits' share of its Z-neuron addresses (its code adds the rest; do not modify)."""
        return self._static_addresses

    def addresses_for(self, items: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """Z-neuron addresses (n, M) of ``items`` if their dynamic codes were ``codes`` (what a user's pairs were
        last read with: lets a network take a pair out of the cells it was written to)."""
        unique, inverse = np.unique(codes, return_inverse=True)
        parts = (
            np.stack([self.code_addresses.part(c) for c in unique.tolist()])
            if len(unique)
            else np.zeros((0, self.config.n_neurons), dtype=np.int64)
        )
        return self._static_addresses[items] + parts[inverse.reshape(-1)]

    def item_bits(self, index: int) -> dict[str, np.ndarray]:
        """The item's bit vector split into its named groups, for explanations and debugging."""
        row = self.bits[index : index + 1].copy()
        if self.config.hybrid:
            self.layout.write_dynamic(row, self.dynamic_codes[index : index + 1])
        return self.layout.groups(row[0])
