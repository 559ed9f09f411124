"""A user's list in two compiled passes: every candidate's ranking-score terms, then the top ``k``
(the compiled :func:`wnn.ranking.score_terms_reference` and :func:`wnn.ranking.top_positions_reference`).

The terms, per candidate item: the log of its decayed popularity at the list's time; the sequence term (what
followed the user's newest items in everyone's sequences, from the next-item counts' sparse rows, flattened by the
caller); the affinity, predicted rating and like probability from the user's Z tables (:mod:`wnn.kernels.pooled`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from wnn.kernels.next_items import transition_scale, transition_score
from wnn.kernels.pooled import INTERACTION_PRIOR, bias_cell, pooled_items, prior_like

#: Rows of the terms array :func:`score_terms` fills: the five weighted terms, then the unweighted predicted rating
#: and like probability, then the score (the five terms added in this order).
POPULARITY, SEQUENCE, AFFINITY, RATING, LIKE, PREDICTED_RATING, LIKE_PROBABILITY, SCORE = range(8)
#: Their names (the keys of :func:`wnn.ranking.score_terms`).
ROWS = ("popularity", "sequence", "affinity", "rating", "like", "predicted_rating", "like_probability", "score")


@njit(cache=True, nogil=True)
def sequence_scores(
    items: np.ndarray,
    n_items: int,
    keys: np.ndarray,
    values: np.ndarray,
    row_start: np.ndarray,
    row_length: np.ndarray,
    row_totals: np.ndarray,
    recent: np.ndarray,
    weights: np.ndarray,
) -> np.ndarray:
    """``sum_j weights[j] * transition_score(count(recent[j] -> item), transition_scale(total(recent[j])))`` of each
    item, the rows of the recent items added in order, read in place from the next-item counts' arena
    (:class:`wnn.next_items.NextItemCounts`: ``keys``, ``values`` and each row's start, length and total)."""
    dense = np.zeros(n_items)
    for j in range(len(weights)):
        previous = recent[j]
        if previous >= len(row_start):
            continue
        weight, scale = weights[j], transition_scale(row_totals[previous])
        start = row_start[previous]
        for p in range(start, start + row_length[previous]):
            key = keys[p]
            if key < n_items:  # an item registered by another worker's share may not be here yet
                dense[key] += weight * transition_score(values[p], scale)
    out = np.empty(len(items))
    for k in range(len(items)):
        out[k] = dense[items[k]]
    return out


@njit(cache=True, nogil=True)
def score_terms(
    table: np.ndarray,
    pair_cells: np.ndarray,
    pair_units: np.ndarray,
    pair_liked: np.ndarray,
    cell_base: np.ndarray,
    items: np.ndarray,
    shift: np.ndarray,
    counts: np.ndarray,
    sums: np.ndarray,
    constants: np.ndarray,
    log2_popularity: np.ndarray,
    decay: float,
    sequence: np.ndarray,
    weights: np.ndarray,
    terms: np.ndarray,
) -> None:
    """Fill ``terms`` (8, len(items)); ``decay`` is the list's time in popularity half-lives, ``sequence`` the
    weighted sequence term of each item, ``weights`` the affinity, rating (per star) and like weights."""
    n = len(items)
    rating = np.empty(n)
    count, likes = np.empty(n, np.int64), np.empty(n, np.int64)
    pooled_items(
        table, pair_cells, pair_units, pair_liked, cell_base, items, shift, counts, sums, constants, rating, count,
        likes,
    )  # fmt: skip
    m1 = cell_base.shape[1] - 1
    window = max(float(bias_cell(table, pair_units)[0]), 1.0)
    prior = constants[INTERACTION_PRIOR] * m1
    for k in range(n):
        terms[POPULARITY, k] = math.log1p(math.exp2(log2_popularity[items[k]] - decay))
        terms[SEQUENCE, k] = sequence[k]
        terms[AFFINITY, k] = weights[0] * math.log1p(count[k] / m1 / window)
        terms[RATING, k] = weights[1] * rating[k]
        like = (likes[k] + prior * prior_like(rating[k], constants)) / (count[k] + prior)
        terms[LIKE, k] = weights[2] * like
        terms[PREDICTED_RATING, k] = rating[k]
        terms[LIKE_PROBABILITY, k] = like
        score = terms[POPULARITY, k] + terms[SEQUENCE, k]
        terms[SCORE, k] = ((score + terms[AFFINITY, k]) + terms[RATING, k]) + terms[LIKE, k]


@njit(cache=True, nogil=True)
def _before(score: float, tie: np.uint64, position: int, other_score: float, other_tie: np.uint64, other: int) -> bool:
    """Whether one entry ranks before another: higher score, then lower tie key, then lower position."""
    if score != other_score:
        return score > other_score
    if tie != other_tie:
        return bool(tie < other_tie)
    return position < other


@njit(cache=True, nogil=True)
def top_positions(scores: np.ndarray, excluded: np.ndarray, ties: np.ndarray, k: int) -> np.ndarray:
    """Positions of the best ``k`` finite, not excluded scores, best first (ties on the score broken by ``ties``, a
    stable hash of each item's id)."""
    best = np.empty(max(k, 0), np.int64)
    held = 0
    if k <= 0:
        return best
    for i in range(len(scores)):
        score = scores[i]
        if excluded[i] or not np.isfinite(score):
            continue
        if held == k and not _before(score, ties[i], i, scores[best[k - 1]], ties[best[k - 1]], best[k - 1]):
            continue
        slot = held if held < k else k - 1
        while slot > 0 and _before(score, ties[i], i, scores[best[slot - 1]], ties[best[slot - 1]], best[slot - 1]):
            best[slot] = best[slot - 1]
            slot -= 1
        best[slot] = i
        if held < k:
            held += 1
    return best[:held]
