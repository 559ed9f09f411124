"""Metric definitions shared by both protocols. JSON keys are the ones docs/results.md documents."""

from __future__ import annotations

import numpy as np

from wnn.rating_scale import RatingScale

#: Buckets of "ratings the user had before this event" for the prequential breakdown.
PRIOR_BUCKETS: tuple[tuple[str, int, float], ...] = (
    ("0", 0, 0),
    ("1", 1, 1),
    ("2", 2, 2),
    ("3", 3, 3),
    ("4", 4, 4),
    ("5-9", 5, 9),
    ("10-19", 10, 19),
    ("20+", 20, np.inf),
)


def prior_bucket(prior: int) -> str:
    """The breakdown label of a user's prior rating count."""
    for label, low, high in PRIOR_BUCKETS:
        if low <= prior <= high:
            return label
    raise ValueError(f"negative prior count {prior}")


def rating_metrics(predicted: np.ndarray, actual: np.ndarray, scale: RatingScale) -> dict[str, float]:
    """MAE, RMSE, like-accuracy and within-1-star accuracy (of the prediction rounded to a rating of the scale; a
    star is a quarter of the scale's span, so 1 on 1-5).

    An actual rating is a like at or above the scale's like threshold (4 on 1-5); a prediction predicts one at or
    above half a step below it (3.5 on 1-5).
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if not len(actual):
        return {}
    error = predicted - actual
    stars = scale.rounded(predicted)
    return {
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt((error**2).mean())),
        "like_acc": float(((predicted >= scale.like_prediction_threshold) == (actual >= scale.like_threshold)).mean()),
        "within1_acc": float((np.abs(stars - actual) <= scale.star).mean()),
    }


def ranking_metrics(ranks: np.ndarray) -> dict[str, float]:
    """HR@10 and NDCG@10 from the 0-based rank of each target item in its list (-1 = not in the top 10)."""
    ranks = np.asarray(ranks)
    if not len(ranks):
        return {}
    hit = ranks >= 0
    gain = np.where(hit, 1.0 / np.log2(np.maximum(ranks, 0) + 2.0), 0.0)
    return {"hr_at_10": float(hit.mean()), "ndcg_at_10": float(gain.mean())}


def top_k(scores: np.ndarray, exclude: np.ndarray, k: int = 10) -> np.ndarray:
    """The indices of the top-``k`` of ``scores`` without ``exclude``, best first (only finite scores).

    Ties are broken by item index, the same way for every model.
    """
    scores = np.array(scores, dtype=np.float64, copy=True)
    if len(exclude):
        scores[exclude] = -np.inf
    top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    top = top[np.lexsort((top, -scores[top]))]
    return top[np.isfinite(scores[top])]


def top_k_rank(scores: np.ndarray, target: int, exclude: np.ndarray, k: int = 10) -> int:
    """0-based position of ``target`` in :func:`top_k`; -1 if it is not there."""
    hits = np.flatnonzero(top_k(scores, exclude, k) == target)
    return int(hits[0]) if len(hits) else -1
