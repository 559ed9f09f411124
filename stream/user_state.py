"""A user as a worker keeps it: the network, the forgotten event ids (tombstones) and the input partition the user
lives on, and how it is read from and written to the ``user-wnn`` table (:mod:`stream.user_layout`: a manifest
with the newest pairs, full segments of older pairs, tombstones, each under its own key).

The user's drift signals and everything else the network needs are derived from the stored pairs, so the pairs and
the tombstones are all there is to store. :meth:`UserState.writes` gives what a batch must write: the manifest (one
value, for a batch that only learned), and the segments that were sealed or changed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

import numpy as np

from stream.user_layout import (
    MANIFEST_VERSIONS,
    SEGMENT_PAIRS,
    Erasure,
    Getter,
    Layout,
    Stored,
    plan_writes,
    read_segments,
    segment_key,
    split_key,
    tombstones_key,
)
from wnn import user_codec
from wnn.item_space import ItemSpace
from wnn.network import UserWNN
from wnn.state_format import StateError, load_document
from wnn.validation import MIN_INT64

#: Whole-state versions this build still reads under the user's key (rewritten as segments on the next write):
#: 4 held the network's bytes and the tombstones in one value; 3 also stored a River drift detector, now derived.
WHOLE_STATE_VERSIONS = (4, 3)
UNSEALED_STATE_VERSION = 2


#: What :attr:`UserState.memory_bytes` adds to the network's bytes: the state and its layout as objects, and the
#: cache's bookkeeping of the entry (its key, size and place in the LRU order), measured with tracemalloc.
STATE_BYTES = 460
#: Per stored event id: the layout's copy of it; per tombstone: its slot in the tuple and the int object.
LAYOUT_ID_BYTES = 8
TOMBSTONE_BYTES = 40


@dataclasses.dataclass(slots=True)
class UserState:
    """A user's network, forgotten event ids (tombstones) and input partition (so recovery can re-derive that
    partition's item shares), and what the table holds of them."""

    wnn: UserWNN
    partition: int
    max_tombstones: int
    #: the newest ``max_tombstones`` forgotten event ids, oldest first (a tuple: most users never forget, and an
    #: empty tuple costs nothing, where an empty deque costs about 1 KB)
    forgotten: tuple[int, ...] = ()
    #: what the table holds (the last manifest written or read); None: nothing yet, or an older whole state
    layout: Layout | None = None
    #: keys no manifest names (a batch crashed before its manifest); the next write deletes them
    orphans: tuple[bytes, ...] = ()
    tombstones_changed: bool = False
    #: the user's last erasure (a forget-user), if any
    erasure: Erasure | None = None

    @classmethod
    def new(cls, space: ItemSpace, partition: int, max_tombstones: int) -> UserState:
        return cls(UserWNN(space), partition, max_tombstones)

    def knows(self, event_id: int) -> bool:
        """Learned, or forgotten, or erased: either way a redelivery must change nothing."""
        return self.wnn.knows(event_id) or self.forgot(event_id)

    def forgot(self, event_id: int) -> bool:
        """Whether ``event_id`` was forgotten (a tombstone) or an erasure of the user covers it (it is at or below the
        highest id they had then)."""
        return event_id in self.forgotten or (self.erasure is not None and event_id <= self.erasure.through)

    @property
    def gone(self) -> bool:
        """Erased, with nothing learned since: the user reads as unknown."""
        return self.erasure is not None and not self.wnn.n_pairs

    def erase(self, erase_id: int, erased: Iterable[int]) -> None:
        """Record an erasure, once the user's pairs (``erased``, their event ids) are forgotten: the highest event id
        the user had (erased, forgotten, or erased before) bounds what a later rating may carry, and the tombstones,
        which it covers, are dropped."""
        known = [*erased, *self.forgotten, *([self.erasure.through] if self.erasure else [])]
        self.erasure = Erasure(max(known, default=MIN_INT64), erase_id)
        if self.forgotten:
            self.forgotten, self.tombstones_changed = (), True

    def remember_forgotten(self, event_ids: Iterable[int]) -> None:
        new = tuple(dict.fromkeys(e for e in event_ids if e not in self.forgotten))
        if new:
            self.forgotten = (*self.forgotten, *new)[-self.max_tombstones :] if self.max_tombstones else ()
            self.tombstones_changed = True

    def writes(
        self, user_key: bytes, rewrite: bool = False, segment_pairs: int = SEGMENT_PAIRS
    ) -> list[tuple[bytes, bytes | None]]:
        """The table writes that store the user as it is now (``(key, value)``, None deletes), in commit order;
        afterwards the state assumes they were made. ``rewrite``: every segment again, not just the changed ones."""
        writes, self.layout = plan_writes(
            user_key,
            self.partition,
            self.wnn.space.config.fingerprint(),
            self.wnn.pair_log,
            list(self.forgotten),
            self.layout,
            self.tombstones_changed,
            self.orphans,
            rewrite,
            segment_pairs,
            self.erasure,
        )
        self.orphans, self.tombstones_changed = (), False
        return writes

    @staticmethod
    def read(get: Getter, user_key: bytes, space: ItemSpace) -> Stored | None:
        """The user under ``user_key`` fetched with ``get`` (None if the table holds nothing there): a manifest and
        what it names, or a whole state of an older version. Raises :class:`StateError` with the reason if
        unusable."""
        data = get(user_key)
        if data is None:
            return None
        versions = (*MANIFEST_VERSIONS, *WHOLE_STATE_VERSIONS)
        doc = load_document(data, versions, UNSEALED_STATE_VERSION, "user table value")
        if doc["v"] in MANIFEST_VERSIONS:
            return read_segments(doc, user_key, get, space)
        if (
            not isinstance(doc.get("p"), int)
            or not isinstance(doc.get("forgotten"), bytes)
            or len(doc["forgotten"]) % 8
        ):
            raise StateError("user table value lacks a valid partition or tombstone list")
        forgotten = np.frombuffer(doc["forgotten"], dtype=np.int64).tolist()
        if not isinstance(doc.get("wnn"), bytes):
            raise StateError("user table value lacks the network's pairs")
        return Stored(doc["p"], user_codec.decode(doc["wnn"], space), forgotten, None)

    @classmethod
    def load(cls, get: Getter, user_key: bytes, space: ItemSpace, max_tombstones: int) -> UserState | None:
        """The user under ``user_key``, or None if the table holds nothing for it."""
        stored = cls.read(get, user_key, space)
        return None if stored is None else cls.of(stored, space, max_tombstones)

    @classmethod
    def of(cls, stored: Stored, space: ItemSpace, max_tombstones: int, orphans: Iterable[bytes] = ()) -> UserState:
        return cls(
            UserWNN(space, stored.pairs),
            stored.partition,
            max_tombstones,
            tuple(stored.forgotten[-max_tombstones:]) if max_tombstones else (),
            stored.layout,
            tuple(orphans),
            erasure=stored.erasure,
        )

    @property
    def memory_bytes(self) -> int:
        """Approximate memory of the live state and its cache entry (the cache budget counts this; a test holds it
        within 15% of what clearing the cache frees)."""
        layout = self.layout
        stored = LAYOUT_ID_BYTES * len(layout.event_ids) + 16 * len(layout.seqs) if layout is not None else 0
        return STATE_BYTES + self.wnn.memory_bytes + TOMBSTONE_BYTES * len(self.forgotten) + stored


