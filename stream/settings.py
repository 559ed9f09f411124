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
    cache_size: int = 4096
    #: RocksDB block cache per table partition (faust's default is 2 GiB).
    block_cache_bytes: int = 8 << 20

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
