"""``wnnrec bench scale``: how a worker's cost grows with the number of users.

For each user count, a synthetic stream goes onto fresh topics and one worker drains it, as in the throughput phase
of ``wnnrec bench pipeline``. The stream is synthetic in its users only:

* user activity is Zipf-distributed over the user population (rank ``k`` has weight ``1 / k ** zipf_s``, ranks
  shuffled), as real services see a few heavy users and a long tail;
* each event copies the item and the rating of a random real MovieLens rating, so items keep their real popularity
  and their real rating distribution, and the worker's catalogue (genres, years) applies.

Reported per level: ratings/s (first list to last), the worker's RSS at the end, the size of its state folder
(RocksDB), and how many distinct users the stream touched.

``--in-process`` runs the same streams through :class:`~stream.processor.StreamProcessor` alone, with no broker and a
dict for the user table: the cost of the model and the processor without faust, Kafka or RocksDB. Each level then
reports ``us_per_rating`` (``process_batch`` plus the share folding the worker's timer does once a second, over
batches of ``batch_max`` ratings), ``users_held`` and ``cache_mib`` (the users the cache holds at the end, and their
bytes) and ``rss_mib`` (this process).

>>> stream = synthetic_events(1000, 5000, np.array([1, 2, 3]), np.array([4.0, 3.0, 5.0]), seed=0)
>>> len(stream.users), bool(stream.users.max() < 1000), sorted(set(stream.items.tolist()))
(5000, True, [1, 2, 3])
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from stream.admin import KEEP_EVERYTHING_MS, create_topics, make_producer
from stream.catalogue import publish_catalogue
from stream.messages import rating_message
from stream.settings import Settings
from wnnrec.bench.pipeline import cache_hit_share, drain, kill_worker, ready_after_wipe
from wnnrec.datasets import Dataset
from wnnrec.deployment import covered_rate, delete_topics_of, fresh_settings

DEFAULT_USERS = (1_000, 10_000, 100_000, 1_000_000)
#: How long a level waits for the worker restarted on a wiped state folder to serve; ``ready_after_kill_wipe_s`` is
#: None when it did not.
READY_TIMEOUT_S = 300.0


@dataclasses.dataclass
class SyntheticEvents:
    """Parallel arrays of one synthetic stream, in event order (event id = index)."""

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray

    def distinct_users(self) -> int:
        return int(np.unique(self.users).size)


def synthetic_events(
    n_users: int, n_events: int, real_items: np.ndarray, real_ratings: np.ndarray, zipf_s: float = 1.0, seed: int = 0
) -> SyntheticEvents:
    """``n_events`` events of ``n_users`` Zipf-active users, each an (item, rating) of a random real rating."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_users + 1) ** zipf_s
    ranks = rng.choice(n_users, size=n_events, p=weights / weights.sum())
    users = rng.permutation(n_users)[ranks]  # which user id holds which activity rank is random
    picks = rng.integers(0, real_items.size, size=n_events)
    return SyntheticEvents(users, real_items[picks], real_ratings[picks])


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def produce(settings: Settings, events: SyntheticEvents, item_ids: list[str], progress: bool) -> float:
    """Send the stream to the ratings topic (keyed by user); returns ratings/s."""
    producer = make_producer(settings)
    start = time.perf_counter()
    for e in tqdm(range(events.users.size), desc="produce", unit="ev", disable=not progress, mininterval=0.5):
        user = f"s{events.users[e]}"
        producer.send(
            settings.ratings_topic,
            key=user.encode(),
            value=rating_message(
                user, item_ids[events.items[e]], float(events.ratings[e]), 880_000_000 + e, event_id=e
            ),
        )
    producer.flush()
    producer.close()
    return events.users.size / (time.perf_counter() - start)


