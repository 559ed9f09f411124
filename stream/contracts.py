"""One contract per topic: the messages each topic carries, as msgspec Structs, and what each topic is for.

The Structs are the messages: the worker builds its outputs from them (:mod:`stream.messages`), the same
declarations generate each topic's JSON Schema (:func:`json_schemas`, published under ``schemas/`` so that producers
and consumers in any language can validate what they write or read), and :data:`TOPICS` says, per topic, what it
carries, its key, who reads and writes it (the deployment's ACLs, ``deploy/kafka/acls.tsv``) and how it is created.
Everything that lists topics reads :data:`TOPICS`: the settings, the worker's topics and outputs, the schemas, the
ACLs and the docs.

Adding an output topic: declare its message Struct and its :class:`Topic` here, build its messages in
:mod:`stream.processor` (``out.messages[name]``), then ``make contracts`` writes the derived files (its schema, the
ACLs). See ``docs/topics.md``.

    python -m stream.contracts    # write schemas/ and deploy/kafka/acls.tsv again after changing a contract
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

#: Version of the input messages (ratings, implicit events, forgets) and of the items' descriptions.
SCHEMA_VERSION: Final = 1
ITEM_SCHEMA_VERSION: Final = 1
#: Version of the output messages (recommendations and drift metrics cover a micro-batch since version 2).
OUTPUT_VERSION: Final = 2
#: Version of the ``drift-metrics`` messages: one per input partition per micro-batch since version 3.
DRIFT_VERSION: Final = 3


class ItemRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``items``: one item's description (key: the item id; a null value withdraws the item). ``GET /items/{item}``
    answers it too."""

    item: str | int
    v: int = ITEM_SCHEMA_VERSION
    title: str = ""
    year: int | None = None
    genres: list[str] = msgspec.field(default_factory=list)
    attributes: dict[str, str] = msgspec.field(default_factory=dict)


class RatingInput(msgspec.Struct, forbid_unknown_fields=True):
    """``ratings``: one rating (key: the user id)."""

    user: str | int
    item: str | int
    rating: float
    ts: float
    v: Literal[1] = 1
    type: Literal["rating"] = "rating"
    event_id: int | None = None


class ImplicitInput(msgspec.Struct, forbid_unknown_fields=True):
    """``ratings``: an event without stars (key: the user id): a like, a play, a click (``liked``: true, the default)
    or a skip (false), learned as the rating scale's highest or lowest rating (:mod:`wnn.feedback`)."""

    user: str | int
    item: str | int
    ts: float
    type: Literal["implicit"]
    v: Literal[1] = 1
    liked: bool = True
    event_id: int | None = None


class ForgetInput(msgspec.Struct, forbid_unknown_fields=True):
    """``ratings``: forget one stored rating (``event_id``) or every rating of an item (``item``)."""

    user: str | int
    type: Literal["forget"]
    v: Literal[1] = 1
    event_id: int | None = None
    item: str | int | None = None


class ForgetUserInput(msgspec.Struct, forbid_unknown_fields=True):
    """``ratings``: erase the user (key: the user id): every stored rating of theirs is forgotten exactly, and a later
    rating with an event id at or below the highest the user had is ignored, so a replay cannot bring them back."""

    user: str | int
    type: Literal["forget-user"]
    v: Literal[1] = 1


