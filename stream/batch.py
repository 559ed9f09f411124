"""A micro-batch as the processor sees it: its input messages, the users it touches, and what the agent writes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TypeVar

from stream.contracts import DEAD_LETTERS, DRIFT_METRICS, OUTPUTS, RECOMMENDATIONS, CoveredInput, DriftRecord
from stream.messages import recommendation_message, score_parts
from stream.settings import Settings
from stream.user_state import UserState
from wnn.network import FORMAT_VERSION as MODEL_FORMAT_VERSION


class Refused(Exception):
    """An input that is well formed but cannot be applied (for example a forget of a rating that is not stored)."""


@dataclasses.dataclass(frozen=True)
class Incoming:
    """One input message as the agent got it."""

    key: bytes | None
    value: bytes | None
    partition: int
    offset: int


T = TypeVar("T")

#: One output message: its key and value.
Message = tuple[bytes | None, bytes]


def _no_messages() -> dict[str, list[Message]]:
    return {name: [] for name in OUTPUTS}


@dataclasses.dataclass
class BatchOutput:
    """What the agent writes for one micro-batch: the user-table writes (``states``, each with its partition) and
    each output topic's messages, by topic name (:data:`stream.contracts.OUTPUTS`). (Item-statistics buckets are
    published separately, at an interval: :meth:`StreamProcessor.pending_shares`.)"""

    states: list[tuple[int, bytes, bytes | None]] = dataclasses.field(default_factory=list)
    messages: dict[str, list[Message]] = dataclasses.field(default_factory=_no_messages)
    applied: int = 0
    duplicates: int = 0
    #: user lists in ``recommendations`` (a list batch holds several)
    lists: int = 0

    @property
    def recommendations(self) -> list[Message]:
        return self.messages[RECOMMENDATIONS.name]

    @property
    def drift(self) -> list[Message]:
        return self.messages[DRIFT_METRICS.name]

    @property
    def dead_letters(self) -> list[Message]:
        return self.messages[DEAD_LETTERS.name]


@dataclasses.dataclass
class TouchedUser:
    """A user's inputs in the current batch."""

    state: UserState
    #: the inputs the user's list covers (stream.messages.covered_event)
    events: list[CoveredInput] = dataclasses.field(default_factory=list)
    #: the user's drift records (stream.messages.drift_record)
    records: list[DriftRecord] = dataclasses.field(default_factory=list)
    event_time: int | None = None
    changed: bool = False
    #: a redelivery came: write every segment again, since the changelog may lack what the local store has
    rewrite: bool = False


def by_partition(grouped: dict[int, list[T]], encode: Callable[[int, list[T]], list[bytes]]) -> list[Message]:
    """The messages of each input partition's part of a batch (``encode`` makes them), keyed by the partition's
    number."""
    return [(str(p).encode(), value) for p, part in grouped.items() for value in encode(p, part)]


#: How the agent reads a user's stored value: (user key, partition) -> bytes or None.
Loader = Callable[[bytes, int], "bytes | None"]


def list_message(user: str, entry: TouchedUser, settings: Settings) -> bytes:
    """The user's refreshed list after the batch, covering every input of theirs it took
    (:func:`stream.messages.recommendation_message`)."""
    model = entry.state.wnn
    event_time = entry.event_time if entry.event_time is not None else model.last_ts
    items, scores = model.score(ts=event_time, k=settings.top_n)
    why = [score_parts(e, {}) for e in model.explain_list(items, ts=event_time)] if settings.list_explanations else None
    return recommendation_message(
        user,
        [str(i) for i in items],
        scores.tolist(),
        MODEL_FORMAT_VERSION,
        entry.state.partition,
        entry.events,
        event_time,
        model.n_pairs,
        why,
    )
