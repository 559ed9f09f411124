"""The models each protocol runs side by side, by the names the JSON reports."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from typing import Protocol

import numpy as np

from wnn import ranking
from wnn.config import WNNConfig
from wnn.recommender import WNNRecommender
from wnnrec.baselines import BatchSVD, Constant, GlobalSequence, NightlySVD, Popularity, RiverBiasedMF, UserMean
from wnnrec.datasets import Dataset


class EvaluatedModel(Protocol):
    """What the evaluation protocols ask of a model: predict an event's rating, then learn it."""

    def predict_one(self, user: Hashable, item: int) -> float: ...

    def learn_one(self, user: Hashable, item: int, rating: float, ts: int, event_id: int) -> None: ...

    def rank_scores(self, user: Hashable, ts: int) -> np.ndarray: ...


class WNNModel:
    """The WNN recommender behind the evaluation protocol, with the dataset's items registered in index order. It
    rates on the dataset's scale, whatever ``config.rating_scale`` says."""

    def __init__(self, dataset: Dataset, config: WNNConfig | None = None) -> None:
        self.recommender = WNNRecommender(dataclasses.replace(config or WNNConfig(), rating_scale=dataset.scale))
        self.recommender.space.add_catalogue(dataset, keys="index")

    def learn_one(self, user: Hashable, item: int, rating: float, ts: int, event_id: int) -> None:
        self.recommender.learn_one(user, item, rating, ts, event_id)

    def predict_one(self, user: Hashable, item: int) -> float:
        return self.recommender.predict_one(user, item).rating

    def like_probabilities(self, user: Hashable, items: np.ndarray) -> np.ndarray:
        """The user's like probability of each of ``items`` (dense indices)."""
        return self.recommender.user(user).predict_all(items)[1]

    def rank_scores(self, user: Hashable, ts: int) -> np.ndarray:
        """Scores as the product ranks: only the candidate items when ``config.n_candidates`` is set."""
        model = self.recommender.user(user)
        candidates = ranking.candidate_items(model, ts, ranking.rated_mask(model))
        if candidates is None:
            return model.rank_scores(ts)
        scores = np.full(self.recommender.space.n_items, -np.inf)
        scores[candidates] = model.rank_scores(ts, candidates)
        return scores


#: The WNN and its ablations: Q off, content-only (no global bits, no item baseline), and no taste-change window.
WNN_VARIANTS: dict[str, WNNConfig] = {
    "wnn": WNNConfig(),
    "wnn-no-q": WNNConfig(n_state_bits=0),
    "wnn-content-only": WNNConfig(hybrid=False),
    "wnn-no-drift": WNNConfig(drift_threshold=None),
    # Ranking ablations (same predictions, only the list changes): without the like-probability term; without the
    # network's affinity, predicted rating and like probability; then also without the user's sequence beyond their
    # last item; then decayed popularity alone.
    "wnn-rank-no-like": WNNConfig(like_weight=0.0),
    "wnn-rank-no-network": WNNConfig(affinity_weight=0.0, rating_weight=0.0, like_weight=0.0),
    "wnn-rank-last-item": WNNConfig(affinity_weight=0.0, rating_weight=0.0, like_weight=0.0, sequence_length=1),
    "wnn-rank-popularity": WNNConfig(affinity_weight=0.0, rating_weight=0.0, like_weight=0.0, transition_weight=0.0),
}


def _wnn(config: WNNConfig) -> Callable[[Dataset], WNNModel]:
    return lambda dataset: WNNModel(dataset, config)


_FACTORIES: dict[str, Callable[[Dataset], EvaluatedModel]] = {
    **{name: _wnn(config) for name, config in WNN_VARIANTS.items()},
    "constant-4": lambda d: Constant(4.0, d.n_items),
    "user-mean": lambda d: UserMean(d.n_items, d.scale.prior_mean),
    "popularity": lambda d: Popularity(d.n_items, d.scale.prior_mean),
    "sequence": lambda d: GlobalSequence(d.n_items, d.scale.prior_mean),
    "biasedmf": lambda d: RiverBiasedMF(d.n_items),
    "svd-nightly": lambda d: NightlySVD(d.n_items, scale=d.scale),
    "svd": lambda d: BatchSVD(d.n_items, scale=d.scale),
}

#: Models of the prequential protocol, in report order.
PREQUENTIAL_MODELS = (
    "wnn",
    "wnn-no-q",
    "wnn-content-only",
    "wnn-no-drift",
    "constant-4",
    "user-mean",
    "popularity",
    "biasedmf",
    "svd-nightly",
)
#: Models of the prequential replay of implicit events (``--implicit``): the WNN against the two rankers that need no
#: stars, what is popular and what followed the user's last item in everyone's sequences.
IMPLICIT_MODELS = ("wnn", "popularity", "sequence")
#: Models of the per-user split; ``mlp-per-user`` is fitted per user by the protocol itself.
SPLIT_MODELS = (
    "wnn",
    "wnn-no-q",
    "wnn-content-only",
    "constant-4",
    "user-mean",
    "popularity",
    "biasedmf",
    "svd",
    "mlp-per-user",
)


#: Every name ``--models`` accepts.
MODEL_NAMES = tuple(_FACTORIES) + ("mlp-per-user",)


def make_model(name: str, dataset: Dataset, config: WNNConfig | None = None) -> EvaluatedModel:
    """A fresh model by report name; ``config`` overrides the WNN variant's settings (same ablation switches)."""
    if name in WNN_VARIANTS and config is not None:
        variant = WNN_VARIANTS[name]
        default = WNNConfig()
        overrides = {
            field.name: getattr(variant, field.name)
            for field in dataclasses.fields(WNNConfig)
            if getattr(variant, field.name) != getattr(default, field.name)
        }
        return WNNModel(dataset, dataclasses.replace(config, **overrides))
    try:
        return _FACTORIES[name](dataset)
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(_FACTORIES)}") from None
