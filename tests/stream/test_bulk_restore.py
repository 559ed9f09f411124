"""A changelog restored in bulk leaves a partition's store as faust's own restore leaves it: each key's newest
value, tombstoned keys gone, faust's offset marker at the last record; resumed from a marker, only what follows is
read. On the real broker and real RocksDB (rocksdict in raw mode, as faust opens it)."""

import asyncio
import uuid

import pytest
import rocksdict
from faust.stores.rocksdb import Store as FaustRocksStore
from faust.types import TP
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from stream import bulk_restore
from stream.settings import Settings

OFFSET_KEY = FaustRocksStore.offset_key


@pytest.fixture
def topic(kafka_bootstrap):
    name = f"bulk-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    admin.create_topics([NewTopic(name, num_partitions=2, replication_factor=1)])
    yield name
    admin.delete_topics([name])
    admin.close()


def produce(bootstrap, topic, records):
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for partition, key, value in records:
        producer.send(topic, key=key, value=value, partition=partition)
    producer.flush()
    producer.close()


def store(path):
    return rocksdict.Rdict(str(path), rocksdict.Options(raw_mode=True))


def contents(db):
    return {bytes(k): bytes(v) for k, v in db.items()}


def test_a_changelog_restored_in_bulk_holds_each_keys_newest_value(kafka_bootstrap, topic, tmp_path, monkeypatch):
    records = [(0, b"u%d" % (i % 700), b"v%d" % i) for i in range(3000)]  # overwritten keys, over several fetches
    records += [(0, b"u5", None), (0, b"u6", None), (0, b"u6", b"back")]  # a tombstone, and a key that comes back
    records += [(1, b"w1", b"a"), (1, b"w2", b"b")]
    produce(kafka_bootstrap, topic, records)
    monkeypatch.setattr(bulk_restore, "FETCH_RECORDS", 500)
    dbs = {TP(topic, 0): store(tmp_path / "p0"), TP(topic, 1): store(tmp_path / "p1")}
    dbs[TP(topic, 1)].put(b"w1", b"a")
    dbs[TP(topic, 1)].put(OFFSET_KEY, b"0")  # the store already holds the first record of partition 1
    marker = {TP(topic, 0): None, TP(topic, 1): 0}

    counts = asyncio.run(
        bulk_restore.catch_up(
            Settings(bootstrap=kafka_bootstrap),
            dbs,
            marker.get,
            OFFSET_KEY,
            lambda: rocksdict.WriteBatch(raw_mode=True),
        )
    )

    assert counts == {TP(topic, 0): 3003, TP(topic, 1): 1}
    expected = {}
    for _, key, value in [r for r in records if r[0] == 0]:
        if value is None:
            expected.pop(key, None)
        else:
            expected[key] = value
    assert contents(dbs[TP(topic, 0)]) == {**expected, OFFSET_KEY: b"3002"}
    assert b"u5" not in expected and expected[b"u6"] == b"back" and expected[b"u0"] == b"v2800"
    assert contents(dbs[TP(topic, 1)]) == {b"w1": b"a", b"w2": b"b", OFFSET_KEY: b"1"}


def test_nothing_to_restore_opens_no_consumer():
    assert asyncio.run(bulk_restore.catch_up(Settings(bootstrap="127.0.0.1:1"), {}, dict().get, OFFSET_KEY, list)) == {}