class CoveredInput(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """An input a list reflects (a forget-user covers each rating it erased)."""

    event_id: int | None
    offset: int
    cause: Literal["rating", "forget"]
    duplicate: bool = False


class FollowedItem(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    item: str
    title: str | None = None


class ScoreTerms(msgspec.Struct, forbid_unknown_fields=True):
    """A listed item's score split into terms (with the worker's ``list_explanations`` setting)."""

    popularity: float
    sequence: float
    affinity: float
    rating: float
    like: float
    predicted_rating: float
    like_probability: float
    followed: list[FollowedItem]


class ListedItem(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    item: str
    score: float
    why: ScoreTerms | None = None


class Recommendations(msgspec.Struct, forbid_unknown_fields=True):
    """``recommendations``: the user's refreshed top-N after a micro-batch of their inputs (key: the user id)."""

    v: Literal[2]
    user: str
    items: list[ListedItem]
    model_version: int
    partition: int
    events: list[CoveredInput]
    event_time: int | None
    n_ratings: int


class ListBatch(msgspec.Struct, forbid_unknown_fields=True):
    """``recommendations`` with ``--list-messages partition``: the lists of one input partition's micro-batch, each
    as the user's own message would be (key: the partition number; a batch of many lists is split over several
    messages)."""

    v: Literal[2]
    kind: Literal["batch"]
    partition: int
    lists: list[Recommendations]


class DriftRecord(msgspec.Struct, forbid_unknown_fields=True):
    event_id: int
    event_time: int
    predicted: float
    rating: float
    error: float
    drift: bool
    n_ratings: int


class UserDrift(msgspec.Struct, forbid_unknown_fields=True):
    """One user's part of a :class:`BatchDrift`: a record per new rating, in order, and the user's taste shift after
    the batch."""

    user: str
    records: list[DriftRecord]
    taste_shift: float


class BatchDrift(msgspec.Struct, forbid_unknown_fields=True):
    """``drift-metrics``, ``kind: "batch"``: one per input partition per micro-batch (key: the partition number),
    every user of the batch who rated (a batch of many ratings is split over several messages)."""

    v: Literal[3]
    kind: Literal["batch"]
    partition: int
    users: list[UserDrift]


class GlobalDrift(msgspec.Struct, forbid_unknown_fields=True):
    """``drift-metrics``, ``kind: "global"``: each worker's aggregates, at an interval."""

    v: Literal[3]
    kind: Literal["global"]
    worker: str
    window_s: float
    events: int
    mae: float
    rmse: float
    drift_flags: int
    users_drifting: int
    mean_taste_shift: float
    events_total: int
    drift_flags_total: int


class DeadLetter(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """``ratings-dlq``: a refused message (of ``ratings`` or ``items``) and why."""

    v: Literal[1]
    reason: str
    source_topic: str
    partition: int
    offset: int
    key: str | None
    key_encoding: Literal["utf-8", "base64", "none"]
    value: str | None
    value_encoding: Literal["utf-8", "base64", "none"]
    value_bytes: int | None
    truncated: bool = False


@dataclasses.dataclass(frozen=True)
class Topic:
    """One topic's contract.

    Parameters
    ----------
    name
        The topic's name after the deployment's ``topic_prefix``.
    messages
        The message types it carries; a message is one of them.
    key
        What the message key holds.
    summary
        What the topic is for, in a line (the docs' topic table).
    kind
        ``input`` (the worker consumes it), ``output`` (the worker produces it) or ``catalogue`` (the items).
    worker, ingest
        The Kafka operations the deployment's ``worker`` and ``ingest`` principals are granted on it.
    partitions
        Fixed partition count (the catalogue: one, so every worker reads it in one order); None: the deployment's.
    config
        Topic configuration it is created with, beyond the defaults.
    """

    name: str
    messages: tuple[type[msgspec.Struct], ...]
    key: str
    summary: str
    kind: Literal["input", "output", "catalogue"]
    worker: tuple[str, ...]
    ingest: tuple[str, ...] = ()
    partitions: int | None = None
    config: Mapping[str, str] = dataclasses.field(default_factory=dict)


#: How long the compacted catalogue keeps a tombstone: a worker that starts later must still learn that the item was
#: withdrawn (by default Kafka drops a tombstone after a day, and the item would be listable again where rated).
TOMBSTONE_RETENTION_MS = 10 * 365 * 24 * 3600 * 1000

RATINGS = Topic(
    "ratings",
    (RatingInput, ImplicitInput, ForgetInput, ForgetUserInput),
    key="user id",
    summary="ratings, implicit events and forget requests, the worker's input (the HTTP API's forgets are written "
    "here too)",
    kind="input",
    worker=("Read", "Write", "Describe", "Create"),
    ingest=("Write", "Describe"),
    # A message over the worker's own limit (max_message_bytes, far lower) reaches it and goes to the dead-letter
    # topic with a reason, instead of failing at the producer.
    config={"max.message.bytes": str(4 << 20)},
)
ITEMS = Topic(
    "items",
    (ItemRecord,),
    key="item id",
    summary="the catalogue, compacted: each item's description, a null value withdraws it",
    kind="catalogue",
    worker=("Read", "Describe", "Create"),
    ingest=("Write", "Describe", "Create"),
    partitions=1,
    config={"cleanup.policy": "compact", "delete.retention.ms": str(TOMBSTONE_RETENTION_MS)},
)


def output_topic(name: str, messages: tuple[type[msgspec.Struct], ...], key: str, summary: str) -> Topic:
    """A topic the worker produces: the worker may create it, describe it and write it."""
    return Topic(name, messages, key=key, summary=summary, kind="output", worker=("Write", "Describe", "Create"))


RECOMMENDATIONS = output_topic(
    "recommendations",
    (Recommendations, ListBatch),
    key="user id (--list-messages partition: the input partition number)",
    summary="the user's refreshed top-N after each micro-batch of their inputs (or every such list of an input "
    "partition's micro-batch)",
)
DRIFT_METRICS = output_topic(
    "drift-metrics",
    (BatchDrift, GlobalDrift),
    key='input partition number (global reports: "global")',
    summary="per input partition per micro-batch, each rating's prediction error and drift flag, by user; each "
    "worker's aggregates",
)
DEAD_LETTERS = output_topic(
    "ratings-dlq",
    (DeadLetter,),
    key="the refused message's key",
    summary="every refused input (of ratings or items) with the reason; the worker carries on",
)

#: Every topic of a deployment.
TOPICS: tuple[Topic, ...] = (RATINGS, ITEMS, RECOMMENDATIONS, DRIFT_METRICS, DEAD_LETTERS)
#: The topics the worker produces, by name.
OUTPUTS: dict[str, Topic] = {topic.name: topic for topic in TOPICS if topic.kind == "output"}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every topic's messages, by topic: ``anyOf`` the topic's types where it carries several."""
    schemas = {}
    for topic in TOPICS:
        refs, components = msgspec.json.schema_components(topic.messages, ref_template="#/$defs/{name}")
        schemas[topic.name] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://wnnrec.invalid/schemas/{topic.name}.schema.json",
            "title": f"wnnrec {topic.name} message",
            **(refs[0] if len(refs) == 1 else {"anyOf": list(refs)}),
            "$defs": components,
        }
    return schemas


def acl_lines() -> list[str]:
    """The deployment's ACLs, one ``principal<TAB>topic<TAB>operations`` line per grant (``deploy/kafka/start
    --secure`` reads them)."""
    lines = []
    for principal in ("worker", "ingest"):
        for topic in TOPICS:
            operations = getattr(topic, principal)
            if operations:
                lines.append(f"{principal}\t{topic.name}\t{','.join(operations)}")
    return lines


ACLS_HEADER = (
    "# Generated from stream/contracts.py by `make contracts`: principal, topic (after the deployment's prefix), the\n"
    "# operations granted on it. deploy/kafka/start --secure reads it.\n"
)


def write(schemas: Path, acls: Path) -> list[Path]:
    """Write ``<topic>.schema.json`` for every topic into the ``schemas`` folder, and the ACL table; the paths."""
    schemas.mkdir(parents=True, exist_ok=True)
    paths = []
    for topic, schema in json_schemas().items():
        path = schemas / f"{topic}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        paths.append(path)
    acls.write_text(ACLS_HEADER + "\n".join(acl_lines()) + "\n")
    return [*paths, acls]


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")
    for written in write(root / "schemas", root / "deploy" / "kafka" / "acls.tsv"):
        print(written)
