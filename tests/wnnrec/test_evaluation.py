import json

import numpy as np
import pytest

from tests.conftest import synthetic_dataset
from wnn.rating_scale import HALF_STARS, WHOLE_STARS
from wnnrec.datasets import Dataset
from wnnrec.evaluation import prior_bucket, rating_metrics, run_implicit, run_per_user_split, run_prequential
from wnnrec.evaluation.implicit import liked_events
from wnnrec.evaluation.metrics import ranking_metrics, top_k_rank
from wnnrec.evaluation.models import make_model
from wnnrec.evaluation.per_user_split import draw_split
from wnnrec.evaluation.prequential import replay
from wnnrec.evaluation.report import plot, write_json


def test_rating_metrics_by_hand():
    m = rating_metrics(np.array([4.0, 2.0, 3.6]), np.array([5.0, 4.0, 3.0]), WHOLE_STARS)
    assert m["mae"] == pytest.approx((1 + 2 + 0.6) / 3)
    assert m["rmse"] == pytest.approx(np.sqrt((1 + 4 + 0.36) / 3))
    assert m["like_acc"] == pytest.approx(1 / 3)  # 4.0 vs 5 right, 2.0 vs 4 wrong, 3.6 vs 3 wrong
    assert m["within1_acc"] == pytest.approx(2 / 3)  # stars 4, 2, 4 against 5, 4, 3


def test_rating_metrics_on_half_stars_use_the_half_star_like_threshold_and_rounding():
    m = rating_metrics(np.array([3.8, 3.7, 2.1]), np.array([4.0, 3.5, 0.5]), HALF_STARS)
    assert m["like_acc"] == pytest.approx(2 / 3)  # 3.8 >= 3.625 predicts the like of 4.0; 3.7 wrongly predicts 3.5's
    assert m["within1_acc"] == pytest.approx(2 / 3)  # rounded 4.0, 3.5, 2.0 against 4.0, 3.5, 0.5


def test_ranking_metrics_by_hand():
    m = ranking_metrics(np.array([0, -1, 1, -1]))
    assert m["hr_at_10"] == 0.5
    assert m["ndcg_at_10"] == pytest.approx((1 + 1 / np.log2(3)) / 4)


def test_top_k_rank_excludes_rated_items_and_breaks_ties_by_index():
    scores = np.array([5.0, 9.0, 9.0, 1.0, 7.0])
    assert top_k_rank(scores, 2, exclude=np.array([], dtype=np.int64), k=3) == 1
    assert top_k_rank(scores, 4, exclude=np.array([1, 2]), k=2) == 0
    assert top_k_rank(scores, 3, exclude=np.array([], dtype=np.int64), k=3) == -1


def test_prior_buckets_cover_every_count():
    assert [prior_bucket(p) for p in (0, 1, 4, 5, 9, 10, 19, 20, 500)] == [
        "0",
        "1",
        "4",
        "5-9",
        "5-9",
        "10-19",
        "10-19",
        "20+",
        "20+",
    ]


def test_prequential_rows_and_breakdown():
    dataset = synthetic_dataset()
    rows = run_prequential(dataset, ["wnn", "constant-4", "user-mean", "popularity"], progress=False)
    overall = {r["model"]: r for r in rows if "prior_ratings" not in r}
    assert set(overall) == {"wnn", "constant-4", "user-mean", "popularity"}
    for row in overall.values():
        assert row["n_events"] == dataset.n_ratings
        assert {"mae", "rmse", "like_acc", "within1_acc", "hr_at_10", "ndcg_at_10", "events_per_s"} <= set(row)
    # The synthetic users have a clear taste (one genre group each): the WNN must learn it and beat the floors.
    assert overall["wnn"]["mae"] < overall["user-mean"]["mae"] - 0.05
    assert overall["wnn"]["like_acc"] > overall["user-mean"]["like_acc"] + 0.05
    buckets = [r for r in rows if r["model"] == "wnn" and "prior_ratings" in r]
    assert sum(r["n_events"] for r in buckets) == dataset.n_ratings


