"""A user's network as bytes: msgpack of the stored pairs (everything else is derived), with the format version and
the config fingerprint, sealed with a CRC-32 (:mod:`wnn.state_format`), so corrupt or truncated bytes raise
:class:`StateError` instead of loading as a different state. Nothing is ever unpickled.

Format 3 also stored each pair's residual and item code from when it was learned; those are derived now, so a
format-3 state loads with them ignored (format 2, before the checksum, too).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np

from wnn.pairs import COLUMNS, PairLog
from wnn.state_format import StateError, load_document, seal
from wnn.validation import MAX_TS

if TYPE_CHECKING:
    from wnn.item_space import ItemSpace

#: Version of the serialized state layout; bump on any change to :func:`encode`.
FORMAT_VERSION = 4
#: Sealed versions this build reads.
READABLE_VERSIONS = (4, 3)
#: States written before the checksum (format 2) are still read.
UNSEALED_FORMAT_VERSION = 2

#: Version of :func:`encode_segment`'s layout.
SEGMENT_VERSION = 1

#: Stored field -> pair column, in the order they are checked (whole states, then segments).
_FIELDS = {"event_ids": "event_ids", "ratings": "ratings", "ts": "ts"}
_SEGMENT_FIELDS = {"e": "event_ids", "r": "ratings", "t": "ts"}


def _document(data: bytes) -> dict[str, Any]:
    return load_document(data, READABLE_VERSIONS, UNSEALED_FORMAT_VERSION, "user state")


def encode(log: PairLog, fingerprint: str) -> bytes:
    """The bytes of a user's pairs under a config fingerprint."""
    return seal(
        msgpack.packb(
            {
                "v": FORMAT_VERSION,
                "cfg": fingerprint,
                "n": log.n,
                "event_ids": log.event_ids.tobytes(),
                "items": log.keys,
                "ratings": log.ratings.tobytes(),
                "ts": log.ts.tobytes(),
            },
            use_bin_type=True,
        )
    )


def decode(data: bytes, space: ItemSpace) -> PairLog:
    """The pairs of bytes written by :func:`encode`, checked field by field. Raises :class:`StateError` with the
    reason if they are unusable."""
    doc = _document(data)
    fingerprint = space.config.fingerprint()
    if doc.get("cfg") != fingerprint:
        raise StateError(
            "user state was written under a different WNN config (wiring fingerprint "
            f"{doc.get('cfg')!r}, expected {fingerprint!r})"
        )
    return _pairs_of(doc, space, "user state", _FIELDS, "items")


def encode_segment(log: PairLog, start: int = 0, stop: int | None = None) -> bytes:
    """The bytes of a run of a user's pairs stored on its own (one segment of :mod:`stream.user_layout`): the
    fields of :func:`encode` without the fingerprint, which the segment's manifest carries. ``start`` and ``stop``
    choose the run (positions; all pairs by default), read in place."""
    run = slice(start, log.n if stop is None else stop)
    keys = log.keys[run]
    return seal(
        msgpack.packb(
            {
                "v": SEGMENT_VERSION,
                "n": len(keys),
                "e": log.event_ids[run].tobytes(),
                "i": keys,
                "r": log.ratings[run].tobytes(),
                "t": log.ts[run].tobytes(),
            },
            use_bin_type=True,
        )
    )


def decode_segment(data: bytes, space: ItemSpace) -> PairLog:
    """The pairs of bytes written by :func:`encode_segment`, checked as :func:`decode` checks a whole state."""
    return _pairs_of(
        load_document(data, SEGMENT_VERSION, None, "user state segment"),
        space,
        "user state segment",
        _SEGMENT_FIELDS,
        "i",
    )


def _pairs_of(doc: dict[str, Any], space: ItemSpace, what: str, fields: dict[str, str], items_field: str) -> PairLog:
    n = doc.get("n")
    if not isinstance(n, int) or n < 0:
        raise StateError(f"{what} has an invalid pair count {n!r}")
    columns: dict[str, np.ndarray] = {}
    for field, column in fields.items():
        dtype = COLUMNS[column]
        raw = doc.get(field)
        expected = n * np.dtype(dtype).itemsize
        if not isinstance(raw, bytes) or len(raw) != expected:
            got = len(raw) if isinstance(raw, bytes) else type(raw).__name__
            raise StateError(f"{what} field {field!r} is truncated or corrupt: expected {expected} bytes, got {got}")
        columns[column] = np.frombuffer(raw, dtype=dtype).copy()
    items = doc.get(items_field)
    if not isinstance(items, list) or len(items) != n:
        raise StateError(f"{what} field {items_field!r} is missing or has the wrong length")
    ratings = columns["ratings"]
    if not np.isfinite(ratings).all():
        raise StateError(f"{what} holds non-finite ratings")
    scale = space.config.rating_scale
    if n and (ratings.min() < scale.low or ratings.max() > scale.high):
        raise StateError(f"{what} holds ratings outside the rating scale {scale.low:g}-{scale.high:g}")
    if n and (columns["ts"].min() < 0 or columns["ts"].max() > MAX_TS):
        raise StateError(f"{what} holds event times outside 0..10**11 (Unix seconds)")
    if len(set(columns["event_ids"].tolist())) != n:
        raise StateError(f"{what} holds an event id twice")
    try:
        columns["items"] = np.array([space.index(key) for key in items], dtype=np.int64)
    except TypeError as exc:
        raise StateError(f"{what} holds an unusable item id: {exc}") from None
    return PairLog.from_columns(columns, items)


def stored_pairs(data: bytes) -> tuple[list[Hashable], np.ndarray, np.ndarray]:
    """Item ids, ratings and times of a serialized state's pairs, oldest first, without building a network (what
    recovery needs to re-derive the item statistics and next-item counts)."""
    doc = _document(data)
    try:
        items, n = doc["items"], doc["n"]
        if not isinstance(items, list) or len(items) != n:
            raise ValueError("'items' is missing or has the wrong length")
        ratings = np.frombuffer(doc["ratings"], dtype=np.float32, count=n)
        stamps = np.frombuffer(doc["ts"], dtype=np.int64, count=n)
    except Exception as exc:  # includes a non-bytes value and a non-map document
        raise StateError(f"user state is unreadable ({type(exc).__name__}: {exc})") from None
    return items, ratings, stamps
