"""The WNN recommender behind River's recommender protocol (:class:`river.reco.base.Ranker`), the protocol River's
own ``BiasedMF`` implements: code written for River runs a per-user WNN by changing one line.

``learn_one(user, item, y, x)`` learns a rating, or an implicit event: River's rewards may be booleans, and
``True`` (a click, a play) is learned as the scale's highest rating, ``False`` (a skip) as its lowest
(:func:`wnn.feedback.implicit_rating`). ``predict_one(user, item, x)`` returns the expected rating, and
``rank(user, items, x)`` orders items by the product's ranking score (popularity, the user's sequence, the network's
affinity, predicted rating and like probability; :func:`wnn.ranking.rank_scores`), not by ``predict_one`` as River's
default does.

``x`` is read as River's ``MovieLens100K`` fills it (:func:`wnn.river_context.read_context`): the time is ``ts``
(Unix seconds) or else River's ``timestamp`` (nanoseconds since the epoch, or a datetime), the rating's time or the
time a list is ranked at; an item first met in ``learn_one`` (or known only from ratings) is registered with the
``genres`` (``"comedy, romance"``) and the year of the ``release_date`` the context carries, so its content bits are
set. ``event_id`` is what :meth:`WNNRanker.forget` removes. Without a time or an event id, an arrival counter stands
in for both.

River is an optional extra (``pip install 'wnnrec[eval]'``); without it this module still imports, and the class
says what to install when it is built.

>>> ranker = WNNRanker()
>>> ranker.learn_one("ann", "heat", 5.0, {"ts": 10, "event_id": 1})
>>> ranker.learn_one("bob", "heat", 4.0, {"ts": 20, "event_id": 2})
>>> ranker.learn_one("bob", "toys", 2.0, {"ts": 30, "event_id": 3})
>>> ranker.predict_one("ann", "heat") > ranker.predict_one("ann", "toys")
True

Ranked, "toys" comes first for ann all the same: it is what followed "heat" in bob's sequence, and the list is for
what to show next.

>>> ranker.rank("ann", {"heat", "toys"})
['toys', 'heat']

A River loop over ``MovieLens100K`` passes its context as it comes, and its click rewards as booleans:

>>> x = {"timestamp": 874731910000000000, "release_date": 866764800000000000, "genres": "comedy, romance"}
>>> ranker.learn_one("259", "255", True, x)
>>> ranker.recommender.user("259").last_ts, ranker.predict_one("259", "255") > 3.5
(874731910, True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from typing import Any

import numpy as np

from wnn.config import WNNConfig
from wnn.feedback import implicit_rating
from wnn.item_catalogue import RatedCatalogue
from wnn.recommender import WNNRecommender
from wnn.river_context import Context, read_context
from wnn.validation import check_learn_call

try:
    from river.reco.base import Ranker as _RiverRanker
except ImportError:  # River is optional: this module must import without it (its doctests are collected)
    _RiverRanker = None  # type: ignore[assignment,misc]


class WNNRanker(_RiverRanker or object):  # type: ignore[misc]
    """A :class:`~wnn.recommender.WNNRecommender` as a River ranker. See the module docstring.

    Parameters
    ----------
    config
        WNN settings (defaults: the product's).
    seed
        River's ranker seed (the WNN itself is deterministic).
    """

    def __init__(self, config: WNNConfig | None = None, seed: int | None = None) -> None:
        if _RiverRanker is None:
            raise ImportError("WNNRanker needs River: pip install 'wnnrec[eval]' (or pip install river)")
        super().__init__(seed=seed)
        self.config = config
        self.recommender = WNNRecommender(config)
        self._arrivals = 0

    @classmethod
    def from_dataset(
        cls, dataset: RatedCatalogue, config: WNNConfig | None = None, seed: int | None = None, keys: str = "id"
    ) -> WNNRanker:
        """A ranker with ``dataset``'s catalogue registered, each item with its genres and year, keyed by its id, or
        (``keys="index"``) by its dense index, as ``wnnrec evaluate`` replays the dataset. It rates on the
        dataset's scale, whatever ``config.rating_scale`` says."""
        ranker = cls(dataclasses.replace(config or WNNConfig(), rating_scale=dataset.scale), seed)
        ranker.recommender.space.add_catalogue(dataset, keys)
        return ranker

    def learn_one(self, user: Hashable, item: Hashable, y: float | bool, x: dict[str, Any] | None = None) -> None:
        """Learn that ``user`` rated ``item`` ``y``, or (``y`` a boolean) the implicit event ``y``; ``x`` is read as
        the module docstring says. A repeated event id changes nothing; bad input raises
        :class:`wnn.validation.InvalidEvent` and changes nothing."""
        x = x or {}
        context = read_context(x)
        self._arrivals += 1
        scale = self.recommender.space.config.rating_scale
        rating = implicit_rating(y, scale) if isinstance(y, (bool, np.bool_)) else y
        ts = self._arrivals if context.ts is None else context.ts
        event_id = x.get("event_id", self._arrivals)
        if context.describes_item:
            check_learn_call(user, item, rating, ts, event_id, scale)  # refused before the item is registered
            self._describe(item, context)
        self.recommender.learn_one(user, item, rating, ts, event_id)

    def _describe(self, item: Hashable, context: Context) -> None:
        """Register ``item`` with the context's genres and year, unless the space already has its content (or
        withdrew it)."""
        space = self.recommender.space
        index = space.find(item)
        if index is None or not (space.catalogued[index] or space.withdrawn[index]):
            space.add_item(item, genres=context.genres or (), year=context.year)

    def predict_one(self, user: Hashable, item: Hashable, x: dict[str, Any] | None = None) -> float:
        """The expected rating of ``item`` by ``user``."""
        return self.recommender.predict_one(user, item).rating

    def rank(self, user: Hashable, items: set[Hashable], x: dict[str, Any] | None = None) -> list[Hashable]:
        """``items`` best first by the product's ranking score at the context's time (``ts`` or ``timestamp``, else
        the user's newest rating's time), ties by item id; items the space has never seen come last, by id (ranking
        them registers nothing)."""
        ts = read_context(x or {}).ts
        space = self.recommender.space
        known = [item for item in items if space.find(item) is not None]
        unknown = [item for item in items if space.find(item) is None]
        ordered: list[Hashable] = []
        if known:
            model = self.recommender.user(user)
            indices = np.array([space.find(item) for item in known], dtype=np.int64)
            scores = model.rank_scores(ts, indices)
            ordered = [known[i] for i in sorted(range(len(known)), key=lambda i: (-scores[i], str(known[i])))]
        return ordered + sorted(unknown, key=str)

    def forget(self, user: Hashable, event_id: int) -> bool:
        """Remove one learned rating exactly (:meth:`wnn.recommender.WNNRecommender.forget`): River's learners
        cannot do this."""
        return self.recommender.forget(user, event_id)

    def forget_user(self, user: Hashable) -> list[int]:
        """Erase the user exactly (:meth:`wnn.recommender.WNNRecommender.forget_user`); returns the event ids of the
        ratings erased."""
        return self.recommender.forget_user(user)
