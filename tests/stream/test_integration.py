"""End to end against a real Kafka broker: a worker process, the replayer, and the output topics."""

from __future__ import annotations

import shutil
import time
from collections import defaultdict

import pytest

from stream.admin import KEEP_EVERYTHING_MS, create_topics, make_producer
from stream.catalogue import publish_catalogue
from stream.messages import forget_message, implicit_message, rating_message
from stream.settings import Settings
from wnnrec.deployment import (
    WARMUP_USER,
    ListCollector,
    api_get,
    delete_topics_of,
    fresh_settings,
    start_worker,
    stop_worker,
    wait_until_serving,
)
from wnnrec.replay import replay
from wnnrec.run import read_topic

pytestmark = [pytest.mark.broker, pytest.mark.data]

N_REPLAY = 2000


class Deployment:
    """One worker on fresh topics, with a collector of every list it emits."""

    def __init__(self, bootstrap: str, tmp_path, tag: str, web_port: int, catalogue=None) -> None:
        base = Settings(bootstrap=bootstrap, state_dir=tmp_path / "state", web_port=web_port, partitions=2)
        self.settings = fresh_settings(base, tag)
        create_topics(self.settings, retention_ms=KEEP_EVERYTHING_MS)  # a MovieLens replay: 1997 timestamps
        if catalogue is not None:  # as `wnnrec replay` does first
            publish_catalogue(self.settings, catalogue, progress=False)
        self.log = str(tmp_path / f"{tag}-worker.log")
        self.collector = ListCollector.started(self.settings, expected=10**9)
        self.worker = None

    def start(self) -> None:
        self.worker = start_worker(self.settings, self.log)
        wait_until_serving(self.settings, self.worker, self.collector)

    def stop(self) -> None:
        stop_worker(self.worker)

    def close(self) -> None:
        if self.worker is not None:
            stop_worker(self.worker)
        self.collector.stop_requested = True
        self.collector.join(10)
        delete_topics_of(self.settings)

    def lists(self) -> list[dict]:
        return [d for d in read_topic(self.settings, self.settings.recommendations_topic) if d["user"] != WARMUP_USER]

    def wait_for(self, predicate, timeout: float = 90.0, what: str = "lists") -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            docs = self.lists()
            if predicate(docs):
                return docs
            assert self.worker.poll() is None, f"worker died; log: {open(self.log).read()[-3000:]}"
            time.sleep(1.0)
        raise AssertionError(f"timed out waiting for {what}; worker log tail: {open(self.log).read()[-2000:]}")

    def send(self, key: str, value: bytes) -> None:
        producer = make_producer(self.settings)
        producer.send(self.settings.ratings_topic, key=key.encode(), value=value)
        producer.flush()
        producer.close()

    def pairs(self, user: str) -> list[dict]:
        return api_get(self.settings, f"/users/{user}/ratings")["ratings"]


def covered(docs: list[dict], cause: str = "rating") -> list[tuple[int, dict]]:
    """(event id, list) for every input of ``cause`` the lists cover, in the order the lists came."""
    return [(e["event_id"], d) for d in docs for e in d["events"] if e["cause"] == cause]


@pytest.fixture(scope="module")
def replayed(kafka_bootstrap, movielens, tmp_path_factory):
    """A worker that has processed the first 2,000 MovieLens ratings."""
    deployment = Deployment(
        kafka_bootstrap, tmp_path_factory.mktemp("replay"), "it", web_port=6167, catalogue=movielens
    )
    try:
        deployment.start()
        replay(deployment.settings, movielens, limit=N_REPLAY, progress=False)
        deployment.wait_for(
            lambda docs: len({e for e, _ in covered(docs)} & set(range(N_REPLAY))) == N_REPLAY,
            what="lists covering 2,000 ratings",
        )
        yield deployment
    finally:
        deployment.close()


def test_replay_covers_every_rating_once_with_lists_without_rated_items(replayed, movielens):
    docs = replayed.lists()
    pairs = [(e, d) for e, d in covered(docs) if 0 <= e < N_REPLAY]
    by_event = dict(pairs)
    assert len(pairs) == N_REPLAY and sorted(by_event) == list(range(N_REPLAY))  # each exactly once
    assert len(docs) < N_REPLAY  # micro-batches: one list per user per batch
    rated: defaultdict[str, set[str]] = defaultdict(set)
    last_of_list: dict[int, int] = {}
    for e in range(N_REPLAY):
        last_of_list[id(by_event[e])] = e
    for e in range(N_REPLAY):
        user = movielens.user_ids[movielens.users[e]]
        rated[user].add(movielens.item_ids[movielens.items[e]])
        doc = by_event[e]
        assert doc["user"] == user
        if last_of_list[id(doc)] == e:  # the list reflects the user up to its last covered rating
            assert doc["n_ratings"] == len(rated[user]) and len(doc["items"]) == 10
            assert not rated[user] & {i["item"] for i in doc["items"]}
            assert doc["event_time"] == int(movielens.timestamps[e])
    drift = [d for d in read_topic(replayed.settings, replayed.settings.drift_topic) if d.get("kind") == "batch"]
    users = [u for d in drift for u in d["users"] if u["user"] != WARMUP_USER]
    assert sum(len(u["records"]) for u in users) == N_REPLAY


