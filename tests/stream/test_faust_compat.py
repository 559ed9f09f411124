"""Pins each behaviour of faust (and aiokafka) that :mod:`stream.faust_compat` relies on: a faust upgrade that
breaks one of these breaks a test here first. The end-to-end behaviour on a broker is in test_integration.py."""

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer
from faust.streams import current_event
from faust.types import TP

from stream.faust_app import new_faust_app
from stream.faust_compat import (
    PREFETCH_BACKOFF_S,
    SCHEME,
    WEB_SCHEME,
    BatchMessage,
    ConsumerOptions,
    FetchedRecords,
    SeekSerials,
    Transport,
    WebServer,
    acting_for,
    consumer_options,
    records_of,
    set_consumer_options,
    tune_consumer,
    tune_fetcher,
    write_table,
)
from stream.settings import Settings


def test_faust_resolves_our_scheme_to_our_transport():
    from faust.transport import by_url

    assert by_url(f"{SCHEME}://127.0.0.1:9092") is Transport


def test_faust_resolves_our_web_scheme_to_the_server_without_faust_views():
    from faust.web.drivers import by_url

    assert by_url(f"{WEB_SCHEME}://") is WebServer
    app = new_faust_app("pin-web", Settings())
    assert type(app.web) is WebServer and not app.web.blueprints._enabled


def test_tune_consumer_sets_the_wait_the_fetcher_is_built_with():
    async def build():
        consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=1500)
        tune_consumer(consumer, 10)
        # what start() passes to the Fetcher (aiokafka reads it from this attribute)
        value = consumer._fetch_max_wait_ms
        consumer._closed = True
        return value

    assert asyncio.run(build()) == 10


def test_tune_fetcher_sets_the_backoff_aiokafka_gives_each_fetch_result():
    from aiokafka.client import AIOKafkaClient
    from aiokafka.consumer.fetcher import Fetcher
    from aiokafka.consumer.subscription_state import SubscriptionState

    async def build():
        fetcher = Fetcher(AIOKafkaClient(bootstrap_servers="127.0.0.1:1"), SubscriptionState())
        default = fetcher._prefetch_backoff
        tune_fetcher(SimpleNamespace(_fetcher=fetcher), PREFETCH_BACKOFF_S)
        tuned = fetcher._prefetch_backoff
        await fetcher.close()
        return default, tuned

    assert asyncio.run(build()) == (0.1, PREFETCH_BACKOFF_S)  # aiokafka's own 100 ms, then ours
    with pytest.raises(RuntimeError, match="not started"):
        tune_fetcher(SimpleNamespace(), PREFETCH_BACKOFF_S)


def test_tune_consumer_refuses_a_started_consumer():
    class Started:
        _fetcher = object()

    with pytest.raises(RuntimeError, match="already started"):
        tune_consumer(Started(), 10)


class FakeApp(SimpleNamespace):
    """An app stand-in that can carry consumer options (they are kept by the app's identity)."""

    __hash__ = object.__hash__


def fake_app(guarded=("ratings",), **attributes) -> FakeApp:
    app = FakeApp(**attributes)
    set_consumer_options(app, ConsumerOptions(guarded_topics=frozenset(guarded)))
    return app


def bare_consumer(guarded=("ratings",)):
    """Only the commit bookkeeping of faust's consumer, without a broker."""
    from collections import defaultdict

    from stream.faust_compat import Consumer

    consumer = Consumer.__new__(Consumer)
    consumer.app = fake_app(guarded)
    consumer._processed = {}
    consumer._acked = defaultdict(list)
    consumer._acked_index = defaultdict(set)
    consumer._gap = defaultdict(__import__("intervaltree").IntervalTree)
    consumer._committed_offset = defaultdict(lambda: None)
    return consumer


