"""Prequential replay of implicit feedback: only the likes of a rating log, each a unary event without stars.

Most streams carry no stars, only what was chosen: a play, a click, a like. This protocol keeps only the log's likes
(ratings at or above the scale's like threshold), in time order, and gives each to the models as the implicit event
the product learns it as (:func:`wnn.feedback.implicit_rating`: the scale's highest rating). Every event is then a
liked event, and for each the models rank first, then learn, exactly as the prequential protocol
(:mod:`wnnrec.evaluation.prequential`) does for its likes: the event's item's position in the top-10 list the model
would show the user just before (the items of the user's earlier events left out) gives HR@10 and NDCG@10. No
rating is predicted, so there are no rating metrics; every row says ``implicit: true``.

>>> from wnnrec.datasets import Dataset
>>> log = Dataset("toy", users=np.array([0, 1, 0, 1], dtype=np.int32), items=np.array([0, 0, 1, 2], dtype=np.int32),
...               ratings=np.array([5, 2, 4, 3], dtype=np.float32), timestamps=np.arange(4, dtype=np.int64),
...               user_ids=["u", "v"], item_ids=list("abc"), item_titles=list("abc"),
...               item_years=np.zeros(3, dtype=np.int32), item_genres=[()] * 3)
>>> likes = liked_events(log)
>>> likes.users.tolist(), likes.items.tolist(), likes.ratings.tolist(), likes.timestamps.tolist()
([0, 0], [0, 1], [5.0, 5.0], [0, 2])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from wnn.config import WNNConfig
from wnn.feedback import implicit_rating
from wnnrec.datasets import Dataset
from wnnrec.evaluation.models import make_model
from wnnrec.evaluation.prequential import replay, summarize


def liked_events(dataset: Dataset) -> Dataset:
    """The log's likes only, in the same (time) order, each as the rating an implicit event is learned as."""
    liked = dataset.ratings >= dataset.scale.like_threshold
    learned = np.float32(implicit_rating(True, dataset.scale))
    return dataclasses.replace(
        dataset,
        users=dataset.users[liked],
        items=dataset.items[liked],
        ratings=np.full(int(liked.sum()), learned, dtype=np.float32),
        timestamps=dataset.timestamps[liked],
    )


def run_implicit(
    dataset: Dataset,
    models: Sequence[str],
    limit: int | None = None,
    progress: bool = True,
    config: WNNConfig | None = None,
) -> list[dict[str, Any]]:
    """Replay the log's likes (the first ``limit`` of them) as implicit events through each named model in turn
    (same process, same events) and report HR@10/NDCG@10 rows: overall (with learned events/s) and by the user's
    number of earlier events (``prior_ratings``)."""
    events = liked_events(dataset)
    rows: list[dict[str, Any]] = []
    for name in models:
        model = make_model(name, events, config)
        run = replay(model, events, limit=limit, progress=progress, desc=name, predict=False)
        rows.extend({**row, "implicit": True} for row in summarize(name, run))
    return rows