def test_forget_end_to_end_changes_the_list(replayed):
    lists = replayed.lists()
    counts = defaultdict(int)
    for d in lists:
        counts[d["user"]] = max(counts[d["user"]], d["n_ratings"])
    user = max(counts, key=counts.get)
    before = [d for d in lists if d["user"] == user][-1]
    pairs = replayed.pairs(user)
    victim = max(pairs, key=lambda p: p["rating"])
    replayed.send(user, forget_message(user, event_id=victim["event_id"]))
    docs = replayed.wait_for(
        lambda ds: any(d["user"] == user for _, d in covered(ds, "forget")), what="the list after the forget"
    )
    after = next(d for _, d in covered(docs, "forget") if d["user"] == user)
    assert after["n_ratings"] == before["n_ratings"] - 1
    assert victim["event_id"] not in {p["event_id"] for p in replayed.pairs(user)}
    assert after["items"] != before["items"]


def test_implicit_events_end_to_end_are_learned_as_the_scales_highest_and_lowest_ratings(replayed):
    replayed.send("clicker", implicit_message("clicker", "50", 893286638, event_id=10**9 + 1))
    replayed.send("clicker", implicit_message("clicker", "181", 893286639, liked=False, event_id=10**9 + 2))
    replayed.wait_for(
        lambda ds: {e for e, d in covered(ds) if d["user"] == "clicker"} == {10**9 + 1, 10**9 + 2},
        what="the implicit events' lists",
    )
    assert [(p["item"], p["rating"]) for p in replayed.pairs("clicker")] == [("50", 5.0), ("181", 1.0)]


def test_an_implicit_replay_sends_only_the_likes_as_implicit_events(kafka_bootstrap, movielens, tmp_path):
    settings = fresh_settings(Settings(bootstrap=kafka_bootstrap, state_dir=tmp_path, partitions=2), "implicit")
    try:
        stats = replay(settings, movielens, limit=300, progress=False, implicit=True)
        sent = sorted(read_topic(settings, settings.ratings_topic), key=lambda doc: doc["event_id"])
    finally:
        delete_topics_of(settings)
    likes = [e for e in range(300) if movielens.ratings[e] >= movielens.scale.like_threshold]
    assert stats.sent == len(sent) == len(likes) and 0 < len(likes) < 300
    assert [doc["event_id"] for doc in sent] == likes and {doc["type"] for doc in sent} == {"implicit"}
    assert all(doc["liked"] and "rating" not in doc for doc in sent)


def test_malformed_event_goes_to_the_dlq_and_the_next_good_one_is_processed(replayed):
    replayed.send("dlq-user", b'{"user": "dlq-user", "item": "1", "rating": 11, "ts": 5}')
    replayed.send("dlq-user", b"\xff\xfe not json")
    replayed.send("dlq-user", rating_message("dlq-user", "50", 5.0, 893286638, event_id=10**9))
    replayed.wait_for(lambda ds: any(d["user"] == "dlq-user" for d in ds), what="the good event's list")
    dead = read_topic(replayed.settings, replayed.settings.dlq_topic)
    reasons = [d["reason"] for d in dead]
    assert len(dead) == 2 and "outside" in reasons[0] and "not JSON" in reasons[1]
    assert dead[1]["value_encoding"] == "base64"


def test_every_message_the_worker_wrote_or_read_validates_against_its_published_schema(replayed):
    """schemas/ against the real topics after the tests above: every list, drift message and dead letter, every
    catalogue item, and every input message that was not dead-lettered (those that were broke their schema)."""
    from tests.stream.test_contracts import assert_valid

    settings = replayed.settings
    dead = read_topic(settings, settings.dlq_topic)
    refused = {(d["partition"], d["offset"]) for d in dead if d["source_topic"] == settings.ratings_topic}
    assert refused  # the malformed events of the test above
    counts = {}
    for topic, name in [
        (settings.recommendations_topic, "recommendations"),
        (settings.drift_topic, "drift-metrics"),
        (settings.dlq_topic, "ratings-dlq"),
        (settings.items_topic, "items"),
    ]:
        values = [value for _, value in read_topic(settings, topic, raw=True)]
        for value in values:
            assert_valid(name, value)
        counts[name] = len(values)
    inputs = read_topic(settings, settings.ratings_topic, raw=True, positions=True)
    for partition, offset, _, value in inputs:
        if (partition, offset) not in refused:
            assert_valid("ratings", value)
    assert counts["recommendations"] and counts["drift-metrics"] and counts["items"] == 1682
    assert len(inputs) > N_REPLAY


def test_state_survives_a_worker_restart(kafka_bootstrap, movielens, tmp_path):
    deployment = Deployment(kafka_bootstrap, tmp_path, "restart", web_port=6168)
    try:
        deployment.start()
        for t in range(5):
            deployment.send("r-user", rating_message("r-user", str(1 + t), 4.0, 100 + t, event_id=t))
        deployment.wait_for(lambda ds: any(d["user"] == "r-user" and d["n_ratings"] == 5 for d in ds))
        deployment.stop()
        deployment.start()  # same state dir: RocksDB
        deployment.send("r-user", rating_message("r-user", "6", 4.0, 106, event_id=5))
        deployment.wait_for(
            lambda ds: any(d["user"] == "r-user" and d["n_ratings"] == 6 for d in ds),
            what="a list continuing from the stored state",
        )
        deployment.stop()
        shutil.rmtree(deployment.settings.state_dir)  # now only the changelog has it
        deployment.start()
        deployment.send("r-user", rating_message("r-user", "7", 4.0, 107, event_id=6))
        deployment.wait_for(
            lambda ds: any(d["user"] == "r-user" and d["n_ratings"] == 7 for d in ds),
            what="a list after recovery from the changelog",
        )
        assert [p["item"] for p in deployment.pairs("r-user")] == [str(i) for i in range(1, 8)]
    finally:
        deployment.close()
