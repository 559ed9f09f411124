"""Worker settings, from the command line or the environment (``KAFKA_BOOTSTRAP_SERVERS``, ``WNNREC_*``)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a worker, the replayer and the pipeline benchmark need to find each other.

    ``topic_prefix`` namespaces every topic (and ``app_id`` the tables' changelogs), so tests and benchmarks can run
    on fresh topics beside a live deployment.

    Stream-engine settings (each also ``WNNREC_<NAME>`` in upper case):

    ``batch_max`` / ``batch_linger_ms``
        The agent takes up to ``batch_max`` ratings, or what arrived within ``batch_linger_ms``, as one micro-batch:
        one table write, one list and one drift message per user per batch. ``batch_max=1`` is the low-latency
        setting (one list per rating).
    ``fetch_max_wait_ms``
        How long the broker may hold a fetch that has no data. faust hard-codes 1,500 ms, which stalls the loop on
        the worker's always-empty internal topics; see :mod:`stream.transport`.
    ``max_poll_records``
        Records per consumer fetch (faust's ``broker_max_poll_records``).
    ``session_timeout_s`` / ``heartbeat_s``
        Consumer-group liveness: a dead worker's partitions move after ``session_timeout_s``.
    ``max_message_bytes``
        Larger input messages go to the dead-letter topic unread.
    ``share_buckets``
        Each partition's item-statistics shares are published as this many messages (by item hash).
    ``tombstones_per_user``
        Forgotten event ids remembered per user, so a redelivery or replay cannot bring a forgotten rating back.
    ``cache_mib``
        Memory budget of the live-network cache.
    ``processing_guarantee``
        ``at_least_once`` (default; duplicates are recognised by event id) or ``exactly_once`` (Kafka transactions).
    """

    bootstrap: str = dataclasses.field(default_factory=lambda: _env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    app_id: str = dataclasses.field(default_factory=lambda: _env("WNNREC_APP_ID", "wnnrec"))
    topic_prefix: str = dataclasses.field(default_factory=lambda: _env("WNNREC_TOPIC_PREFIX", ""))
    partitions: int = dataclasses.field(default_factory=lambda: int(_env("WNNREC_PARTITIONS", "4")))
    state_dir: Path = dataclasses.field(default_factory=lambda: Path(_env("WNNREC_STATE_DIR", ".wnnrec-state")))
    top_n: int = 10
    web_port: int = dataclasses.field(default_factory=lambda: int(_env("WNNREC_WEB_PORT", "6066")))
    drift_interval_s: float = 5.0
    data: str | None = dataclasses.field(default_factory=lambda: os.environ.get("WNNREC_DATA_FOLDER"))
    #: RocksDB block cache per table partition (faust's default is 2 GiB).
    block_cache_bytes: int = 8 << 20
    batch_max: int = dataclasses.field(default_factory=lambda: int(_env("WNNREC_BATCH_MAX", "1000")))
    batch_linger_ms: float = dataclasses.field(default_factory=lambda: float(_env("WNNREC_BATCH_LINGER_MS", "20")))
    fetch_max_wait_ms: int = dataclasses.field(default_factory=lambda: int(_env("WNNREC_FETCH_MAX_WAIT_MS", "10")))
    max_poll_records: int = dataclasses.field(default_factory=lambda: int(_env("WNNREC_MAX_POLL_RECORDS", "2000")))
    session_timeout_s: float = dataclasses.field(
        default_factory=lambda: float(_env("WNNREC_SESSION_TIMEOUT_S", "10")))
    heartbeat_s: float = dataclasses.field(default_factory=lambda: float(_env("WNNREC_HEARTBEAT_S", "2")))
    max_message_bytes: int = dataclasses.field(
        default_factory=lambda: int(_env("WNNREC_MAX_MESSAGE_BYTES", str(64 * 1024))))
    share_buckets: int = dataclasses.field(default_factory=lambda: int(_env("WNNREC_SHARE_BUCKETS", "16")))
    tombstones_per_user: int = dataclasses.field(
        default_factory=lambda: int(_env("WNNREC_TOMBSTONES_PER_USER", "10000")))
    cache_mib: float = dataclasses.field(default_factory=lambda: float(_env("WNNREC_CACHE_MIB", "256")))
    processing_guarantee: str = dataclasses.field(
        default_factory=lambda: _env("WNNREC_PROCESSING_GUARANTEE", "at_least_once"))

    def __post_init__(self) -> None:
        if self.batch_max < 1:
            raise ValueError(f"batch_max must be at least 1, got {self.batch_max}")
        if self.batch_linger_ms < 0 or self.fetch_max_wait_ms < 0:
            raise ValueError("batch_linger_ms and fetch_max_wait_ms must not be negative")
        if self.share_buckets < 1:
            raise ValueError(f"share_buckets must be at least 1, got {self.share_buckets}")
        if self.processing_guarantee not in ("at_least_once", "exactly_once"):
            raise ValueError(f"processing_guarantee must be at_least_once or exactly_once, got "
                             f"{self.processing_guarantee!r}")

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    @property
    def ratings_topic(self) -> str:
        return self.topic("ratings")

    @property
    def recommendations_topic(self) -> str:
        return self.topic("recommendations")

    @property
    def drift_topic(self) -> str:
        return self.topic("drift-metrics")

    @property
    def dlq_topic(self) -> str:
        return self.topic("ratings-dlq")
