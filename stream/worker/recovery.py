"""What a worker does when its partitions change: the rebalance handlers and the tables' recovery.

On an assignment the worker forgets every offset it tracked and every mark it gave (the next generation starts
from the committed offsets); on a revocation it also drops its cached user states. Once faust has recovered the
tables, the worker loads the other workers' item-statistics buckets and re-derives its own partitions' buckets
and next-item counts from the stored users: derived state is rebuilt, never trusted.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from stream.processor import StreamProcessor
from stream.worker.context import Worker

log = logging.getLogger(__name__)


async def apply_share(processor: StreamProcessor, event: Any) -> None:
    """An item-statistics changelog event (another worker's bucket, or a tombstone) into the item space."""
    processor.on_share(event.key, event.value)


def register(worker: Worker) -> None:
    """Connect the handlers to ``worker.app``'s rebalance signals and its tables' recovery."""
    app, tables = worker.app, worker.tables

    @app.on_partitions_assigned.connect
    async def track_assignment(sender: Any, assigned: set[Any], **kwargs: Any) -> None:
        on_assigned(worker, assigned)

    @app.on_partitions_revoked.connect
    async def drop_cache(sender: Any, revoked: set[Any], **kwargs: Any) -> None:
        on_revoked(worker)

    @tables.item_stats.on_recover
    async def load_other_partitions() -> None:
        load_item_shares(worker)

    @tables.users.on_recover
    async def rederive_own_partitions() -> None:
        rederive(worker)


def on_assigned(worker: Worker, assigned: set[Any]) -> None:
    worker.clock.assigned_at = time.monotonic()
    worker.processor.owned = {tp.partition for tp in assigned if tp.topic == worker.settings.ratings_topic}
    forget_positions(worker)


def on_revoked(worker: Worker) -> None:
    worker.processor.forget_cache()
    forget_positions(worker)


def forget_positions(worker: Worker) -> None:
    """Drop the offsets the agent expects, the batches in flight and the marks given: a new generation starts."""
    worker.continuity.reset()
    worker.delivery.reset()
    worker.app.consumer.forget_progress()


def load_item_shares(worker: Worker) -> None:
    processor, table = worker.processor, worker.tables.item_stats
    loaded = sum(processor.on_share(key, value) for key, value in table.items())
    log.info("item space: %d item-statistics buckets of other workers' partitions loaded", loaded)


def rederive(worker: Worker) -> None:
    """Re-derive the item statistics and next-item counts of the owned partitions from their stored users."""
    table = worker.tables.users
    # RocksDB reads each partition in key order, which keeps each user's keys together (stream.user_layout); the
    # memory store of unit tests keeps insertion order, so it is sorted.
    stored = table.items() if worker.store_in_key_order else sorted(table.items())
    info = worker.processor.recover(worker.processor.owned, stored)
    worker.metrics.recovery_seconds.set(time.monotonic() - worker.clock.assigned_at)
    log.info(
        "item statistics and next-item counts re-derived from %d stored users of partitions %s (%d unreadable)",
        info["users"],
        info["partitions"],
        info["unreadable"],
    )
