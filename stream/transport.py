"""faust's Kafka transport with the consumer settings that matter made configurable.

faust's aiokafka driver builds its consumer with ``fetch_max_wait_ms=1500`` hard-coded. A worker also consumes its
internal topics (table changelogs, always empty while it processes), and a fetch that finds no data waits that long
before it returns; measured on one worker, such fetches held the loop for 11.9 s of a 21 s run.

faust looks up transports by URL scheme, and third-party transports register under the ``faust.transports`` entry
point (see ``pyproject.toml``). ``wnnkafka://host:port`` selects :class:`Transport` here: the same driver, whose
consumer thread sets the fetch wait from ``app.consumer_fetch_max_wait_ms`` on the consumer it builds, before the
consumer starts, and whose consumer never commits over a hole in the input it has not confirmed
(:class:`Consumer`). No installed package is edited.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

#: URL scheme of this transport (``broker="wnnkafka://127.0.0.1:9092"``).
SCHEME = "wnnkafka"
#: faust's own value, used when the app does not say otherwise.
FAUST_FETCH_MAX_WAIT_MS = 1500


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


class Consumer(faust_aiokafka.Consumer):
    """faust's consumer, with the tuned consumer thread and holes in the input held back from commits.

    When faust sees a partition's offsets jump, it records the hole as a gap the next commit may step over, as if
    compaction or transaction markers had made it. But faust also makes such holes itself, when it drops messages
    during a rebalance (see :mod:`stream.offsets`), and committing over those loses input for good. Here a hole is
    only held; the commit stops before it until the agent has read the partition again from the hole and
    :meth:`confirm_gap` says the hole is real.
    """

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _add_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        self.held_gaps = getattr(self, "held_gaps", 0) + 1  # counted for /health; not applied

    def committed_offset(self, tp: Any) -> int | None:
        """The group's committed offset of ``tp`` as this consumer last saw it (set on assignment and by every
        commit); None when nothing is committed."""
        offset = self._committed_offset.get(tp)
        return offset if offset is not None and offset >= 0 else None

    async def confirm_gap(self, tp: Any, offset_from: int, offset_to: int) -> None:
        """Let commits step over ``offset_from .. offset_to`` of ``tp``: the log really has no messages there."""
        await super()._add_gap(tp, offset_from, offset_to)


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
        **options,
    )
    app.consumer_fetch_max_wait_ms = settings.fetch_max_wait_ms  # read by ConsumerThread above
    return app
