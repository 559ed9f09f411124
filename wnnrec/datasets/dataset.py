"""A loaded ratings log: :class:`Dataset`, and :class:`DataError` for a data folder that cannot be one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wnn.rating_scale import WHOLE_STARS, RatingScale


class DataError(Exception):
    """A data folder is missing, partial or garbled.

    The message says what is wrong (which file, which line, what was expected) and how to
    fix it.

    """


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A ratings log with dense indices, ordered by time, plus item metadata.

    Rating ``k`` is user ``users[k]`` giving ``ratings[k]`` stars to item ``items[k]`` at
    unix time ``timestamps[k]``. Ratings are sorted by timestamp; ties keep the order of the
    original file. Users are indexed ``0..n_users-1`` and items ``0..n_items-1``, both in
    the order of their raw ids (numeric order when the ids are numbers), so ML-100K user
    ``"1"`` is index 0. Items are all those of the item file plus any rated item missing
    from it (which gets an empty title, year -1 and no genres).

    Attributes
    ----------
    name
        Short dataset name, e.g. ``"ml-100k"`` or ``"ml-latest-small"``.
    users, items
        int32 dense user and item index of each rating.
    ratings
        float32 stars of each rating.
    timestamps
        int64 unix seconds of each rating, non-decreasing.
    user_ids, item_ids
        Raw id (as found in the files) of each dense user and item index.
    item_titles
        Title of each item, without the trailing ``"(1995)"`` year.
    item_years
        int32 release year of each item, -1 when unknown.
    item_genres
        Genre names of each item, e.g. ``("Action", "Comedy")``; empty when none or unknown.
    scale
        The stars the ratings take: 1-5 whole stars for ML-100K, 0.5-5 half stars for the ml-latest family, and
        for RecBole files whichever of the two holds every rating (:func:`movielens_scale`).

    """

    name: str
    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    timestamps: np.ndarray
    user_ids: list[str]
    item_ids: list[str]
    item_titles: list[str]
    item_years: np.ndarray
    item_genres: list[tuple[str, ...]]
    scale: RatingScale = WHOLE_STARS

    def __post_init__(self) -> None:
        n = len(self.users)
        if not (len(self.items) == len(self.ratings) == len(self.timestamps) == n):
            raise ValueError("users, items, ratings and timestamps must have the same length")
        m = len(self.item_ids)
        if not (len(self.item_titles) == len(self.item_years) == len(self.item_genres) == m):
            raise ValueError("item_ids, item_titles, item_years and item_genres must have the same length")

    @property
    def n_users(self) -> int:
        """Number of distinct users."""
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Number of distinct items (rated or not)."""
        return len(self.item_ids)

    @property
    def n_ratings(self) -> int:
        """Number of ratings."""
        return len(self.ratings)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n_users={self.n_users}, n_items={self.n_items}, n_ratings={self.n_ratings})"
        )
