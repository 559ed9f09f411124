"""The topics' messages, read and written: versioned JSON, so that any producer in any language can join.

Input, on ``ratings`` (key: the user id, as UTF-8):

* rating: ``{"v": 1, "type": "rating", "user": "196", "item": "242", "rating": 3, "ts": 881250949,
  "event_id": 17}``. ``type`` defaults to ``"rating"``; ``event_id`` is optional (default: derived from the Kafka
  partition and offset, see :func:`event_id_from_offset`); ``ts`` is the event time in Unix seconds.
* implicit: ``{"v": 1, "type": "implicit", "user": "196", "item": "242", "ts": 881250949, "liked": true}``, an event
  without stars (a like, a play, a click; ``"liked": false`` a skip), learned as the rating scale's highest (lowest)
  rating (:mod:`wnn.feedback`); ``liked`` defaults to true, ``event_id`` as for a rating.
* forget: ``{"v": 1, "type": "forget", "user": "196", "event_id": 17}`` removes that training pair, or
  ``{"v": 1, "type": "forget", "user": "196", "item": "242"}`` removes every pair of that item.
* forget-user: ``{"v": 1, "type": "forget-user", "user": "196"}`` erases the user: every stored pair, and any later
  rating with an event id at or below the highest the user had.

Outputs are built by :func:`recommendation_message`, :func:`drift_messages` and :func:`dead_letter_message` from the
Structs of :mod:`stream.contracts`, which document their fields and generate their JSON Schemas.
"""

from __future__ import annotations

import base64
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

import msgspec

from stream.contracts import (
    DRIFT_VERSION,
    OUTPUT_VERSION,
    SCHEMA_VERSION,
    BatchDrift,
    CoveredInput,
    DeadLetter,
    DriftRecord,
    FollowedItem,
    ForgetInput,
    ForgetUserInput,
    GlobalDrift,
    ImplicitInput,
    ListedItem,
    RatingInput,
    Recommendations,
    ScoreTerms,
    UserDrift,
)
from wnn.feedback import implicit_rating
from wnn.rating_scale import RatingScale
from wnn.validation import MAX_ID_LENGTH, MAX_INT64, MAX_TS, MIN_INT64

#: The model's input limits (rating scale, event times, 64-bit ids, id length) are the wire's too.
MIN_EVENT_ID, MAX_EVENT_ID = MIN_INT64, MAX_INT64
#: Event ids derived from Kafka coordinates: partition in the high bits, offset in the low 40.
_OFFSET_BITS = 40

T = TypeVar("T")


class SchemaError(ValueError):
    """An input message that cannot be processed; the message text is the reason sent to the dead-letter topic."""


@dataclasses.dataclass(frozen=True)
class RatingEvent:
    user: str
    item: str
    rating: float
    ts: int
    event_id: int


@dataclasses.dataclass(frozen=True)
class ForgetEvent:
    user: str
    event_id: int | None
    item: str | None


@dataclasses.dataclass(frozen=True)
class ForgetUserEvent:
    """Erase a user. ``erase_id`` is the message's own place on the topic (:func:`event_id_from_offset`): the user
    lives on one partition, so it orders the user's erasures, and a redelivered one is recognised by it."""

    user: str
    erase_id: int


InputEvent = RatingEvent | ForgetEvent | ForgetUserEvent


def event_id_from_offset(partition: int, offset: int) -> int:
    """A unique, stable event id from the rating's Kafka coordinates."""
    return (partition << _OFFSET_BITS) | offset


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _InputMessage(msgspec.Struct):
    """The JSON shape of an input message. msgspec decodes and type-checks it in one pass in C (about 0.5 µs,
    against 26 µs for json.loads plus checks in Python); ranges and the semantics are checked after."""

    user: str | int
    v: int = SCHEMA_VERSION
    type: str = "rating"
    item: str | int | None = None
    rating: float | None = None
    ts: float | None = None
    event_id: int | None = None
    liked: bool | None = None


_decode_input = msgspec.json.Decoder(_InputMessage).decode
#: Compact JSON of the output messages (msgspec: the same JSON as json.dumps with compact separators, UTF-8
#: instead of \\u escapes, several times faster).
_encode = msgspec.json.Encoder().encode


