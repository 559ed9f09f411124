"""The WNN recommender behind River's recommender protocol (:class:`river.reco.base.Ranker`), the protocol River's
own ``BiasedMF`` implements: code written for River runs a per-user WNN by changing one line.

``learn_one(user, item, y, x)`` learns a rating, ``predict_one(user, item, x)`` returns the expected rating, and
``rank(user, items, x)`` orders items by the product's ranking score (popularity, the user's sequence, the network's
affinity, predicted rating and like probability; :func:`wnn.ranking.rank_scores`), not by ``predict_one`` as River's
default does. ``x`` may carry ``ts`` (Unix seconds: the rating's time, or the time a list is ranked at) and
``event_id`` (what :meth:`WNNRanker.forget` removes); without them, an arrival counter stands in for both.

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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable
from typing import Any

import numpy as np

from wnn.config import WNNConfig
from wnn.item_catalogue import RatedCatalogue
from wnn.recommender import WNNRecommender

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

    def learn_one(self, user: Hashable, item: Hashable, y: float, x: dict[str, Any] | None = None) -> None:
        """Learn that ``user`` rated ``item`` ``y``; ``x`` may carry ``ts`` and ``event_id``. A repeated event id
        changes nothing; bad input raises :class:`wnn.validation.InvalidEvent` and changes nothing."""
        x = x or {}
        self._arrivals += 1
        self.recommender.learn_one(user, item, y, x.get("ts", self._arrivals), x.get("event_id", self._arrivals))

    def predict_one(self, user: Hashable, item: Hashable, x: dict[str, Any] | None = None) -> float:
        """The expected rating of ``item`` by ``user``."""
        return self.recommender.predict_one(user, item).rating

    def rank(self, user: Hashable, items: set[Hashable], x: dict[str, Any] | None = None) -> list[Hashable]:
        """``items`` best first by the product's ranking score at ``x["ts"]`` (else the user's newest rating's
        time), ties by item id; items the space has never seen come last, by id (ranking them registers nothing)."""
        x = x or {}
        space = self.recommender.space
        known = [item for item in items if space.find(item) is not None]
        unknown = [item for item in items if space.find(item) is None]
        ordered: list[Hashable] = []
        if known:
            model = self.recommender.user(user)
            indices = np.array([space.find(item) for item in known], dtype=np.int64)
            scores = model.rank_scores(x.get("ts"), indices)
            ordered = [known[i] for i in sorted(range(len(known)), key=lambda i: (-scores[i], str(known[i])))]
        return ordered + sorted(unknown, key=str)

    def forget(self, user: Hashable, event_id: int) -> bool:
        """Remove one learned rating exactly (:meth:`wnn.recommender.WNNRecommender.forget`): River's learners
        cannot do this."""
        return self.recommender.forget(user, event_id)
