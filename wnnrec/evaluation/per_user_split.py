"""The paper's per-user split: sample N ratings per user, train on the first 80%, test on the rest.

For each N, ``n_users`` users with at least N ratings are drawn; N of each user's ratings are sampled and ordered by
time; the first 80% (at least one) are training pairs and the rest are test pairs. Global item signal is learned
from every rating except the drawn users' non-training ratings, so no test rating leaks into any model; all models
see the same training stream, in timestamp order. Draws are repeated ``repeats`` times with different seeds and the
test pairs pooled, since N=5 leaves one test rating per user.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from wnn.config import WNNConfig
from wnn.item_space import ItemSpace
from wnnrec.baselines import PerUserMLP
from wnnrec.datasets import Dataset
from wnnrec.evaluation.metrics import rating_metrics
from wnnrec.evaluation.models import EvaluatedModel, WNNModel, make_model

DEFAULT_NS = (5, 10, 25, 100, 200)


def draw_split(
    dataset: Dataset, n: int, n_users: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event indices: (training stream, drawn users' training pairs, drawn users' test pairs)."""
    counts = np.bincount(dataset.users, minlength=dataset.n_users)
    eligible = np.flatnonzero(counts >= n)
    drawn = rng.choice(eligible, size=min(n_users, len(eligible)), replace=False)
    is_drawn = np.zeros(dataset.n_users, dtype=bool)
    is_drawn[drawn] = True
    n_train = max(1, round(0.8 * n))
    train_pairs, test_pairs = [], []
    for user in drawn:
        events = np.flatnonzero(dataset.users == user)
        sample = np.sort(rng.choice(events, size=n, replace=False))  # event index order is time order
        train_pairs.append(sample[:n_train])
        test_pairs.append(sample[n_train:])
    train_pairs_arr = np.concatenate(train_pairs)
    stream = np.sort(np.concatenate((np.flatnonzero(~is_drawn[dataset.users]), train_pairs_arr)))
    return stream, train_pairs_arr, np.concatenate(test_pairs)


def _train(model: EvaluatedModel, dataset: Dataset, stream: np.ndarray) -> None:
    users, items = dataset.users[stream].tolist(), dataset.items[stream].tolist()
    ratings, stamps = dataset.ratings[stream].tolist(), dataset.timestamps[stream].tolist()
    for e, user, item, rating, ts in zip(stream.tolist(), users, items, ratings, stamps):
        model.learn_one(user, item, rating, ts, e)


def _mlp_predictions(
    wnn: WNNModel, dataset: Dataset, train_pairs: np.ndarray, test_pairs: np.ndarray, seed: int
) -> np.ndarray:
    """Per-user MLP over the hybrid WNN's item bits, fitted on each drawn user's training pairs only."""
    space = wnn.recommender.space
    bits = feature_bits(space).astype(np.float64)
    baselines = space.baselines()
    mlp = PerUserMLP(seed=seed)
    predicted = np.empty(len(test_pairs))
    test_users = dataset.users[test_pairs]
    train_users = dataset.users[train_pairs]
    for user in np.unique(test_users):
        train = train_pairs[train_users == user]
        test_mask = test_users == user
        test = test_pairs[test_mask]
        ti, si = dataset.items[train], dataset.items[test]
        residual = dataset.ratings[train] - baselines[ti]
        predicted[test_mask] = dataset.scale.clip_all(baselines[si] + mlp.fit_predict(bits[ti], residual, bits[si]))
    return predicted


def run_per_user_split(
    dataset: Dataset,
    models: Sequence[str],
    ns: Sequence[int] = DEFAULT_NS,
    n_users: int = 250,
    repeats: int = 3,
    seed: int = 0,
    progress: bool = True,
    config: WNNConfig | None = None,
) -> list[dict[str, Any]]:
    """Rows with ``n_ratings`` and the pooled test metrics of every model at every N."""
    rows: list[dict[str, Any]] = []
    steps = [(n, r) for n in ns for r in range(repeats)]
    collected: dict[tuple[int, str], tuple[list[Any], list[Any]]] = {}
    drawn_users: dict[int, int] = {}
    for n, r in tqdm(steps, desc="per-user split", disable=not progress, unit="draw"):
        rng = np.random.default_rng((seed, n, r))
        stream, train_pairs, test_pairs = draw_split(dataset, n, n_users, rng)
        drawn_users[n] = len(np.unique(dataset.users[test_pairs]))
        actual = dataset.ratings[test_pairs].astype(np.float64)
        for name in models:
            if name == "mlp-per-user":
                continue
            model = make_model(name, dataset, config)
            _train(model, dataset, stream)
            if hasattr(model, "refit"):
                model.refit()
            predicted = np.array(
                [
                    model.predict_one(u, i)
                    for u, i in zip(dataset.users[test_pairs].tolist(), dataset.items[test_pairs].tolist())
                ]
            )
            preds, acts = collected.setdefault((n, name), ([], []))
            preds.append(predicted)
            acts.append(actual)
            if name == "wnn":
                trained_wnn = model
        if "mlp-per-user" in models:
            if "wnn" not in models:
                trained_wnn = make_model("wnn", dataset, config)
                _train(trained_wnn, dataset, stream)
            preds, acts = collected.setdefault((n, "mlp-per-user"), ([], []))
            assert isinstance(trained_wnn, WNNModel)
            preds.append(_mlp_predictions(trained_wnn, dataset, train_pairs, test_pairs, seed=r))
            acts.append(actual)
    for n in ns:
        for name in models:
            if (n, name) not in collected:
                continue
            preds, acts = collected[(n, name)]
            predicted, actual = np.concatenate(preds), np.concatenate(acts)
            rows.append(
                {
                    "model": name,
                    "n_ratings": n,
                    "n_users": drawn_users[n],
                    "n_test": len(actual),
                    **rating_metrics(predicted, actual, dataset.scale),
                }
            )
    return rows


def feature_bits(space: ItemSpace) -> np.ndarray:
    """Every item's input bit vector (n_items, n_feature_bits): content bits and the bits of its current code (a copy;
    for the per-user MLP baseline, which reads items as bit vectors)."""
    rows = space.bits[: space.n_items].copy()
    if space.config.hybrid:
        space.layout.write_dynamic(rows, space.dynamic_codes[: space.n_items])
    return rows[:, : space.n_feature_bits]
