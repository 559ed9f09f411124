"""Everything this project relies on inside faust (and aiokafka under it), in one module.

faust-streaming 0.15 has no public API for what a worker here needs, so these hooks reach into it. A faust upgrade
has one checklist: this module, and ``tests/stream/test_faust_compat.py``, which pins each behaviour below.

* **Consumer options.** faust builds the consumer itself, from the app, and has no place for what ours needs to know;
  :func:`set_consumer_options` gives an app its :class:`ConsumerOptions`, and the consumer reads them back with
  :func:`consumer_options`.
* **Fetch wait.** faust's aiokafka driver builds its consumer with ``fetch_max_wait_ms=1500`` hard-coded. A worker
  also consumes its internal topics (table changelogs, always empty while it processes), and a fetch that finds no
  data waits that long; measured on one worker, such fetches held the loop for 11.9 s of a 21 s run.
  :class:`ConsumerThread` sets the app's value on the consumer it builds (:func:`tune_consumer`).
* **Prefetch backoff.** aiokafka sends no fetch to a broker while any partition it leads holds fetched records the
  application has not taken, for up to 100 ms per fetch result. The worker's consumer is assigned its tables'
  changelog partitions, which faust reads only while it recovers; each one that the worker's own writes filled
  held every input partition back for 100 ms, and the first second of traffic after a start paid it several times
  (a p99 latency of about 118 ms at 1,000 ratings/s, against 21 ms after that second). :class:`ConsumerThread`
  shortens that wait to :data:`PREFETCH_BACKOFF_S` (:func:`tune_fetcher`).
* **A task per record.** faust's fetcher runs each record's handler under mode's ``Service.wait_first``: four
  tasks and an ``asyncio.wait`` per record, about a third of a table's recovery from its changelog.
  :meth:`Consumer.wait_first` runs a changelog record's handler eagerly (:mod:`stream.eager`) and falls back only
  when it waits; input records keep faust's path.
* **Commits.** :class:`Consumer` commits, on the input topic, only what the agent marked processed (its outputs
  delivered), never faust's run of acknowledged offsets (:meth:`Consumer._new_offset`).
* **Batch delivery.** faust hands every fetched record to the agent as its own message, event and stream step:
  about 120-150 us a rating. On the options' ``batched_topics`` :meth:`Consumer.getmany` yields one
  :class:`BatchMessage` per partition per fetch instead (split at ``batch_max`` records), holding that
  fetch's records of the partition, so the per-message cost is paid once per fetch. It stays faust's message: faust's
  read-offset bookkeeping sees the
  batch's last offset, and the stream acknowledges it like any other.
* **Seeks overtaking fetches.** Records of a guarded partition that a fetch returned before a seek of that
  partition are dropped (:class:`SeekSerials`): they were read from the old position, and the seek brings them
  again. faust's seek to the committed offsets runs through :meth:`ConsumerThread.seek_to_committed` for this.
* **Reading again** from given offsets (:meth:`Consumer.read_again`): faust's fetcher is stopped first, and seeks
  run on the consumer thread's own loop (:meth:`ConsumerThread.seek_in_thread`).
* **Table partitions.** A table picks the partition of a read or write from faust's *current event*;
  :func:`acting_for` sets it to an event of the right partition, and :func:`write_table` writes a value locally
  and returns the changelog delivery's future, which ``Table.__setitem__`` drops.

* **Restore in bulk.** faust restores a table from its changelog record by record, about 125 µs a record.
  :class:`Store` (``wnnrocksdb://``), for a table whose options ask for it, first catches each newly assigned
  partition up in bulk (:mod:`stream.bulk_restore`) and sets faust's own offset marker, so faust's recovery starts
  where that ended.
* **Web routes.** faust's web server mounts its own views beside ours: ``/table/...`` answers any key of any table
  (a user's stored ratings) and ``/router/...`` the cluster's layout, both without our token. :class:`WebServer` is
  faust's aiohttp server with none of faust's own views, so the server answers our routes and nothing else
  (``tests/stream/test_routes.py`` holds it to :data:`stream.api_contract.ROUTES`).

faust looks up transports and web servers by URL scheme, and third-party ones register under the
``faust.transports`` and ``faust.web.drivers`` entry points (see ``pyproject.toml``): ``wnnkafka://host:port``
selects :class:`Transport` here, ``wnnweb://`` :class:`WebServer` and ``wnnrocksdb://`` :class:`Store` (under
``faust.stores``). No installed package is edited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

import rocksdict
from faust import streams as faust_streams
from faust.stores import rocksdb as faust_rocksdb
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from faust.types.tuples import ConsumerMessage
from faust.web.drivers import aiohttp as faust_aiohttp
from mode.services import WaitResults

from stream import bulk_restore, eager

log = logging.getLogger(__name__)

#: URL scheme of this transport (``broker="wnnkafka://127.0.0.1:9092"``).
SCHEME = "wnnkafka"
#: URL scheme of the web server (``web="wnnweb://"``).
WEB_SCHEME = "wnnweb"
#: URL scheme of the table store (``store="wnnrocksdb://"``): faust's RocksDB store with bulk restore.
STORE_SCHEME = "wnnrocksdb"
#: faust's own value, used when the app does not say otherwise.
FAUST_FETCH_MAX_WAIT_MS = 1500
#: How often a fetch of input waits to see whether a rebalance going on has ended.
REBALANCE_POLL_S = 0.005
#: How long aiokafka holds back fetches from a broker while a partition's fetched records wait to be taken
#: (aiokafka's own value is 0.1 s; see the module docstring).
PREFETCH_BACKOFF_S = 0.005
#: Log an error every this many seconds while a fetcher stop (before reading partitions again) has not returned.
FETCHER_STOP_WARNING_S = 10.0


class ConsumerOptions(NamedTuple):
    """What :class:`Consumer` and :class:`ConsumerThread` need to know of the app they consume for."""

    #: how long a fetch that finds no data waits on the broker
    fetch_max_wait_ms: int = FAUST_FETCH_MAX_WAIT_MS
    #: topics delivered as one :class:`BatchMessage` per partition per fetch
    batched_topics: frozenset[str] = frozenset()
    #: the most records one :class:`BatchMessage` holds (None: a whole fetch)
    batch_max: int | None = None
    #: topics whose commits follow :meth:`Consumer.mark_processed` only
    guarded_topics: frozenset[str] = frozenset()


_OPTIONS: weakref.WeakKeyDictionary[Any, ConsumerOptions] = weakref.WeakKeyDictionary()


def set_consumer_options(app: Any, options: ConsumerOptions) -> None:
    """Give ``app``'s consumer ``options`` (before the app starts)."""
    _OPTIONS[app] = options


