"""One value of the ``user-wnn`` table: what a worker keeps per user, and how it is read back.

The network's own bytes (:meth:`wnn.network.UserWNN.to_bytes`) travel inside, with the tombstones of forgotten
event ids and the user's input partition. The user's drift signals are derived from the network's pairs
(:mod:`wnn.drift`), so there is no drift state to store. :meth:`UserState.stored_pairs` reads what
recovery needs to re-derive the item statistics without rebuilding the network.
"""

from __future__ import annotations

import collections
import dataclasses

import msgpack
import numpy as np

from wnn.item_space import ItemSpace
from wnn import user_codec
from wnn.network import UserWNN
from wnn.state_format import StateError, load_document, seal

STATE_VERSION = 4
#: Versions this build still reads: 3 also stored a River drift detector, which is now derived and ignored here;
#: 2 was written before the checksum.
READABLE_STATE_VERSIONS = (4, 3)
UNSEALED_STATE_VERSION = 2


@dataclasses.dataclass
class UserState:
    """One value of the ``user-wnn`` table: the user's network, forgotten event ids (tombstones) and the input
    partition the user lives on (so recovery can re-derive that partition's item shares)."""

    wnn: UserWNN
    partition: int
    forgotten: collections.deque

    @classmethod
    def new(cls, space: ItemSpace, partition: int, max_tombstones: int) -> "UserState":
        return cls(UserWNN(space), partition, collections.deque(maxlen=max_tombstones))

    def knows(self, event_id: int) -> bool:
        """Learned, or forgotten: either way a redelivery must change nothing."""
        return self.wnn.knows(event_id) or event_id in self.forgotten

    def to_bytes(self) -> bytes:
        """msgpack, sealed with a CRC-32 (:mod:`wnn.state_format`): the network's bytes carry their own, and the
        tombstones are covered here."""
        return seal(msgpack.packb({"v": STATE_VERSION, "p": self.partition, "wnn": self.wnn.to_bytes(),
                                   "forgotten": np.array(self.forgotten, dtype=np.int64).tobytes()},
                                  use_bin_type=True))

    @staticmethod
    def _document(data: bytes) -> dict:
        doc = load_document(data, READABLE_STATE_VERSIONS, UNSEALED_STATE_VERSION, "user table value")
        if not isinstance(doc.get("p"), int) or not isinstance(doc.get("forgotten"), bytes) \
                or len(doc["forgotten"]) % 8:
            raise StateError("user table value lacks a valid partition or tombstone list")
        return doc

    @classmethod
    def stored_pairs(cls, data: bytes) -> tuple[int, tuple]:
        """The user's partition and the stored pairs' item ids, ratings and times, without building the network."""
        doc = cls._document(data)
        return doc["p"], user_codec.stored_pairs(doc.get("wnn"))

    @classmethod
    def from_bytes(cls, data: bytes, space: ItemSpace, max_tombstones: int) -> "UserState":
        doc = cls._document(data)
        forgotten = collections.deque(np.frombuffer(doc["forgotten"], dtype=np.int64).tolist(), maxlen=max_tombstones)
        return cls(UserWNN.from_bytes(doc.get("wnn"), space), doc["p"], forgotten)

    @property
    def memory_bytes(self) -> int:
        """Approximate memory of the live state (the cache budget counts this)."""
        return self.wnn.memory_bytes + len(self.forgotten) * 40
