"""The worker's tables: RocksDB through rocksdict, each with a changelog topic, the block cache bounded.

* ``user-wnn``: per-user network, tombstones and partition (msgpack, sealed; laid out by :mod:`stream.user_layout`),
  partitioned like ``ratings``.
* ``item-stats``: a *global* table of item-statistics shares, keyed ``partition:bucket``. Each bucket has one writer
  (the owner of that ratings partition) and every worker reads all of them, so all workers' item spaces converge on
  the same global item signal without locks (see :mod:`wnn.item_stats`). A worker never trusts the buckets of the
  partitions it owns: it re-derives them from those partitions' user states on every recovery
  (:mod:`stream.worker.recovery`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from stream.faust_compat import BULK_RESTORE_OPTION
from stream.settings import Settings
from stream.worker.context import WorkerTables

#: Largest user-table value the changelog and the producer accept (10,000 ratings of 256-character item ids fit).
MAX_STATE_MESSAGE_BYTES = 8 << 20


def declare_tables(app: Any, settings: Settings, on_share: Callable[[Any], Awaitable[None]]) -> WorkerTables:
    """The worker's tables on ``app``; ``on_share`` gets each item-statistics changelog event as it arrives.

    ``key_type``/``value_type`` bytes make faust use the raw codec for the tables and their changelogs. A heavy
    user's state can outgrow Kafka's default 1 MB message: the changelog and the producer allow more. The
    changelogs roll and compact within ``changelog_compaction_lag_s``, so a state superseded by a forget leaves them
    within a bound (docs/operating.md, "Where else a forgotten rating lives").
    """
    store_options = {
        "driver": "rocksdict",
        "block_cache_size": settings.block_cache_bytes,
        "block_cache_compressed_size": settings.block_cache_bytes // 4,
    }
    compaction = changelog_topic_configs(settings)
    users = app.Table(
        "user-wnn",
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        # The users' changelog is the large one: restored in bulk (stream.bulk_restore) on a store that can.
        options={**store_options, BULK_RESTORE_OPTION: settings},
        extra_topic_configs={"max.message.bytes": str(MAX_STATE_MESSAGE_BYTES), **compaction},
    )
    item_stats = app.GlobalTable(
        "item-stats",
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        options=dict(store_options),
        on_changelog_event=on_share,
        extra_topic_configs=compaction,
    )
    return WorkerTables(users=users, item_stats=item_stats)


def changelog_topic_configs(settings: Settings) -> dict[str, str]:
    """Topic settings of the tables' changelogs that bound how long a superseded value stays in them.

    A changelog is compacted: only a key's newest value is kept, but the log cleaner never touches the active
    segment, and by default a segment rolls after 7 days. Rolling segments after ``changelog_compaction_lag_s`` and
    making them compactable by then means a user's state from before a forget is gone from the changelog within
    about twice that (plus the cleaner's back-off of 15 s), and a deleted key's tombstone within a day.

    >>> changelog_topic_configs(Settings(changelog_compaction_lag_s=600))["max.compaction.lag.ms"]
    '600000'
    """
    lag_ms = str(int(settings.changelog_compaction_lag_s * 1000))
    return {
        "segment.ms": lag_ms,
        "max.compaction.lag.ms": lag_ms,
        "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": str(24 * 3600 * 1000),
    }
