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

from wnn.kernels import columns, mode
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

#: Version of :func:`encode_segment`'s layout: 2 stores event ids and times as differences in the narrowest integer
#: type that holds them, and ratings as float16 where that is exact (about half the bytes of version 1).
SEGMENT_VERSION = 2
#: Segment versions this build reads.
READABLE_SEGMENT_VERSIONS = (2, 1)

#: The signed integer types a packed column's differences may take, by the code stored before them.
_NARROW: tuple[type[np.signedinteger[Any]], ...] = (np.int8, np.int16, np.int32, np.int64)

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
    fields of :func:`encode` without the fingerprint, which the segment's manifest carries, packed
    (:data:`SEGMENT_VERSION`). ``start`` and ``stop`` choose the run (positions; all pairs by default), read in place.

    >>> from wnn.config import WNNConfig
    >>> from wnn.item_space import ItemSpace
    >>> space, log = ItemSpace(WNNConfig()), PairLog()
    >>> for e in range(3):
    ...     log.append(10**9 + 7 * e, space.index(str(e)), str(e), 4.5, 880_000_000 + 60 * e)
    >>> data = encode_segment(log)
    >>> decode_segment(data, space).listing() == log.listing(), len(data) < 20 * log.n + 40
    (True, True)
    """
    return seal(msgpack.packb(segment_document(log, start, stop), use_bin_type=True))


def segment_document(log: PairLog, start: int = 0, stop: int | None = None) -> dict[str, Any]:
    """What :func:`encode_segment` seals, as a map: for a document that carries pairs inside its own sealed bytes
    (the open tail of a manifest, :mod:`stream.user_layout`). :func:`segment_pairs` reads it back."""
    run = slice(start, log.n if stop is None else stop)
    keys = log.keys[run]
    ratings = log.ratings[run]
    half = ratings.astype(np.float16)
    return {
        "v": SEGMENT_VERSION,
        "n": len(keys),
        "e": pack_column(log.event_ids[run]),
        "i": keys,
        "r": (half if np.array_equal(half, ratings) else ratings).tobytes(),
        "t": pack_column(log.ts[run]),
    }


def decode_segment(data: bytes, space: ItemSpace) -> PairLog:
    """The pairs of bytes written by :func:`encode_segment` (any of :data:`READABLE_SEGMENT_VERSIONS`), checked as
    :func:`decode` checks a whole state."""
    what = "user state segment"
    return segment_pairs(load_document(data, READABLE_SEGMENT_VERSIONS, None, what), space, what)


def segment_pairs(doc: Any, space: ItemSpace, what: str = "user state segment") -> PairLog:
    """The pairs of a segment's map (:func:`segment_document`, or a version-1 segment's), checked."""
    if not isinstance(doc, dict) or doc.get("v") not in READABLE_SEGMENT_VERSIONS:
        raise StateError(f"{what} is not a segment of a version this build reads")
    if doc["v"] == 1:
        return _pairs_of(doc, space, what, _SEGMENT_FIELDS, "i")
    n = _pair_count(doc, what)
    ratings = doc.get("r")
    if not isinstance(ratings, bytes) or len(ratings) not in (2 * n, 4 * n):
        raise StateError(f"{what} field 'r' is truncated or corrupt")
    columns = {
        "event_ids": unpack_column(doc.get("e"), n, what, "e"),
        "ratings": np.frombuffer(ratings, dtype=np.float16 if len(ratings) == 2 * n else np.float32).astype(np.float32),
        "ts": unpack_column(doc.get("t"), n, what, "t"),
    }
    return _checked(columns, doc.get("i"), n, space, what, "i")


def pack_column(values: np.ndarray) -> bytes:
    """An int64 column as the code of a type in :data:`_NARROW`, its first value (8 bytes), and the differences after
    it in that type: the narrowest that holds them (differences wrap in 64 bits, as :func:`unpack_column`'s sums
    do, so every column round-trips exactly). Columns that change by small steps (event ids, times, a manifest's
    segment numbers) take a byte or two a value.

    >>> data = pack_column(np.array([880_000_000, 880_000_060, 880_000_060], dtype=np.int64))
    >>> len(data), unpack_column(data, 3, "doctest", "t").tolist()
    (11, [880000000, 880000060, 880000060])
    """
    if not len(values):
        return b""
    if mode.compiled():
        return columns.pack_column(np.ascontiguousarray(values, dtype=np.int64)).tobytes()
    return pack_column_reference(values)


def pack_column_reference(values: np.ndarray) -> bytes:
    """:func:`pack_column` in numpy, for a non-empty column."""
    with np.errstate(over="ignore"):
        deltas = np.diff(values)
    low, high = (int(deltas.min()), int(deltas.max())) if len(deltas) else (0, 0)
    code = next(k for k, kind in enumerate(_NARROW) if np.iinfo(kind).min <= low and high <= np.iinfo(kind).max)
    return bytes([code]) + values[:1].tobytes() + deltas.astype(_NARROW[code]).tobytes()


def unpack_column(raw: Any, n: int, what: str, field: str) -> np.ndarray:
    """The int64 column :func:`pack_column` packed, of ``n`` values."""
    if n == 0 and raw == b"":
        return np.zeros(0, dtype=np.int64)
    if not isinstance(raw, bytes) or len(raw) < 9 or raw[0] >= len(_NARROW):
        raise StateError(f"{what} field {field!r} is truncated or corrupt")
    kind = _NARROW[raw[0]]
    width = np.dtype(kind).itemsize
    if len(raw) != 9 + (n - 1) * width:
        raise StateError(f"{what} field {field!r} is truncated or corrupt: {n} values expected")
    if mode.compiled():
        return columns.unpack_column(np.frombuffer(raw, dtype=np.uint8), n, width)
    values = np.empty(n, dtype=np.int64)
    values[0] = np.frombuffer(raw, dtype=np.int64, count=1, offset=1)[0]
    with np.errstate(over="ignore"):
        np.cumsum(np.frombuffer(raw, dtype=kind, offset=9), dtype=np.int64, out=values[1:])
        values[1:] += values[0]
    return values


def _pair_count(doc: dict[str, Any], what: str) -> int:
    n = doc.get("n")
    if not isinstance(n, int) or n < 0:
        raise StateError(f"{what} has an invalid pair count {n!r}")
    return n


def _pairs_of(doc: dict[str, Any], space: ItemSpace, what: str, fields: dict[str, str], items_field: str) -> PairLog:
    n = _pair_count(doc, what)
    columns: dict[str, np.ndarray] = {}
    for field, column in fields.items():
        dtype = COLUMNS[column]
        raw = doc.get(field)
        expected = n * np.dtype(dtype).itemsize
        if not isinstance(raw, bytes) or len(raw) != expected:
            got = len(raw) if isinstance(raw, bytes) else type(raw).__name__
            raise StateError(f"{what} field {field!r} is truncated or corrupt: expected {expected} bytes, got {got}")
        columns[column] = np.frombuffer(raw, dtype=dtype).copy()
    return _checked(columns, doc.get(items_field), n, space, what, items_field)


def _checked(
    columns: dict[str, np.ndarray], items: Any, n: int, space: ItemSpace, what: str, items_field: str
) -> PairLog:
    """The pairs of decoded columns, once every value is checked."""
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
