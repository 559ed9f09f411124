"""How a worker (and the benchmark's bare agent) builds its faust app on our transport.

The transport itself, and everything else that reaches inside faust, is :mod:`stream.faust_compat`.
"""

from __future__ import annotations

from typing import Any

from stream.faust_compat import SCHEME, WEB_SCHEME, ConsumerOptions, set_consumer_options
from stream.settings import Settings

#: Batches of one partition the agent's input channel holds before faust pauses fetching it (faust's default of
#: 4,096 is meant for single messages; a batch holds up to ``max_poll_records``).
BATCH_BUFFER_EVENTS = 32


def new_faust_app(
    app_id: str,
    settings: Settings,
    batched_topics: frozenset[str] = frozenset(),
    guarded_topics: frozenset[str] = frozenset(),
    **options: Any,
) -> Any:
    """A faust app on our transport with the consumer settings of ``settings`` (a :class:`stream.settings.Settings`)
    plus ``options``. The worker and the bare agents the benchmark compares it with are all built here, so they
    always run with the same consumer settings.

    ``batched_topics`` are delivered one message per partition per fetch (:class:`stream.faust_compat.BatchMessage`)
    when ``settings.batch_delivery`` is on; on ``guarded_topics`` only what the agent marks processed is committed
    (:class:`stream.faust_compat.Consumer`).
    """
    import faust

    batched = frozenset(batched_topics) if settings.batch_delivery else frozenset()
    if batched:
        options.setdefault("stream_buffer_maxsize", BATCH_BUFFER_EVENTS)

    app = faust.App(
        app_id,
        broker=f"{SCHEME}://{settings.bootstrap}",
        topic_partitions=settings.partitions,
        # faust's own internal topics; the changelogs are created before faust starts (stream.admin.ensure_topics).
        topic_replication_factor=settings.replication_factor or 1,
        consumer_auto_offset_reset="earliest",
        broker_max_poll_records=settings.max_poll_records,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_s,
        broker_rebalance_timeout=settings.session_timeout_s,
        # On the per-message path, also commit after every batch's worth of events. A delivered batch is one event,
        # so on the batch path commits follow commit_interval_s alone (a commit on a count would stop the fetch
        # loop for a broker round trip at every fetch).
        broker_commit_every=settings.batch_max,
        broker_commit_interval=settings.commit_interval_s,
        processing_guarantee=settings.processing_guarantee,
        broker_credentials=settings.faust_credentials(),
        # Only our own views: faust's would serve every table's data without the API token (stream.faust_compat).
        web=f"{WEB_SCHEME}://",
        web_router_enabled=False,
        web_tables_enabled=False,
        web_stats_enabled=False,
        web_graph_enabled=False,
        web_metrics_enabled=False,
        **options,
    )
    set_consumer_options(
        app,
        ConsumerOptions(
            fetch_max_wait_ms=round(settings.fetch_max_wait_s * 1000),
            batched_topics=batched,
            batch_max=settings.batch_max,
            guarded_topics=frozenset(guarded_topics),
        ),
    )
    return app


async def first_offset_from(
    bootstrap: str, tp: Any, offset: int, timeout_s: float = 10.0, **client_options: Any
) -> int:
    """The first offset at or after ``offset`` that the log of ``tp`` really has (a hole in what a consumer saw can
    be real: transaction markers and compaction leave them). Asked with a short-lived consumer outside any group,
    since the worker's consumer is the one that cannot be trusted here."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    partition = TopicPartition(tp.topic, tp.partition)
    probe = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        isolation_level="read_committed",
        **client_options,
    )
    await probe.start()
    try:
        probe.assign([partition])
        probe.seek(partition, offset)
        records = await probe.getmany(partition, timeout_ms=int(timeout_s * 1000), max_records=1)
        found = records.get(partition)
        if not found:
            raise RuntimeError(f"{tp.topic}[{tp.partition}] has no message at or after offset {offset}")
        return found[0].offset
    finally:
        await probe.stop()
