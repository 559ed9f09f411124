"""``wnnrec replay``: MovieLens as a timestamped event stream on Kafka (kafka-python producer).

Ratings go out in timestamp order (stable for ties), keyed by user id, with the rating time as the Kafka message
timestamp and the row's position in that order as its ``event_id`` (so replaying twice into the same topic is
idempotent for the worker). ``speed`` compresses event time (86400 = one day of ratings per second); ``max_rate``
caps messages per second; without either, it sends as fast as the broker takes them. With ``implicit`` only the
likes go out (ratings at or above the scale's like threshold), each as an implicit event without stars
(:func:`stream.messages.implicit_message`), with the event id of its row.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from stream.admin import KEEP_EVERYTHING_MS, create_topics, make_producer
from stream.contracts import RATINGS
from stream.messages import implicit_message, rating_message
from stream.settings import Settings
from wnnrec.datasets import Dataset


@dataclasses.dataclass
class ReplayStats:
    sent: int
    seconds: float
    first_send: float
    last_send: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else float("inf")


def pacing_due(start: float, k: int, event_seconds: float, speed: float | None, max_rate: float | None) -> float | None:
    """When the ``k``-th message may be sent (perf_counter seconds), or None to send at once: event time compressed
    by ``speed``, and at most ``max_rate`` messages per second since ``start``; the later of the two."""
    due = None
    if speed:
        due = start + event_seconds / speed
    if max_rate:
        due = max(due or start, start + k / max_rate)
    return due


def replay(
    settings: Settings,
    dataset: Dataset,
    speed: float | None = None,
    max_rate: float | None = None,
    limit: int | None = None,
    offset: int = 0,
    progress: bool = True,
    producer: Any = None,
    on_send: Callable[[int, float], None] | None = None,
    implicit: bool = False,
) -> ReplayStats:
    """Produce ``dataset`` ratings ``[offset, offset + limit)`` to the ratings topic (with ``implicit``, only their
    likes, as implicit events). See the module docstring."""
    create_topics(settings, [RATINGS], retention_ms=KEEP_EVERYTHING_MS)
    own = producer is None
    producer = producer or make_producer(settings)
    n = min(limit or dataset.n_ratings, dataset.n_ratings - offset)
    users, items = dataset.users, dataset.items
    ratings, stamps = dataset.ratings.tolist(), dataset.timestamps.tolist()
    user_ids, item_ids = dataset.user_ids, dataset.item_ids
    topic = settings.ratings_topic
    start = time.perf_counter()
    first_ts = stamps[offset] if n else 0
    first_send = last_send = start
    sent = 0
    like = dataset.scale.like_threshold
    try:
        for k in tqdm(range(n), desc="replay", unit="ev", disable=not progress, mininterval=0.5):
            e = offset + k
            if implicit and ratings[e] < like:
                continue
            due = pacing_due(start, sent, stamps[e] - first_ts, speed, max_rate)
            if due is not None:
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            user = user_ids[users[e]]
            if implicit:
                value = implicit_message(user, item_ids[items[e]], stamps[e], event_id=e)
            else:
                value = rating_message(user, item_ids[items[e]], ratings[e], stamps[e], event_id=e)
            last_send = time.perf_counter()
            if sent == 0:
                first_send = last_send
            producer.send(topic, key=user.encode(), value=value, timestamp_ms=stamps[e] * 1000)
            sent += 1
            if on_send is not None:
                on_send(e, last_send)
    finally:  # Ctrl-C or an error: what was handed to the producer is still delivered
        producer.flush()
        if own:
            producer.close()
    return ReplayStats(sent, time.perf_counter() - start, first_send, last_send)
