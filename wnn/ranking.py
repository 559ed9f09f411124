"""A user's list: which items to show next, ranked by what is likely to be watched next and liked.

The ranking score of an item for a user is

* what is likely next: the log of its time-decayed popularity at the list's time, plus the sequence context (how
  often it followed each of the user's ``sequence_length`` newest items in everyone's sequences, the newest
  weighing most);
* plus the user's affinity: how much of their memory the item's cells hold (a pair counts once per shared neuron);
* plus the predicted rating,

* plus the like probability (``like_weight``: chosen on the tuning prefix, where it raised HR@10 from 0.1620 to 0.1624
  and cut the share of listed items the model expects not to be liked from 13.0% to 10.6%; a gate that drops items
  below a like probability of 0.5 cut that share to 3.5% but HR@10 to 0.1519),

weighted by the config; :func:`explain_items` gives each listed item's terms. With ``n_candidates`` set, only that
many globally strongest items (popularity and baseline, :func:`candidate_items`; plus room for the items the user
rated, which are not scored) are scored per user: the usual candidate-generation-then-ranking split, which keeps a
list refresh cheap on a large catalogue. Vectorised over items: one gather per memory plane on one user's tables, no
loop over items or neurons.
"""

from __future__ import annotations

import functools
from collections.abc import Hashable
from typing import Any

import numpy as np

from wnn.config import WNNConfig
from wnn.kernels import libm, mode
from wnn.kernels import ranking as kernels
from wnn.kernels.next_items import transition_scale, transition_score
from wnn.network_view import NetworkView
from wnn.prediction import MANY_ITEMS, like_probabilities


def top_items(
    model: NetworkView, ts: float | None = None, k: int = 10, exclude_rated: bool = True, use_candidates: bool = True
) -> tuple[list[Hashable], np.ndarray]:
    """The top-``k`` item ids and their scores, best first; items the user rated are left out (``exclude_rated``),
    and so are items that cannot be listed (:meth:`wnn.item_space.ItemSpace.listable`). Equal scores are ordered by a
    stable hash of the item id, so the list does not depend on the order items were registered in."""
    space = model.space
    rated = rated_mask(model) if exclude_rated else None
    items = candidate_items(model, ts, rated) if use_candidates else None
    rank = rank_scores(model, ts, items)
    dense = np.arange(space.n_items) if items is None else items
    excluded = ~space.listable() if items is None else np.zeros(len(dense), dtype=bool)
    if rated is not None:
        excluded |= rated[dense]
    best = top_positions(rank, excluded, space.tie_keys[dense], k)
    return [space.key(int(i)) for i in dense[best]], rank[best]


def rated_mask(model: NetworkView) -> np.ndarray | None:
    """Which items of the space the user rated (a mask over dense indices); None without pairs."""
    if not model.n_pairs:
        return None
    rated = np.zeros(model.space.n_items, dtype=bool)
    rated[model.pair_log.items] = True
    return rated


def candidate_items(model: NetworkView, ts: float | None, rated: np.ndarray | None) -> np.ndarray | None:
    """The items a list ranks, strongest first: the config's ``n_candidates`` strongest listable items
    (:meth:`wnn.item_space.ItemSpace.candidates`) plus one for each pair the user holds, less the items in ``rated``
    (:func:`rated_mask`, or None to keep rated items: the list leaves them out, so they are not scored); None (the
    whole catalogue) without ``n_candidates`` or when the catalogue is not larger."""
    space, n_candidates = model.space, model.space.config.n_candidates
    if n_candidates is None or n_candidates + model.n_pairs >= len(space.candidate_order()):
        return None
    items = space.candidates(model.list_time(ts), n_candidates + model.n_pairs)
    return items if rated is None else items[~rated[items]]


def top_positions(scores: np.ndarray, excluded: np.ndarray, ties: np.ndarray, k: int) -> np.ndarray:
    """Positions of the best ``k`` finite scores that are not ``excluded``, best first; equal scores are ordered by
    ``ties`` (a stable hash of each item's id), then by position."""
    if mode.compiled():
        return kernels.top_positions(scores, excluded, ties, k)
    return top_positions_reference(scores, excluded, ties, k)


def top_positions_reference(scores: np.ndarray, excluded: np.ndarray, ties: np.ndarray, k: int) -> np.ndarray:
    """:func:`top_positions` in numpy."""
    rank = np.where(excluded, -np.inf, scores)
    k = min(k, len(rank))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    # Every item scoring at least the k-th best (ties included), then ordered by score and the stable tie key.
    threshold = np.partition(rank, len(rank) - k)[len(rank) - k]
    best = np.flatnonzero(rank >= threshold)
    best = best[np.lexsort((ties[best], -rank[best]))][:k]
    return best[np.isfinite(rank[best])]


#: The terms of a ranking score, in the order :func:`score_terms` returns them.
TERMS = ("popularity", "sequence", "affinity", "rating", "like")


