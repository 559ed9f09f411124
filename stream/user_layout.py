"""How a user's state lies in the ``user-wnn`` table: a manifest under the user's key that also carries the user's
newest pairs (the *open tail*), the older pairs in full segments under keys of their own, and the tombstones under a
third key. A batch that only learned writes one value, the manifest, until the tail fills a segment; the user's
history is never written again.

Keys (user ids cannot contain NUL: :mod:`stream.messages` refuses them, so no user's key is another's segment key):

* ``user`` — the manifest: partition, config fingerprint, the segments' sequence numbers and pair counts in order
  (packed: a byte or so a segment),
  the next sequence number, how many tombstones are stored, and the open tail: the pairs after the last segment,
  fewer than ``segment_pairs``, as a segment's map inside the manifest's sealed bytes
  (:func:`wnn.user_codec.segment_document`);
* ``user + b"\\x00" + seq`` — one sealed segment: a run of at most ``segment_pairs`` pairs, oldest first, never
  written again under its key (unless a redelivery asks for every segment again, with the same bytes);
* ``user + b"\\x00t"`` — the forgotten event ids (tombstones).

An erased user (a forget-user) keeps only a manifest without pairs or tombstones that carries the erasure: the
highest event id the user had (later ratings at or below it are ignored, so a replay cannot bring the user back) and
the erasure message's own id (so a redelivered erasure changes nothing). Such a manifest has version 7, which builds
before it refuse to read instead of reading the user without the erasure; every other manifest stays version 6, so
workers of both builds share a table during a rolling upgrade.

The manifest is the commit point. A batch writes, in this order: the tombstones (if a forget changed them), the
segments it sealed or that a forget or an eviction shrank (each under a sequence number no manifest has named), the
manifest, then deletes of the segments the manifest no longer names. Whatever prefix of that reaches the changelog
before a crash, a reader that follows the manifest sees the user's state before the batch or after it, never a mix:

* a crash before the manifest leaves *orphan* segments that no manifest names, which reads ignore. The batch is
  redelivered (its input was not committed), and its rewrite reuses the same keys. Recovery
  (:func:`stream.user_state.read_stored`) lists the orphans, and the user's next write deletes them, so a forgotten
  rating does not outlive its forget in an orphan;
* a crash after the tombstones but before the manifest leaves the pair stored *and* tombstoned: the redelivered
  forget finds the pair and removes it (:meth:`stream.processor.StreamProcessor._forget`).

Manifests of version 5 (no tail; the last segment appended to in place, so it may hold more pairs than its manifest
names, and reads as the committed prefix) are still read; the user's next write keeps their segments and starts a
tail.

>>> split_key(segment_key(b"alice", 7)), split_key(b"alice"), split_key(tombstones_key(b"alice"))
((b'alice', 'segment', 7), (b'alice', 'manifest', None), (b'alice', 'tombstones', None))
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Iterable
from typing import Any

import msgpack
import numpy as np

from wnn import user_codec
from wnn.item_space import ItemSpace
from wnn.pairs import PairLog
from wnn.state_format import StateError, load_document, seal

#: Manifest format (the user key's value); values of version 4 and older are whole states (stream.user_state).
MANIFEST_VERSION = 6
#: The format of a manifest that carries an erasure (version 6 and the erasure).
ERASED_MANIFEST_VERSION = 7
#: The format before the open tail (still read).
UNTAILED_MANIFEST_VERSION = 5
#: Manifest formats this build reads.
MANIFEST_VERSIONS = (ERASED_MANIFEST_VERSION, MANIFEST_VERSION, UNTAILED_MANIFEST_VERSION)
TOMBSTONES_VERSION = 1
#: Pairs per segment: a batch that learned writes the manifest with at most this many pairs in its tail (plus a
#: sealed segment when the tail fills one), whatever the user's history.
SEGMENT_PAIRS = 16

SEPARATOR = b"\x00"
_TOMBSTONES_SUFFIX = b"t"

#: How a reader fetches a table value by key (None when absent).
Getter = Callable[[bytes], "bytes | None"]


def segment_key(user_key: bytes, seq: int) -> bytes:
    return user_key + SEPARATOR + str(seq).encode()


def tombstones_key(user_key: bytes) -> bytes:
    return user_key + SEPARATOR + _TOMBSTONES_SUFFIX


def split_key(key: bytes) -> tuple[bytes, str, int | None] | None:
    """``(user key, kind, sequence number)`` of a table key; kind is ``manifest``, ``segment`` or ``tombstones``.
    None for a key no layout writes."""
    user_key, separator, rest = bytes(key).partition(SEPARATOR)
    if not separator:
        return user_key, "manifest", None
    if rest == _TOMBSTONES_SUFFIX:
        return user_key, "tombstones", None
    if rest.isdigit():
        return user_key, "segment", int(rest)
    return None


@dataclasses.dataclass(slots=True)
class Layout:
    """What the table holds of a user under segment keys, as the last manifest written or read names them (the
    open tail is in the manifest, written with every batch)."""

    seqs: list[int]
    counts: list[int]
    #: event ids of the pairs in segments, segment after segment (how a batch's changes are found)
    event_ids: np.ndarray
    next_seq: int
    tombstones: int

    @classmethod
    def empty(cls) -> Layout:
        return cls([], [], np.zeros(0, dtype=np.int64), 0, 0)


@dataclasses.dataclass(frozen=True)
class Erasure:
    """What a forget-user leaves of the user: ``through``, the highest event id the user had (a rating at or below it
    is ignored), and ``erase_id``, the id of the forget-user message (:class:`stream.messages.ForgetUserEvent`)."""

    through: int
    erase_id: int


@dataclasses.dataclass
class Stored:
    """A user read back from the table."""

    partition: int
    pairs: PairLog
    forgotten: list[int]
    layout: Layout | None  # None: a whole state of an older version, rewritten as segments on the next write
    erasure: Erasure | None = None


def encode_manifest(
    partition: int, fingerprint: str, layout: Layout, tail: dict[str, Any], erasure: Erasure | None = None
) -> bytes:
    doc = {
        "v": MANIFEST_VERSION if erasure is None else ERASED_MANIFEST_VERSION,
        "p": partition,
        "cfg": fingerprint,
        "ns": len(layout.seqs),
        "s": user_codec.pack_column(np.asarray(layout.seqs, dtype=np.int64)),
        "c": user_codec.pack_column(np.asarray(layout.counts, dtype=np.int64)),
        "next": layout.next_seq,
        "nt": layout.tombstones,
        "o": tail,
    }
    if erasure is not None:
        doc["e"] = [erasure.through, erasure.erase_id]
    return seal(msgpack.packb(doc, use_bin_type=True))


def erasure_of(doc: dict[str, Any]) -> Erasure | None:
    """The erasure a manifest document carries (version 7), checked; None for any other version."""
    if doc.get("v") != ERASED_MANIFEST_VERSION:
        return None
    marker = doc.get("e")
    if not (isinstance(marker, list) and len(marker) == 2 and all(type(n) is int for n in marker)):
        raise StateError("erased user's manifest lacks a valid erasure")
    return Erasure(*marker)


def encode_tombstones(forgotten: Iterable[int]) -> bytes:
    return seal(
        msgpack.packb(
            {"v": TOMBSTONES_VERSION, "f": np.array(list(forgotten), dtype=np.int64).tobytes()}, use_bin_type=True
        )
    )


def decode_tombstones(data: bytes | None) -> list[int]:
    if data is None:
        raise StateError("the user's tombstones named by the manifest are missing")
    raw = load_document(data, TOMBSTONES_VERSION, None, "user tombstones").get("f")
    if not isinstance(raw, bytes) or len(raw) % 8:
        raise StateError("user tombstones are truncated or corrupt")
    return np.frombuffer(raw, dtype=np.int64).tolist()


def manifest_of(doc: dict[str, Any], fingerprint: str) -> tuple[int, list[int], list[int], int, int]:
    """``(partition, seqs, counts, next_seq, tombstones)`` of a manifest document, checked."""
    if doc.get("cfg") != fingerprint:
        raise StateError(
            "user state was written under a different WNN config (wiring fingerprint "
            f"{doc.get('cfg')!r}, expected {fingerprint!r})"
        )
    if not (
        isinstance(doc.get("p"), int)
        and isinstance(doc.get("next"), int)
        and isinstance(doc.get("nt"), int)
        and doc["nt"] >= 0
        and (doc.get("v") == UNTAILED_MANIFEST_VERSION or isinstance(doc.get("o"), dict))
    ):
        raise StateError("user manifest lacks a valid partition, next sequence, tombstone count or open tail")
    seq_list, count_list = _segment_list(doc)
    if (
        any(s < 0 or s >= doc["next"] for s in seq_list)
        or len(set(seq_list)) != len(seq_list)
        or any(c <= 0 for c in count_list)
    ):
        raise StateError("user manifest names an invalid segment")
    return doc["p"], seq_list, count_list, doc["next"], doc["nt"]


def _segment_list(doc: dict[str, Any]) -> tuple[list[int], list[int]]:
    """The sequence numbers and pair counts of a manifest's segments: packed columns (versions 6 and 7) or raw
    arrays."""
    seqs, counts = doc.get("s"), doc.get("c")
    if doc.get("v") != UNTAILED_MANIFEST_VERSION:
        n = doc.get("ns")
        if not isinstance(n, int) or n < 0:
            raise StateError("user manifest lacks a valid segment count")
        what = "user manifest"
        return (
            user_codec.unpack_column(seqs, n, what, "s").tolist(),
            user_codec.unpack_column(counts, n, what, "c").tolist(),
        )
    if not (
        isinstance(seqs, bytes) and isinstance(counts, bytes) and len(seqs) % 8 == 0 and len(counts) * 2 == len(seqs)
    ):
        raise StateError("user manifest lacks a valid segment list")
    return np.frombuffer(seqs, dtype=np.int64).tolist(), np.frombuffer(counts, dtype=np.int32).tolist()


def read_segments(doc: dict[str, Any], user_key: bytes, get: Getter, space: ItemSpace) -> Stored:
    """The user a manifest document names: its segments and tombstones fetched with ``get``, then its open tail."""
    partition, seqs, counts, next_seq, n_tombstones = manifest_of(doc, space.config.fingerprint())
    segments = []
    for seq, count in zip(seqs, counts):
        data = get(segment_key(user_key, seq))
        if data is None:
            raise StateError(f"segment {seq} named by the user's manifest is missing")
        segment = user_codec.decode_segment(data, space)
        if segment.n < count:
            raise StateError(f"segment {seq} holds {segment.n} pairs; the manifest names {count}")
        if segment.n > count:  # appended to by a batch that crashed before its manifest: read what was committed
            segment = segment.slice(0, count)
        segments.append(segment)
    if "o" in doc:
        segments.append(user_codec.segment_pairs(doc["o"], space, "user manifest's open tail"))
    pairs = PairLog.concatenate(segments)
    if len(set(pairs.event_ids.tolist())) != pairs.n:
        raise StateError("user state holds an event id twice")
    forgotten = decode_tombstones(get(tombstones_key(user_key))) if n_tombstones else []
    in_segments = pairs.event_ids[: sum(counts)].copy()  # the tail follows the segments' pairs
    layout = Layout(seqs, counts, in_segments, next_seq, len(forgotten))
    return Stored(partition, pairs, forgotten, layout, erasure_of(doc))


def plan_writes(
    user_key: bytes,
    partition: int,
    fingerprint: str,
    pairs: PairLog,
    forgotten: list[int],
    layout: Layout | None,
    tombstones_changed: bool = False,
    orphans: Iterable[bytes] = (),
    rewrite: bool = False,
    segment_pairs: int = SEGMENT_PAIRS,
    erasure: Erasure | None = None,
) -> tuple[list[tuple[bytes, bytes | None]], Layout]:
    """The table writes (key, value; None deletes) that take the table from ``layout`` to ``pairs`` and
    ``forgotten`` (rewritten if ``tombstones_changed``), in the commit order of the module docstring, and the
    layout after them.

    Pairs only ever leave a stored segment (forgets, evictions) or join at the end (learning), so each stored
    segment keeps the pairs of it that remain (a segment that lost some is written under a new number), the pairs
    after the stored segments fill new full segments, and the fewer than ``segment_pairs`` left over ride in the
    manifest. A segment whose pairs are unchanged is not written. ``rewrite`` writes every segment again under its
    own key (after a redelivery: the changelog may lack what the local store has); ``orphans`` are deleted. An
    ``erasure`` rides in the manifest; tombstones that are no longer there (an erasure drops them) are deleted.
    """
    old = layout or Layout.empty()
    ids = pairs.event_ids
    carried = _carry_over(old, ids) if layout is not None else None
    # No layout yet, or the pairs are not old segments plus new pairs: lay them all out anew.
    starts, counts, seqs = carried if carried is not None else ([], [], [])
    kept = sum(counts)
    fresh: set[int] = set(range(len(seqs))) if rewrite else set()
    for position, seq in enumerate(seqs):
        if seq is None:
            fresh.add(position)
    while pairs.n - kept >= segment_pairs:  # the tail filled a segment: seal it under a key of its own
        starts.append(kept)
        counts.append(segment_pairs)
        seqs.append(None)
        fresh.add(len(seqs) - 1)
        kept += segment_pairs
    next_seq = old.next_seq
    writes: list[tuple[bytes, bytes | None]] = []
    if (tombstones_changed or rewrite or layout is None) and forgotten:
        writes.append((tombstones_key(user_key), encode_tombstones(forgotten)))
    for position in sorted(fresh):
        seq = seqs[position]
        if seq is None:
            seq, next_seq = next_seq, next_seq + 1
            seqs[position] = seq
        start = starts[position]
        writes.append(
            (
                segment_key(user_key, seq),
                user_codec.encode_segment(pairs, start, start + counts[position]),
            )
        )
    numbered = [seq for seq in seqs if seq is not None]  # every segment without a number was fresh: all have one
    new = Layout(numbered, list(counts), ids[:kept].copy(), next_seq, len(forgotten))
    tail = user_codec.segment_document(pairs, kept)
    writes.append((user_key, encode_manifest(partition, fingerprint, new, tail, erasure)))
    written = {key for key, _ in writes}
    dropped = [segment_key(user_key, seq) for seq in set(old.seqs) - set(new.seqs)]
    if old.tombstones and not forgotten:  # an erasure dropped every tombstone
        dropped.append(tombstones_key(user_key))
    writes.extend((key, None) for key in dict.fromkeys([*dropped, *orphans]) if key not in written)
    return writes, new


def _carry_over(old: Layout, ids: np.ndarray) -> tuple[list[int], list[int], list[int | None]] | None:
    """Start, count and sequence number (None: to be written) of each stored segment that keeps pairs, if ``ids``
    is the old segments' remaining pairs followed by new ones; else Nones."""
    n_old = len(old.event_ids)
    if len(ids) >= n_old and ids[:n_old].tobytes() == old.event_ids.tobytes():
        # Every stored pair remains (the usual case: a batch only learned): each segment keeps all of its pairs.
        return list(itertools.accumulate(old.counts, initial=0))[:-1], list(old.counts), list(old.seqs)
    remaining = np.isin(old.event_ids, ids)
    if not np.array_equal(ids[: int(remaining.sum())], old.event_ids[remaining]):
        return None
    starts, counts, seqs = [], [], []
    offset = position = 0
    for seq, count in zip(old.seqs, old.counts):
        left = int(remaining[offset : offset + count].sum())
        offset += count
        if left:
            starts.append(position)
            counts.append(left)
            seqs.append(seq if left == count else None)
            position += left
    return starts, counts, seqs
