"""The worker's timers: it publishes its item-statistics shares and reports global drift at intervals."""

from __future__ import annotations

import time

from stream.contracts import DRIFT_METRICS
from stream.worker.context import Worker


def register(worker: Worker) -> None:
    """Start both timers on ``worker.app``, at the intervals of the settings."""
    settings = worker.settings

    @worker.app.timer(interval=settings.share_publish_interval_s)
    async def publish_item_shares() -> None:
        publish_shares(worker)

    @worker.app.timer(interval=settings.drift_interval_s)
    async def report_global_drift() -> None:
        report = worker.processor.global_report()
        if report is not None:
            await worker.topics.output(DRIFT_METRICS).send(key=b"global", value=report)
            worker.metrics.observe_sent(DRIFT_METRICS.name, 1)


def publish_shares(worker: Worker) -> None:
    """Send the item-statistics buckets of the partitions whose changes are due to the item-stats changelog
    (:meth:`stream.processor.StreamProcessor.pending_shares`).

    The changelog message is the publication; this worker's local copy of its own buckets is never read."""
    shares = worker.processor.pending_shares(time.monotonic())
    for partition, key, value in shares:
        worker.tables.item_stats.send_changelog(partition, key, value)
    worker.metrics.observe_changelog("item-stats", shares)