def test_per_user_split_never_trains_on_test_pairs():
    dataset = synthetic_dataset()
    stream, train, test = draw_split(dataset, 10, 5, np.random.default_rng(0))
    assert not set(stream) & set(test)
    assert set(train) <= set(stream)
    assert len(train) == 5 * 8 and len(test) == 5 * 2
    drawn = set(dataset.users[test].tolist())
    stream_of_drawn = [e for e in stream if dataset.users[e] in drawn]
    assert sorted(stream_of_drawn) == sorted(train.tolist())


def test_per_user_split_rows():
    dataset = synthetic_dataset()
    rows = run_per_user_split(
        dataset, ["wnn", "constant-4", "mlp-per-user"], ns=(5, 10), n_users=10, repeats=2, progress=False
    )
    assert {(r["model"], r["n_ratings"]) for r in rows} == {
        (m, n) for m in ("wnn", "constant-4", "mlp-per-user") for n in (5, 10)
    }
    assert all(r["n_test"] == 2 * 10 * (1 if r["n_ratings"] == 5 else 2) for r in rows)


def test_json_and_plot(tmp_path):
    dataset = synthetic_dataset(n_ratings=400)
    rows = run_prequential(dataset, ["wnn", "user-mean"], progress=False)
    write_json(tmp_path / "out.json", "prequential", dataset.name, rows)
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["protocol"] == "prequential" and doc["dataset"] == "synthetic"
    assert doc["results"][0]["model"] == "wnn"
    plot(tmp_path / "out.png", "prequential", rows)
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.data
def test_prequential_on_movielens_prefix(movielens):
    """On the first 20,000 real events the WNN beats the floors (a smoke test of the real protocol)."""
    rows = run_prequential(movielens, ["wnn", "constant-4", "user-mean"], limit=20000, rank=False, progress=False)
    overall = {r["model"]: r for r in rows if "prior_ratings" not in r}
    assert overall["wnn"]["mae"] < overall["user-mean"]["mae"] < overall["constant-4"]["mae"]
    assert overall["wnn"]["like_acc"] > overall["constant-4"]["like_acc"]


def test_drift_injection_inverts_the_later_ratings_of_the_chosen_users():
    from wnnrec.evaluation.drift_injection import inject_drift

    dataset = synthetic_dataset(n_users=20, n_ratings=3000)
    original = dataset.ratings.copy()
    drifted, marks = inject_drift(dataset, fraction=0.25, seed=3, min_ratings=100)
    assert np.array_equal(dataset.ratings, original)  # the input is not modified
    eligible = np.flatnonzero(np.bincount(dataset.users) >= 100)
    assert len(marks.flipped_users) == round(0.25 * len(eligible))
    for user in range(20):
        mine = np.flatnonzero(dataset.users == user)
        stamps = dataset.timestamps[mine]
        late = stamps > (stamps.min() + stamps.max()) / 2
        if user in marks.flipped_users:
            assert np.array_equal(drifted.ratings[mine][late], 6 - original[mine][late])
            assert marks.since_flip[mine][late].tolist() == list(range(late.sum()))
            assert np.array_equal(marks.changed[mine], late & (original[mine] != 3))
        else:
            assert np.array_equal(drifted.ratings[mine], original[mine]) and not marks.changed[mine].any()
    with pytest.raises(ValueError, match="fraction"):
        inject_drift(dataset, fraction=0.0, seed=0)


