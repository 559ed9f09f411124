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
from wnn.memory import COUNT, RESIDUAL

if TYPE_CHECKING:
    from wnn.network import UserWNN


def top_items(model: "UserWNN", ts: float | None = None, k: int = 10, exclude_rated: bool = True,
              use_candidates: bool = True) -> tuple[list[Hashable], np.ndarray]:
    """The top-``k`` item ids and their scores, best first; items the user rated are left out (``exclude_rated``)."""
    space, cfg = model.space, model.space.config
    n_pairs = model.n_pairs
    items = None
    if use_candidates and cfg.n_candidates is not None and cfg.n_candidates + n_pairs < space.n_items:
        items = space.candidates(model.list_time(ts), cfg.n_candidates + n_pairs)
    rank = rank_scores(model, ts, items)
    if exclude_rated and n_pairs:
        rated = model.pair_log.items
        if items is None:
            rank[rated] = -np.inf
        else:
            is_rated = np.zeros(space.n_items, dtype=bool)
            is_rated[rated] = True
            rank[is_rated[items]] = -np.inf
    k = min(k, len(rank))
    top = np.argpartition(-rank, k - 1)[:k] if k < len(rank) else np.arange(len(rank))
    top = top[np.argsort(-rank[top], kind="stable")]
    top = top[np.isfinite(rank[top])]
    dense = top if items is None else items[top]
    return [space.key(int(i)) for i in dense], rank[top]


def rank_scores(model: "UserWNN", ts: float | None = None, items: np.ndarray | None = None) -> np.ndarray:
    """Ranking score of every item of the space (dense index order), or of ``items`` only; rated items included."""
    space, cfg = model.space, model.space.config
    layout = model.memory.layout
    popularity = np.log1p(space.popularity_at(model.list_time(ts), items))
    baselines = space.baselines(items)
    base = space.cell_base[: space.n_items] if items is None else space.cell_base[items]
    if model.n_pairs and cfg.transition_weight:
        recent = model.pair_log.items[-cfg.sequence_length:][::-1]
        popularity = popularity + space.sequence_scores(recent, sequence_weights(cfg)[: len(recent)], items)
    if model.memory.empty:
        return popularity + cfg.rating_weight * baselines
    table = model.memory.table
    cells = base + layout.state_shift[model.state]
    counts = table[COUNT].take(cells)
    bias_count = float(table[COUNT, 0])
    user_bias = float(table[RESIDUAL, 0]) / (bias_count + cfg.user_prior)
    deviation = (table[RESIDUAL].take(cells) - counts * np.float32(user_bias)) / (counts
                                                                                  + np.float32(cfg.interaction_prior))
    rating = np.clip(baselines + user_bias + cfg.interaction_gain * (deviation @ layout.pool_weights), 1, 5)
    count = counts @ layout.pool_weights
    affinity = count / max(bias_count, 1.0)
    return popularity + cfg.affinity_weight * np.log1p(affinity) + cfg.rating_weight * rating


@functools.lru_cache(maxsize=16)
def sequence_weights(cfg: WNNConfig) -> np.ndarray:
    """Ranking weight of the successors of the user's newest item, the one before it, and so on."""
    weights = cfg.transition_weight * cfg.sequence_decay ** np.arange(cfg.sequence_length, dtype=np.float64)
    weights.setflags(write=False)
    return weights
