"""Which items exist and what they are: ids and dense indices, content bits, whether each is catalogued or withdrawn.

Every item the model has seen has a dense index (its row in every per-item array of the
:class:`~wnn.item_space.ItemSpace`) and a stable tie key (a hash of its id, which orders equal scores the same way in
every process). A catalogued item has content bits from the catalogue: its genres and free attributes, multi-hot with
unseen strings bucketed onto the declared slots (:class:`wnn.encoding.CategoryBucketer`), and its release year as a
thermometer. An item first seen in a rating is registered with empty content; a withdrawn one is never listed.

>>> from wnn.config import WNNConfig
>>> from wnn.item_bits import BitLayout
>>> catalogue = ItemCatalogue(BitLayout(WNNConfig()), capacity=4)
>>> index = catalogue.register("kolya")
>>> catalogue.set_content(index, genres=["Comedy"], year=1996, attributes={"language": "cs"})
True
>>> catalogue.key(index), int(catalogue.bits[index, : catalogue.layout.year_at].sum())
('kolya', 2)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Protocol

import numpy as np

from wnn.encoding import MOVIELENS_GENRES, YEAR_THRESHOLDS, CategoryBucketer, stable_hash, thermometer
from wnn.item_bits import BitLayout
from wnn.rating_scale import RatingScale


class Catalogue(Protocol):
    """Items with their descriptions, position by position: what :meth:`wnn.item_space.ItemSpace.add_catalogue`, a
    stream processor and the catalogue publisher read (a loaded MovieLens dataset, :class:`wnnrec.datasets.Dataset`,
    is one)."""

    @property
    def item_ids(self) -> Sequence[str]: ...

    @property
    def item_titles(self) -> Sequence[str]: ...

    @property
    def item_years(self) -> Sequence[int] | np.ndarray:
        """Release years, -1 when unknown."""

    @property
    def item_genres(self) -> Sequence[tuple[str, ...]]: ...


class RatedCatalogue(Catalogue, Protocol):
    """A catalogue and the stars its ratings take."""

    @property
    def scale(self) -> RatingScale: ...


class ItemCatalogue:
    """The items' ids, content bits and listing flags, one row per dense index. See the module docstring."""

    bits: np.ndarray
    tie_keys: np.ndarray
    catalogued: np.ndarray
    withdrawn: np.ndarray

    def __init__(self, layout: BitLayout, capacity: int, genre_vocabulary: Sequence[str] = MOVIELENS_GENRES) -> None:
        self.layout = layout
        self.bucketer = CategoryBucketer(genre_vocabulary, layout.config.n_genre_slots)
        self._keys: list[Hashable] = []
        self._index: dict[Hashable, int] = {}
        self.grow(capacity)

    @property
    def n_items(self) -> int:
        return len(self._keys)

    def grow(self, capacity: int) -> None:
        """Room for ``capacity`` items (the items held keep their rows)."""
        n = self.n_items
        for name, shape, dtype in (
            ("bits", (capacity, self.layout.width), np.uint8),
            ("tie_keys", (capacity,), np.uint64),
            ("catalogued", (capacity,), bool),
            ("withdrawn", (capacity,), bool),
        ):
            new: np.ndarray = np.zeros(shape, dtype=dtype)
            current = getattr(self, name, None)
            if current is not None:
                new[:n] = current[:n]
            setattr(self, name, new)

    def register(self, key: Hashable) -> int:
        """The item's dense index; an item never seen is registered with empty content (the caller made room)."""
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = self.n_items
            self._keys.append(key)
            self.bits[index, self.layout.one_bit] = 1
            self.tie_keys[index] = stable_hash(key)
        return index

    def set_content(
        self,
        index: int,
        genres: Iterable[str] = (),
        year: int | float | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> bool:
        """Write the item's content bits; returns whether they changed. ``attributes`` (``{"language": "cs"}``) are
        hashed as ``name=value`` onto the category slots the genres use, so a new attribute never changes the bit
        layout, the wiring or the config fingerprint, and stored states keep loading."""
        layout = self.layout
        row = self.bits[index].copy()
        categories = [*genres, *(f"{name}={value}" for name, value in sorted((attributes or {}).items()))]
        self.bits[index, : layout.year_at] = self.bucketer.encode(categories)
        y = float(year) if year is not None and year > 0 else -np.inf
        self.bits[index, layout.year_at : layout.content_bits] = thermometer(y, YEAR_THRESHOLDS)
        return not np.array_equal(row, self.bits[index])

    def find(self, key: Hashable) -> int | None:
        """Dense index of a known item, None for an item never seen (nothing is registered)."""
        return self._index.get(key)

    def key(self, index: int) -> Hashable:
        """The caller's id of a dense item index."""
        return self._keys[index]
