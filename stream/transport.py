"""faust's Kafka transport with the consumer settings that matter made configurable.

faust's aiokafka driver builds its consumer with ``fetch_max_wait_ms=1500`` hard-coded. A worker also consumes its
internal topics (table changelogs, always empty while it processes), and a fetch that finds no data waits that long
before it returns; measured on one worker, such fetches held the loop for 11.9 s of a 21 s run.

faust looks up transports by URL scheme, and third-party transports register under the ``faust.transports`` entry
point (see ``pyproject.toml``). ``wnnkafka://host:port`` selects :class:`Transport` here: the same driver, whose
consumer thread sets the fetch wait from ``app.consumer_fetch_max_wait_ms`` on the consumer it builds, before the
consumer starts, and whose consumer commits, on the input topic, only what the agent has processed
(:class:`Consumer`). No installed package is edited.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

log = logging.getLogger(__name__)

#: URL scheme of this transport (``broker="wnnkafka://127.0.0.1:9092"``).
SCHEME = "wnnkafka"
#: faust's own value, used when the app does not say otherwise.
FAUST_FETCH_MAX_WAIT_MS = 1500
#: Log an error every this many seconds while a fetcher stop (before reading partitions again) has not returned.
FETCHER_STOP_WARNING_S = 10.0


def tune_consumer(consumer: Any, fetch_max_wait_ms: int) -> None:
    """Set the fetch wait of an aiokafka consumer that has not started yet.

    aiokafka reads it only when ``start()`` creates the fetcher, and keeps it in ``_fetch_max_wait_ms``; the driver
    gives us the consumer before that, and offers no other way to pass the value. One place, tested.
    """
    if getattr(consumer, "_fetcher", None) is not None:
        raise RuntimeError("the consumer has already started; its fetch wait can no longer change")
    consumer._fetch_max_wait_ms = int(fetch_max_wait_ms)


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """faust's consumer thread; the worker's consumer gets the app's fetch wait."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        tune_consumer(consumer, getattr(self.app, "consumer_fetch_max_wait_ms", FAUST_FETCH_MAX_WAIT_MS))
        return consumer

    async def seek_in_thread(self, tp: Any, offset: int) -> None:
        """Move the fetch position of ``tp``, on the consumer's own event loop.

        faust's ``seek`` calls aiokafka's from the app's loop, in another thread; aiokafka then resolves a future of
        the consumer thread's loop from the wrong thread, and the fault suite saw the consumer thread stop fetching
        and heartbeating for good after such a seek.
        """
        consumer = self._ensure_consumer()

        async def seek() -> None:
            consumer.seek(tp, offset)

        await self.call_thread(seek)

    async def committed(self, tp: Any) -> int | None:
        """The group's committed offset of ``tp``, asked of the broker (aiokafka caches none)."""
        return await self.call_thread(self._ensure_consumer().committed, tp)


