"""The user's running mean rating (the global mean for a new user)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable

import numpy as np
from river import stats


class UserMean:
    """Running mean per user, from River's :class:`river.stats.Mean`.

    >>> m = UserMean()
    >>> m.learn_one("u", 0, 5.0, 0, 0); m.learn_one("u", 1, 3.0, 0, 1)
    >>> m.predict_one("u", 2)
    4.0
    """

    def __init__(self, n_items: int = 0, prior_mean: float = 3.5) -> None:
        self.n_items = n_items
        self.prior_mean = prior_mean  # the prediction before any rating (the rating scale's prior mean)
        self.global_mean = stats.Mean()
        self.means: defaultdict[Hashable, stats.Mean] = defaultdict(stats.Mean)

    def learn_one(self, user: Hashable, item: int, rating: float, ts: int, event_id: int) -> None:
        self.global_mean.update(rating)
        self.means[user].update(rating)

    def predict_one(self, user: Hashable, item: int) -> float:
        mean = self.means.get(user)
        if mean is not None and mean.n:
            return mean.get()
        return self.global_mean.get() if self.global_mean.n else self.prior_mean

    def rank_scores(self, user: Hashable, ts: int) -> np.ndarray:
        return np.zeros(self.n_items)