def test_drifted_prequential_rows():
    from wnnrec.evaluation.drift_injection import inject_drift

    drifted, marks = inject_drift(synthetic_dataset(n_users=20, n_ratings=3000), fraction=0.5, seed=1, min_ratings=100)
    rows = run_prequential(drifted, ["wnn", "wnn-no-drift", "biasedmf"], rank=False, progress=False, drift=marks)
    for model in ("wnn", "wnn-no-drift", "biasedmf"):
        mine = [r for r in rows if r["model"] == model]
        flipped = [r for r in mine if r.get("subset") == "flipped"]
        stable = [r for r in mine if r.get("subset") == "stable"]
        assert flipped[0]["n_events"] == int(marks.changed.sum()) and "since_flip" not in flipped[0]
        assert [r["since_flip"] for r in flipped[1:]] == ["0-4", "5-9", "10-19", "20+"]
        assert sum(r["n_events"] for r in flipped[1:]) == flipped[0]["n_events"]
        assert stable[0]["n_events"] == len(drifted.ratings) - flipped[0]["n_events"]
        assert all("like_acc" in r and "mae" in r for r in flipped + stable)


def cyclic_dataset(n_users: int = 30, n_items: int = 60, per_user: int = 20) -> Dataset:
    """Every user walks the items in one global cycle (item k, then k + 1), from their own start, with a low rating
    of a random item after each step: the likes follow each other, the low ratings break the sequence."""
    rng = np.random.default_rng(0)
    events = []
    for user in range(n_users):
        start = int(rng.integers(0, n_items))
        for step in range(per_user):
            t = 1000 * step + int(rng.integers(0, 999))  # users interleave; each user's steps stay in order
            events.append((t, user, (start + step) % n_items, 5.0))
            events.append((t + 1, user, int(rng.integers(0, n_items)), 2.0))
    events.sort()
    columns = list(zip(*events))
    return Dataset(
        name="cyclic",
        users=np.array(columns[1], dtype=np.int32),
        items=np.array(columns[2], dtype=np.int32),
        ratings=np.array(columns[3], dtype=np.float32),
        timestamps=np.array(columns[0], dtype=np.int64),
        user_ids=[str(u) for u in range(n_users)],
        item_ids=[str(i) for i in range(n_items)],
        item_titles=[""] * n_items,
        item_years=np.full(n_items, 1990, dtype=np.int32),
        item_genres=[()] * n_items,
    )


def test_implicit_replay_learns_the_likes_only_as_the_scales_highest_rating():
    dataset = cyclic_dataset()
    events = liked_events(dataset)
    assert events.n_ratings == int((dataset.ratings >= 4).sum()) == dataset.n_ratings // 2
    assert set(events.ratings.tolist()) == {5.0} and np.all(np.diff(events.timestamps) >= 0)
    model = make_model("wnn", events)
    run = replay(model, events, progress=False, predict=False)
    assert run["predicted"] is None and (run["ranks"] >= -1).all()  # every event ranked, none predicted
    assert {pair["rating"] for pair in model.recommender.user(3).pairs()} == {5.0}


def test_implicit_rows_rank_the_next_like_and_a_sequence_beats_popularity():
    dataset = cyclic_dataset()
    rows = run_implicit(dataset, ["wnn", "popularity", "sequence"], progress=False)
    overall = {r["model"]: r for r in rows if "prior_ratings" not in r}
    for row in rows:
        assert row["implicit"] is True and "mae" not in row and "like_acc" not in row
    for name, row in overall.items():
        assert row["n_events"] == dataset.n_ratings // 2 and row["events_per_s"] > 0
        buckets = [r for r in rows if r["model"] == name and "prior_ratings" in r]
        assert sum(r["n_events"] for r in buckets) == row["n_events"]
    # The likes follow one global cycle: what followed the last like predicts the next one. The low ratings between
    # them are no events here; in the rating stream they break the sequences.
    assert overall["sequence"]["hr_at_10"] > 0.8 > 0.3 > overall["popularity"]["hr_at_10"]
    assert overall["wnn"]["hr_at_10"] > overall["popularity"]["hr_at_10"] + 0.4
    rated = run_prequential(dataset, ["sequence"], progress=False)[0]
    assert rated["hr_at_10"] < 0.3 and "implicit" not in rated
    limited = run_implicit(dataset, ["sequence"], limit=100, progress=False)
    assert limited[0]["n_events"] == 100