class Consumer(faust_aiokafka.Consumer):
    """faust's consumer, with the tuned consumer thread, committing on guarded topics only what the agent says it
    has processed.

    faust commits the highest run of *acknowledged* offsets. But around a rebalance it also acknowledges messages
    that never reached the agent (dropped while the flow is suspended), and it treats a hole in the offsets it
    sees as a gap in the log that a commit may step over; either way a commit can pass input nobody processed, and
    that input is lost for good (the fault suite lost up to 2,000 ratings so). On a guarded topic (the app's
    ``consumer_guarded_topics``) this consumer commits exactly the offset :meth:`mark_processed` last gave for the
    partition in this generation, and nothing before the agent has given one. The agent gives the next offset of
    an unbroken run it has processed and whose output is delivered (see :mod:`stream.offsets`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._processed: dict[Any, int] = {}

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _seek(self, partition: Any, offset: int) -> None:
        await self._thread.seek_in_thread(partition, offset)

    @property
    def guarded_topics(self) -> frozenset[str]:
        return frozenset(getattr(self.app, "consumer_guarded_topics", ()))

    def mark_processed(self, tp: Any, next_offset: int) -> None:
        """Everything of ``tp`` below ``next_offset`` (since the committed offset) is processed and delivered."""
        if next_offset > self._processed.get(tp, -1):
            self._processed[tp] = next_offset

    def forget_progress(self) -> None:
        """Drop every mark (on a rebalance: the next generation starts again from the committed offsets)."""
        self._processed.clear()

    def _new_offset(self, tp: Any) -> int | None:
        if tp.topic not in self.guarded_topics:
            return super()._new_offset(tp)
        # faust's own bookkeeping of acknowledged offsets is not used here; keep it from growing.
        self._acked[tp].clear()
        self._acked_index[tp].clear()
        return self._processed.get(tp)

    async def read_again(self, positions: dict[Any, int]) -> None:
        """Make the fetcher read each partition of ``positions`` again from its offset.

        The fetcher is stopped first (as faust does for a rebalance), so that nothing it fetched before the seek is
        still on its way into the streams after it; faust's own read-offset check would otherwise drop the messages
        read again. Whatever was already queued for the agent still arrives: :mod:`stream.offsets` skips it.
        """
        app = self.app
        stopping = asyncio.ensure_future(app._stop_fetcher())
        waited = 0.0
        while True:  # an earlier stall looked like this stop never returning: say so if it happens again
            done, _ = await asyncio.wait({stopping}, timeout=FETCHER_STOP_WARNING_S)
            if done:
                stopping.result()
                break
            waited += FETCHER_STOP_WARNING_S
            log.error("faust's fetcher has not stopped after %.0f s (to read %s again); flow: %s", waited,
                      sorted(str(tp) for tp in positions), self.flow_report())
        for tp, offset in positions.items():
            await self.seek(tp, offset)
        await app._fetcher.maybe_start()

    async def end_offsets(self, *tps: Any) -> dict[Any, int]:
        """The log end offset of each of ``tps``, asked of the broker."""
        return dict(await self._thread.highwaters(*tps))

    def flow_report(self) -> dict[str, Any]:
        """What faust's and aiokafka's flow control hold back now, for a stall's log line."""
        app = self.app
        thread_consumer = getattr(self._thread, "_consumer", None)
        return {"fetcher": getattr(app._fetcher, "state", "?"), "flow_active": self.flow_active,
                "active": sorted(str(tp) for tp in (self._active_partitions or ())),
                "paused": sorted(str(tp) for tp in self._paused_partitions),
                "buffered": sorted(str(tp) for tp in self._buffered_partitions),
                "client_paused": sorted(str(tp) for tp in (thread_consumer.paused() if thread_consumer else ()))}

    async def start_offset(self, tp: Any) -> int:
        """Where this generation's reading of ``tp`` starts: the group's committed offset, or the log's first
        offset when nothing is committed or retention has deleted what was."""
        committed = await self._thread.committed(tp)
        earliest = (await self._thread.earliest_offsets(tp)).get(tp, 0)
        return earliest if committed is None or committed < earliest else committed


class Transport(faust_aiokafka.Transport):
    """faust's aiokafka transport with :class:`Consumer`."""

    Consumer = Consumer


def new_faust_app(app_id: str, settings: Any, **options: Any) -> Any:
    """A faust app on this transport with the consumer settings of ``settings`` (a :class:`stream.settings.Settings`)
    plus ``options``. The worker and the bare agent the benchmark compares it with are both built here, so they
    always run with the same consumer settings."""
    import faust

    app = faust.App(
        app_id,
        broker=f"{SCHEME}://{settings.bootstrap}",
        topic_partitions=settings.partitions,
        consumer_auto_offset_reset="earliest",
        broker_max_poll_records=settings.max_poll_records,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_s,
        broker_rebalance_timeout=settings.session_timeout_s,
        # Commit after every batch's worth of events, so a crash redelivers at most about one batch per partition.
        broker_commit_every=settings.batch_max,
        broker_commit_interval=settings.commit_interval_s,
        processing_guarantee=settings.processing_guarantee,
        broker_credentials=settings.faust_credentials(),
        **options,
    )
    app.consumer_fetch_max_wait_ms = settings.fetch_max_wait_ms  # read by ConsumerThread above
    return app


async def first_offset_from(bootstrap: str, tp: Any, offset: int, timeout_s: float = 10.0, **client_options: Any
                            ) -> int:
    """The first offset at or after ``offset`` that the log of ``tp`` really has (a hole in what a consumer saw can
    be real: transaction markers and compaction leave them). Asked with a short-lived consumer outside any group,
    since the worker's consumer is the one that cannot be trusted here."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    partition = TopicPartition(tp.topic, tp.partition)
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             isolation_level="read_committed", **client_options)
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