def test_a_guarded_partition_commits_only_what_the_agent_marked_processed():
    """faust would commit any run of acknowledged offsets, including messages it dropped in a rebalance."""
    from faust.types import TP

    consumer = bare_consumer()
    tp = TP("ratings", 0)
    consumer._acked[tp].extend(range(100, 150))  # acknowledged by faust, never processed
    assert consumer._new_offset(tp) is None and not consumer._acked[tp]
    consumer.mark_processed(tp, 120)
    consumer.mark_processed(tp, 110)  # marks never go back
    assert consumer._new_offset(tp) == 120
    consumer.forget_progress()
    assert consumer._new_offset(tp) is None


def test_other_topics_keep_faust_commits():
    from faust.types import TP

    consumer = bare_consumer()
    tp = TP("other", 0)
    consumer._acked[tp].extend([5, 6, 7])
    assert consumer._new_offset(tp) == 8


async def test_a_commit_of_guarded_offsets_does_not_wait_for_a_producer_flush():
    """Our marks mean "delivered" already; faust flushes the whole producer before a commit, which under load took
    seconds. Other topics keep faust's commit, flush included."""
    from types import SimpleNamespace

    from faust.types import TP

    calls = []

    async def flush():
        calls.append("flush")

    async def commit(offsets):
        calls.append(("commit", dict(offsets)))
        return True

    consumer = bare_consumer()
    ours, theirs = TP("ratings", 0), TP("other", 0)
    consumer.app = fake_app(
        producer=SimpleNamespace(flush=flush),
        tables=SimpleNamespace(on_commit=lambda offsets: calls.append("tables")),
        monitor=SimpleNamespace(on_tp_commit=lambda offsets: None),
    )
    consumer._commit = commit
    consumer.assignment = lambda: {ours, theirs}
    consumer.log = SimpleNamespace(dev=lambda *a: None, info=lambda *a: None)
    consumer.in_transaction = False
    assert await consumer._commit_offsets({ours: 120})
    assert calls == [("commit", {ours: 120}), "tables"] and consumer._committed_offset[ours] == 120
    calls.clear()
    assert await consumer._commit_offsets({theirs: 8})
    assert calls[0] == "flush" and ("commit", {theirs: 8}) in calls


def record(topic, partition, offset):
    """What aiokafka's fetcher returns for one message (the fields faust's ``_to_message`` reads)."""
    return SimpleNamespace(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=1000,
        timestamp_type=0,
        headers=[],
        key=b"k%d" % offset,
        value=b"v%d" % offset,
        checksum=None,
        serialized_key_size=2,
        serialized_value_size=2,
    )


def fetching_consumer(records, batched=frozenset({"ratings"}), batch_delivery=True):
    """Our consumer, unstarted, whose next fetch returns ``records``: faust's own getmany runs on them."""
    app = new_faust_app(
        "unit-compat",
        Settings(topic_prefix="unit.", batch_delivery=batch_delivery),
        batched_topics=batched,
        store="memory://",
    )
    consumer = app.consumer

    async def wait_next_records(timeout):
        return records, None

    consumer._wait_next_records = wait_next_records
    consumer.highwater = lambda tp: 100
    return app, consumer


async def fetched(consumer):
    return [(tp, message) async for tp, message in consumer.getmany(timeout=1.0)]


def test_a_fetch_reaches_the_agent_as_one_message_per_partition_of_a_batched_topic():
    ratings0, ratings1, changelog = TP("ratings", 0), TP("ratings", 1), TP("changelog", 0)
    _, consumer = fetching_consumer(
        {
            ratings0: [record("ratings", 0, 5), record("ratings", 0, 6)],
            ratings1: [record("ratings", 1, 9)],
            changelog: [record("changelog", 0, 1)],
        }
    )
    got = asyncio.run(fetched(consumer))
    plain = [(tp, m) for tp, m in got if not isinstance(m, BatchMessage)]
    batches = {tp: m for tp, m in got if isinstance(m, BatchMessage)}
    assert [(tp, m.offset) for tp, m in plain] == [(changelog, 1)]  # other topics stay one message each
    assert set(batches) == {ratings0, ratings1}
    # faust's read offset moves past the whole batch; the records keep their own offsets, keys and values
    assert batches[ratings0].offset == 6 and batches[ratings0].tp == ratings0
    event = SimpleNamespace(message=batches[ratings0], value=b"")
    assert records_of(event) == [(0, 5, b"k5", b"v5", 1.0), (0, 6, b"k6", b"v6", 1.0)]  # Kafka's ms as seconds


