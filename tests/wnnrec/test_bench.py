"""The benchmarks on a real broker: what an output message costs faust's producer, and one level of bench scale
(through a kill -9 and a wiped state folder)."""

from __future__ import annotations

import math
import uuid

import pytest

from stream.settings import Settings
from wnnrec.bench.pipeline import producer_cost
from wnnrec.deployment import delete_topics_of


@pytest.mark.broker
def test_the_producer_probe_reports_the_cost_of_a_message(kafka_bootstrap, tmp_path):
    settings = Settings(
        bootstrap=kafka_bootstrap, topic_prefix=f"probe-{uuid.uuid4().hex[:8]}.", state_dir=tmp_path, data=None
    )
    try:
        cost = producer_cost(settings, messages=500, size=300, timeout=120)
    finally:
        delete_topics_of(settings)
    assert cost["producer_message_bytes"] == 300
    assert 0 < cost["producer_us_per_message"] < 10_000 and math.isfinite(cost["producer_wall_us_per_message"])
    assert 0 < cost["raw_producer_us_per_message"] < 10_000


@pytest.mark.broker
@pytest.mark.data
def test_a_scale_level_reports_its_costs_and_the_time_to_serve_again_after_a_kill_and_a_wiped_state(
    kafka_bootstrap, movielens, tmp_path
):
    from wnnrec.bench.scale import run_level

    # Batches of 100: users come back in later batches, and are found in the cache.
    base = Settings(bootstrap=kafka_bootstrap, state_dir=tmp_path, data=None, web_port=_free_port(), batch_max=100)
    level = run_level(base, movielens, n_users=50, n_events=400, progress=False, log_path=str(tmp_path / "log"))
    assert level["ratings_covered"] == 400 and level["distinct_users_in_stream"] <= 50
    assert 0 < level["ready_after_kill_wipe_s"] < 120
    assert level["cache_hit_share"] == 1.0 and level["output_messages_per_rating"] > 0
    assert level["changelog_bytes_per_rating_by_table"]["user-wnn"] > 0


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
