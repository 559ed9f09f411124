"""The stream processor alone, with no broker: what the model and the processor cost without faust, Kafka or RocksDB.

:func:`drive` feeds micro-batches of input messages to :meth:`~stream.processor.StreamProcessor.process_batch` the
way the worker's agent does, keeps the user table in a dict, and asks for the item-statistics shares that are due
once a second (the worker's share timer). Building the messages is not timed. ``wnnrec bench pipeline --in-process``
replays a dataset this way (:func:`bench_dataset`); ``wnnrec bench scale --in-process`` the bench-scale streams
(:func:`wnnrec.bench.scale.run_level_in_process`).

>>> batches = list(rating_batches(["u1", "u2", "u1"], ["a", "b", "c"], [4.0, 3.0, 5.0], [0, 1, 2], 2, 4))
>>> [len(b) for b in batches], batches[1][0].partition == batches[0][0].partition   # a user keeps its partition
([2, 1], True)
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm

from stream.batch import Incoming
from stream.messages import rating_message
from stream.processor import StreamProcessor
from stream.settings import Settings
from wnnrec.datasets import Dataset


def drive(
    processor: StreamProcessor, batches: Iterable[list[Incoming]], share_interval_s: float, bar: tqdm | None = None
) -> float:
    """Process every batch with a dict as the user table; returns the seconds spent in the processor. A dead-lettered
    input is an error here: the benchmarks feed valid streams only."""
    table: dict[bytes, bytes] = {}
    busy, last_fold = 0.0, time.perf_counter()
    for messages in batches:
        start = time.perf_counter()
        out = processor.process_batch(messages, lambda key, partition: table.get(key))
        for _, key, value in out.states:
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
        now = time.perf_counter()
        if now - last_fold >= share_interval_s:  # the worker's share timer
            processor.pending_shares(now)
            last_fold = now = time.perf_counter()
        busy += now - start
        if out.dead_letters:
            raise RuntimeError(f"an input was dead-lettered: {out.dead_letters[0]}")
        if bar is not None:
            bar.update(len(messages))
    return busy


def rating_batches(
    users: Iterable[str],
    items: Iterable[str],
    ratings: Iterable[float],
    stamps: Iterable[int],
    batch: int,
    partitions: int,
) -> Iterable[list[Incoming]]:
    """Rating messages in batches of ``batch``, keyed by user, each user on one partition (event id = position)."""
    messages: list[Incoming] = []
    for e, (user, item, rating, ts) in enumerate(zip(users, items, ratings, stamps)):
        key = user.encode()
        partition = sum(key) % partitions
        messages.append(Incoming(key, rating_message(user, item, float(rating), int(ts), event_id=e), partition, e))
        if len(messages) == batch:
            yield messages
            messages = []
    if messages:
        yield messages


def bench_dataset(
    settings: Settings, dataset: Dataset, limit: int | None = None, progress: bool = True
) -> dict[str, Any]:
    """Replay ``dataset`` (its first ``limit`` ratings) in event order through a processor that holds its catalogue,
    in batches of ``settings.batch_max``; the JSON document."""
    from wnn.kernels.warm import warm_up

    warm_up()  # the kernels' compile is a start-up cost
    n = min(limit or dataset.n_ratings, dataset.n_ratings)
    processor = StreamProcessor(settings, catalogue=dataset)
    batches = rating_batches(
        (dataset.user_ids[u] for u in dataset.users[:n].tolist()),
        (dataset.item_ids[i] for i in dataset.items[:n].tolist()),
        dataset.ratings[:n].tolist(),
        dataset.timestamps[:n].tolist(),
        settings.batch_max,
        settings.partitions,
    )
    with tqdm(total=n, desc="process", unit="ev", disable=not progress, mininterval=0.5) as bar:
        busy = drive(processor, batches, settings.share_publish_interval_s, bar)
    return {
        "in_process": True,
        "dataset": dataset.name,
        "n_events": n,
        "batch_max": settings.batch_max,
        "us_per_rating": busy / n * 1e6,
        "events_per_s": n / busy,
    }
