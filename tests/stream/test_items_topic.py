"""The catalogue on the bus, end to end on a real broker: an item published mid-stream reaches /items and /explain
within 2 s with its (new) genre bucketed, can be listed, and a tombstone takes it out of the lists."""

from __future__ import annotations

import time
import urllib.error

import pytest

from stream.admin import create_topics, make_producer
from stream.catalogue import item_message
from stream.contracts import ITEMS
from stream.messages import rating_message
from tests.stream.test_integration import Deployment, covered
from wnn.config import WNNConfig
from wnn.encoding import CategoryBucketer
from wnnrec.deployment import api_get
from wnnrec.run import read_topic

pytestmark = [pytest.mark.broker]

CATALOGUE = [f"m{i}" for i in range(1, 6)]
#: The item of the rating with which wnnrec.bench.pipeline.wait_until_serving checks that a worker answers.
WARMUP_ITEM = "__warmup_item__"


def publish(deployment: Deployment, item: str, value: bytes | None) -> None:
    producer = make_producer(deployment.settings)
    producer.send(deployment.settings.items_topic, key=item.encode(), value=value)
    producer.flush()
    producer.close()


def rate(deployment: Deployment, user: str, item: str, event_id: int) -> None:
    deployment.send(user, rating_message(user, item, 4.0, 1_000_000 + event_id, event_id=event_id))


def list_covering(deployment: Deployment, event_id: int) -> list[str]:
    docs = deployment.wait_for(lambda docs: event_id in {e for e, _ in covered(docs)}, what=f"the list of {event_id}")
    return [entry["item"] for entry in dict(covered(docs))[event_id]["items"]]


def test_an_item_published_mid_stream_is_live_within_2_s_and_a_tombstone_unlists_it(kafka_bootstrap, tmp_path):
    deployment = Deployment(kafka_bootstrap, tmp_path, "items", web_port=6175)
    try:
        create_topics(deployment.settings, [ITEMS])
        for item in CATALOGUE:
            publish(deployment, item, item_message(item, title=item.upper(), year=1999, genres=["Drama"]))
        deployment.start()
        assert api_get(deployment.settings, "/items/m1")["description"]["title"] == "M1"
        publish(deployment, WARMUP_ITEM, None)  # the start-up check's rating made it listable: withdrawn
        wait_until(lambda: api_get(deployment.settings, f"/items/{WARMUP_ITEM}")["withdrawn"], "the warm-up item out")
        for event_id, item in enumerate(CATALOGUE):  # the user has rated the whole catalogue
            rate(deployment, "reader", item, event_id)
        assert list_covering(deployment, len(CATALOGUE) - 1) == []  # nothing left to list

        published_at = time.monotonic()
        publish(
            deployment,
            "fresh",
            item_message("fresh", title="Fresh", year=2024, genres=["Solarpunk"], attributes={"language": "cs"}),
        )
        while (body := item_or_none(deployment, "fresh")) is None or body["description"] is None:
            assert time.monotonic() - published_at < 2.0, "the item did not reach /items within 2 s"
            time.sleep(0.05)
        in_items = time.monotonic() - published_at
        explained = api_get(deployment.settings, "/users/reader/explain?item=fresh")
        live_after = time.monotonic() - published_at
        assert explained["genres"] == ["Solarpunk"] and explained["attributes"] == {"language": "cs"}
        assert live_after <= 2.0, f"/explain showed the genres {live_after:.2f} s after publishing"
        print(f"published item live: /items after {in_items * 1000:.0f} ms, /explain after {live_after * 1000:.0f} ms")
        bucketer = CategoryBucketer(n_slots=WNNConfig().n_genre_slots)
        assert bucketer.slot("Solarpunk") in body["category_slots"]  # a genre no one declared, bucketed
        assert body["listable"] and not body["withdrawn"] and body["ratings"] == 0

        rate(deployment, "reader", "m1", 100)  # the next list may show it: the only item left unrated
        assert list_covering(deployment, 100) == ["fresh"]

        publish(deployment, "fresh", None)  # withdrawn
        wait_until(lambda: api_get(deployment.settings, "/items/fresh")["withdrawn"], "the tombstone applied")
        rate(deployment, "reader", "m2", 101)
        assert list_covering(deployment, 101) == []
        assert api_get(deployment.settings, "/items/fresh")["description"] is None

        publish(deployment, "bad", b'{"v": 1, "item": "bad", "year": "soon"}')  # refused, dead-lettered, no trace
        wait_until(lambda: read_topic(deployment.settings, deployment.settings.dlq_topic), "the dead letter")
        [letter] = read_topic(deployment.settings, deployment.settings.dlq_topic)
        assert letter["source_topic"] == deployment.settings.items_topic and "year" in letter["reason"]
        assert item_or_none(deployment, "bad") is None and deployment.worker.poll() is None
    finally:
        deployment.close()


def wait_until(condition, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def item_or_none(deployment: Deployment, item: str) -> dict | None:
    """``GET /items/{item}``, or None while it answers 404 (the worker has not applied the message yet)."""
    try:
        return api_get(deployment.settings, f"/items/{item}", timeout=2.0)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise
