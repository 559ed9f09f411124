"""The Faust app: topics, tables, agents and web views, declared; the work is done by :mod:`stream.processor`.

Topics (names take ``Settings.topic_prefix``):

* ``ratings`` (input, key = user id): ratings and forget requests, JSON (:mod:`stream.schemas`).
* ``recommendations`` (key = user id): the refreshed top-N after every rating or forget.
* ``drift-metrics``: one ``kind: "user"`` message per rating, and ``kind: "global"`` aggregates at an interval.
* ``ratings-dlq``: every refused input with its reason; the worker carries on with the next message.

Tables (RocksDB through rocksdict, with changelogs, block cache bounded):

* ``user-wnn``: per-user network, tombstones and partition (msgpack, sealed), partitioned like ``ratings``.
* ``item-stats``: a *global* table of item-statistics shares, keyed ``partition:bucket``. Each bucket has one writer
  (the owner of that ratings partition) and every worker reads all of them, so all workers' item spaces converge on
  the same global item signal without locks (see :mod:`wnn.item_stats`). A worker never trusts the buckets of the
  partitions it owns: it re-derives them from those partitions' user states on every recovery.

The agent gets each partition's records of a consumer fetch as one event (:mod:`stream.faust_compat`; with
``--batch-delivery 0`` it gathers single messages with ``Stream.take_events``) and hands them to
:meth:`StreamProcessor.process_batch`; it only moves bytes between Kafka and the processor. It does not wait for a
batch's outputs to be delivered before it takes the next; :mod:`stream.delivery` marks input processed once they are.
The web views are the HTTP API of :mod:`stream.api`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from importlib.metadata import PackageNotFoundError, version

import faust
from faust.types import TP

from stream import catalogue, crash_points
from stream.api import register_api
from stream.delivery import DeliveryPipeline
from stream.faust_compat import acting_for, records_of, write_table
from stream.metrics import WorkerMetrics
from stream.offsets import OffsetContinuity
from stream.processor import Incoming, StreamProcessor
from stream.settings import Settings, changelog_topic_configs
from stream.transport import first_offset_from, new_faust_app
from stream.user_layout import split_key
from wnn.config import WNNConfig

log = logging.getLogger(__name__)

#: Largest user-table value the changelog and the producer accept (10,000 ratings of 256-character item ids fit).
MAX_STATE_MESSAGE_BYTES = 8 << 20
#: The stall watchdog (read_again_if_stalled) reads again when no input reached the agent for this long while an
#: owned partition had more, and it checks this often.
STALL_S = 5.0
STALL_CHECK_S = 1.0
#: A batch still running after this long no longer holds the watchdog back (the agent may be stuck inside it).
BUSY_LIMIT_S = 60.0
#: A rebalance still going on after this long is logged (and again every as long), with the consumer's flow state.
LONG_REBALANCE_S = 30.0


def create_app(
    settings: Settings | None = None,
    config: WNNConfig | None = None,
    processor: StreamProcessor | None = None,
    store: str = "rocksdb://",
    follow_catalogue: bool | None = None,
) -> faust.App:
    """Build the app. Everything is a closure over one :class:`StreamProcessor`, exposed as ``app.processor``.

    ``store`` is the table store; unit tests pass ``"memory://"`` to run agents through ``test_context()``.
    ``follow_catalogue`` (default: with a RocksDB store, i.e. a real worker) reads the ``items`` topic before the
    first rating and follows it; without it the caller gives the processor its catalogue.
    """
    settings = settings or Settings()
    if follow_catalogue is None:
        follow_catalogue = store.startswith("rocksdb")
    token = settings.resolved_api_token()  # refuses to build a worker whose API would be open by accident
    if token is None:
        log.warning(
            "THE HTTP API RUNS WITHOUT AUTHENTICATION (--insecure-no-auth): anyone who reaches %s:%d can "
            "read and delete every user's ratings",
            settings.web_bind,
            settings.web_port,
        )
    config = config or WNNConfig(max_pairs=settings.max_pairs_per_user, rating_scale=settings.rating_scale)
    processor = processor or StreamProcessor(
        config,
        top_n=settings.top_n,
        cache_bytes=int(settings.cache_mib * (1 << 20)),
        worker=settings.app_id,
        share_buckets=settings.share_buckets,
        max_tombstones=settings.tombstones_per_user,
        max_message_bytes=settings.max_message_bytes,
        source_topic=settings.ratings_topic,
        items_topic=settings.items_topic,
        explain_lists=settings.list_explanations,
        segment_pairs=settings.segment_pairs,
    )
    app = new_faust_app(
        settings.faust_id,
        settings,
        batched_topics=frozenset({settings.ratings_topic}),
        store=store,
        datadir=str(settings.state_dir),
        web_port=settings.web_port,
        # The address other workers route API requests to (faust's canonical URL) and the one this one listens on.
        web_host=settings.web_bind if settings.web_bind not in ("0.0.0.0", "::") else socket.gethostname(),
        web_bind=settings.web_bind,
        producer_linger_ms=5,
        producer_max_request_size=MAX_STATE_MESSAGE_BYTES,
    )
    app.processor = processor
    app.settings = settings
    raw = {"key_serializer": "raw", "value_serializer": "raw", "partitions": settings.partitions}
    ratings = app.topic(settings.ratings_topic, **raw)
    recommendations = app.topic(settings.recommendations_topic, **raw)
    drift_metrics = app.topic(settings.drift_topic, **raw)
    dead_letters = app.topic(settings.dlq_topic, **raw)
    store_options = {
        "driver": "rocksdict",
        "block_cache_size": settings.block_cache_bytes,
        "block_cache_compressed_size": settings.block_cache_bytes // 4,
    }

    async def on_share_event(event) -> None:
        processor.on_share(event.key, event.value)

    # key_type/value_type bytes make faust use the raw codec for the tables and their changelogs.
    # A heavy user's state can outgrow Kafka's default 1 MB message: the changelog and the producer allow more.
    # The changelogs roll and compact within changelog_compaction_lag_s, so a state superseded by a forget leaves
    # them within a bound (README, "Where else a forgotten rating lives").
    compaction = changelog_topic_configs(settings)
    users = app.Table(
        "user-wnn",
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        options=dict(store_options),
        extra_topic_configs={"max.message.bytes": str(MAX_STATE_MESSAGE_BYTES), **compaction},
    )
    item_stats = app.GlobalTable(
        "item-stats",
        default=None,
        key_type=bytes,
        value_type=bytes,
        partitions=settings.partitions,
        options=dict(store_options),
        on_changelog_event=on_share_event,
        extra_topic_configs=compaction,
    )

    app.users_table, app.item_stats_table = users, item_stats
    metrics = app.metrics = WorkerMetrics(
        lambda: {
            "ratings": processor.window.events_total,
            "dead_letters": dict(processor.dead_letter_reasons),
            "drift_flags": processor.window.drift_flags_total,
            "forgets": processor.forgets_applied,
            "lag": consumer_lag(),
        }
    )
    app.output_topics = {
        "recommendations": recommendations,
        "drift-metrics": drift_metrics,
        "ratings-dlq": dead_letters,
    }

    def publish_shares(shares) -> None:
        # The changelog message is the publication; the local copy of this worker's own buckets is never read.
        for partition, key, value in shares:
            item_stats.send_changelog(partition, key, value)
        metrics.observe_changelog("item-stats", shares)

    @item_stats.on_recover
    async def load_other_partitions() -> None:
        n = sum(processor.on_share(k, v) for k, v in item_stats.items())
        log.info("item space: %d item-statistics buckets of other workers' partitions loaded", n)

    @users.on_recover
    async def rederive_own_partitions() -> None:
        # RocksDB reads each partition in key order, which keeps each user's keys together (stream.user_layout);
        # the memory store of unit tests keeps insertion order, so it is sorted.
        stored = users.items() if store.startswith("rocksdb") else sorted(users.items())
        info = processor.recover(processor.owned, stored)
        metrics.recovery_seconds.set(time.monotonic() - assigned_at[0])
        log.info(
            "item statistics and next-item counts re-derived from %d stored users of partitions %s (%d unreadable)",
            info["users"],
            info["partitions"],
            info["unreadable"],
        )

    continuity = app.offset_continuity = OffsetContinuity()

    app.consumer_guarded_topics = {settings.ratings_topic}  # read by stream.transport.Consumer

    assigned_at = [time.monotonic()]

    @app.on_partitions_assigned.connect
    async def track_assignment(sender, assigned: set[TP], **kwargs) -> None:
        assigned_at[0] = time.monotonic()
        processor.owned = {tp.partition for tp in assigned if tp.topic == settings.ratings_topic}
        continuity.reset()
        delivery.reset()
        app.consumer.forget_progress()

    rebalancing_since = [0.0, 0.0]  # when the watchdog first saw the current rebalance; when it last warned of it

    @app.on_partitions_revoked.connect
    async def drop_cache(sender, revoked: set[TP], **kwargs) -> None:
        processor.forget_cache()
        continuity.reset()
        delivery.reset()
        app.consumer.forget_progress()

    async def crash_between_segment_and_manifest(writes, representative, inputs: int) -> None:
        """The fault suite's crash point (stream.crash_points): once enough inputs were processed, on the first batch
        whose first user's writes include a segment, deliver those writes up to the user's manifest, then die."""
        crash_points.processed(crash_points.BETWEEN_SEGMENT_AND_MANIFEST, inputs)
        kinds = [parsed[1] if (parsed := split_key(key)) else "" for _, key, _ in writes]
        first = kinds.index("manifest") if "manifest" in kinds else 0
        if "segment" not in kinds[:first] or not crash_points.due(crash_points.BETWEEN_SEGMENT_AND_MANIFEST):
            return
        await asyncio.gather(
            *(write_table(users, representative[partition], key, value) for partition, key, value in writes[:first])
        )
        crash_points.crash(crash_points.BETWEEN_SEGMENT_AND_MANIFEST)

    async def read_again(holes, from_marked: bool = False) -> None:
        """Read each hole's partition again from the first offset its log has there. Restarting the fetcher drops
        what it had fetched but not delivered on every partition, so all the others are read again too, each from
        the next offset the agent expects of it, or (``from_marked``, after a failed delivery) from the last offset
        marked processed, else the committed one."""
        again: dict[int, int] = {}
        for hole in holes:
            again[hole.partition] = await first_offset_from(
                settings.bootstrap,
                TP(settings.ratings_topic, hole.partition),
                hole.start,
                **settings.aiokafka_options(),
            )
            log.warning(
                "partition %d of %s: offsets %d..%d did not arrive; reading it again from %d",
                hole.partition,
                settings.ratings_topic,
                hole.start,
                hole.end,
                again[hole.partition],
            )
        for tp in app.consumer.assignment():
            if tp.topic == settings.ratings_topic and tp.partition not in again:
                next_offset = app.consumer.processed_offset(tp) if from_marked else continuity.next_offset(tp.partition)
                again[tp.partition] = next_offset if next_offset is not None else await app.consumer.start_offset(tp)
        for partition, offset in again.items():
            continuity.read_again_from(partition, offset)
        if from_marked:
            delivery.resume()  # whatever the agent admits from here on is at or after the marked offsets
        await app.consumer.read_again({TP(settings.ratings_topic, p): offset for p, offset in again.items()})

    skipped_in_rebalance: dict[int, int] = {}  # partition -> first offset a batch skipped during a rebalance

    @app.timer(interval=1.0)
    async def seek_skipped_partitions() -> None:
        if not skipped_in_rebalance or app.rebalancing:
            return
        skipped = {
            partition: offset
            for partition, offset in skipped_in_rebalance.items()
            if continuity.expected.get(partition, -1) <= offset
        }  # the others were read again since
        skipped_in_rebalance.clear()
        if skipped:
            # Every owned partition goes back to where the agent expects it (or to its committed offset), which is
            # at or before what was skipped: seeking to the skipped offset itself would step over what came before.
            log.info(
                "partitions %s of %s: reading again, input was skipped during the rebalance",
                sorted(skipped),
                settings.ratings_topic,
            )
            await read_again([])

    last_batch_at = [time.monotonic()]
    batch_since: list[float | None] = [None]  # when the batch the agent is working on began (None: between batches)

    @app.timer(interval=STALL_CHECK_S)
    async def read_again_if_stalled() -> None:
        """A watchdog: when nothing has reached the agent for STALL_S while an owned partition has input beyond
        what the agent expects, read every owned partition again from there. It logs the flow-control state it
        found, since a stall means some fetch path stopped delivering.

        What it measures is the time since input last reached the agent, less the time the agent spent inside a
        batch: processing it and waiting for room in the delivery pipeline (a broker outage holds deliveries, and
        so the agent, there), up to BUSY_LIMIT_S. Deliveries still in flight while the agent waits for input are
        not a stall of input and do not hold the watchdog back."""
        now = time.monotonic()
        if app.rebalancing:
            # A rebalance (and its table recovery) that does not end keeps every input away from the agent and
            # this watchdog quiet: say so, with what the worker is waiting for (the fault suite saw one).
            since = rebalancing_since[0] = rebalancing_since[0] or now
            if now - since > LONG_REBALANCE_S and now - rebalancing_since[1] > LONG_REBALANCE_S:
                rebalancing_since[1] = now
                log.warning(
                    "still rebalancing after %.0f s (recovering: %s); flow: %s",
                    now - since,
                    getattr(app, "in_recovery", None),
                    app.consumer.flow_report(),
                )
            return
        rebalancing_since[:] = [0.0, 0.0]
        if now - last_batch_at[0] < STALL_S:
            return
        if batch_since[0] is not None and now - batch_since[0] < BUSY_LIMIT_S:
            return  # a slow batch (or one waiting for room to deliver during a broker outage) is not a stall
        owned = [tp for tp in app.consumer.assignment() if tp.topic == settings.ratings_topic]
        if not owned:
            return
        try:
            ends = await asyncio.wait_for(app.consumer.end_offsets(*owned), timeout=STALL_S)
        except TimeoutError:
            log.warning("stall check: the consumer thread did not answer within %.0f s", STALL_S)
            return
        starts = {
            tp.partition: await app.consumer.start_offset(tp)
            for tp in owned
            if continuity.next_offset(tp.partition) is None
        }
        behind = continuity.behind({tp.partition: end for tp, end in ends.items()}, starts.__getitem__)
        if not behind:
            return
        continuity.stalls += 1
        log.warning(
            "no input reached the agent for %.0f s while partitions %s of %s have more (next expected, log "
            "end: %s); reading them again. Flow: %s",
            time.monotonic() - last_batch_at[0],
            sorted(behind),
            settings.ratings_topic,
            behind,
            app.consumer.flow_report(),
        )
        last_batch_at[0] = time.monotonic()
        await read_again([])

    def on_delivery_failure(error: BaseException) -> None:
        log.error(
            "an output of a processed batch was not delivered (%s: %s); reading the partitions of %s again "
            "from the last offsets whose outputs were",
            type(error).__name__,
            error,
            settings.ratings_topic,
        )
        if not app.rebalancing:
            app.add_future(read_again([], from_marked=True))

    delivery = app.delivery = DeliveryPipeline(
        lambda partition, next_offset: app.consumer.mark_processed(TP(settings.ratings_topic, partition), next_offset),
        on_failure=on_delivery_failure,
        depth=settings.delivery_pipeline_depth,
    )
    # On the batch path every event is one fetch's records of a partition, processed as soon as it arrives; on the
    # per-message path (and in test_context()) take_events gathers single messages into micro-batches.
    events_per_step = 1 if app.consumer_batched_topics else settings.batch_max

    # The catalogue (stream.catalogue): read whole before the first rating is processed, then followed. Without a
    # broker (test_context(), --embedded) there is nothing to follow: the caller applies the items itself.
    catalogue_ready = asyncio.Event()
    if not follow_catalogue:
        catalogue_ready.set()

    async def apply_item(key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        letter = processor.on_item(key, value, partition, offset)
        if letter is not None:
            log.warning("%s[%d]@%d refused: %s", settings.items_topic, partition, offset, json.loads(letter)["reason"])
            await dead_letters.send(key=key, value=letter)

    def catalogue_caught_up(n: int) -> None:
        if not n:
            log.warning(
                "the catalogue topic %s is empty: items have no content bits until `wnnrec catalogue publish`",
                settings.items_topic,
            )
        log.info("catalogue: %d messages read, %d items described", n, len(processor.descriptions))
        catalogue_ready.set()

    if follow_catalogue:

        @app.task
        async def follow_items() -> None:
            while True:  # the catalogue must not take the worker down: a failed reader starts again from the top
                try:
                    await catalogue.follow(settings, apply_item, catalogue_caught_up)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.error("reading the catalogue topic %s failed (%r); reading it again", settings.items_topic, exc)
                    await asyncio.sleep(1.0)

    @app.agent(ratings)
    async def process(stream) -> None:
        async for events in stream.take_events(events_per_step, within=settings.batch_linger_ms / 1000.0):
            last_batch_at[0] = time.monotonic()
            if not catalogue_ready.is_set():
                await catalogue_ready.wait()
            records = [(event, record) for event in events for record in records_of(event)]
            if app.rebalancing:
                # Until the rebalance ends, the tables may not be recovered and whatever arrives may be left over
                # from the previous generation: it is not processed now. faust's post-recovery seek brings most of
                # it again, but not what was fetched after that seek and before the rebalance ended: those
                # partitions are sought again once it has (seek_skipped_partitions).
                continuity.dropped_in_rebalance += len(records)
                for _, record in records:
                    first = skipped_in_rebalance.get(record.partition, record.offset)
                    skipped_in_rebalance[record.partition] = min(first, record.offset)
                continue
            batch_since[0] = time.monotonic()
            generation = app.consumer_generation_id
            positions = [(record.partition, record.offset) for _, record in records]
            starts = {
                partition: await app.consumer.start_offset(TP(settings.ratings_topic, partition))
                for partition in continuity.unknown_partitions(positions)
            }
            admitted, holes = continuity.admit(positions, starts.get)
            if holes and app.consumer_generation_id == generation:
                await read_again(holes)
            processed = {
                partition: continuity.expected[partition]
                for partition, _ in positions
                if partition in continuity.expected
            }
            representative = {}  # partition -> one of its events: tables address partitions by the current event
            batch = []
            for index in admitted:
                event, (partition, offset, key, value, _) = records[index]
                representative[partition] = event
                batch.append(Incoming(key, value, partition, offset))

            def load(key: bytes, partition: int, representative=representative):
                with acting_for(representative[partition]):
                    return users.get(key)

            started = time.perf_counter()
            out = processor.process_batch(batch, load)
            learned = time.perf_counter()
            if crash_points.ARMED:
                await crash_between_segment_and_manifest(out.states, representative, len(batch))
            outputs = [
                write_table(users, representative[partition], key, value) for partition, key, value in out.states
            ]
            written = time.perf_counter()
            metrics.observe_changelog("user-wnn", out.states)
            for topic, messages in (
                (recommendations, out.recommendations),
                (drift_metrics, out.drift),
                (dead_letters, [(k, v) for k, v, _ in out.dead_letters]),
            ):
                for key, value in messages:
                    outputs.append(topic.send_soon(key=key, value=value))
            # Only input whose outputs (table changelogs included) are delivered may be committed: the pipeline marks
            # the batch's unbroken runs processed once its outputs and every earlier batch's are (stream.delivery).
            # A crash before that redelivers the batch, whose ratings the processor recognises by event id.
            if app.consumer_generation_id == generation:
                delivery.add(processed, outputs)
            sent = time.perf_counter()
            now = time.time()
            for index in admitted:  # each input's age as its output (its list, or its dead letter) goes out
                metrics.input_age_seconds.observe(now - records[index][1].timestamp)
            await delivery.wait_for_room()
            waited = time.perf_counter()
            metrics.batch_events.observe(len(batch))
            metrics.lists_sent.inc(len(out.recommendations))
            for stage, seconds in (
                ("learn", learned - started),
                ("table_write", written - learned),
                ("send", sent - written),
                ("delivery_wait", waited - sent),
            ):
                metrics.stage_seconds.labels(stage).observe(seconds)
            batch_since[0] = None
            last_batch_at[0] = time.monotonic()

    @app.timer(interval=settings.share_publish_interval_s)
    async def publish_item_shares() -> None:
        publish_shares(processor.pending_shares())

    @app.timer(interval=settings.drift_interval_s)
    async def report_global_drift() -> None:
        report = processor.global_report()
        if report is not None:
            await drift_metrics.send(key=b"global", value=report)

    def consumer_lag() -> dict[int, int]:
        lag = {}
        for tp in app.consumer.assignment():
            at = continuity.next_offset(tp.partition) if tp.topic == settings.ratings_topic else None
            end = app.consumer.highwater(tp) if at is not None else None
            if end is not None:
                lag[tp.partition] = max(end - at, 0)
        return lag

    def health_fields() -> dict:
        return {
            "rebalancing": bool(app.rebalancing),
            "recovering": bool(getattr(app, "in_recovery", False)),
            "owned_partitions": sorted(processor.owned),
            "users_cached": len(processor.cache),
            "items": processor.space.n_items,
            "events_total": processor.window.events_total,
            "offset_holes_read_again": continuity.holes,
            "stalls_read_again": continuity.stalls,
            "stale_messages_skipped": continuity.stale_skipped,
            "batches_delivering": delivery.in_flight,
            "delivery_failures": delivery.failures,
            "messages_dropped_in_rebalance": continuity.dropped_in_rebalance,
            "dead_letters": dict(processor.dead_letter_reasons),
        }

    def item_stats_body() -> dict:
        """The worker's live global item statistics (all partitions' shares added up): an audit view."""
        space = processor.space
        stats = (space.statistics(i) for i in range(space.n_items))
        return {
            "owned_partitions": sorted(processor.owned),
            "items": {
                str(space.key(i)): {
                    "count": s.count,
                    "sum": s.total,
                    "projection": list(s.projection),
                    "vector": list(s.vector),
                    "centred": s.centred,
                }
                for i, s in enumerate(stats)
                if s.count
            },
        }

    try:
        package_version = version("wnnrec")
    except PackageNotFoundError:
        package_version = "0+unknown"
    register_api(
        app,
        users,
        ratings,
        processor,
        token,
        processor.titles,
        ready=lambda: not app.rebalancing and not getattr(app, "in_recovery", False),
        health=health_fields,
        item_stats=item_stats_body,
        metrics_text=metrics.exposition,
        version=package_version,
    )

    return app
