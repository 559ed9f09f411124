"""The item catalogue on the bus: the compacted ``items`` topic, its wire format, and publishing a MovieLens catalogue.

Key: the item id (UTF-8). Value: ``{"v": 1, "item": "242", "title": "Kolya (1996)", "year": 1996, "genres":
["Comedy"], "attributes": {"language": "cs"}}``; every field but ``v`` and ``item`` is optional. ``attributes`` are
free categorical features, hashed onto the category slots the genres use (:meth:`wnn.item_space.ItemSpace.add_item`),
so a new attribute or genre string never changes the network's wiring. A null value (a Kafka tombstone) withdraws the
item: it leaves every list, and its stored ratings stay (:meth:`wnn.item_space.ItemSpace.withdraw`).

The topic is compacted, so it always holds every item's latest description. Every worker reads all of it when it
starts, before its first rating, and then follows it, applying each change to its item space as it arrives
(:func:`follow`). It is not a faust table: faust's partition assignor finds a global table's changelog only under
its own naming (``{app id}-{table}-changelog``), and a GlobalTable given this topic as its changelog kept the worker
from joining its group; with the name made to match, ratings partitions stalled after start-up in 2 of 3 runs. A
plain consumer without a group, beside faust's, keeps the catalogue out of faust's recovery and rebalances; the topic
itself is the durable copy, so nothing is stored locally.

    wnnrec catalogue publish            # the fetched MovieLens-100K
    wnnrec catalogue publish --data DIR
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import msgspec
from tqdm import tqdm

from stream.admin import create_topics, make_producer
from stream.contracts import ITEM_SCHEMA_VERSION, ITEMS, ItemRecord
from stream.messages import SchemaError, decode_checked, identifier, shown
from stream.settings import Settings
from wnn.item_catalogue import Catalogue

#: Limits of an item description: enough for any catalogue, small enough that a message stays a few KB.
MAX_TITLE_LENGTH = 500
MAX_CATEGORIES = 64
MAX_CATEGORY_LENGTH = 100
MAX_ITEM_MESSAGE_BYTES = 64 * 1024


_decode_item = msgspec.json.Decoder(ItemRecord).decode
_encode = msgspec.json.Encoder().encode


def _category(value: str, what: str) -> str:
    if not value or len(value) > MAX_CATEGORY_LENGTH or any(ord(ch) < 32 for ch in value):
        raise SchemaError(
            f"{what} {shown(value)} must be 1..{MAX_CATEGORY_LENGTH} characters without control characters"
        )
    return value


def parse_item(raw: bytes | None, key: bytes | str | None) -> ItemRecord | None:
    """Validate one message of the ``items`` topic: the item's description, or None for a tombstone (the item is
    withdrawn). Raises :class:`SchemaError` with the reason.

    >>> parse_item(b'{"v": 1, "item": "242", "title": "Kolya (1996)", "year": 1996, "genres": ["Comedy"]}', b"242")
    ItemRecord(item='242', v=1, title='Kolya (1996)', year=1996, genres=['Comedy'], attributes={})
    >>> parse_item(None, b"242") is None
    True
    >>> parse_item(b'{"v": 1, "item": "242", "year": 19960}', b"242")
    Traceback (most recent call last):
    ...
    stream.messages.SchemaError: field 'year' = 19960 is not a year (1..9999)
    """
    if key is None:
        raise SchemaError("item message has no key: the items topic is keyed by item id")
    key_text = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
    identifier(key_text, "key")
    if raw is None:
        return None
    if len(raw) > MAX_ITEM_MESSAGE_BYTES:
        raise SchemaError(f"item message of {len(raw):,} bytes exceeds the {MAX_ITEM_MESSAGE_BYTES:,}-byte limit")
    record = decode_checked(_decode_item, raw, "item message")
    if record.v != ITEM_SCHEMA_VERSION:
        raise SchemaError(f"unsupported item schema version {record.v!r}; this worker reads {ITEM_SCHEMA_VERSION}")
    item = identifier(record.item, "item")
    if item != key_text:
        raise SchemaError(f"message key {shown(key_text)} differs from its item {item!r}")
    if len(record.title) > MAX_TITLE_LENGTH:
        raise SchemaError(f"field 'title' is longer than {MAX_TITLE_LENGTH} characters")
    if record.year is not None and not 1 <= record.year <= 9999:
        raise SchemaError(f"field 'year' = {shown(record.year)} is not a year (1..9999)")
    if len(record.genres) + len(record.attributes) > MAX_CATEGORIES:
        raise SchemaError(f"more than {MAX_CATEGORIES} genres and attributes")
    for genre in record.genres:
        _category(genre, "genre")
    for name, value in record.attributes.items():
        _category(name, "attribute name")
        _category(value, f"attribute {name!r} value")
    return msgspec.structs.replace(record, item=item) if item != record.item else record


def item_message(
    item: str,
    title: str = "",
    year: int | None = None,
    genres: list[str] | None = None,
    attributes: dict[str, str] | None = None,
) -> bytes:
    """An item's description as producers write it on the ``items`` topic (keyed by ``item``)."""
    return _encode(
        ItemRecord(item=item, title=title, year=year, genres=list(genres or []), attributes=dict(attributes or {}))
    )