def score_terms(model: NetworkView, ts: float | None = None, items: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Each weighted term of the ranking score of every item of the space (dense index order), or of ``items``;
    rated items included. The score is their sum (:func:`rank_scores`, also returned as ``score``). Also returns the
    unweighted ``predicted_rating`` and ``like_probability`` (the model must be reconciled: the callers in
    :class:`~wnn.network.UserWNN` do that first)."""
    if not mode.compiled() or not model.n_pairs:
        return score_terms_reference(model, ts, items)
    space, cfg = model.space, model.space.config
    chosen = np.arange(space.n_items) if items is None else np.asarray(items, dtype=np.int64)
    if cfg.transition_weight:  # the model has pairs here
        recent = model.pair_log.items[-cfg.sequence_length :][::-1]
        counts = space.next_items
        sequence = kernels.sequence_scores(
            chosen,
            space.n_items,
            counts.keys,
            counts.values,
            counts.start,
            counts.length,
            counts.totals,
            recent,
            sequence_weights(cfg)[: len(recent)],
        )
    else:
        sequence = np.zeros(len(chosen))
    terms = np.empty((len(kernels.ROWS), len(chosen)))
    kernels.score_terms(
        *model.derived_state.kernel_memory(many=len(chosen) > MANY_ITEMS),
        space.cell_base,
        chosen,
        model.memory.layout.state_shift[model.derived_state.state],
        space.counts,
        space.sums,
        space.kernel_constants,
        space.log2_popularity,
        model.list_time(ts) / cfg.popularity_half_life_s,
        sequence,
        term_weights(cfg),
        terms,
    )
    return dict(zip(kernels.ROWS, terms))


def score_terms_reference(
    model: NetworkView, ts: float | None = None, items: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """:func:`score_terms` in numpy."""
    space, cfg = model.space, model.space.config
    popularity = libm.log1p(space.popularity_at(model.list_time(ts), items))
    if model.n_pairs and cfg.transition_weight:
        recent = model.pair_log.items[-cfg.sequence_length :][::-1]
        sequence = space.next_items.sequence_scores(recent, sequence_weights(cfg)[: len(recent)], space.n_items, items)
    else:
        sequence = np.zeros_like(popularity)
    rating, (count, likes), window_pairs = model.pooled_predictions(items)
    # Affinity: how much of the user's memory the item's cells hold (a pair counts once per shared neuron).
    affinity = count / (cfg.n_neurons - 1) / max(window_pairs, 1.0)
    like = like_probabilities(rating, count, likes, cfg)
    terms = {
        "popularity": popularity,
        "sequence": sequence,
        "affinity": cfg.affinity_weight * libm.log1p(affinity),
        "rating": cfg.rating_weight / cfg.rating_scale.star * rating,
        "like": cfg.like_weight * like,
        "predicted_rating": rating,
        "like_probability": like,
    }
    terms["score"] = terms["popularity"] + terms["sequence"] + terms["affinity"] + terms["rating"] + terms["like"]
    return terms


def rank_scores(model: NetworkView, ts: float | None = None, items: np.ndarray | None = None) -> np.ndarray:
    """Ranking score of every item of the space (dense index order), or of ``items`` only; rated items included."""
    return score_terms(model, ts, items)["score"]


def followed(model: NetworkView, indices: np.ndarray, top: int = 3) -> list[list[tuple[Hashable, float]]]:
    """For each item of ``indices``, which of the user's newest items it followed in everyone's sequences: up to
    ``top`` (item id, share of the item's sequence term) pairs, strongest first (the counts read in one call)."""
    space, cfg = model.space, model.space.config
    if not model.n_pairs or not cfg.transition_weight:
        return [[] for _ in indices]
    recent = model.pair_log.items[-cfg.sequence_length :][::-1]
    weights = sequence_weights(cfg)[: len(recent)].tolist()
    counts = space.next_items.counts_of(recent, np.asarray(indices)).tolist()
    previous_items = recent.tolist()
    terms = [
        (
            weights[j]
            * transition_score(np.asarray(counts[j], dtype=np.float64), transition_scale(space.next_items.total(p)))
        ).tolist()
        for j, p in enumerate(previous_items)
    ]
    out = []
    for k in range(len(indices)):
        parts: dict[int, float] = {}
        for j, previous in enumerate(previous_items):
            if counts[j][k]:
                parts[previous] = parts.get(previous, 0.0) + terms[j][k]
        best = sorted(parts.items(), key=lambda kv: (-kv[1], int(space.tie_keys[kv[0]])))[:top]
        out.append([(space.key(i), value) for i, value in best])
    return out


def explain_items(model: NetworkView, keys: list[Hashable], ts: float | None = None) -> list[dict[str, Any]]:
    """Why each of ``keys`` (known items) has the ranking score it has for this user: the weighted terms (which sum
    to ``score``), the predicted rating and like probability, and which of the user's items it followed."""
    space = model.space
    indices = np.array([space.index(key) for key in keys], dtype=np.int64)
    terms = score_terms(model, ts, indices)
    sources = followed(model, indices)
    out = []
    for k, key in enumerate(keys):
        entry: dict[str, Any] = {"item": key, "score": float(sum(terms[t][k] for t in TERMS))}
        entry.update({t: float(terms[t][k]) for t in TERMS})
        entry["predicted_rating"] = float(terms["predicted_rating"][k])
        entry["like_probability"] = float(terms["like_probability"][k])
        entry["followed"] = [{"item": item, "share": share} for item, share in sources[k]]
        out.append(entry)
    return out


@functools.lru_cache(maxsize=16)
def term_weights(cfg: WNNConfig) -> np.ndarray:
    """The affinity weight, the rating weight per star and the like weight (what the terms kernel multiplies by)."""
    weights = np.array([cfg.affinity_weight, cfg.rating_weight / cfg.rating_scale.star, cfg.like_weight])
    weights.setflags(write=False)
    return weights


@functools.lru_cache(maxsize=16)
def sequence_weights(cfg: WNNConfig) -> np.ndarray:
    """Ranking weight of the successors of the user's newest item, the one before it, and so on."""
    weights = cfg.transition_weight * cfg.sequence_decay ** np.arange(cfg.sequence_length, dtype=np.float64)
    weights.setflags(write=False)
    return weights
