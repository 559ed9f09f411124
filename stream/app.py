"""The Faust app: topics, tables, agents and web views, declared; the work is done by :mod:`stream.processor`.

Topics (names take ``Settings.topic_prefix``):

* ``ratings`` (input, key = user id): ratings and forget requests, JSON (:mod:`stream.schemas`).
* ``recommendations`` (key = user id): the refreshed top-N after every rating or forget.
* ``drift-metrics``: one ``kind: "user"`` message per rating, and ``kind: "global"`` aggregates at an interval.
* ``ratings-dlq``: every refused input with its reason; the worker carries on with the next message.

Tables (RocksDB through rocksdict, with changelogs, block cache bounded):

* ``user-wnn``: per-user network and drift state (msgpack), partitioned like ``ratings``.
* ``item-stats``: a *global* table of item-statistics shares keyed ``item@partition``. Each share has one writer
  (the owner of that ratings partition) and every worker reads all of them, so all workers' item spaces converge on
  the same global item signal without locks (see :mod:`wnn.item_stats`).
"""

from __future__ import annotations

import logging

import faust
from faust.types import TP

from stream.processor import StreamProcessor
from stream.schemas import ForgetEvent, SchemaError, dead_letter_message, parse_input
from stream.settings import Settings
from wnn.config import WNNConfig
from wnn.data import DataError, load_dataset
from wnn.network import StateError

log = logging.getLogger(__name__)


def load_catalogue(settings: Settings):
    """Item metadata for the content bits, if a MovieLens folder is available; the worker runs without it."""
    try:
        return load_dataset(settings.data)
    except DataError as exc:
        log.warning("no item catalogue (%s); items get empty content bits", str(exc).splitlines()[0])
        return None


def create_app(settings: Settings | None = None, config: WNNConfig | None = None,
               processor: StreamProcessor | None = None, store: str = "rocksdb://") -> faust.App:
    """Build the app. Everything is a closure over one :class:`StreamProcessor`, exposed as ``app.processor``.

    ``store`` is the table store; unit tests pass ``"memory://"`` to run agents through ``test_context()``.
    """
    settings = settings or Settings()
    processor = processor or StreamProcessor(config, top_n=settings.top_n, cache_size=settings.cache_size,
                                             catalogue=load_catalogue(settings), worker=settings.app_id)
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        store=store,
        datadir=str(settings.state_dir),
        topic_partitions=settings.partitions,
        web_port=settings.web_port,
        web_host="127.0.0.1",
        producer_linger_ms=5,
        consumer_auto_offset_reset="earliest",
    )
    app.processor = processor
    app.settings = settings
    raw = {"key_serializer": "raw", "value_serializer": "raw", "partitions": settings.partitions}
    ratings = app.topic(settings.ratings_topic, **raw)
    recommendations = app.topic(settings.recommendations_topic, **raw)
    drift_metrics = app.topic(settings.drift_topic, **raw)
    dead_letters = app.topic(settings.dlq_topic, **raw)
    store_options = {"driver": "rocksdict", "block_cache_size": settings.block_cache_bytes,
                     "block_cache_compressed_size": settings.block_cache_bytes // 4}
    owned: set[int] = set()

    async def on_share_event(event) -> None:
        processor.on_share(event.key.decode(), event.value, owned)

    # key_type/value_type bytes make faust use the raw codec for the tables and their changelogs.
    users = app.Table("user-wnn", default=None, key_type=bytes, value_type=bytes, partitions=settings.partitions,
                      options=dict(store_options))
    item_stats = app.GlobalTable("item-stats", default=None, key_type=bytes, value_type=bytes,
                                 partitions=settings.partitions, options=dict(store_options),
                                 on_changelog_event=on_share_event)
    app.users_table, app.item_stats_table = users, item_stats
    app.output_topics = {"recommendations": recommendations, "drift-metrics": drift_metrics,
                         "ratings-dlq": dead_letters}

    @item_stats.on_recover
    async def restore_item_space() -> None:
        n = processor.load_shares((k.decode(), v) for k, v in item_stats.items())
        log.info("item space restored from %d item-statistics shares", n)

    @users.on_recover
    async def restore_transitions() -> None:
        n = processor.rebuild_transitions(users.items())
        log.info("next-item signal rebuilt from %d stored user sequences", n)

    @app.on_partitions_assigned.connect
    async def track_assignment(sender, assigned: set[TP], **kwargs) -> None:
        owned.clear()
        owned.update(tp.partition for tp in assigned if tp.topic == settings.ratings_topic)

    @app.on_partitions_revoked.connect
    async def drop_cache(sender, revoked: set[TP], **kwargs) -> None:
        processor.forget_cache()

    @app.agent(ratings)
    async def process(stream) -> None:
        async for event in stream.events():
            message = event.message
            key, value, partition, offset = message.key, event.value, message.partition, message.offset
            try:
                parsed = parse_input(value, key, partition, offset)
                user_key = parsed.user.encode()
                stored = users.get(user_key)
                if isinstance(parsed, ForgetEvent):
                    out = processor.on_forget(parsed, stored, partition, offset)
                else:
                    out = processor.on_rating(parsed, stored, partition, offset)
            except (SchemaError, StateError) as exc:
                reason = str(exc) if isinstance(exc, SchemaError) else f"stored user state unusable: {exc}"
                await dead_letters.send(key=key, value=dead_letter_message(value, reason, partition, offset, key))
                continue
            users[user_key] = out.state
            if out.share_key is not None:
                item_stats[out.share_key.encode()] = out.share
            await recommendations.send(key=user_key, value=out.recommendation)
            if out.drift is not None:
                await drift_metrics.send(key=user_key, value=out.drift)

    @app.timer(interval=settings.drift_interval_s)
    async def report_global_drift() -> None:
        report = processor.global_report()
        if report is not None:
            await drift_metrics.send(key=b"global", value=report)

    @app.page("/health")
    async def health(web, request):
        return web.json({"ok": True, "users_cached": len(processor.cache), "items": processor.space.n_items,
                         "events_total": processor.window.events_total})

    @app.page("/users/{user}/pairs")
    async def user_pairs(web, request, user: str):
        stored = users.get(user.encode())
        if stored is None:
            return web.json({"user": user, "pairs": []})
        return web.json({"user": user, "pairs": processor.user(user, stored).wnn.pairs()})

    return app
