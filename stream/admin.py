"""The deployment's Kafka administration: its topics created and deleted, a producer, a clear error without a broker.

The worker creates its topics before it subscribes (a consumer sees only topics that exist when it does), and the
tools that produce to them (the replayer, the catalogue publisher) go through :func:`make_producer`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from stream.contracts import TOPICS, Topic
from stream.settings import Settings

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


def create_topics(settings: Settings, topics: Iterable[Topic] = TOPICS) -> None:
    """Create the deployment's ``topics`` (all of them by default) that do not exist yet, as their contracts say."""
    for topic in topics:
        ensure_topics(
            settings,
            [settings.topic(topic.name)],
            topic.partitions or settings.partitions,
            dict(topic.config),
            retention_ms=None,
        )


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
                topic_configs={**retention, **(config or {})},
            )
            for n in names
            if n not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
    finally:
        admin.close()


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
