"""A user's list: which items to show next, ranked by what is likely to be watched next and liked.

The ranking score of an item for a user is

* what is likely next: the log of its time-decayed popularity at the list's time, plus the sequence context (how
  often it followed each of the user's ``sequence_length`` newest items in everyone's sequences, the newest
  weighing most);
* plus the user's affinity: how much of their memory the item's cells hold (a pair counts once per shared neuron);
* plus the predicted rating,

weighted by the config. With ``n_candidates`` set, only that many globally strongest items (popularity and baseline,
:meth:`wnn.item_space.ItemSpace.candidates`) are scored per user: the usual candidate-generation-then-ranking
split, which keeps a list refresh cheap on a large catalogue. Vectorised over items: one gather per memory plane on
one user's tables, no loop over items or neurons.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from typing import TYPE_CHECKING

import numpy as np

from wnn.config import WNNConfig

if TYPE_CHECKING:
    from wnn.network import UserWNN


def top_items(model: "UserWNN", ts: float | None = None, k: int = 10, exclude_rated: bool = True,
              use_candidates: bool = True) -> tuple[list[Hashable], np.ndarray]:
    """The top-``k`` item ids and their scores, best first; items the user rated are left out (``exclude_rated``),
    and so are items that cannot be listed (:meth:`wnn.item_space.ItemSpace.listable`). Equal scores are ordered by a
    stable hash of the item id, so the list does not depend on the order items were registered in."""
    space, cfg = model.space, model.space.config
    n_pairs = model.n_pairs
    items = None
    if use_candidates and cfg.n_candidates is not None and cfg.n_candidates + n_pairs < len(space.order):
        items = space.candidates(model.list_time(ts), cfg.n_candidates + n_pairs)
    rank = rank_scores(model, ts, items)
    dense = np.arange(space.n_items) if items is None else items
    if items is None:
        rank[~space.listable()] = -np.inf
    if exclude_rated and n_pairs:
        rated = np.zeros(space.n_items, dtype=bool)
        rated[model.pair_log.items] = True
        rank[rated[dense]] = -np.inf
    k = min(k, len(rank))
    if not k:
        return [], rank[:0]
    # Every item scoring at least the k-th best (ties included), then ordered by score and the stable tie key.
    threshold = np.partition(rank, len(rank) - k)[len(rank) - k]
    best = np.flatnonzero(rank >= threshold)
    best = best[np.lexsort((space.tie_keys[dense[best]], -rank[best]))][:k]
    best = best[np.isfinite(rank[best])]
    return [space.key(int(i)) for i in dense[best]], rank[best]


def rank_scores(model: "UserWNN", ts: float | None = None, items: np.ndarray | None = None) -> np.ndarray:
    """Ranking score of every item of the space (dense index order), or of ``items`` only; rated items included
    (the model must be reconciled: :meth:`wnn.network.UserWNN.rank_scores` does that first)."""
    space, cfg = model.space, model.space.config
    popularity = np.log1p(space.popularity_at(model.list_time(ts), items))
    if model.n_pairs and cfg.transition_weight:
        recent = model.pair_log.items[-cfg.sequence_length:][::-1]
        popularity = popularity + space.sequence_scores(recent, sequence_weights(cfg)[: len(recent)], items)
    rating, (count, _), window_pairs = model._predict_many(items)
    # Affinity: how much of the user's memory the item's cells hold (a pair counts once per shared neuron).
    affinity = count / (cfg.n_neurons - 1) / max(window_pairs, 1.0)
    return popularity + cfg.affinity_weight * np.log1p(affinity) + cfg.rating_weight * rating


@functools.lru_cache(maxsize=16)
def sequence_weights(cfg: WNNConfig) -> np.ndarray:
    """Ranking weight of the successors of the user's newest item, the one before it, and so on."""
    weights = cfg.transition_weight * cfg.sequence_decay ** np.arange(cfg.sequence_length, dtype=np.float64)
    weights.setflags(write=False)
    return weights
