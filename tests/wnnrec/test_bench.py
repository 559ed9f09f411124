"""The benchmarks' probes on a real broker: what an output message costs faust's producer."""

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
