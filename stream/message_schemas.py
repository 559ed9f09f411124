"""The topic messages, the product's main interface, as msgspec Structs, and their JSON Schemas.

Each Struct states one message's fields and types; :func:`json_schemas` generates a JSON Schema (draft 2020-12) of
each from them, published under ``schemas/`` so that producers and consumers in any language can validate what they
write or read. ``tests/stream/test_message_schemas.py`` checks that the published files are the generated ones, that
every encoder of :mod:`stream.schemas` and :mod:`stream.catalogue` writes messages that validate, and the integration
tests validate every message a real worker wrote.

    python -m stream.message_schemas schemas    # write the files again after changing a Struct
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

import msgspec

from stream.catalogue import ItemRecord


class RatingInput(msgspec.Struct, forbid_unknown_fields=True):
    """``ratings``: one rating (key: the user id)."""

    user: str | int
    item: str | int
    rating: float
    ts: float
    v: Literal[1] = 1
    type: Literal["rating"] = "rating"
    event_id: int | None = None


class ForgetInput(msgspec.Struct, forbid_unknown_fields=True):
    """``ratings``: forget one stored rating (``event_id``) or every rating of an item (``item``)."""

    user: str | int
    type: Literal["forget"]
    v: Literal[1] = 1
    event_id: int | None = None
    item: str | int | None = None


class CoveredInput(msgspec.Struct, forbid_unknown_fields=True):
    """An input a list reflects."""

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


class ListedItem(msgspec.Struct, forbid_unknown_fields=True):
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


class DriftRecord(msgspec.Struct, forbid_unknown_fields=True):
    event_id: int
    event_time: int
    predicted: float
    rating: float
    error: float
    drift: bool
    n_ratings: int


class UserDrift(msgspec.Struct, forbid_unknown_fields=True):
    """``drift-metrics``, ``kind: "user"``: one per user per micro-batch."""

    v: Literal[2]
    kind: Literal["user"]
    user: str
    records: list[DriftRecord]
    taste_shift: float


class GlobalDrift(msgspec.Struct, forbid_unknown_fields=True):
    """``drift-metrics``, ``kind: "global"``: each worker's aggregates, at an interval."""

    v: Literal[2]
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


class DeadLetter(msgspec.Struct, forbid_unknown_fields=True):
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


#: topic (suffix after the deployment's prefix) -> the message types it carries; a message must be one of them.
TOPIC_MESSAGES: dict[str, tuple[type, ...]] = {
    "ratings": (RatingInput, ForgetInput),
    "items": (ItemRecord,),
    "recommendations": (Recommendations,),
    "drift-metrics": (UserDrift, GlobalDrift),
    "ratings-dlq": (DeadLetter,),
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every topic's messages, by topic: ``anyOf`` the topic's types where it carries several."""
    schemas = {}
    for topic, types in TOPIC_MESSAGES.items():
        refs, components = msgspec.json.schema_components(types, ref_template="#/$defs/{name}")
        schemas[topic] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://wnnrec.invalid/schemas/{topic}.schema.json",
            "title": f"wnnrec {topic} message",
            **(refs[0] if len(refs) == 1 else {"anyOf": list(refs)}),
            "$defs": components,
        }
    return schemas


def write(folder: Path) -> list[Path]:
    """Write ``<topic>.schema.json`` for every topic into ``folder``; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for topic, schema in json_schemas().items():
        path = folder / f"{topic}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(written)
