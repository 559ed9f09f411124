"""The consumer-settings extension: the fetch wait reaches aiokafka's fetcher, through faust's transport lookup."""

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer

from stream.transport import SCHEME, Transport, tune_consumer


def test_faust_resolves_our_scheme_to_our_transport():
    from faust.transport import by_url

    assert by_url(f"{SCHEME}://127.0.0.1:9092") is Transport


def test_tune_consumer_sets_the_wait_the_fetcher_is_built_with():
    async def build():
        consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1", fetch_max_wait_ms=1500)
        tune_consumer(consumer, 10)
        # what start() passes to the Fetcher (aiokafka reads it from this attribute)
        value = consumer._fetch_max_wait_ms
        consumer._closed = True
        return value

    assert asyncio.run(build()) == 10


def test_tune_consumer_refuses_a_started_consumer():
    class Started:
        _fetcher = object()

    with pytest.raises(RuntimeError, match="already started"):
        tune_consumer(Started(), 10)


def bare_consumer(guarded=("ratings",)):
    """Only the commit bookkeeping of faust's consumer, without a broker."""
    from collections import defaultdict
    from types import SimpleNamespace

    from stream.transport import Consumer

    consumer = Consumer.__new__(Consumer)
    consumer.app = SimpleNamespace(consumer_guarded_topics=set(guarded))
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