def dataset_items(dataset: Catalogue) -> list[tuple[bytes, bytes]]:
    """The ``(key, value)`` messages of a MovieLens catalogue: every item with its title, year and genres."""
    messages = []
    for index, item_id in enumerate(dataset.item_ids):
        year = int(dataset.item_years[index])
        messages.append(
            (
                str(item_id).encode(),
                item_message(
                    str(item_id),
                    title=str(dataset.item_titles[index]),
                    year=year if year > 0 else None,
                    genres=list(dataset.item_genres[index]),
                ),
            )
        )
    return messages


class Titles(Mapping[str, str]):
    """The titles of described items: a view of the descriptions, so nothing is kept twice.

    >>> titles = Titles({"242": ItemRecord(item="242", title="Kolya (1996)"), "7": ItemRecord(item="7")})
    >>> dict(titles)
    {'242': 'Kolya (1996)'}
    """

    def __init__(self, descriptions: Mapping[str, ItemRecord]) -> None:
        self._descriptions = descriptions

    def __getitem__(self, item: str) -> str:
        title = self._descriptions[item].title
        if not title:
            raise KeyError(item)
        return title

    def __iter__(self) -> Iterator[str]:
        return (item for item, record in self._descriptions.items() if record.title)

    def __len__(self) -> int:
        return sum(1 for record in self._descriptions.values() if record.title)


async def follow(
    settings: Settings,
    apply: Callable[[bytes | None, bytes | None, int, int], Awaitable[None]],
    caught_up: Callable[[int], None],
    poll_ms: int = 200,
) -> None:
    """Read the whole ``items`` topic from its beginning, then every new message, for as long as the task runs:
    ``apply(key, value, partition, offset)`` for each, ``caught_up(n)`` once the messages there at the start (``n``
    of them) are applied. A consumer without a group (aiokafka), so every worker reads all of it."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        settings.items_topic,
        bootstrap_servers=settings.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **settings.aiokafka_options(),
    )
    await consumer.start()
    try:
        partitions = await _assigned(consumer, settings.items_topic)
        ends = await consumer.end_offsets(partitions)
        applied, reported = 0, False
        while True:
            batches = await consumer.getmany(timeout_ms=poll_ms, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    await apply(record.key, record.value, tp.partition, record.offset)
                    applied += 1
            if not reported and all([await consumer.position(tp) >= ends[tp] for tp in partitions]):
                reported = True
                caught_up(applied)
    finally:
        await consumer.stop()


async def _assigned(consumer: Any, topic: str, timeout_s: float = 30.0) -> list[Any]:
    """The topic's partitions, once the consumer (subscribed without a group: it takes them all) has them."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not consumer.assignment():
        if asyncio.get_running_loop().time() > deadline:
            raise RuntimeError(f"the catalogue topic {topic} does not exist (`wnnrec catalogue publish` creates it)")
        await asyncio.sleep(0.1)
    return sorted(consumer.assignment())


def publish_catalogue(settings: Settings, dataset: Catalogue, progress: bool = True, producer: Any = None) -> int:
    """Put every item of ``dataset`` on the ``items`` topic; returns how many. Publishing the same catalogue again
    changes nothing a worker derives (the topic is compacted and equal descriptions are no-ops)."""
    create_topics(settings, [ITEMS])
    messages = dataset_items(dataset)
    own = producer is None
    producer = producer or make_producer(settings)
    try:
        for key, value in tqdm(messages, desc="catalogue", unit="item", disable=not progress, mininterval=0.5):
            producer.send(settings.items_topic, key=key, value=value)
        producer.flush()
    finally:
        if own:
            producer.close()
    return len(messages)
