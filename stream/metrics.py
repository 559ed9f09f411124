"""The worker's Prometheus metrics, served at ``/metrics`` in the text exposition format.

Counters the processor already keeps (ratings learned, dead letters by reason, drift flags) are read when Prometheus
scrapes, so nothing is counted twice; the agent observes the per-stage latencies and the lists it sends, and the
recovery callbacks the table recovery time. Each worker has its own registry (tests run several apps in a process).

>>> metrics = WorkerMetrics(lambda: {"ratings": 3, "dead_letters": {"bad json": 1}, "drift_flags": 0,
...     "forgets": 0, "users_erased": 0, "user_lookups": {"cache": 2, "new": 1}, "lag": {0: 5},
...     "absolute_error": 1.5, "mae": 0.5, "ready": 1,
...     **dict.fromkeys(SAFETY_NETS, 0)}, version="0.1.0")
>>> metrics.lists_sent.inc(2)
>>> text = metrics.exposition()[0].decode()
>>> "wnnrec_ratings_total 3.0" in text, 'wnnrec_consumer_lag{partition="0"} 5.0' in text
(True, True)
>>> 'wnnrec_build_info{version="0.1.0"} 1.0' in text, "process_resident_memory_bytes" in text
(True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

#: Latency buckets of the per-batch stages, in seconds (a batch takes milliseconds to a few seconds).
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Buckets of a rating's age when its list is sent, in seconds (the product's send-to-list latency).
AGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


#: The counters of the worker's delivery and continuity safety nets (a healthy run keeps them at 0).
SAFETY_NETS = {
    "delivery_failures": "Processed batches whose outputs were not delivered (their input is read again)",
    "stalls_read_again": "Partitions the stall watchdog read again",
    "offset_holes_read_again": "Holes in the input offsets read again",
    "stale_messages_skipped": "Input messages skipped as older than what the agent had processed",
}


class _Snapshot:
    """Reads the worker's own counters at scrape time."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self.read = read

    def collect(self) -> Iterator[Any]:
        now = self.read()
        yield CounterMetricFamily("wnnrec_ratings", "Ratings learned (redeliveries not counted)", value=now["ratings"])
        dead = CounterMetricFamily("wnnrec_dead_letters", "Inputs sent to the dead-letter topic", labels=["reason"])
        for reason, count in sorted(now["dead_letters"].items()):
            dead.add_metric([reason], count)
        yield dead
        yield CounterMetricFamily(
            "wnnrec_drift_flags", "Ratings at which a user's taste window restarted", value=now["drift_flags"]
        )
        yield CounterMetricFamily(
            "wnnrec_forgets",
            "Ratings forgotten (a forget by item or of a user counts each rating)",
            value=now["forgets"],
        )
        yield CounterMetricFamily("wnnrec_users_erased", "Users erased by a forget-user", value=now["users_erased"])
        lookups = CounterMetricFamily(
            "wnnrec_user_lookups",
            "Users a batch touched, by where their state was: the cache, the table (read and decoded), or new",
            labels=["found_in"],
        )
        for found_in, count in sorted(now["user_lookups"].items()):
            lookups.add_metric([found_in], count)
        yield lookups
        yield CounterMetricFamily(
            "wnnrec_absolute_error",
            "Sum of the absolute prediction errors of the ratings learned, each predicted before it was learned: "
            "rate(wnnrec_absolute_error_total) / rate(wnnrec_ratings_total) is the online MAE over any range",
            value=now["absolute_error"],
        )
        yield GaugeMetricFamily(
            "wnnrec_online_mae", "Mean absolute prediction error of every rating learned since start", value=now["mae"]
        )
        yield GaugeMetricFamily(
            "wnnrec_ready",
            "1 while the worker answers for its users (no rebalance, tables recovered)",
            value=now["ready"],
        )
        for name, text in SAFETY_NETS.items():
            yield CounterMetricFamily(f"wnnrec_{name}", text, value=now[name])
        lag = GaugeMetricFamily(
            "wnnrec_consumer_lag", "Input messages of an owned partition not yet taken", labels=["partition"]
        )
        for partition, behind in sorted(now["lag"].items()):
            lag.add_metric([str(partition)], behind)
        yield lag


class WorkerMetrics:
    """The registry of one worker and the instruments the agent updates."""

    def __init__(self, read: Callable[[], dict[str, Any]], version: str) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Snapshot(read))
        # The process's CPU, memory, open files and start time, as every Prometheus client exports them.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        Info("wnnrec_build", "The wnnrec build this worker runs", registry=self.registry).info({"version": version})
        self.lists_sent = Counter("wnnrec_lists", "Recommendation lists sent", registry=self.registry)
        self.stage_seconds = Histogram(
            "wnnrec_stage_seconds",
            "Time of each stage of a micro-batch",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=self.registry,
        )
        self.batch_events = Histogram(
            "wnnrec_batch_events",
            "Input messages per micro-batch",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
            registry=self.registry,
        )
        self.input_age_seconds = Histogram(
            "wnnrec_input_age_seconds",
            "Seconds from an input's Kafka timestamp (its producer's send time) to the "
            "send of its output (the list that covers it, or its dead letter): the send-to-list latency, queueing "
            "included",
            buckets=AGE_BUCKETS,
            registry=self.registry,
        )
        self.messages_sent = Counter(
            "wnnrec_messages",
            "Messages the worker produced: to each output topic, and to each table's changelog (changelog:<table>)",
            ["to"],
            registry=self.registry,
        )
        self.changelog_bytes = Counter(
            "wnnrec_changelog_bytes",
            "Key and value bytes written to the tables' changelogs",
            ["table"],
            registry=self.registry,
        )
        self.recovery_seconds = Gauge(
            "wnnrec_table_recovery_seconds",
            "Seconds from the last partition assignment to the user table's recovery",
            registry=self.registry,
        )

    def observe_changelog(self, table: str, writes: Sequence[tuple[int, bytes, bytes | None]]) -> None:
        """Count the bytes of ``(partition, key, value)`` changelog writes."""
        if writes:
            self.changelog_bytes.labels(table).inc(sum(len(key) + len(value or b"") for _, key, value in writes))
            self.messages_sent.labels(f"changelog:{table}").inc(len(writes))

    def observe_sent(self, topic: str, messages: int) -> None:
        """Count ``messages`` produced to the output topic ``topic`` (its name without the deployment's prefix)."""
        if messages:
            self.messages_sent.labels(topic).inc(messages)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