def consumer_options(app: Any) -> ConsumerOptions:
    """The options given to ``app`` (faust's own behaviour where none were)."""
    return _OPTIONS.get(app, ConsumerOptions())


def tune_consumer(consumer: Any, fetch_max_wait_ms: int) -> None:
    """Set the fetch wait of an aiokafka consumer that has not started yet.

    aiokafka reads it only when ``start()`` creates the fetcher, and keeps it in ``_fetch_max_wait_ms``; the driver
    gives us the consumer before that, and offers no other way to pass the value. One place, tested.
    """
    if getattr(consumer, "_fetcher", None) is not None:
        raise RuntimeError("the consumer has already started; its fetch wait can no longer change")
    consumer._fetch_max_wait_ms = int(fetch_max_wait_ms)


def tune_fetcher(consumer: Any, prefetch_backoff_s: float) -> None:
    """Set the prefetch backoff of a started aiokafka consumer's fetcher.

    aiokafka builds its fetcher in ``start()`` with ``prefetch_backoff`` at its default and offers no way to pass
    another; the fetcher reads ``_prefetch_backoff`` for every fetch result it stores. One place, tested.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None:
        raise RuntimeError("the consumer has not started; it has no fetcher to tune yet")
    fetcher._prefetch_backoff = float(prefetch_backoff_s)


class BatchMessage(ConsumerMessage):
    """One fetch's records of one partition, delivered to the agent as one faust message (see the module docstring).

    Its offset is the last record's, so faust's read offset moves past the whole batch; its value is empty and the
    records (faust's own messages, never tracked or acknowledged one by one) are in :attr:`records`.
    """

    def __init__(self, tp: TP, records: list[ConsumerMessage], generation_id: int | None) -> None:
        last = records[-1]
        super().__init__(
            tp.topic,
            tp.partition,
            last.offset,
            last.timestamp,
            last.timestamp_type,
            [],
            None,
            b"",
            None,
            0,
            0,
            tp,
            generation_id=generation_id,
        )
        self.records = records


class InputRecord(NamedTuple):
    """One input record as the agent sees it; ``timestamp`` is Kafka's (the producer's send time, Unix seconds)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float


