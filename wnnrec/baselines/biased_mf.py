"""River's ``reco.BiasedMF``, the strong online anchor, with a numpy mirror of its weights for ranking all items."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
from river import optim, reco


def make_biased_mf(seed: int = 73) -> reco.BiasedMF:
    """The anchor configuration of MISSION.md: 10 factors, SGD 0.025 on biases and 0.05 on latents."""
    return reco.BiasedMF(
        n_factors=10,
        bias_optimizer=optim.SGD(0.025),
        latent_optimizer=optim.SGD(0.05),
        weight_initializer=optim.initializers.Zeros(),
        latent_initializer=optim.initializers.Normal(mu=0.0, sigma=0.1, seed=seed),
    )


class RiverBiasedMF:
    """Adapter of River's BiasedMF to the evaluation protocol.

    Learning and predicting are River's own code. Ranking all items through River's ``predict_one`` would cost a
    Python call per item, so after each update the touched item's bias and latent vector are copied into numpy
    arrays, and ranking is one matrix-vector product with the same formula River uses.
    """

    def __init__(self, n_items: int, seed: int = 73, model: reco.BiasedMF | None = None) -> None:
        self.model = model or make_biased_mf(seed)
        self.n_items = n_items
        self._item_bias = np.zeros(n_items)
        self._item_latent = np.zeros((n_items, self.model.n_factors))
        self._mirrored = np.zeros(n_items, dtype=bool)

    def learn_one(self, user: Hashable, item: int, rating: float, ts: int, event_id: int) -> None:
        self.model.learn_one(user, item, rating)
        self._item_bias[item] = self.model.i_biases[item]
        self._item_latent[item] = self.model.i_latents[item]
        self._mirrored[item] = True

    def predict_one(self, user: Hashable, item: int) -> float:
        return self.model.predict_one(user, item)

    def rank_scores(self, user: Hashable, ts: int) -> np.ndarray:
        m = self.model
        user_bias = m.u_biases.get(user, 0.0)
        user_latent = m.u_latents.get(user)
        scores = m.global_mean.get() + user_bias + self._item_bias
        if user_latent is not None:
            scores = scores + self._item_latent @ user_latent
        return scores