def test_a_fetch_larger_than_batch_max_is_split():
    ratings0 = TP("ratings", 0)
    app, consumer = fetching_consumer({ratings0: [record("ratings", 0, o) for o in range(5)]})
    set_consumer_options(app, consumer_options(app)._replace(batch_max=2))
    got = asyncio.run(fetched(consumer))
    assert [[r.offset for r in m.records] for _, m in got] == [[0, 1], [2, 3], [4]]
    assert [m.offset for _, m in got] == [1, 3, 4]


def test_without_batch_delivery_every_record_is_its_own_message():
    ratings0 = TP("ratings", 0)
    _, consumer = fetching_consumer(
        {ratings0: [record("ratings", 0, 5), record("ratings", 0, 6)]}, batch_delivery=False
    )
    got = asyncio.run(fetched(consumer))
    assert [m.offset for _, m in got] == [5, 6] and not any(isinstance(m, BatchMessage) for _, m in got)
    event = SimpleNamespace(message=got[0][1], value=b"v5")
    assert records_of(event) == [(0, 5, b"k5", b"v5", 1.0)]


def test_a_batch_overtaken_by_a_rebalance_is_dropped():
    ratings0 = TP("ratings", 0)
    app, consumer = fetching_consumer({ratings0: [record("ratings", 0, 5)]})

    async def rebalance_during_fetch(timeout):
        app.consumer_generation_id = (app.consumer_generation_id or 0) + 1
        return {ratings0: [record("ratings", 0, 5)]}, None

    consumer._wait_next_records = rebalance_during_fetch
    assert asyncio.run(fetched(consumer)) == []


class Event:
    """Stands in for a faust event: faust keeps a weak reference to it and tables read ``message.partition``."""

    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition)


def test_acting_for_sets_and_restores_the_current_event():
    outer, inner = Event(1), Event(3)
    with acting_for(outer):
        assert current_event() is outer
        with acting_for(inner):
            assert current_event().message.partition == 3
        assert current_event() is outer
    assert current_event() is None


def test_acting_for_restores_after_an_error():
    event = Event(2)
    with pytest.raises(KeyError), acting_for(event):
        raise KeyError("x")
    assert current_event() is None


def test_write_table_writes_the_events_partition_and_returns_the_changelog_future():
    app = new_faust_app("unit-compat-table", Settings(topic_prefix="unit."), store="memory://")
    table = app.Table("t", default=None, key_type=bytes, value_type=bytes, partitions=4)
    sent = []

    def send_changelog(partition, key, value, *args, **kwargs):
        sent.append((partition, key, value))
        return "the future"

    table.send_changelog = send_changelog
    event = Event(3)
    assert write_table(table, event, b"user", b"state") == "the future"
    assert sent == [(3, b"user", b"state")]
    with acting_for(event):
        assert table[b"user"] == b"state"


def guarded_fetching_consumer(fetches, batch_delivery=True):
    """:func:`fetching_consumer` on a guarded topic whose consumer thread returns, fetch after fetch, the records of
    ``fetches`` (pairs of records and the partitions sought on the thread after they returned, before faust hands
    them out)."""
    app, consumer = fetching_consumer({}, batch_delivery=batch_delivery)
    set_consumer_options(app, consumer_options(app)._replace(guarded_topics=frozenset({"ratings"})))
    seeks, queue = consumer._thread.seeks, list(fetches)

    async def getmany_of_the_thread(active_partitions, timeout):
        records, sought_after = queue.pop(0)
        fetched = FetchedRecords(records, seeks.serial)
        for tp in sought_after:
            seeks.sought(tp)
        return fetched

    async def wait_next_records(timeout):
        return await consumer._getmany(None, timeout), None

    consumer._thread.getmany = getmany_of_the_thread
    consumer._wait_next_records = wait_next_records
    return consumer