def decode_checked(decode: Callable[[bytes | str], T], raw: bytes | str, what: str = "message") -> T:
    """``decode(raw)`` (a msgspec decoder of one message type), its errors as :class:`SchemaError` reasons."""
    try:
        return decode(raw)
    except msgspec.ValidationError as exc:
        raise SchemaError(f"invalid {what}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise SchemaError(f"not JSON: {exc}") from None


def identifier(value: str | int | None, field: str) -> str:
    """An id field as text: a non-empty string or integer of at most MAX_ID_LENGTH characters."""
    if value is None or value == "":
        raise SchemaError(f"field {field!r} must be a non-empty string or integer, got {shown(value)}")
    if isinstance(value, int) and abs(value) >= 10**MAX_ID_LENGTH:
        raise SchemaError(f"field {field!r} is longer than {MAX_ID_LENGTH} characters")
    text = str(value)
    if len(text) > MAX_ID_LENGTH:
        raise SchemaError(f"field {field!r} is longer than {MAX_ID_LENGTH} characters")
    return text


def _event_id(value: int | None) -> int | None:
    if value is not None and not MIN_EVENT_ID <= value <= MAX_EVENT_ID:
        raise SchemaError(f"field 'event_id' = {shown(value)} is outside the signed 64-bit range")
    return value


def parse_input(
    raw: bytes | str | None,
    key: bytes | str | None = None,
    partition: int = 0,
    offset: int = 0,
    max_bytes: int | None = None,
    require_key: bool = False,
    *,
    scale: RatingScale,
) -> InputEvent:
    """Validate one message of the ``ratings`` topic. Raises :class:`SchemaError` with the reason.

    Every field is checked before anything uses it: ratings finite and within the deployment's rating ``scale``,
    ``ts`` an event time in Unix seconds within [0, MAX_TS], event ids signed 64-bit integers, ids at most
    MAX_ID_LENGTH characters.
    With ``require_key`` a message without a key is refused (it would be partitioned at random, away from its
    user's other events).

    >>> from wnn.rating_scale import WHOLE_STARS
    >>> parse_input(b'{"user": "7", "item": 42, "rating": 4, "ts": 881250949, "event_id": 3}', key=b"7",
    ...             scale=WHOLE_STARS)
    RatingEvent(user='7', item='42', rating=4.0, ts=881250949, event_id=3)
    >>> parse_input(b'{"user": "7", "item": "42", "rating": 0.5, "ts": 0}', scale=WHOLE_STARS)
    Traceback (most recent call last):
    ...
    stream.messages.SchemaError: rating 0.5 is outside the rating scale 1..5
    """
    if raw is None:
        raise SchemaError("empty message (tombstone) on the ratings topic")
    if max_bytes is not None and len(raw) > max_bytes:
        raise SchemaError(f"message of {len(raw):,} bytes exceeds the {max_bytes:,}-byte limit")
    if require_key and key is None:
        raise SchemaError("message has no key: ratings must be keyed by their user id")
    doc = decode_checked(_decode_input, raw)
    if doc.v != SCHEMA_VERSION:
        raise SchemaError(f"unsupported schema version {doc.v!r}; this worker reads {SCHEMA_VERSION}")
    user = identifier(doc.user, "user")
    if "\x00" in user:  # the user table keys a user's segments by the user id and a NUL (stream.user_layout)
        raise SchemaError("field 'user' contains a NUL character")
    if key is not None:
        key_text = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        if key_text != user:
            raise SchemaError(
                f"message key {shown(key_text)} differs from its user {user!r}: it would land on the wrong partition"
            )
    if doc.liked is not None and doc.type != "implicit":
        raise SchemaError(f"field 'liked' belongs to implicit events, not to a {doc.type!r}")
    if doc.type == "rating":
        rating = doc.rating
        if rating is None or not math.isfinite(rating):
            raise SchemaError(f"field 'rating' must be a finite number, got {shown(rating)}")
        if not scale.contains(rating):
            raise SchemaError(f"rating {rating:g} is outside the rating scale {scale.low:g}..{scale.high:g}")
        return _rated(doc, user, rating, partition, offset)
    if doc.type == "implicit":
        if doc.rating is not None:
            raise SchemaError("an implicit event carries no 'rating' (send a rating, or 'liked': true or false)")
        return _rated(doc, user, implicit_rating(doc.liked is not False, scale), partition, offset)
    if doc.type == "forget":
        event_id = _event_id(doc.event_id)
        item = identifier(doc.item, "item") if doc.item is not None else None
        if (event_id is None) == (item is None):
            raise SchemaError("a forget needs exactly one of 'event_id' or 'item'")
        return ForgetEvent(user, event_id, item)
    if doc.type == "forget-user":
        if doc.event_id is not None or doc.item is not None or doc.rating is not None:
            raise SchemaError("a forget-user names only the user: it erases every rating of theirs")
        return ForgetUserEvent(user, event_id_from_offset(partition, offset))
    raise SchemaError(
        f"unknown event type {shown(doc.type)} (expected 'rating', 'implicit', 'forget' or 'forget-user')"
    )


def _rated(doc: _InputMessage, user: str, rating: float, partition: int, offset: int) -> RatingEvent:
    """A rating or implicit event's :class:`RatingEvent`, its item, time and event id checked."""
    ts = doc.ts
    if ts is None or not math.isfinite(ts) or not 0 <= ts <= MAX_TS:
        raise SchemaError(f"field 'ts' = {shown(ts)} is not an event time in Unix seconds (0..{MAX_TS})")
    event_id = _event_id(doc.event_id)
    return RatingEvent(
        user,
        identifier(doc.item, "item"),
        rating,
        int(ts),
        event_id if event_id is not None else event_id_from_offset(partition, offset),
    )


def rating_message(user: str, item: str, rating: float, ts: int, event_id: int | None = None) -> bytes:
    """A rating event as producers (and :mod:`wnnrec.replay`) write it."""
    return _encode(RatingInput(user=user, item=item, rating=rating, ts=ts, event_id=event_id))


def implicit_message(user: str, item: str, ts: int, liked: bool = True, event_id: int | None = None) -> bytes:
    """An implicit event (a like, a play, a click; ``liked=False``: a skip) as producers write it."""
    return _encode(ImplicitInput(user=user, item=item, ts=ts, type="implicit", liked=liked, event_id=event_id))


def forget_message(user: str, event_id: int | None = None, item: str | None = None) -> bytes:
    """A forget request: of the stored rating ``event_id``, or of every rating of ``item``."""
    return _encode(ForgetInput(user=user, type="forget", event_id=event_id, item=item))


def forget_user_message(user: str) -> bytes:
    """An erasure request: every rating of the user (see :class:`stream.contracts.ForgetUserInput`)."""
    return _encode(ForgetUserInput(user=user, type="forget-user"))


def covered_event(
    event_id: int | None, offset: int, cause: Literal["rating", "forget"], duplicate: bool = False
) -> CoveredInput:
    """One input a list or drift message covers (see :func:`recommendation_message`)."""
    return CoveredInput(event_id=event_id, offset=offset, cause=cause, duplicate=duplicate)


def score_parts(entry: Mapping[str, Any], titles: Mapping[str, str]) -> ScoreTerms:
    """One listed item's ranking score split into its terms (:func:`wnn.ranking.explain_items`), rounded for JSON:
    ``popularity``, ``sequence`` (and ``followed``: which of the user's items it followed in everyone's
    sequences), ``affinity``, ``rating`` and ``like`` (weighted terms that sum to the score), ``predicted_rating``
    and ``like_probability``."""
    return ScoreTerms(
        **{
            key: round(float(entry[key]), 4)
            for key in ("popularity", "sequence", "affinity", "rating", "like", "predicted_rating", "like_probability")
        },
        followed=[FollowedItem(item=str(f["item"]), title=titles.get(str(f["item"]))) for f in entry["followed"]],
    )


def recommendation_message(
    user: str,
    items: list[str],
    scores: list[float],
    model_version: int,
    partition: int,
    events: list[CoveredInput],
    event_time: int | None,
    n_ratings: int,
    why: list[ScoreTerms] | None = None,
) -> bytes:
    """``recommendations`` value: the user's refreshed top-N after a micro-batch of their inputs
    (:class:`stream.contracts.Recommendations`).

    ``events`` are every input of this user the list reflects, in order; downstream consumers dedupe by
    ``event_id``: after a crash an input may be covered by a second list (at most one micro-batch per partition).
    With the worker's ``list_explanations`` setting each item also carries ``why``, its score split into terms
    (:func:`score_parts`).
    """
    whys: list[ScoreTerms | None] = [*why] if why else [None] * len(items)
    listed = [ListedItem(item=i, score=round(float(s), 5), why=w) for i, s, w in zip(items, scores, whys)]
    return _encode(
        Recommendations(
            v=OUTPUT_VERSION,
            user=user,
            items=listed,
            model_version=model_version,
            partition=partition,
            events=events,
            event_time=event_time,
            n_ratings=n_ratings,
        )
    )


#: A list batch holds lists of at most this many bytes in all (unless one list alone is larger), far under Kafka's
#: message size limit.
LIST_BATCH_BYTES = 256 * 1024


def list_batch_messages(partition: int, lists: list[bytes]) -> list[bytes]:
    """``recommendations`` values of ``kind: "batch"`` (:class:`stream.contracts.ListBatch`) for one input partition's
    micro-batch, from its users' :func:`recommendation_message` values: one message, or several when they hold more
    than :data:`LIST_BATCH_BYTES`. The lists are joined as they are, not encoded again."""
    head = b'{"v":%d,"kind":"batch","partition":%d,"lists":[' % (OUTPUT_VERSION, partition)
    return [head + b",".join(chunk) + b"]}" for chunk in _chunks(lists, len, LIST_BATCH_BYTES)]


def lists_of(doc: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    """The user lists of a ``recommendations`` message (as decoded JSON): the message itself, or each list of a
    ``kind: "batch"`` message. For consumers, whichever ``--list-messages`` the worker runs with:

    >>> [entry["user"] for entry in lists_of({"kind": "batch", "lists": [{"user": "a"}, {"user": "b"}]})]
    ['a', 'b']
    """
    return doc["lists"] if doc.get("kind") == "batch" else [doc]  # read, not copied


def drift_record(
    event_id: int, event_time: int, predicted: float, rating: float, drift: bool, n_ratings: int
) -> DriftRecord:
    """One rating's entry in a :func:`user_drift`."""
    return DriftRecord(
        event_id=event_id,
        event_time=event_time,
        predicted=round(predicted, 4),
        rating=rating,
        error=round(predicted - rating, 4),
        drift=drift,
        n_ratings=n_ratings,
    )


def user_drift(user: str, records: list[DriftRecord], taste_shift: float) -> UserDrift:
    """One user's part of a :func:`drift_messages`: ``records`` has one entry per new rating, in order;
    ``taste_shift`` is the JS divergence of the user's recent vs long-run genre mix after the batch, 0..1."""
    return UserDrift(user=user, records=records, taste_shift=round(taste_shift, 5))


#: A drift message holds the records of at most this many ratings (about 150 bytes each), so that it stays far under
#: Kafka's message size limit however large a micro-batch is.
DRIFT_RECORDS_PER_MESSAGE = 2000


def drift_messages(partition: int, users: list[UserDrift]) -> list[bytes]:
    """``drift-metrics`` values of ``kind: "batch"`` for one input partition's micro-batch
    (:class:`stream.contracts.BatchDrift`): one message, or several when it holds more than
    :data:`DRIFT_RECORDS_PER_MESSAGE` records (a user's records are never split)."""
    chunks = _chunks(users, lambda entry: len(entry.records), DRIFT_RECORDS_PER_MESSAGE)
    return [_encode(BatchDrift(v=DRIFT_VERSION, kind="batch", partition=partition, users=chunk)) for chunk in chunks]


def _chunks(parts: list[T], size: Callable[[T], int], limit: int) -> list[list[T]]:
    """``parts`` in order, cut into runs whose sizes add up to at most ``limit`` (a part larger than that alone
    makes a run of its own); one empty run if there are none.

    >>> _chunks([3, 4, 2, 9, 1], lambda n: n, 7)
    [[3, 4], [2], [9], [1]]
    """
    chunks: list[list[T]] = [[]]
    held = 0
    for part in parts:
        if held and held + size(part) > limit:
            chunks.append([])
            held = 0
        chunks[-1].append(part)
        held += size(part)
    return chunks


def drift_records_of(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every per-rating record of a ``drift-metrics`` message (as decoded JSON), each with its ``user``; none for a
    ``kind: "global"`` report. For consumers:

    >>> doc = {"kind": "batch", "users": [{"user": "u", "records": [{"event_id": 1}], "taste_shift": 0.0}]}
    >>> drift_records_of(doc)
    [{'event_id': 1, 'user': 'u'}]
    """
    if doc.get("kind") != "batch":
        return []
    return [{**record, "user": entry["user"]} for entry in doc["users"] for record in entry["records"]]


def global_drift_message(window: Mapping[str, Any]) -> bytes:
    """``drift-metrics`` value of ``kind: "global"``, emitted at an interval by each worker
    (:class:`stream.contracts.GlobalDrift`)."""
    return _encode(GlobalDrift(v=DRIFT_VERSION, kind="global", **window))


#: A dead letter carries at most this much of the original value (the whole message stays on the input topic at
#: the partition and offset the dead letter names).
DLQ_VALUE_LIMIT = 16 * 1024


def dead_letter_message(
    raw: bytes | None, reason: str, partition: int, offset: int, key: bytes | None, source_topic: str = "ratings"
) -> bytes:
    """``ratings-dlq`` value: the original bytes (text if UTF-8, else base64) and why they were refused.

    ``value_bytes`` is the original size; a value over :data:`DLQ_VALUE_LIMIT` is cut there and marked
    ``"truncated": true``.
    """

    def text(data: bytes | None) -> tuple[str | None, Literal["utf-8", "base64", "none"]]:
        if data is None:
            return None, "none"
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return base64.b64encode(data).decode(), "base64"

    size = None if raw is None else len(raw)
    truncated = size is not None and size > DLQ_VALUE_LIMIT
    value, value_encoding = text(raw[:DLQ_VALUE_LIMIT] if raw is not None and truncated else raw)
    key_text, key_encoding = text(key[: MAX_ID_LENGTH * 4] if key is not None else None)
    return _encode(
        DeadLetter(
            v=SCHEMA_VERSION,
            reason=reason,
            source_topic=source_topic,
            partition=partition,
            offset=offset,
            key=key_text,
            key_encoding=key_encoding,
            value=value,
            value_encoding=value_encoding,
            value_bytes=size,
            truncated=truncated,
        )
    )
