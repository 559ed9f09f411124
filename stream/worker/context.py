"""What every part of a worker works on: one typed object handed to the agent, the handlers, the timers and the views.

faust's examples declare the app, its topics and tables at module level; a worker here is built from
:class:`stream.settings.Settings` (tests and benchmarks build several in one process), so they are gathered in a
:class:`Worker` instead, and each module of :mod:`stream.worker` registers its part on ``worker.app``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any, NamedTuple

from faust.types import TP

from stream.api import ApiTokens
from stream.contracts import Topic
from stream.delivery import DeliveryPipeline
from stream.faust_app import first_offset_from
from stream.metrics import WorkerMetrics
from stream.offsets import Hole, OffsetContinuity
from stream.processor import StreamProcessor
from stream.settings import Settings
from stream.version import package_version

log = logging.getLogger(__name__)


class WorkerTopics(NamedTuple):
    """The faust topics the worker reads and writes (raw bytes; the messages are :mod:`stream.messages`')."""

    ratings: Any
    #: each output topic of :data:`stream.contracts.OUTPUTS`, by its name without the deployment's prefix
    outputs: dict[str, Any]

    def output(self, topic: Topic) -> Any:
        return self.outputs[topic.name]


class WorkerTables(NamedTuple):
    """The worker's faust tables: ``users`` (partitioned like the ratings) and ``item_stats`` (global)."""

    users: Any
    item_stats: Any


@dataclasses.dataclass
class WorkerClock:
    """The times the stall watchdog and the recovery gauge go by (``time.monotonic()`` seconds)."""

    #: the last partition assignment
    assigned_at: float = dataclasses.field(default_factory=time.monotonic)
    #: when input last reached the agent (or the watchdog last read again)
    last_batch_at: float = dataclasses.field(default_factory=time.monotonic)
    #: when the batch the agent works on began; None between batches
    batch_since: float | None = None
    #: when the watchdog first saw the current rebalance (0: none going on)
    rebalancing_since: float = 0.0
    #: when it last warned of a long one
    rebalance_warned_at: float = 0.0


@dataclasses.dataclass(eq=False)
class Worker:
    """One worker: its faust app, settings, processor, topics and tables, and the bookkeeping its parts share.

    Built by :func:`stream.worker.create_worker`; ``worker.app.main()`` runs it.
    """

    app: Any
    settings: Settings
    processor: StreamProcessor
    topics: WorkerTopics
    tables: WorkerTables
    #: the HTTP API's bearer tokens by scope
    tokens: ApiTokens
    #: whether the user table's store yields a partition in key order (RocksDB does; the memory store does not)
    store_in_key_order: bool
    #: the faust agent that processes the ratings (its ``test_context()`` drives it without a broker)
    agent: Any = None
    continuity: OffsetContinuity = dataclasses.field(default_factory=OffsetContinuity)
    clock: WorkerClock = dataclasses.field(default_factory=WorkerClock)
    #: partition -> the first offset a batch skipped during a rebalance, to be read again once it ends
    skipped_in_rebalance: dict[int, int] = dataclasses.field(default_factory=dict)
    #: set once the catalogue topic has been read up to its end (at once when the worker does not follow it)
    catalogue_ready: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    #: batches whose outputs are in flight; marks input processed once they are delivered (stream.delivery)
    delivery: DeliveryPipeline = dataclasses.field(init=False)
    metrics: WorkerMetrics = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.delivery = DeliveryPipeline(
            self.mark_processed, on_failure=self.delivery_failed, depth=self.settings.delivery_pipeline_depth
        )
        self.metrics = WorkerMetrics(self.counters, package_version())

    @property
    def rebalancing(self) -> bool:
        return bool(self.app.rebalancing)

    @property
    def recovering(self) -> bool:
        """Whether faust is recovering the tables (it sets ``in_recovery`` on the app while it does)."""
        return bool(getattr(self.app, "in_recovery", False))

    def ready(self) -> bool:
        """Whether the worker answers for its users: no rebalance, and its tables recovered."""
        return not self.rebalancing and not self.recovering

    def owned_ratings_partitions(self) -> list[Any]:
        """The ratings partitions the consumer is assigned now (faust's TPs)."""
        return [tp for tp in self.app.consumer.assignment() if tp.topic == self.settings.ratings_topic]

    def mark_processed(self, partition: int, next_offset: int) -> None:
        """Input of ``partition`` below ``next_offset`` is processed and its outputs delivered: it may be committed."""
        self.app.consumer.mark_processed(TP(self.settings.ratings_topic, partition), next_offset)

    def delivery_failed(self, error: BaseException) -> None:
        log.error(
            "an output of a processed batch was not delivered (%s: %s); reading the partitions of %s again "
            "from the last offsets whose outputs were",
            type(error).__name__,
            error,
            self.settings.ratings_topic,
        )
        if not self.rebalancing:
            self.app.add_future(self.read_again([], from_marked=True))

    async def read_again(self, holes: list[Hole], from_marked: bool = False) -> None:
        """Read each hole's partition again from the first offset its log has there. Restarting the fetcher drops
        what it had fetched but not delivered on every partition, so all the others are read again too, each from
        the next offset the agent expects of it, or (``from_marked``, after a failed delivery) from the last offset
        marked processed, else the committed one."""
        topic, consumer, continuity = self.settings.ratings_topic, self.app.consumer, self.continuity
        again: dict[int, int] = {}
        for hole in holes:
            again[hole.partition] = await first_offset_from(
                self.settings.bootstrap, TP(topic, hole.partition), hole.start, **self.settings.aiokafka_options()
            )
            log.warning(
                "partition %d of %s: offsets %d..%d did not arrive; reading it again from %d",
                hole.partition,
                topic,
                hole.start,
                hole.end,
                again[hole.partition],
            )
        for tp in self.owned_ratings_partitions():
            if tp.partition not in again:
                next_offset = consumer.processed_offset(tp) if from_marked else continuity.next_offset(tp.partition)
                again[tp.partition] = next_offset if next_offset is not None else await consumer.start_offset(tp)
        for partition, offset in again.items():
            continuity.read_again_from(partition, offset)
        if from_marked:
            self.delivery.resume()  # whatever the agent admits from here on is at or after the marked offsets
        await consumer.read_again({TP(topic, p): offset for p, offset in again.items()})

    def consumer_lag(self) -> dict[int, int]:
        """Ratings partition -> messages between the next offset the agent expects and the log end."""
        lag = {}
        for tp in self.owned_ratings_partitions():
            at = self.continuity.next_offset(tp.partition)
            end = self.app.consumer.highwater(tp) if at is not None else None
            if at is not None and end is not None:
                lag[tp.partition] = max(end - at, 0)
        return lag

    def counters(self) -> dict[str, Any]:
        """The processor's running totals and the lag, as the metrics endpoint reads them at each scrape."""
        processor = self.processor
        return {
            "ratings": processor.window.events_total,
            "dead_letters": dict(processor.dead_letter_reasons),
            "drift_flags": processor.window.drift_flags_total,
            "forgets": processor.forgets_applied,
            "users_erased": processor.users_erased,
            "user_lookups": dict(processor.user_lookups),
            "lag": self.consumer_lag(),
            "absolute_error": processor.window.abs_error_total,
            "mae": processor.window.abs_error_total / max(processor.window.events_total, 1),
            "ready": int(self.ready()),
            "delivery_failures": self.delivery.failures,
            "stalls_read_again": self.continuity.stalls,
            "offset_holes_read_again": self.continuity.holes,
            "stale_messages_skipped": self.continuity.stale_skipped,
        }