@pytest.mark.parametrize("batch_delivery", [True, False])
def test_records_fetched_before_a_seek_of_their_partition_are_dropped(batch_delivery):
    """aiokafka reads ahead while faust holds the input back (recovery); faust's seek to the committed offset puts
    the position back, and what a fetch returned before that seek (a later offset first) must not reach the agent;
    what a fetch returns after it is from the new position and is kept."""
    ratings0, ratings1 = TP("ratings", 0), TP("ratings", 1)
    consumer = guarded_fetching_consumer(
        [
            ({ratings0: [record("ratings", 0, 7)], ratings1: [record("ratings", 1, 3)]}, [ratings0]),
            ({ratings0: [record("ratings", 0, 6)]}, []),
        ],
        batch_delivery,
    )
    assert [(tp, m.offset) for tp, m in asyncio.run(fetched(consumer))] == [(ratings1, 3)]
    assert [(tp, m.offset) for tp, m in asyncio.run(fetched(consumer))] == [(ratings0, 6)]


def test_seek_to_committed_notes_each_seek_as_it_happens():
    """faust's post-recovery seek runs through our thread, so each partition's seek takes a serial."""
    from stream.faust_compat import ConsumerThread

    thread = ConsumerThread.__new__(ConsumerThread)
    thread.seeks = SeekSerials()
    ratings0, ratings1 = TP("ratings", 0), TP("ratings", 1)
    moved = []

    changelog = TP("changelog", 0)

    class AiokafkaConsumer:
        def assignment(self):
            return [ratings0, ratings1, changelog]

        async def committed(self, tp):
            return {ratings0: 12, ratings1: None, changelog: None}[tp]

        async def beginning_offsets(self, tps):
            return {tp: 4 for tp in tps}

        def seek(self, tp, offset):
            moved.append((tp, offset, thread.seeks.serial))

    async def call_thread(fn, *args):
        return await fn(*args)

    thread._ensure_consumer = AiokafkaConsumer
    thread.call_thread = call_thread
    thread.app = fake_app(("ratings",))
    assert asyncio.run(thread.seek_to_committed()) == {ratings0: 12, ratings1: None, changelog: None}
    # a guarded partition with nothing committed starts at its log's first offset; other topics as aiokafka does
    assert moved == [(ratings0, 12, 0), (ratings1, 4, 1)]
    assert thread.seeks.overtaken(0, ratings0) and thread.seeks.overtaken(1, ratings1)
    assert not thread.seeks.overtaken(2, ratings1) and not thread.seeks.overtaken(0, changelog)


def test_records_of_a_partition_fetched_while_faust_seeks_it_are_dropped_until_it_is_moved():
    """faust hands a fetch out as soon as it returns: records of a partition whose post-rebalance seek has not
    happened yet come from the old position."""
    ratings0, ratings1 = TP("ratings", 0), TP("ratings", 1)
    consumer = guarded_fetching_consumer(
        [({ratings0: [record("ratings", 0, 7)], ratings1: [record("ratings", 1, 3)]}, [])]
    )
    seeks = consumer._thread.seeks
    seeks.sought(ratings1)
    with seeks.pending({ratings0}):
        assert [(tp, m.offset) for tp, m in asyncio.run(fetched(consumer))] == [(ratings1, 3)]
        seeks.sought(ratings0)
        assert not seeks.overtaken(seeks.serial, ratings0)  # moved: what is fetched now is from the new position


