"""The worker's topics, declared on its faust app.

Every topic carries raw bytes: the messages are encoded and checked by :mod:`stream.schemas`, so faust's codecs
are not used. Names take the deployment's ``topic_prefix`` (:class:`stream.settings.Settings`).

* ``ratings`` (input, key = user id): ratings and forget requests.
* ``recommendations`` (key = user id): the refreshed top-N after every rating or forget.
* ``drift-metrics``: one ``kind: "user"`` message per rating, and ``kind: "global"`` aggregates at an interval.
* ``ratings-dlq``: every refused input with its reason; the worker carries on with the next message.
"""

from __future__ import annotations

from typing import Any

from stream.settings import Settings
from stream.worker.context import WorkerTopics


def declare_topics(app: Any, settings: Settings) -> WorkerTopics:
    """The worker's topics on ``app``, with the deployment's partition count."""
    raw = {"key_serializer": "raw", "value_serializer": "raw", "partitions": settings.partitions}
    return WorkerTopics(
        ratings=app.topic(settings.ratings_topic, **raw),
        recommendations=app.topic(settings.recommendations_topic, **raw),
        drift_metrics=app.topic(settings.drift_topic, **raw),
        dead_letters=app.topic(settings.dlq_topic, **raw),
    )
