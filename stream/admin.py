"""The deployment's Kafka administration: its topics created and deleted, a producer, a clear error without a broker.

The worker creates its topics before it subscribes (a consumer sees only topics that exist when it does), and the
tools that produce to them (the replayer, the catalogue publisher) go through :func:`make_producer`.
"""

from __future__ import annotations

import contextlib
import dataclasses
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


#: Replicas a topic gets by default, on a cluster with at least that many brokers.
DEFAULT_REPLICATION = 3
#: What the retention of a replay's topics is: everything (a replay's messages carry their event times, from 1997
#: for MovieLens, and a time-based retention would delete them at once).
KEEP_EVERYTHING_MS = -1


def create_topics(settings: Settings, topics: Iterable[Topic] = TOPICS, retention_ms: int | None = None) -> None:
    """Create the deployment's ``topics`` (all of them by default) that do not exist yet, as their contracts say; a
    topic that is not compacted gets ``retention_ms`` (default: ``settings.topic_retention_ms``; None leaves the
    broker's)."""
    retention = settings.topic_retention_ms if retention_ms is None else retention_ms
    for topic in topics:
        compacted = topic.config.get("cleanup.policy") == "compact"
        kept = {} if compacted or retention is None else {"retention.ms": str(retention)}
        ensure_topics(
            settings, [settings.topic(topic.name)], topic.partitions or settings.partitions, {**kept, **topic.config}
        )


def topic_replication(settings: Settings, brokers: int) -> tuple[int, int]:
    """``(replication factor, min.insync.replicas)`` of a topic created on a cluster of ``brokers``: the settings',
    else min(:data:`DEFAULT_REPLICATION`, brokers), and 2 in sync with 3 or more replicas, else 1.

    >>> topic_replication(Settings(), 1), topic_replication(Settings(), 5), topic_replication(Settings(), 2)
    ((1, 1), (3, 2), (2, 1))
    """
    replicas = settings.replication_factor or min(DEFAULT_REPLICATION, brokers)
    return replicas, settings.min_insync_replicas or (2 if replicas >= 3 else 1)


def with_cluster_replication(settings: Settings) -> Settings:
    """``settings`` with the replication factor and in-sync minimum :func:`topic_replication` gives for the cluster
    (what faust needs for the internal topics it creates itself)."""
    admin = _admin(settings)
    try:
        replicas, in_sync = topic_replication(settings, _brokers(admin, settings))
    finally:
        admin.close()
    return dataclasses.replace(settings, replication_factor=replicas, min_insync_replicas=in_sync)


def _brokers(admin: Any, settings: Settings) -> int:
    """The cluster's broker count, asked only when the settings leave the replication factor to it."""
    return 0 if settings.replication_factor else len(admin.describe_cluster()["brokers"])


def _admin(settings: Settings) -> Any:
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        return KafkaAdminClient(
            bootstrap_servers=settings.bootstrap,
            request_timeout_ms=15000,
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            **settings.kafka_python_options(),
        )
    except KafkaError:
        raise BrokerUnavailable(broker_hint(settings)) from None


def ensure_topics(settings: Settings, names: list[str], partitions: int, config: dict[str, Any] | None = None) -> None:
    """Create the topics if they do not exist, replicated as :func:`topic_replication` says for the cluster."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = _admin(settings)
    try:
        existing = set(admin.list_topics())
        missing = [name for name in names if name not in existing]
        if not missing:
            return
        replicas, in_sync = topic_replication(settings, _brokers(admin, settings))
        configs = {"min.insync.replicas": str(in_sync), **(config or {})}
        with contextlib.suppress(TopicAlreadyExistsError):
            admin.create_topics(
                [
                    NewTopic(name, num_partitions=partitions, replication_factor=replicas, topic_configs=configs)
                    for name in missing
                ]
            )
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
