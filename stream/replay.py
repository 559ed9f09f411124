"""``wnnrec replay``: MovieLens as a timestamped event stream on Kafka (kafka-python producer).

Ratings go out in timestamp order (stable for ties), keyed by user id, with the rating time as the Kafka message
timestamp and the row's position in that order as its ``event_id`` (so replaying twice into the same topic is
idempotent for the worker). ``speed`` compresses event time (86400 = one day of ratings per second); ``max_rate``
caps messages per second; without either, it sends as fast as the broker takes them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from stream.schemas import rating_message
from stream.settings import Settings
from wnn.data import Dataset

#: How long a client waits for the first broker to answer before giving up with a clear error.
BOOTSTRAP_TIMEOUT_MS = 10000


class BrokerUnavailable(RuntimeError):
    """The Kafka broker could not be reached; the message says where it looked and how to start one."""


def broker_hint(settings: Settings) -> str:
    return (
        f"cannot reach a Kafka broker at {settings.bootstrap}. Start one with `deploy/kafka/start` "
        "(or `make broker-start`), or point KAFKA_BOOTSTRAP_SERVERS / --bootstrap-server at yours."
    )


def make_producer(settings: Settings, **overrides: Any) -> Any:
    """A kafka-python producer tuned for throughput; raises :class:`BrokerUnavailable` if nothing answers."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    options = dict(
        bootstrap_servers=settings.bootstrap,
        linger_ms=5,
        batch_size=256 * 1024,
        acks=1,
        request_timeout_ms=15000,
        max_block_ms=15000,
        bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
        **settings.kafka_python_options(),
    )
    options.update(overrides)
    try:
        return KafkaProducer(**options)
    except KafkaError:  # kafka-python 3 raises KafkaTimeoutError when no bootstrap server answers
        raise BrokerUnavailable(broker_hint(settings)) from None


#: The ratings topic takes messages up to this size, so an oversized input reaches the worker and is dead-lettered
#: with a reason (the worker's own limit, ``max_message_bytes``, is far lower) instead of failing at the producer.
RATINGS_MAX_MESSAGE_BYTES = 4 << 20


def ensure_topics(
    settings: Settings,
    names: list[str],
    partitions: int,
    config: dict[str, Any] | None = None,
    retention_ms: str | None = "-1",
) -> None:
    """Create the topics if they do not exist (event-time retention off by default: MovieLens timestamps are from
    1997; ``retention_ms=None`` leaves the broker's)."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.bootstrap,
            request_timeout_ms=15000,
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            **settings.kafka_python_options(),
        )
    except KafkaError:
        raise BrokerUnavailable(broker_hint(settings)) from None
    try:
        existing = set(admin.list_topics())
        retention = {"retention.ms": retention_ms} if retention_ms else {}
        missing = [
            NewTopic(
                n,
                num_partitions=partitions,
                replication_factor=1,
                topic_configs={
                    **retention,
                    **(config or {}),
                    **({"max.message.bytes": str(RATINGS_MAX_MESSAGE_BYTES)} if n == settings.ratings_topic else {}),
                },
            )
            for n in names
            if n not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
    finally:
        admin.close()


@dataclasses.dataclass
class ReplayStats:
    sent: int
    seconds: float
    first_send: float
    last_send: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else float("inf")


def pacing_due(start: float, k: int, event_seconds: float, speed: float | None, max_rate: float | None) -> float | None:
    """When the ``k``-th message may be sent (perf_counter seconds), or None to send at once: event time compressed
    by ``speed``, and at most ``max_rate`` messages per second since ``start``; the later of the two."""
    due = None
    if speed:
        due = start + event_seconds / speed
    if max_rate:
        due = max(due or start, start + k / max_rate)
    return due


def replay(
    settings: Settings,
    dataset: Dataset,
    speed: float | None = None,
    max_rate: float | None = None,
    limit: int | None = None,
    offset: int = 0,
    progress: bool = True,
    producer: Any = None,
    on_send: Callable[[int, float], None] | None = None,
) -> ReplayStats:
    """Produce ``dataset`` ratings ``[offset, offset + limit)`` to the ratings topic. See the module docstring."""
    ensure_topics(settings, [settings.ratings_topic], settings.partitions)
    own = producer is None
    producer = producer or make_producer(settings)
    n = min(limit or dataset.n_ratings, dataset.n_ratings - offset)
    users, items = dataset.users, dataset.items
    ratings, stamps = dataset.ratings.tolist(), dataset.timestamps.tolist()
    user_ids, item_ids = dataset.user_ids, dataset.item_ids
    topic = settings.ratings_topic
    start = time.perf_counter()
    first_ts = stamps[offset] if n else 0
    first_send = last_send = start
    sent = 0
    try:
        for k in tqdm(range(n), desc="replay", unit="ev", disable=not progress, mininterval=0.5):
            e = offset + k
            due = pacing_due(start, k, stamps[e] - first_ts, speed, max_rate)
            if due is not None:
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            user = user_ids[users[e]]
            value = rating_message(user, item_ids[items[e]], ratings[e], stamps[e], event_id=e)
            last_send = time.perf_counter()
            if k == 0:
                first_send = last_send
            producer.send(topic, key=user.encode(), value=value, timestamp_ms=stamps[e] * 1000)
            sent += 1
            if on_send is not None:
                on_send(e, last_send)
    finally:  # Ctrl-C or an error: what was handed to the producer is still delivered
        producer.flush()
        if own:
            producer.close()
    return ReplayStats(sent, time.perf_counter() - start, first_send, last_send)


def delete_run_topics(settings: Settings) -> list[str]:
    """Delete every topic of a run: its names all start with the run's topic prefix (the changelogs and faust's
    internal topics too, see :attr:`Settings.faust_id`). Returns the deleted names."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=settings.bootstrap, request_timeout_ms=15000, **settings.kafka_python_options()
    )
    try:
        mine = [name for name in admin.list_topics() if name.startswith(settings.topic_prefix)]
        if mine:
            admin.delete_topics(mine, timeout_ms=30000)
        return mine
    finally:
        admin.close()