def records_of(event: Any) -> list[InputRecord]:
    """Every input record an event carries: a batch's records, or the one message of a plain event
    (``test_context()`` and topics without batch delivery)."""
    message = event.message
    if isinstance(message, BatchMessage):
        return [InputRecord(r.partition, r.offset, r.key, r.value, r.timestamp) for r in message.records]
    return [InputRecord(message.partition, message.offset, message.key, event.value, message.timestamp)]


@contextlib.contextmanager
def acting_for(event: Any) -> Iterator[None]:
    """Make ``event`` faust's current event inside the block, so that tables read and write its partition.

    A batch from ``Stream.take_events`` holds events of several partitions, but the current event is only the last
    one; a write for a user of another partition would land in the wrong RocksDB partition and changelog partition.
    faust 0.15 has no public API to address a table partition, so this sets its private context variable and
    restores it after.
    """
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


def write_table(table: Any, event: Any, key: Any, value: Any) -> asyncio.Future[Any]:
    """``table[key] = value`` (``del table[key]`` when ``value`` is None) for the partition of ``event``; returns the
    future of the changelog message's delivery (a None value is the changelog's tombstone for the key).

    ``Table.__setitem__`` writes the local store, then sends the changelog message and drops its future. Here the
    two steps are taken apart (the store through ``table.data``, the message through the public
    ``send_changelog``), so the caller can mark input processed when the change is durable.
    """
    with acting_for(event):
        if value is None:
            table.data.pop(key, None)
        else:
            table.data[key] = value
    return table.send_changelog(event.message.partition, key, value)


class SeekSerials:
    """The order of seeks and fetch returns on the consumer thread's event loop, so that records fetched from a
    partition's old position can be told from those fetched after it was moved.

    aiokafka fetches ahead on every assigned partition, also on those faust holds back (the input partitions while
    the tables recover); faust drops such records silently, and the fetch position has then moved past them. faust's
    seek to the committed offsets after recovery puts the position back, but a fetch that returned just before that
    seek still reaches the stream after it, with a later offset first: a restarted worker met offset 3920 before 3919
    in 6 of 6 restarts tried, and lost seconds reading the hole again. aiokafka itself guarantees that what a fetch
    returns after a seek comes from the new position, so the one thing to know is which came first, on the thread:
    each seek takes the next serial number, and each fetch's records carry the number current when they returned.

    While a seek of several partitions is under way (faust's after a rebalance), those not moved yet are *pending*:
    what is fetched of them still comes from the old position.

    >>> seeks = SeekSerials()
    >>> fetched_at = seeks.serial
    >>> with seeks.pending({"p0", "p1"}):
    ...     seeks.sought("p0")
    ...     seeks.overtaken(fetched_at, "p0"), seeks.overtaken(seeks.serial, "p0"), seeks.overtaken(seeks.serial, "p1")
    (True, False, True)
    >>> seeks.overtaken(seeks.serial, "p1")
    False
    """

    def __init__(self) -> None:
        self.serial = 0
        self._last_seek: dict[Any, int] = {}
        self._pending: set[Any] = set()

    @contextlib.contextmanager
    def pending(self, tps: set[Any]) -> Iterator[None]:
        """``tps`` are about to be moved, one by one, inside the block."""
        self._pending.update(tps)
        try:
            yield
        finally:
            self._pending.difference_update(tps)

    def sought(self, tp: Any) -> None:
        """``tp``'s fetch position was just moved (call on the consumer thread, right after the seek)."""
        self.serial += 1
        self._last_seek[tp] = self.serial
        self._pending.discard(tp)

    def overtaken(self, fetched_at: int, tp: Any) -> bool:
        """Whether the records of ``tp`` that a fetch returned at serial ``fetched_at`` are from an old position: a
        seek of ``tp`` came after them, or is about to."""
        return tp in self._pending or self._last_seek.get(tp, 0) > fetched_at


