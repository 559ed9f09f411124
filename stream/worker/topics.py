"""The worker's topics, declared on its faust app.

The ratings topic, which the agent reads, and every output topic of the contracts (:data:`stream.contracts.OUTPUTS`).
Every topic carries raw bytes: the messages are encoded and checked by :mod:`stream.messages`, so faust's codecs
are not used. Names take the deployment's ``topic_prefix`` (:class:`stream.settings.Settings`).
"""

from __future__ import annotations

from typing import Any

from stream.contracts import OUTPUTS
from stream.settings import Settings
from stream.worker.context import WorkerTopics


def declare_topics(app: Any, settings: Settings) -> WorkerTopics:
    """The worker's topics on ``app``, with the deployment's partition count."""
    raw = {"key_serializer": "raw", "value_serializer": "raw", "partitions": settings.partitions}
    return WorkerTopics(
        ratings=app.topic(settings.ratings_topic, **raw),
        outputs={name: app.topic(settings.topic(name), **raw) for name in OUTPUTS},
    )