def run_level(
    base: Settings,
    dataset: Dataset,
    n_users: int,
    n_events: int,
    progress: bool,
    log_path: str,
    zipf_s: float = 1.0,
    seed: int = 0,
) -> dict[str, Any]:
    """One user count: produce its stream, let one worker drain it, measure; then kill the worker (SIGKILL), wipe
    its state folder and time a new worker to its first list (:func:`~wnnrec.bench.pipeline.ready_after_wipe`)."""
    settings = fresh_settings(base, f"scale{n_users}")
    events = synthetic_events(n_users, n_events, dataset.items, dataset.ratings, zipf_s, seed)
    create_topics(settings, retention_ms=KEEP_EVERYTHING_MS)
    publish_catalogue(settings, dataset, progress=False)
    produce_rate = produce(settings, events, dataset.item_ids, progress)
    try:
        timeout = max(600.0, n_events / 200)
        covered, rss, _, costs = drain(settings, n_events, timeout, log_path, progress, stop=kill_worker)
        state_bytes = _folder_bytes(settings.state_dir) if settings.state_dir.exists() else 0
        try:
            ready_s: float | None = ready_after_wipe(settings, log_path, READY_TIMEOUT_S)
        except TimeoutError:  # a restart that does not serve is a result (a miss), not the end of the benchmark
            ready_s = None
    finally:
        shutil.rmtree(settings.state_dir, ignore_errors=True)
        delete_topics_of(settings)
    rate = covered_rate(covered)
    return {
        "users": n_users,
        "distinct_users_in_stream": events.distinct_users(),
        "n_events": n_events,
        "ratings_covered": len(covered),
        "events_per_s": rate,
        "worker_rss_mib": rss,
        "state_folder_mib": state_bytes / (1 << 20),
        "produce_events_per_s": produce_rate,
        "changelog_bytes_per_rating": costs["changelog_bytes_per_rating"],
        "changelog_bytes_per_rating_by_table": costs["changelog_bytes_per_rating_by_table"],
        "stage_us_per_rating": costs["stage_us_per_rating"],
        "output_messages_per_rating": costs["output_messages_per_rating"],
        "output_messages_per_rating_by_topic": costs["output_messages_per_rating_by_topic"],
        "cache_hit_share": costs["cache_hit_share"],
        "ready_after_kill_wipe_s": ready_s,
    }


def _rss_mib() -> float | None:
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return None


def run_level_in_process(
    base: Settings,
    dataset: Dataset,
    n_users: int,
    n_events: int,
    progress: bool,
    zipf_s: float = 1.0,
    seed: int = 0,
) -> dict[str, Any]:
    """One user count through the processor alone (:mod:`wnnrec.bench.in_process`)."""
    from stream.processor import StreamProcessor
    from wnnrec.bench.in_process import drive, rating_batches

    events = synthetic_events(n_users, n_events, dataset.items, dataset.ratings, zipf_s, seed)
    processor = StreamProcessor(base, catalogue=dataset)
    batches = rating_batches(
        (f"s{u}" for u in events.users.tolist()),
        (dataset.item_ids[i] for i in events.items.tolist()),
        events.ratings.tolist(),
        range(880_000_000, 880_000_000 + n_events),
        base.batch_max,
        base.partitions,
    )
    with tqdm(total=n_events, desc=f"{n_users:,} users", unit="ev", disable=not progress, mininterval=0.5) as bar:
        busy = drive(processor, batches, base.share_publish_interval_s, bar)
    return {
        "users": n_users,
        "distinct_users_in_stream": events.distinct_users(),
        "n_events": n_events,
        "us_per_rating": busy / n_events * 1e6,
        "events_per_s": n_events / busy,
        "users_held": len(processor.cache),
        "cache_hit_share": cache_hit_share(processor.user_lookups),
        "cache_mib": processor.cache.currsize / (1 << 20),
        "rss_mib": _rss_mib(),
    }


def bench_scale_in_process(
    base: Settings,
    dataset: Dataset,
    users: tuple[int, ...] = DEFAULT_USERS,
    min_events: int = 100_000,
    zipf_s: float = 1.0,
    progress: bool = True,
) -> dict[str, Any]:
    """Every level through the processor alone, each with ``max(min_events, users)`` events; the JSON document."""
    from wnn.kernels.warm import warm_up

    warm_up()  # the kernels' compile is a start-up cost, not a level's
    levels = [run_level_in_process(base, dataset, n, max(min_events, n), progress, zipf_s) for n in users]
    return {"in_process": True, **_document(base, zipf_s, levels)}


def _document(base: Settings, zipf_s: float, levels: list[dict[str, Any]]) -> dict[str, Any]:
    """What both forms of the benchmark report besides their levels' own numbers."""
    return {
        "zipf_s": zipf_s,
        "partitions": base.partitions,
        "batch_max": base.batch_max,
        "list_messages": base.list_messages,
        "cache_mib": base.cache_mib,
        "levels": levels,
    }


def bench_scale(
    base: Settings,
    dataset: Dataset,
    users: tuple[int, ...] = DEFAULT_USERS,
    min_events: int = 100_000,
    zipf_s: float = 1.0,
    progress: bool = True,
) -> dict[str, Any]:
    """Every level; each gets ``max(min_events, users)`` events, so every level's stream is at least as long as
    its population. Returns the JSON document."""
    log_path = os.path.join(tempfile.gettempdir(), f"wnnrec-scale-worker-{os.getpid()}.log")
    levels = [run_level(base, dataset, n, max(min_events, n), progress, log_path, zipf_s) for n in users]
    smallest = levels[0]["events_per_s"]
    for level in levels:
        level["events_per_s_vs_smallest"] = level["events_per_s"] / smallest if smallest else None
    return {**_document(base, zipf_s, levels), "worker_log": log_path}
