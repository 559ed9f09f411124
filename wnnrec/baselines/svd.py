"""Batch collaborative filtering: Surprise's SVD, retrained from scratch on everything seen so far.

:class:`NightlySVD` is the "nightly batch job" the streaming product competes with: during each day of event time
it answers from the model trained at the previous midnight.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
from surprise import SVD, Dataset, Reader

from wnn.rating_scale import WHOLE_STARS, RatingScale


def fit_svd(
    users: Sequence[Hashable],
    items: Sequence[int],
    ratings: Sequence[float],
    seed: int = 0,
    scale: RatingScale = WHOLE_STARS,
) -> SVD:
    """Train Surprise SVD (its defaults: 100 factors, 20 epochs) on the given ratings, predicting within ``scale``."""
    import pandas as pd

    frame = pd.DataFrame({"user": list(users), "item": list(items), "rating": list(ratings)})
    data = Dataset.load_from_df(frame, Reader(rating_scale=(scale.low, scale.high)))
    model = SVD(random_state=seed)
    model.fit(data.build_full_trainset())
    return model


class BatchSVD:
    """A trained Surprise SVD behind the evaluation protocol (learning is a no-op until :meth:`refit`)."""

    def __init__(self, n_items: int, seed: int = 0, scale: RatingScale = WHOLE_STARS) -> None:
        self.n_items = n_items
        self.seed = seed
        self.scale = scale
        self._model: SVD | None = None
        self._users: list[Hashable] = []
        self._items: list[int] = []
        self._ratings: list[float] = []
        self._item_bias = np.zeros(n_items)
        self._item_latent: np.ndarray | None = None

    def learn_one(self, user: Hashable, item: int, rating: float, ts: int, event_id: int) -> None:
        self._users.append(user)
        self._items.append(item)
        self._ratings.append(rating)

    def refit(self) -> None:
        """Retrain on everything learned so far."""
        if not self._ratings:
            return
        model = self._model = fit_svd(self._users, self._items, self._ratings, seed=self.seed, scale=self.scale)
        trainset = model.trainset
        self._item_bias = np.zeros(self.n_items)
        self._item_latent = np.zeros((self.n_items, model.n_factors))
        for inner in range(trainset.n_items):
            raw = trainset.to_raw_iid(inner)
            self._item_bias[raw] = model.bi[inner]
            self._item_latent[raw] = model.qi[inner]

    def predict_one(self, user: Hashable, item: int) -> float:
        if self._model is None:
            return float(np.mean(self._ratings)) if self._ratings else self.scale.prior_mean
        return float(self._model.predict(user, item, clip=True).est)

    def rank_scores(self, user: Hashable, ts: int) -> np.ndarray:
        model = self._model
        if model is None:
            return np.zeros(self.n_items)
        scores = model.trainset.global_mean + self._item_bias
        try:
            inner = model.trainset.to_inner_uid(user)
        except ValueError:
            return scores
        return scores + model.bu[inner] + self._item_latent @ model.pu[inner]


class NightlySVD(BatchSVD):
    """:class:`BatchSVD` retrained at each boundary of ``period_s`` of event time (a day by default)."""

    def __init__(self, n_items: int, period_s: int = 86400, seed: int = 0, scale: RatingScale = WHOLE_STARS) -> None:
        super().__init__(n_items, seed, scale)
        self.period_s = period_s
        self._period: int | None = None
        self.n_refits = 0

    def _roll(self, ts: int) -> None:
        period = ts // self.period_s
        if self._period is not None and period != self._period:
            self.refit()
            self.n_refits += 1
        self._period = period

    def learn_one(self, user: Hashable, item: int, rating: float, ts: int, event_id: int) -> None:
        self._roll(ts)
        super().learn_one(user, item, rating, ts, event_id)

    def predict_one(self, user: Hashable, item: int) -> float:
        return super().predict_one(user, item)