class FetchedRecords(dict):  # type: ignore[type-arg]
    """One fetch's records (aiokafka's map of partition to records), with the seek serial current when it returned."""

    def __init__(self, records: Any, seek_serial: int) -> None:
        super().__init__(records)
        self.seek_serial = seek_serial


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """faust's consumer thread; the worker's consumer gets the app's fetch wait and a short prefetch backoff."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seeks = SeekSerials()

    async def on_start(self) -> None:
        await super().on_start()
        tune_fetcher(self._consumer, PREFETCH_BACKOFF_S)

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        tune_consumer(consumer, consumer_options(self.app).fetch_max_wait_ms)
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
            self.seeks.sought(tp)

        await self.call_thread(seek)

    async def seek_to_committed(self) -> Any:
        """aiokafka's seek of every assigned partition to its committed offset (faust's after a rebalance), each
        seek noted in :attr:`seeks` as it happens. A guarded partition with nothing committed goes to its log's first
        offset, where :meth:`Consumer.start_offset` says its reading starts (aiokafka would leave it wherever
        fetching ahead had taken it; a committed offset that retention has deleted aiokafka resets itself)."""
        consumer = self._ensure_consumer()
        guarded = consumer_options(self.app).guarded_topics

        async def seek() -> dict[Any, int | None]:
            committed = {}
            for tp in consumer.assignment():
                committed[tp] = offset = await consumer.committed(tp)
                if tp.topic in guarded and offset is None:
                    offset = (await consumer.beginning_offsets([tp]))[tp]
                elif offset is None or offset <= 0:  # aiokafka's own condition
                    continue
                consumer.seek(tp, offset)
                self.seeks.sought(tp)
            return committed

        return await self.call_thread(seek)

    async def _fetch_records(self, *args: Any, **kwargs: Any) -> FetchedRecords:
        records = await super()._fetch_records(*args, **kwargs)
        return FetchedRecords(records, self.seeks.serial)

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
    options' ``guarded_topics``) this consumer commits exactly the offset :meth:`mark_processed` last gave for the
    partition in this generation, and nothing before the agent has given one. The agent gives the next offset of
    an unbroken run it has processed and whose output is delivered (see :mod:`stream.offsets`).
    """

    _thread: ConsumerThread

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._processed: dict[Any, int] = {}
        self._fetched_at: int | None = None  # the seek serial of the records getmany is handing out
        self._eager = False  # whether the record getmany handed out last is a changelog's (see wait_first)

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def wait_first(self, *coros: Any, timeout: Any = None) -> Any:
        """mode's wait for the first of ``coros`` to finish; for a record of a table's changelog, with the first run
        eagerly (:mod:`stream.eager`).

        faust's fetcher calls this once per fetched record, with the record's handler and the flow-control event;
        mode makes four tasks and an ``asyncio.wait`` each time: about a third of a table's recovery from its
        changelog, and paid for every record of the worker's own changelogs that the consumer fetches while it
        processes. Such a handler that finishes without waiting (the usual case) wins here without a task; one that
        waits continues under mode's ``wait_first``. Input records keep faust's own path: run eagerly, a stream's
        handler met its full queue more often than under a task (the fetcher no longer yields between records), and
        the bare per-message agent of the pipeline bench ran about a fifth slower.
        """
        first = coros[0] if coros else None
        eager_record, self._eager = self._eager, False
        if not eager_record or not asyncio.iscoroutine(first) or self._stopped.is_set() or self._crashed.is_set():
            return await super().wait_first(*coros, timeout=timeout)
        finished, outcome = eager.start(first)
        if not finished:
            return await super().wait_first(outcome, *coros[1:], timeout=timeout)
        for other in coros[1:]:
            if asyncio.iscoroutine(other):
                other.close()  # never started: closed, so that nothing warns it was never awaited
        return WaitResults([first], [outcome], False)

    async def _seek(self, partition: Any, offset: int) -> None:
        await self._thread.seek_in_thread(partition, offset)

    async def perform_seek(self) -> None:
        """faust's seek of every assigned partition to its committed offset; until a guarded partition is moved,
        what is fetched of it is dropped (see :class:`SeekSerials`)."""
        with self._thread.seeks.pending(self._guarded(self.assignment())):
            await super().perform_seek()

    def _guarded(self, tps: Any) -> set[Any]:
        guarded = self.guarded_topics
        return {tp for tp in tps if tp.topic in guarded}

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        records = await super()._getmany(active_partitions, timeout)
        self._fetched_at = getattr(records, "seek_serial", None)
        return records

    async def _rebalance_over(self, generation: int) -> bool:
        """Wait for the end of a rebalance that is going on; False if a new consumer generation began meanwhile (its
        own seek to the committed offsets brings the records again) or the consumer is stopping.

        faust resumes the input partitions, and seeks them one by one, before its rebalance ends; what a fetch
        brings of a partition already sought is new input, but a faust stream drops it unseen while flow control is
        still off, and the agent holds back whatever comes while the app is rebalancing. A restarted worker lost its
        first input batches on a partition that way, and then waited for the stall watchdog. Held here, they reach
        the agent as soon as the rebalance has ended.
        """
        app: Any = self.app
        while app.rebalancing and app.consumer_generation_id == generation and not self.should_stop:
            await asyncio.sleep(REBALANCE_POLL_S)
        return app.consumer_generation_id == generation and not self.should_stop

    def _overtaken(self, tp: Any) -> bool:
        """Whether the records of ``tp`` being handed out were fetched before ``tp`` was last moved (guarded topics
        only; see :class:`SeekSerials`)."""
        fetched_at = self._fetched_at
        if fetched_at is None or tp.topic not in self.guarded_topics:
            return False
        return self._thread.seeks.overtaken(fetched_at, tp)

    @property
    def guarded_topics(self) -> frozenset[str]:
        return consumer_options(self.app).guarded_topics

    @property
    def batched_topics(self) -> frozenset[str]:
        return consumer_options(self.app).batched_topics

    async def getmany(self, timeout: float) -> Any:
        """faust's fetch, with each partition of a batched topic yielded once per fetch, as a :class:`BatchMessage`
        (or as several, of at most the options' ``batch_max`` records each: what a crash can redeliver per batch).

        faust's own ``getmany`` still does every check (flow control, paused partitions, the consumer generation),
        record by record; a batch that a rebalance overtook while it was being gathered is dropped, as faust drops
        the rest of such a fetch. Records of guarded topics wait for the end of a rebalance
        (:meth:`_rebalance_over`), and those fetched from a position a seek has since moved are dropped
        (:class:`SeekSerials`).
        """
        batched, guarded = self.batched_topics, self.guarded_topics
        generation = self.app.consumer_generation_id
        self._fetched_at = None
        gathered: dict[TP, list[Any]] = {}
        changelogs = self.app.tables.changelog_topics
        async for tp, message in super().getmany(timeout):
            if tp.topic in batched:
                gathered.setdefault(tp, []).append(message)
            elif tp.topic not in guarded or (await self._rebalance_over(generation) and not self._overtaken(tp)):
                self._eager = tp.topic in changelogs  # read by wait_first, which faust calls for this record next
                yield tp, message
        self._eager = False
        if not gathered or not await self._rebalance_over(generation):
            return
        limit = consumer_options(self.app).batch_max or None
        for tp, records in gathered.items():
            if self._overtaken(tp):
                continue
            for start in range(0, len(records), limit or len(records)):
                yield tp, BatchMessage(tp, records[start : start + limit] if limit else records, generation)

    def mark_processed(self, tp: Any, next_offset: int) -> None:
        """Everything of ``tp`` below ``next_offset`` (since the committed offset) is processed and delivered."""
        if next_offset > self._processed.get(tp, -1):
            self._processed[tp] = next_offset

    def processed_offset(self, tp: Any) -> int | None:
        """The last offset :meth:`mark_processed` gave for ``tp`` in this generation, if any."""
        return self._processed.get(tp)

    def forget_progress(self) -> None:
        """Drop every mark (on a rebalance: the next generation starts again from the committed offsets)."""
        self._processed.clear()

    def _new_offset(self, tp: Any) -> int | None:
        if tp.topic not in self.guarded_topics:
            return super()._new_offset(tp)
        # faust's own bookkeeping of acknowledged offsets and gaps is not used here; keep it from growing (a batch's
        # offset steps over its records, which faust notes as a gap).
        self._acked[tp].clear()
        self._acked_index[tp].clear()
        self._gap.pop(tp, None)
        return self._processed.get(tp)

    async def _commit_offsets(self, offsets: Any, start_new_transaction: bool = True) -> bool:
        """Commit ``offsets``; for guarded topics only, without faust's producer flush first.

        Outside a transaction faust flushes the whole producer before every commit, so that the outputs of what it
        commits are sent. Our marks already wait for that (:mod:`stream.delivery`), and under load the flush waited
        for everything in flight: the fault suite saw one commit take 2.4 s and a crash then redeliver 7,325 lists,
        for nothing committed since the start.
        """
        if self.in_transaction or any(tp.topic not in self.guarded_topics for tp in offsets):
            return await super()._commit_offsets(offsets, start_new_transaction=start_new_transaction)
        assignment = self.assignment()
        committable = {tp: offset for tp, offset in offsets.items() if tp in assignment}
        if not committable:  # revoked meanwhile: read again by the next owner
            return False
        did_commit = await self._commit(committable)
        if did_commit:
            self.app.tables.on_commit(committable)
        self._committed_offset.update(committable)
        self.app.monitor.on_tp_commit(committable)
        return did_commit

    async def read_again(self, positions: dict[Any, int]) -> None:
        """Make the fetcher read each partition of ``positions`` again from its offset.

        The fetcher is stopped first (as faust does for a rebalance), so that nothing it fetched before the seek is
        still on its way into the streams after it; faust's own read-offset check would otherwise drop the messages
        read again. Whatever was already queued for the agent still arrives: :mod:`stream.offsets` skips it.
        """
        app: Any = self.app  # faust's AppT does not declare the fetcher's private names
        stopping = asyncio.ensure_future(app._stop_fetcher())
        waited = 0.0
        while True:  # an earlier stall looked like this stop never returning: say so if it happens again
            done, _ = await asyncio.wait({stopping}, timeout=FETCHER_STOP_WARNING_S)
            if done:
                stopping.result()
                break
            waited += FETCHER_STOP_WARNING_S
            log.error(
                "faust's fetcher has not stopped after %.0f s (to read %s again); flow: %s",
                waited,
                sorted(str(tp) for tp in positions),
                self.flow_report(),
            )
        for tp, offset in positions.items():
            await self.seek(tp, offset)
        await app._fetcher.maybe_start()

    async def end_offsets(self, *tps: Any) -> dict[Any, int]:
        """The log end offset of each of ``tps``, asked of the broker."""
        return dict(await self._thread.highwaters(*tps))

    def flow_report(self) -> dict[str, Any]:
        """What faust's and aiokafka's flow control hold back now, for a stall's log line."""
        app: Any = self.app  # faust's AppT does not declare the fetcher's private names
        thread_consumer = getattr(self._thread, "_consumer", None)
        return {
            "fetcher": getattr(app._fetcher, "state", "?"),
            "flow_active": self.flow_active,
            "active": sorted(str(tp) for tp in (self._active_partitions or ())),
            "paused": sorted(str(tp) for tp in self._paused_partitions),
            "buffered": sorted(str(tp) for tp in self._buffered_partitions),
            "client_paused": sorted(str(tp) for tp in (thread_consumer.paused() if thread_consumer else ())),
        }

    async def start_offset(self, tp: Any) -> int:
        """Where this generation's reading of ``tp`` starts: the group's committed offset, or the log's first
        offset when nothing is committed or retention has deleted what was."""
        committed = await self._thread.committed(tp)
        earliest = (await self._thread.earliest_offsets(tp)).get(tp, 0)
        return earliest if committed is None or committed < earliest else committed


