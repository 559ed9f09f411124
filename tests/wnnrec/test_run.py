"""`wnnrec run` end to end on the real broker, on a 5,000-rating slice, and `--embedded` without one."""

from __future__ import annotations

import json

import pytest

from stream.messages import drift_records_of, lists_of
from stream.settings import Settings
from wnnrec.run import main_job, read_topic

pytestmark = [pytest.mark.data]

N = 5000


@pytest.mark.broker
@pytest.mark.parametrize("list_messages", ["user", "partition"])
def test_the_main_job_reports_what_is_on_its_topics_and_leaves_none_behind(
    kafka_bootstrap, movielens, tmp_path, list_messages
):
    from kafka.admin import KafkaAdminClient

    seen = {}

    def read_back(settings):
        messages = read_topic(settings, settings.recommendations_topic)
        lists = [listed for doc in messages for listed in lists_of(doc)]
        seen["lists"], seen["messages"] = len(lists), len(messages)
        seen["covered"] = len(
            {e["event_id"] for doc in lists for e in doc["events"] if e["cause"] == "rating" and e["event_id"] >= 0}
        )
        seen["records"] = sum(
            record["user"] != "__warmup__"
            for doc in read_topic(settings, settings.drift_topic)
            for record in drift_records_of(doc)
        )
        seen["dead"] = len(read_topic(settings, settings.dlq_topic))

    report = tmp_path / "report"
    base = Settings(bootstrap=kafka_bootstrap, state_dir=tmp_path / "state", list_messages=list_messages)
    assert main_job(base, limit=N, report_dir=str(report), before_cleanup=read_back) == 0
    summary = json.loads((report / "summary.json").read_text())
    assert summary["ratings_replayed"] == summary["ratings_covered_by_lists"] == seen["covered"] == N
    assert summary["drift_records"] == seen["records"] == N
    assert summary["dead_letters"] == seen["dead"] == 0
    assert summary["lists_emitted"] == seen["lists"] - 1  # the warm-up rating's list is not the run's
    # Per partition: a message holds a batch's lists of one input partition (at most 4 partitions a batch).
    assert (seen["messages"] == seen["lists"]) == (list_messages == "user")
    assert abs(summary["stream_mae"] - summary["evaluate_mae"]) < 0.05
    for name in ("mae_over_time.png", "drift_flags.png", "cold_start.png", "throughput_latency.png"):
        assert (report / name).stat().st_size > 5000
    assert "![" in (report / "report.md").read_text()
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        left = [t for t in admin.list_topics() if t.startswith(summary["topic_prefix"])]
    finally:
        admin.close()
    assert left == []
    assert [p.name for p in (tmp_path / "state").iterdir()] == [f"{summary['topic_prefix'][:-1]}.log"]  # log only


def test_the_embedded_run_needs_no_broker(movielens, tmp_path):
    report = tmp_path / "embedded"
    assert main_job(Settings(state_dir=tmp_path / "state"), limit=1500, report_dir=str(report), embedded=True) == 0
    summary = json.loads((report / "summary.json").read_text())
    assert summary["mode"] == "embedded, no Kafka"
    assert summary["ratings_covered_by_lists"] == summary["drift_records"] == 1500
    assert (report / "cold_start.png").stat().st_size > 5000


def half_star_copy(dataset, folder, n: int):
    """The first ``n`` ratings of ML-100K in the ml-latest format, every third one half a star lower (so some are
    0.5): a half-star dataset the loader reads on the 0.5-5 scale."""
    import csv

    folder.mkdir()
    with open(folder / "ratings.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["userId", "movieId", "rating", "timestamp"])
        for k in range(n):
            rating = float(dataset.ratings[k]) - (0.5 if k % 3 == 0 else 0.0)
            user, item = dataset.user_ids[dataset.users[k]], dataset.item_ids[dataset.items[k]]
            writer.writerow([user, item, rating, int(dataset.timestamps[k])])
    with open(folder / "movies.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["movieId", "title", "genres"])
        for index, item in enumerate(dataset.item_ids):
            genres = "|".join(dataset.item_genres[index]) or "(no genres listed)"
            writer.writerow([item, dataset.item_titles[index], genres])
    return folder


@pytest.mark.parametrize("embedded", [True, pytest.param(False, marks=pytest.mark.broker)], ids=["embedded", "kafka"])
def test_a_half_star_dataset_runs_on_its_own_scale(request, movielens, tmp_path, embedded):
    """The worker takes the dataset's scale: no half star (0.5 included) is dead-lettered, and it predicts as well
    as `wnnrec evaluate` does on the same ratings."""
    from wnnrec.datasets import load_dataset

    data = half_star_copy(movielens, tmp_path / "ml-latest-small", 1500)
    assert str(load_dataset(data).scale) == "0.5:5:0.5"
    base = Settings(state_dir=tmp_path / "state")
    if not embedded:
        base = Settings(bootstrap=request.getfixturevalue("kafka_bootstrap"), state_dir=tmp_path / "state")
    report = tmp_path / "report"
    assert main_job(base, data=str(data), report_dir=str(report), embedded=embedded) == 0
    summary = json.loads((report / "summary.json").read_text())
    assert summary["dead_letters"] == 0 and summary["ratings_covered_by_lists"] == 1500
    assert abs(summary["stream_mae"] - summary["evaluate_mae"]) < 0.05
