"""WNNRanker: the WNN behind River's recommender protocol."""

from __future__ import annotations

import numpy as np
import pytest
from river.reco.base import Ranker

from wnn.river import WNNRanker
from wnnrec.evaluation.models import make_model
from wnnrec.evaluation.prequential import replay


def test_it_is_a_river_ranker_and_learns_forgets_and_ranks():
    ranker = WNNRanker()
    assert isinstance(ranker, Ranker)
    for event_id, (user, item, y) in enumerate([("a", "x", 5.0), ("b", "x", 4.0), ("b", "y", 1.0)]):
        ranker.learn_one(user, item, y, {"ts": 100 + event_id, "event_id": event_id})
    before = ranker.predict_one("a", "x")
    ranker.learn_one("a", "y", 1.0, {"ts": 200, "event_id": 9})
    assert ranker.predict_one("a", "x") != before
    assert ranker.forget("a", 9) and ranker.predict_one("a", "x") == before
    assert ranker.rank("a", {"x", "y", "never-seen"})[-1] == "never-seen"
    assert ranker.recommender.space.find("never-seen") is None  # ranking an unknown item registers nothing


def test_without_x_an_arrival_counter_stands_in_for_time_and_event_id():
    ranker = WNNRanker()
    ranker.learn_one("a", "x", 4.0)
    ranker.learn_one("a", "x", 4.0)  # a second arrival, not a redelivery: its own event id
    assert ranker.recommender.user("a").n_pairs == 2


@pytest.mark.data
def test_a_plain_river_loop_gives_exactly_the_evaluations_prequential_mae(movielens):
    """predict_one, then learn_one, event by event over all of ML-100K, with the keys and catalogue ``wnnrec
    evaluate`` uses: the same MAE, to the last bit."""
    run = replay(make_model("wnn", movielens), movielens, rank=False, progress=False)
    evaluated = float(np.mean(np.abs(run["predicted"] - run["actual"])))
    ranker = WNNRanker.from_dataset(movielens, keys="index")
    errors = np.empty(movielens.n_ratings)
    for e in range(movielens.n_ratings):
        user, item, y = int(movielens.users[e]), int(movielens.items[e]), float(movielens.ratings[e])
        errors[e] = abs(ranker.predict_one(user, item) - y)
        ranker.learn_one(user, item, y, {"ts": int(movielens.timestamps[e]), "event_id": e})
    assert float(np.mean(errors)) == evaluated
    assert round(evaluated, 4) == 0.7364  # docs/results.md's prequential MAE
