"""Prequential (test-then-train) replay of a rating stream, as the product runs.

For each event in timestamp order (stable for ties): the model predicts the rating, then, if the rating is a like,
the item's position in the top-10 list the model would show the user right now (items the user already rated left
out), then the model learns the event. For a model that predicts like probabilities, ``listed_not_liked_share`` is
the share of the items in those lists that the model itself expects the user not to like (probability below 0.5).
Rating metrics come from the predictions; HR@10/NDCG@10 from the liked
events. Every metric is also broken down by the user's number of prior ratings.

The list is computed from the user's state just before the event, which is the state after their previous event:
the list the product last emitted for them, except that global item statistics are as fresh as the stream.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from wnn.config import WNNConfig
from wnnrec.datasets import Dataset
from wnnrec.evaluation.drift_injection import SINCE_FLIP_BUCKETS, DriftMarks
from wnnrec.evaluation.metrics import PRIOR_BUCKETS, ranking_metrics, rating_metrics, top_k
from wnnrec.evaluation.models import EvaluatedModel, make_model


def replay(
    model: EvaluatedModel,
    dataset: Dataset,
    limit: int | None = None,
    rank: bool = True,
    progress: bool = True,
    desc: str = "",
    predict: bool = True,
) -> dict[str, Any]:
    """Run one model over the stream; returns per-event arrays and the time spent in learn+predict. Without
    ``predict`` (a stream of implicit events, :mod:`wnnrec.evaluation.implicit`), no rating is predicted (so neither
    is a like probability of the listed items): ``predicted`` is None and the time is learning's alone."""
    n = min(limit or dataset.n_ratings, dataset.n_ratings)
    users, items = dataset.users[:n].tolist(), dataset.items[:n].tolist()
    ratings, stamps = dataset.ratings[:n].tolist(), dataset.timestamps[:n].tolist()
    predicted = np.empty(n)
    prior = np.empty(n, dtype=np.int64)
    ranks = np.full(n, -2, dtype=np.int64)  # -2: not a ranking event
    listed = listed_not_liked = 0  # items of the lists shown, and those the model itself expects not to be liked
    like_probabilities = getattr(model, "like_probabilities", None) if predict else None
    rated: defaultdict[int, list[int]] = defaultdict(list)
    clock = time.perf_counter
    model_seconds = 0.0
    like = dataset.scale.like_threshold
    for e in tqdm(range(n), desc=desc, disable=not progress, mininterval=1.0, unit="ev"):
        user, item, rating, ts = users[e], items[e], ratings[e], stamps[e]
        history = rated[user]
        prior[e] = len(history)
        if rank and rating >= like:
            scores = model.rank_scores(user, ts)
            top = top_k(scores, np.fromiter(history, dtype=np.int64, count=len(history)))
            hits = np.flatnonzero(top == item)
            ranks[e] = int(hits[0]) if len(hits) else -1
            if like_probabilities is not None:
                listed += len(top)
                listed_not_liked += int((like_probabilities(user, top) < 0.5).sum())
        start = clock()
        if predict:
            predicted[e] = model.predict_one(user, item)
        model.learn_one(user, item, rating, ts, e)
        model_seconds += clock() - start
        history.append(item)
    return {
        "predicted": predicted if predict else None,
        "actual": dataset.ratings[:n].astype(np.float64),
        "prior": prior,
        "ranks": ranks,
        "model_seconds": model_seconds,
        "scale": dataset.scale,
        "listed_not_liked_share": listed_not_liked / listed if listed else None,
    }


def summarize(name: str, run: dict[str, Any]) -> list[dict[str, Any]]:
    """Overall row (with events/s) and one row per prior-ratings bucket; a run without predictions has no rating
    metrics."""
    predicted, actual, prior, ranks, scale = run["predicted"], run["actual"], run["prior"], run["ranks"], run["scale"]
    ranked = ranks > -2

    def ratings(mask: np.ndarray | slice) -> dict[str, float]:
        return {} if predicted is None else rating_metrics(predicted[mask], actual[mask], scale)

    overall = {
        "model": name,
        "n_events": len(actual),
        **ratings(slice(None)),
        **ranking_metrics(ranks[ranked]),
        "events_per_s": float(len(actual) / run["model_seconds"]) if run["model_seconds"] else None,
    }
    if run.get("listed_not_liked_share") is not None:
        overall["listed_not_liked_share"] = run["listed_not_liked_share"]
    rows = [overall]
    for label, low, high in PRIOR_BUCKETS:
        mask = (prior >= low) & (prior <= high)
        if mask.any():
            rows.append(
                {
                    "model": name,
                    "prior_ratings": label,
                    "n_events": int(mask.sum()),
                    **ratings(mask),
                    **ranking_metrics(ranks[mask & ranked]),
                }
            )
    return rows


def summarize_drift(name: str, run: dict[str, Any], marks: DriftMarks) -> list[dict[str, Any]]:
    """Rows of a drifted replay (:mod:`wnnrec.evaluation.drift_injection`): the flipped users' changed ratings
    (``subset="flipped"``), those by events since the flip (``since_flip``), and every other event
    (``subset="stable"``)."""
    predicted, actual, scale = run["predicted"], run["actual"], run["scale"]
    n = len(actual)
    changed, since_flip = marks.changed[:n], marks.since_flip[:n]
    rows = [
        {
            "model": name,
            "subset": "flipped",
            "n_events": int(changed.sum()),
            **rating_metrics(predicted[changed], actual[changed], scale),
        }
    ]
    for label, low, high in SINCE_FLIP_BUCKETS:
        mask = changed & (since_flip >= low) & (since_flip <= high)
        if mask.any():
            rows.append(
                {
                    "model": name,
                    "subset": "flipped",
                    "since_flip": label,
                    "n_events": int(mask.sum()),
                    **rating_metrics(predicted[mask], actual[mask], scale),
                }
            )
    stable = ~changed
    rows.append(
        {
            "model": name,
            "subset": "stable",
            "n_events": int(stable.sum()),
            **rating_metrics(predicted[stable], actual[stable], scale),
        }
    )
    return rows


def run_prequential(
    dataset: Dataset,
    models: Sequence[str],
    limit: int | None = None,
    rank: bool = True,
    progress: bool = True,
    config: WNNConfig | None = None,
    drift: DriftMarks | None = None,
) -> list[dict[str, Any]]:
    """Replay the stream through each named model in turn (same process, same data) and report rows.

    With ``drift`` (the marks of a log built by :func:`wnnrec.evaluation.drift_injection.inject_drift`), each model
    also gets the flipped/stable rows of :func:`summarize_drift`.
    """
    rows: list[dict[str, Any]] = []
    for name in models:
        model = make_model(name, dataset, config)
        run = replay(model, dataset, limit=limit, rank=rank, progress=progress, desc=name)
        rows.extend(summarize(name, run))
        if drift is not None:
            rows.extend(summarize_drift(name, run, drift))
    return rows