class Transport(faust_aiokafka.Transport):
    """faust's aiokafka transport with :class:`Consumer`."""

    Consumer = Consumer


class WebServer(faust_aiohttp.Web):
    """faust's aiohttp web server without faust's own views (its table, router, statistics, graph and index pages).

    faust 0.15 can switch most of them off one setting at a time (``web_tables_enabled`` and so on), but not the
    index at ``/``, and a later release may add another; here the lists they come from are empty, so only the
    views the app registers itself are served.
    """

    default_blueprints: ClassVar[list[Any]] = []
    production_blueprints: ClassVar[list[Any]] = []
    debug_blueprints: ClassVar[list[Any]] = []
    optional_blueprints: ClassVar[list[Any]] = []


#: The store option that turns on :class:`Store`'s bulk restore: the settings its consumer connects with.
BULK_RESTORE_OPTION = "bulk_restore"


class Store(faust_rocksdb.Store):
    """faust's RocksDB store; a table whose store options hold :data:`BULK_RESTORE_OPTION` catches each newly assigned
    active partition up with its changelog in bulk (:mod:`stream.bulk_restore`) when faust opens it, before faust's
    recovery reads that changelog from the offset the store then holds."""

    def __init__(self, *args: Any, options: Any = None, **kwargs: Any) -> None:
        options = dict(options or {})
        self.bulk_restore_settings = options.pop(BULK_RESTORE_OPTION, None)
        super().__init__(*args, options=options, **kwargs)

    async def assign_partitions(self, table: Any, tps: Any, generation_id: int = 0) -> None:
        await super().assign_partitions(table, tps, generation_id)
        if self.bulk_restore_settings is None or not self.use_rocksdict:
            return
        standbys, changelogs = self.app.assignor.assigned_standbys(), table.changelog_topic.topics
        stores = {
            tp: self._dbs[tp.partition]
            for tp in tps
            if tp.topic in changelogs and tp not in standbys and tp.partition in self._dbs
        }
        try:
            await bulk_restore.catch_up(
                self.bulk_restore_settings,
                stores,
                self.persisted_offset,
                self.offset_key,
                lambda: rocksdict.WriteBatch(raw_mode=True),
            )
        except Exception as exc:  # each batch carries its offset marker: faust's recovery reads what is left
            log.warning(
                "tables: bulk restore stopped (%s: %s); faust's recovery reads the rest", type(exc).__name__, exc
            )
