"""``wnnrec audit unlearning``: does forgetting a rating leave what never having seen it leaves?

Each trial draws one rating of the first ``prefix`` MovieLens ratings (time order). Recommender A learns the
prefix and then forgets the rating through the public API (:meth:`WNNRecommender.forget`); recommender B learns the
prefix without it. For the rating's user the audit compares the stored bytes, the top-10 lists (at the time of the
prefix's last rating) and the predicted ratings of every item.

What can differ: ratings learned *after* the forgotten one (by this user or anyone) were centred on item baselines
and user biases that included it, and nothing rewrites them; the global item codes they read were built with it too.
The audit measures how much that leaves.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from wnn.data import Dataset
from wnn.evaluation.models import WNNModel


def _learned(dataset: Dataset, events: np.ndarray) -> WNNModel:
    model = WNNModel(dataset)
    for e in events.tolist():
        model.learn_one(int(dataset.users[e]), int(dataset.items[e]), float(dataset.ratings[e]),
                        int(dataset.timestamps[e]), e)
    return model


def audit_unlearning(dataset: Dataset, trials: int = 1000, prefix: int = 2000, seed: int = 0,
                     progress: bool = True) -> dict:
    """Run the trials; returns the JSON document (``trials``, ``identical_bytes_share``, ``identical_top10_share``,
    ``max_abs_diff``, ``p99_abs_diff`` over every item's predicted rating, and the per-trial details)."""
    order = np.argsort(dataset.timestamps, kind="stable")[:prefix]
    rng = np.random.default_rng(seed)
    picks = rng.choice(order, size=trials, replace=trials > len(order))
    at = int(dataset.timestamps[order].max())
    identical_bytes = identical_top10 = 0
    diffs: list[np.ndarray] = []
    for target in tqdm(picks.tolist(), desc="unlearning audit", unit="trial", disable=not progress):
        user = int(dataset.users[target])
        forgetting = _learned(dataset, order)
        assert forgetting.recommender.forget(user, target)
        never = _learned(dataset, order[order != target])
        a, b = forgetting.recommender.user(user), never.recommender.user(user)
        identical_bytes += a.to_bytes() == b.to_bytes()
        identical_top10 += forgetting.recommender.recommend(user, 10, ts=at) == never.recommender.recommend(
            user, 10, ts=at)
        n_items = forgetting.recommender.space.n_items
        diffs.append(np.array([abs(a.predict_index(i).rating - b.predict_index(i).rating) for i in range(n_items)]))
    every = np.concatenate(diffs)
    worst = np.array([d.max() for d in diffs])
    return {"trials": trials, "prefix": prefix, "seed": seed,
            "identical_bytes_share": identical_bytes / trials, "identical_top10_share": identical_top10 / trials,
            "max_abs_diff": float(every.max()), "p99_abs_diff": float(np.percentile(every, 99)),
            "identical_predictions_share": float(np.mean(worst == 0.0)),
            "p99_of_trial_max_abs_diff": float(np.percentile(worst, 99))}