@pytest.mark.parametrize("batch_delivery", [True, False])
def test_input_fetched_during_a_rebalance_waits_for_its_end(batch_delivery):
    """faust's streams drop what arrives while flow control is off; input fetched after its partition's
    post-rebalance seek reaches the agent once the rebalance has ended, and not at all if a new one began."""
    ratings0 = TP("ratings", 0)
    consumer = guarded_fetching_consumer(
        [({ratings0: [record("ratings", 0, 5)]}, []), ({ratings0: [record("ratings", 0, 5)]}, [])], batch_delivery
    )
    app = consumer.app

    async def fetch_while_rebalancing(then):
        app.rebalancing = True
        handing_out = asyncio.ensure_future(fetched(consumer))
        await asyncio.sleep(0.05)
        assert not handing_out.done()  # held while the rebalance goes on
        then()
        return [(tp, m.offset) for tp, m in await handing_out]

    def rebalance_ends():
        app.rebalancing = False

    def new_generation_begins():
        app.consumer_generation_id = (app.consumer_generation_id or 0) + 1

    assert asyncio.run(fetch_while_rebalancing(rebalance_ends)) == [(ratings0, 5)]
    assert asyncio.run(fetch_while_rebalancing(new_generation_begins)) == []


def test_faust_fetcher_hands_each_record_to_wait_first_with_the_flow_event():
    """What :meth:`stream.faust_compat.Consumer.wait_first` is for: faust's fetcher calls it once a record."""
    import inspect

    from faust.transport.consumer import Consumer as FaustConsumer

    source = inspect.getsource(FaustConsumer._drain_messages)
    assert "await self.wait_first(" in source and "callback(message), self.suspend_flow.wait()" in source


async def test_a_record_handler_that_does_not_wait_wins_without_a_task(recwarn):
    import gc

    _, consumer = fetching_consumer({})
    handled = []

    async def handler():
        handled.append(asyncio.current_task())
        return "handled"

    consumer._eager = True  # a changelog record, as getmany marks it
    results = await consumer.wait_first(handler(), consumer.suspend_flow.wait())
    assert results.results == ["handled"] and not results.stopped
    assert handled == [asyncio.current_task()]  # run in the caller's task: no task of its own
    results = await consumer.wait_first(handler(), consumer.suspend_flow.wait())  # an input record: faust's path
    assert results.results == ["handled"] and handled[1] is not asyncio.current_task()
    gc.collect()
    assert not [w for w in recwarn if "never awaited" in str(w.message)]  # the flow event's wait was closed


async def test_a_record_handler_that_waits_loses_to_the_flow_event_as_under_mode():
    _, consumer = fetching_consumer({})
    blocked = asyncio.get_running_loop().create_future()
    cleaned = []

    async def handler():
        try:
            await blocked
        finally:
            cleaned.append(True)

    asyncio.get_running_loop().call_later(0.01, consumer.suspend_flow.set)
    consumer._eager = True
    results = await consumer.wait_first(handler(), consumer.suspend_flow.wait())
    await asyncio.sleep(0)
    assert results.results == [True] and blocked.cancelled() and cleaned == [True]


def test_the_worker_users_table_restores_in_bulk_on_our_store(tmp_path):
    from faust.stores import by_url

    from stream.faust_compat import STORE_SCHEME, Store
    from stream.worker.app import create_worker

    assert by_url(f"{STORE_SCHEME}://") is Store
    settings = Settings(state_dir=tmp_path, api_token="t" * 32)
    worker = create_worker(settings)
    users, shares = worker.tables.users.data, worker.tables.item_stats.data
    assert type(users) is Store and users.bulk_restore_settings is settings and users.use_rocksdict
    assert type(shares) is Store and shares.bulk_restore_settings is None  # its changelog events feed the item space


def test_only_records_of_a_tables_changelog_are_marked_to_run_eagerly():
    app, consumer = fetching_consumer({})
    table = app.Table("pin-eager", default=None, partitions=1)
    changelog = TP(table.changelog_topic.get_topic_name(), 0)
    ratings, other = TP("ratings", 0), TP("other", 0)
    records = {
        changelog: [record(changelog.topic, 0, 1)],
        other: [record("other", 0, 2)],
        ratings: [record("ratings", 0, 3)],
    }

    async def wait_next_records(timeout):
        return records, None

    consumer._wait_next_records = wait_next_records

    async def marks():
        return {tp.topic: consumer._eager async for tp, _ in consumer.getmany(timeout=1.0)}

    assert asyncio.run(marks()) == {changelog.topic: True, "other": False, "ratings": False}
    assert not consumer._eager
