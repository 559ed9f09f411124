"""Most-rated-so-far ranking; its rating prediction is the item's running mean (global mean when unseen)."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np


class Popularity:
    """Ranks items by how often they were rated so far.

    >>> p = Popularity(n_items=3)
    >>> p.learn_one("u", 2, 5.0, 0, 0)
    >>> int(p.rank_scores("v", 0).argmax())
    2
    """

    def __init__(self, n_items: int, prior_mean: float = 3.5) -> None:
        self.prior_mean = prior_mean  # the prediction before any rating (the rating scale's prior mean)
        self.counts = np.zeros(n_items)
        self.sums = np.zeros(n_items)
        self.n = 0
        self.total = 0.0

    def learn_one(self, user: Hashable, item: int, rating: float, ts: int, event_id: int) -> None:
        self.counts[item] += 1
        self.sums[item] += rating
        self.n += 1
        self.total += rating

    def predict_one(self, user: Hashable, item: int) -> float:
        if self.counts[item]:
            return float(self.sums[item] / self.counts[item])
        return self.total / self.n if self.n else self.prior_mean

    def rank_scores(self, user: Hashable, ts: int) -> np.ndarray:
        return self.counts.copy()
