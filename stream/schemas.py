"""Wire formats: versioned JSON on every topic, so that any producer in any language can join.

Input, on ``ratings`` (key: the user id, as UTF-8):

* rating: ``{"v": 1, "type": "rating", "user": "196", "item": "242", "rating": 3, "ts": 881250949,
  "event_id": 17}``. ``type`` defaults to ``"rating"``; ``event_id`` is optional (default: derived from the Kafka
  partition and offset, see :func:`event_id_from_offset`); ``ts`` is the event time in Unix seconds.
* forget: ``{"v": 1, "type": "forget", "user": "196", "event_id": 17}`` removes that training pair, or
  ``{"v": 1, "type": "forget", "user": "196", "item": "242"}`` removes every pair of that item.

Outputs are built by :func:`recommendation_message`, :func:`drift_message` and :func:`dead_letter_message`; their
fields are documented there and in the README.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

SCHEMA_VERSION = 1
MIN_RATING, MAX_RATING = 0.5, 5.0
#: Event ids derived from Kafka coordinates: partition in the high bits, offset in the low 40.
_OFFSET_BITS = 40


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


def event_id_from_offset(partition: int, offset: int) -> int:
    """A unique, stable event id from the rating's Kafka coordinates."""
    return (partition << _OFFSET_BITS) | offset


def _identifier(doc: Mapping[str, Any], field: str) -> str:
    value = doc.get(field)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise SchemaError(f"field {field!r} must be a non-empty string or integer, got {value!r}")
    return str(value)


def _number(doc: Mapping[str, Any], field: str) -> float:
    value = doc.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SchemaError(f"field {field!r} must be a finite number, got {value!r}")
    return float(value)


def parse_input(raw: bytes | str | None, key: bytes | str | None = None, partition: int = 0, offset: int = 0
                ) -> RatingEvent | ForgetEvent:
    """Validate one message of the ``ratings`` topic. Raises :class:`SchemaError` with the reason."""
    if raw is None:
        raise SchemaError("empty message (tombstone) on the ratings topic")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SchemaError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise SchemaError(f"message must be a JSON object, got {type(doc).__name__}")
    version = doc.get("v", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise SchemaError(f"unsupported schema version {version!r}; this worker reads {SCHEMA_VERSION}")
    kind = doc.get("type", "rating")
    user = _identifier(doc, "user")
    if key is not None:
        key_text = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
        if key_text != user:
            raise SchemaError(f"message key {key_text!r} differs from its user {user!r}: it would land on the "
                              "wrong partition")
    if kind == "rating":
        rating = _number(doc, "rating")
        if not MIN_RATING <= rating <= MAX_RATING:
            raise SchemaError(f"rating {rating} is outside {MIN_RATING}..{MAX_RATING}")
        ts = _number(doc, "ts")
        event_id = int(_number(doc, "event_id")) if doc.get("event_id") is not None else \
            event_id_from_offset(partition, offset)
        return RatingEvent(user, _identifier(doc, "item"), rating, int(ts), event_id)
    if kind == "forget":
        event_id = int(_number(doc, "event_id")) if doc.get("event_id") is not None else None
        item = _identifier(doc, "item") if doc.get("item") is not None else None
        if (event_id is None) == (item is None):
            raise SchemaError("a forget needs exactly one of 'event_id' or 'item'")
        return ForgetEvent(user, event_id, item)
    raise SchemaError(f"unknown event type {kind!r} (expected 'rating' or 'forget')")


def rating_message(user: str, item: str, rating: float, ts: int, event_id: int | None = None) -> bytes:
    """A rating event as producers (and :mod:`stream.replay`) write it."""
    doc = {"v": SCHEMA_VERSION, "type": "rating", "user": user, "item": item, "rating": rating, "ts": ts}
    if event_id is not None:
        doc["event_id"] = event_id
    return json.dumps(doc, separators=(",", ":")).encode()


def forget_message(user: str, event_id: int | None = None, item: str | None = None) -> bytes:
    doc: dict[str, Any] = {"v": SCHEMA_VERSION, "type": "forget", "user": user}
    if event_id is not None:
        doc["event_id"] = event_id
    if item is not None:
        doc["item"] = item
    return json.dumps(doc, separators=(",", ":")).encode()


def recommendation_message(user: str, items: list[str], scores: list[float], model_version: int, cause: str,
                           partition: int, offset: int, event_time: int | None, event_id: int | None,
                           n_ratings: int) -> bytes:
    """``recommendations`` value: the user's refreshed top-N.

    Fields: ``v``; ``user``; ``items`` (``[{"item", "score"}]``, best first, none already rated); ``model_version``
    (the WNN state format); ``cause`` (``"rating"`` or ``"forget"``), with the ``partition``, ``offset``,
    ``event_time`` and ``event_id`` of the input that caused it; ``n_ratings`` the user's stored training pairs.
    """
    return json.dumps({
        "v": SCHEMA_VERSION, "user": user,
        "items": [{"item": i, "score": round(float(s), 5)} for i, s in zip(items, scores)],
        "model_version": model_version, "cause": cause, "partition": partition, "offset": offset,
        "event_time": event_time, "event_id": event_id, "n_ratings": n_ratings,
    }, separators=(",", ":")).encode()


def drift_message(user: str, event_id: int, event_time: int, predicted: float, rating: float, drift: bool,
                  taste_shift: float, n_ratings: int) -> bytes:
    """``drift-metrics`` value of ``kind: "user"``, one per rating.

    Fields: ``predicted`` (the WNN's rating before learning this event), ``rating``, ``error`` (predicted minus
    actual), ``drift`` (River PageHinkley on the user's absolute error raised a flag at this event),
    ``taste_shift`` (JS divergence of recent vs long-run genre mix, 0..1), ``n_ratings`` (before this event).
    """
    return json.dumps({
        "v": SCHEMA_VERSION, "kind": "user", "user": user, "event_id": event_id, "event_time": event_time,
        "predicted": round(predicted, 4), "rating": rating, "error": round(predicted - rating, 4), "drift": drift,
        "taste_shift": round(taste_shift, 5), "n_ratings": n_ratings,
    }, separators=(",", ":")).encode()


def global_drift_message(window: Mapping[str, Any]) -> bytes:
    """``drift-metrics`` value of ``kind: "global"``, emitted at an interval by each worker.

    Fields: ``worker``, ``window_s``, ``events``, ``mae`` and ``rmse`` of the window's pre-learning predictions,
    ``drift_flags`` and ``users_drifting`` in the window, ``mean_taste_shift``, ``events_total``.
    """
    return json.dumps({"v": SCHEMA_VERSION, "kind": "global", **window}, separators=(",", ":")).encode()


def dead_letter_message(raw: bytes | None, reason: str, partition: int, offset: int, key: bytes | None) -> bytes:
    """``ratings-dlq`` value: the original bytes (text if UTF-8, else base64) and why they were refused."""
    def text(data: bytes | None) -> tuple[str | None, str]:
        if data is None:
            return None, "none"
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            return base64.b64encode(data).decode(), "base64"

    value, value_encoding = text(raw)
    key_text, key_encoding = text(key)
    return json.dumps({
        "v": SCHEMA_VERSION, "reason": reason, "source_topic": "ratings", "partition": partition, "offset": offset,
        "key": key_text, "key_encoding": key_encoding, "value": value, "value_encoding": value_encoding,
    }, separators=(",", ":")).encode()
