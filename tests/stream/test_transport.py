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


def test_the_consumer_holds_holes_back_from_commits_until_confirmed():
    """faust would let the next commit step over a hole it made itself; ours records nothing until confirmed."""
    from collections import defaultdict

    from intervaltree import IntervalTree

    from stream.transport import Consumer

    bare = Consumer.__new__(Consumer)  # only the gap bookkeeping faust's _add_gap touches
    bare._committed_offset = defaultdict(lambda: None)
    bare._gap = defaultdict(IntervalTree)
    asyncio.run(bare._add_gap("tp", 10, 20))
    assert not bare._gap["tp"] and bare.held_gaps == 1
    asyncio.run(bare.confirm_gap("tp", 10, 20))
    assert bare._gap["tp"].overlaps(10, 21)
