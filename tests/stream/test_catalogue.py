"""The items topic's wire format and how a worker applies it (no broker: stream.catalogue, StreamProcessor.on_item)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stream.catalogue import dataset_items, item_message, parse_item
from stream.contracts import ItemRecord
from stream.messages import SchemaError
from stream.processor import StreamProcessor
from stream.settings import Settings
from tests.stream.test_processor import rating
from tests.stream.test_unlearning_contract import CONFIGS, ITEMS, messages_of, run, state_of, stream
from wnn.system_state import differences, snapshot


def test_a_published_item_round_trips():
    value = item_message("9", title="Nine", year=2024, genres=["Sci-Fi"], attributes={"language": "en"})
    assert parse_item(value, b"9") == ItemRecord(
        item="9", title="Nine", year=2024, genres=["Sci-Fi"], attributes={"language": "en"}
    )


@pytest.mark.parametrize(
    "value, key, reason",
    [
        (b'{"v": 1, "item": "9"}', None, "no key"),
        (b'{"v": 1, "item": "9"}', b"8", "differs from its item"),
        (b'{"v": 2, "item": "9"}', b"9", "unsupported item schema version"),
        (b'{"v": 1, "item": "9", "year": 0}', b"9", "is not a year"),
        (b'{"v": 1, "item": "9", "genres": [""]}', b"9", "genre"),
        (b'{"v": 1, "item": "9", "genres": ["a\\u0000b"]}', b"9", "control characters"),
        (b'{"v": 1, "item": "9", "attributes": {"k": 3}}', b"9", "invalid item message"),
        (b'{"v": 1, "item": "9", "colour": "red"}', b"9", "invalid item message"),
        (b'{"v": 1, "item": "9", "title": "' + b"x" * 600 + b'"}', b"9", "title"),
        (b'{"v": 1, "item": "9", "genres": [' + b",".join([b'"g"'] * 65) + b"]}", b"9", "more than 64"),
        (b"{not json", b"9", "not JSON"),
        (b" " * 70_000, b"9", "exceeds"),
    ],
)
def test_a_bad_item_message_is_refused_with_its_reason(value, key, reason):
    with pytest.raises(SchemaError, match=reason):
        parse_item(value, key)


def test_the_processor_applies_descriptions_and_tombstones_and_dead_letters_the_rest(movielens):
    processor = StreamProcessor()
    assert processor.on_item(b"new", item_message("new", title="New", year=2020, genres=["Brand-New Genre"])) is None
    space = processor.space
    idx = space.find("new")
    assert processor.titles["new"] == "New" and space.catalogued[idx]
    slot = space.bucketer.slot("Brand-New Genre")  # an unseen genre string is bucketed onto a declared slot
    assert space.item_bits(idx)["genres"][slot] == 1 and space.item_bits(idx)["genres"].sum() == 1
    letter = processor.on_item(b"new", b'{"v": 1, "item": "new", "year": -5}', partition=0, offset=7)
    assert letter is not None and "is not a year" in json.loads(letter)["reason"]
    assert json.loads(letter)["source_topic"] == "items" and processor.titles["new"] == "New"  # nothing changed
    assert processor.on_item(b"new", None) is None  # a tombstone
    assert "new" not in processor.titles and not space.listable(np.array([idx]))[0]
    assert processor.dead_letter_reasons["item"] == 1


def test_a_catalogue_from_a_dataset_takes_the_items_topic_path(movielens):
    """StreamProcessor(catalogue=...) and the items topic give the same item space, bit for bit."""
    direct, through_topic = StreamProcessor(catalogue=movielens), StreamProcessor()
    for key, value in dataset_items(movielens):
        through_topic.on_item(key, value)
    n = direct.space.n_items
    assert n == through_topic.space.n_items == len(movielens.item_ids)
    assert np.array_equal(direct.space.bits[:n], through_topic.space.bits[:n])
    assert dict(direct.titles) == dict(through_topic.titles)


def test_a_rated_item_withdrawn_keeps_its_ratings_but_leaves_the_lists():
    processor = StreamProcessor(Settings(top_n=3))
    for item in "abcd":
        processor.on_item(item.encode(), item_message(item, genres=["Drama"]))
    ratings = [("u1", "a"), ("u2", "a"), ("u2", "b"), ("u3", "c")]
    out = processor.process_batch([rating(u, i, 5.0, 100 + e) for e, (u, i) in enumerate(ratings)], lambda k, p: None)
    assert out.applied == 4
    [(_, before)] = processor.process_batch([rating("u4", "d", 4.0, 200)], lambda k, p: None).recommendations
    assert "a" in [entry["item"] for entry in json.loads(before)["items"]]
    processor.on_item(b"a", None)
    [(_, after)] = processor.process_batch([rating("u5", "d", 4.0, 201)], lambda k, p: None).recommendations
    assert (
        "a" not in [entry["item"] for entry in json.loads(after)["items"]]
        and processor.space.counts[processor.space.find("a")] == 2
    )


@given(st.text(min_size=1, max_size=30).filter(lambda t: "\x00" not in t), st.integers(1, 9999))
def test_any_valid_description_round_trips(title, year):
    value = item_message("x", title=title, year=year)
    assert parse_item(value, b"x") == ItemRecord(item="x", title=title, year=year)


GENRES = ["Drama", "Comedy", "Sci-Fi", "Noir", "Solarpunk"]
descriptions = st.lists(
    st.tuples(
        st.sampled_from(ITEMS),
        st.lists(st.sampled_from(GENRES), max_size=3),
        st.one_of(st.none(), st.integers(1950, 2030)),
        st.booleans(),  # a tombstone instead
    ),
    max_size=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(CONFIGS)), stream, descriptions, st.integers(0, 1000), st.lists(st.integers(0, 200)))
def test_a_catalogue_change_leaves_the_state_a_system_that_saw_it_first_would_have(
    config_name, events, items, when, cuts
):
    """docs/design.md ("The catalogue on the bus"): descriptions and tombstones applied mid-stream end in the same
    users, item statistics, shares, candidates, predictions and top-10s as the same messages applied before any
    rating."""
    messages = messages_of(events)
    if not messages:
        return
    catalogue = [
        (item.encode(), None if withdrawn else item_message(item, genres=genres, year=year))
        for item, genres, year, withdrawn in items
    ]
    first = StreamProcessor(Settings(share_buckets=2, top_n=5), config=CONFIGS[config_name])
    for key, value in catalogue:
        first.on_item(key, value)
    table_first, _ = run(first, messages, cuts)

    later = StreamProcessor(Settings(share_buckets=2, top_n=5), config=CONFIGS[config_name])
    split = when % (len(messages) + 1)
    table_later, _ = run(later, messages[:split], cuts)
    for key, value in catalogue:
        later.on_item(key, value)
    rest, _ = run(later, messages[split:], cuts, table=table_later)

    last_ts = max(json.loads(m.value).get("ts", 0) for m in messages)
    a, b = state_of(first, table_first, last_ts), state_of(later, rest, last_ts)
    assert not differences(a, b), differences(a, b)
    # the live networks too (brought up to date against the new bits, not read back from the table)
    a = snapshot(first.space, {user: state.wnn for user, state in first.cache.items()}, lists_at=last_ts)
    b = snapshot(later.space, {user: state.wnn for user, state in later.cache.items()}, lists_at=last_ts)
    assert not differences(a, b), differences(a, b)