def read_stored(
    items: Iterable[tuple[bytes, bytes | None]], space: ItemSpace
) -> Iterator[tuple[bytes, Stored | StateError | None, list[bytes]]]:
    """Every user of a table's ``(key, value)`` pairs: ``(user key, the user read back or the reason it cannot be,
    orphan keys)``; a user whose keys are all orphans comes with None. Whole states of older versions come with a
    None layout (:meth:`UserState.read`).

    Each user's keys must come together, as they do when each partition's store is read in key order (RocksDB
    iterates so: a user key sorts right before its segment and tombstone keys); sort other tables. Users are read one
    after another, so only one user's values are held at a time. Raises ValueError if a user's keys come apart (the
    user would read as corrupt).
    """
    group_user: bytes | None = None
    group: dict[bytes, bytes] = {}
    done: set[bytes] = set()
    for key, value in items:
        key = bytes(key)
        parsed = split_key(key)
        if value is None or parsed is None:
            continue
        if parsed[0] != group_user:
            if group_user is not None:
                yield _read_group(group_user, group, space)
                done.add(group_user)
            if parsed[0] in done:
                raise ValueError(f"the keys of user {parsed[0]!r} are not together; read the table in key order")
            group_user, group = parsed[0], {}
        group[key] = value
    if group_user is not None:
        yield _read_group(group_user, group, space)


def _read_group(
    user_key: bytes, values: dict[bytes, bytes], space: ItemSpace
) -> tuple[bytes, Stored | StateError | None, list[bytes]]:
    if user_key not in values:
        return user_key, None, sorted(values)
    try:
        stored = UserState.read(values.get, user_key, space)
    except StateError as exc:
        return user_key, exc, []
    if stored is None:
        return user_key, None, sorted(values)
    named = {user_key}
    if stored.layout is not None:
        named.update(segment_key(user_key, seq) for seq in stored.layout.seqs)
        if stored.layout.tombstones:  # else a tombstones key is left over from before an erasure: an orphan
            named.add(tombstones_key(user_key))
    return user_key, stored, sorted(key for key in values if key not in named)
