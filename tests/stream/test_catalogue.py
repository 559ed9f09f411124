"""The items topic's wire format and how a worker applies it (no broker: stream.catalogue, StreamProcessor.on_item)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stream.catalogue import ItemRecord, dataset_items, item_message, parse_item
from stream.processor import StreamProcessor
from stream.schemas import SchemaError
from tests.stream.test_processor import rating


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
    processor = StreamProcessor(top_n=3)
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
