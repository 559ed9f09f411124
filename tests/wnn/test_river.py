"""WNNRanker: the WNN behind River's recommender protocol."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from river import checks
from river.reco.base import Ranker

from tests.conftest import synthetic_dataset
from wnn.river import WNNRanker
from wnn.validation import InvalidEvent
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
    assert ranker.forget_user("b") == [1, 2] and "b" not in ranker.recommender.users
    space = ranker.recommender.space
    assert int(space.counts[space.find("x")]) == 1 and int(space.counts[space.find("y")]) == 0  # b's ratings left


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


def test_river_checks_its_own_rankers_with_click_rewards():
    """River's estimator checks, whose ranker routine learns boolean rewards (a click or not)."""
    checks.check_estimator(WNNRanker())
    checks.check_estimator(WNNRanker.from_dataset(synthetic_dataset(n_ratings=10)))


@pytest.mark.parametrize("y, learned", [(True, 5.0), (False, 1.0), (np.bool_(True), 5.0), (4, 4.0)])
def test_a_boolean_reward_is_learned_as_the_scales_highest_or_lowest_rating(y, learned):
    ranker = WNNRanker()
    ranker.learn_one("a", "x", y, {"ts": 10})
    assert ranker.recommender.user("a").pairs()[0]["rating"] == learned


def test_rivers_context_sets_the_time_and_the_new_items_content():
    ranker = WNNRanker()
    space = ranker.recommender.space
    ranker.learn_one("a", "x", 4.0, {"ts": 10})  # known from a rating only: no content yet
    known = space.find("x")
    assert not space.catalogued[known]
    x = {"timestamp": datetime(1997, 9, 20, 5, 5, 10), "release_date": 866764800 * 10**9, "genres": "comedy, sci-fi"}
    ranker.learn_one("b", "x", 5.0, x)
    ranker.learn_one("b", "y", 5.0, {**x, "timestamp": 874731911 * 10**9, "genres": ["Drama"]})
    assert [p["ts"] for p in ranker.recommender.user("b").pairs()] == [874731910, 874731911]
    catalogue = WNNRanker().recommender.space
    assert np.array_equal(space.bits[known], catalogue.bits[catalogue.add_item("x", ("Comedy", "Sci-Fi"), 1997)])
    assert np.array_equal(space.bits[space.find("y")], catalogue.bits[catalogue.add_item("y", ("Drama",), 1997)])
    ranker.learn_one("c", "x", 5.0, {"genres": "horror", "ts": 20})  # the content is the catalogue's, set once
    assert np.array_equal(space.bits[known], catalogue.bits[catalogue.find("x")])


def test_a_list_is_ranked_at_the_time_rivers_timestamp_says():
    """Popularity fades with time, what followed the user's last item does not: years later, q comes first."""
    ranker = WNNRanker()
    for u in range(200):
        ranker.learn_one(f"u{u}", "p", 4.0, {"ts": 1000 + u})
    ranker.learn_one("b", "last", 4.0, {"ts": 1000})
    ranker.learn_one("b", "q", 4.0, {"ts": 1001})
    ranker.learn_one("a", "last", 4.0, {"ts": 1200})
    years_later = 1200 + 10 * 365 * 86400
    assert ranker.rank("a", {"p", "q"}) == ranker.rank("a", {"p", "q"}, {"ts": 1200}) == ["p", "q"]
    assert ranker.rank("a", {"p", "q"}, {"timestamp": years_later * 10**9}) == ["q", "p"]
    assert ranker.rank("a", {"p", "q"}, {"timestamp": datetime.fromtimestamp(years_later, UTC)}) == ["q", "p"]


def test_a_refused_river_event_registers_nothing():
    ranker = WNNRanker()
    with pytest.raises(InvalidEvent, match="rating"):
        ranker.learn_one("a", "x", 9.0, {"genres": "comedy", "timestamp": 874731910 * 10**9})
    with pytest.raises(InvalidEvent, match="timestamp"):
        ranker.learn_one("a", "x", 4.0, {"genres": "comedy", "timestamp": 8.7e17})
    assert ranker.recommender.space.find("x") is None and not ranker.recommender.users


def river_context(dataset, e):
    """Event ``e`` of our ML-100K as River's MovieLens100K yields it: times in nanoseconds, genres in lowercase."""
    item = int(dataset.items[e])
    x = {
        "user": dataset.user_ids[dataset.users[e]],
        "item": dataset.item_ids[item],
        "timestamp": int(dataset.timestamps[e]) * 10**9,
        "title": dataset.item_titles[item],
        "genres": ", ".join(genre.lower() for genre in dataset.item_genres[item]),
        "age": 21.0,
    }
    if dataset.item_years[item] > 0:
        x["release_date"] = int(datetime(int(dataset.item_years[item]), 1, 1, tzinfo=UTC).timestamp()) * 10**9
    return x


@pytest.mark.data
def test_rivers_movielens_contexts_learn_what_our_catalogue_and_times_do(movielens):
    """A ranker fed River-shaped contexts, items registered as they come, predicts and ranks exactly as one given our
    catalogue and Unix seconds: the times, genres and years land where ours do."""
    ours, rivers = WNNRanker.from_dataset(movielens), WNNRanker()
    predictions = []
    for e in range(3000):
        x = river_context(movielens, e)
        user, item, y = x.pop("user"), x.pop("item"), float(movielens.ratings[e])
        if rivers.recommender.space.find(item) is not None:
            predictions.append((ours.predict_one(user, item), rivers.predict_one(user, item)))
        ours.learn_one(user, item, y, {"ts": int(movielens.timestamps[e])})
        rivers.learn_one(user, item, y, x)
    assert len(predictions) > 2000 and all(a == b for a, b in predictions)
    space, catalogue = rivers.recommender.space, ours.recommender.space
    seen = [space.key(i) for i in range(space.n_items)]
    assert all(np.array_equal(space.bits[space.find(k)], catalogue.bits[catalogue.find(k)]) for k in seen)
    for user in ("1", "130", movielens.user_ids[movielens.users[2999]]):
        assert rivers.recommender.user(user).pairs() == ours.recommender.user(user).pairs()
        assert rivers.rank(user, set(seen)) == ours.rank(user, set(seen))
