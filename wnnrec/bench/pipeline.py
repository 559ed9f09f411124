"""``wnnrec bench pipeline``: the whole product on a real broker, against faust's own ceiling and a raw consumer.

Each phase runs on fresh topics with one worker process:

* throughput: all of ML-100K is produced first; then the worker starts and drains it. ``events_per_s`` is ratings
  covered by lists per second from the first list to the last (start-up and recovery excluded). In the same run,
  on the same topic, a bare faust agent with the worker's consumer settings and no work (:mod:`wnnrec.bench.ceiling`)
  drains it twice, measured from its first batch to its last: on faust's per-message path with ``take_events``
  batching (``framework_ceiling_events_per_s``) and on the batch path the worker uses
  (``batch_path_ceiling_events_per_s``); and a plain aiokafka consumer reads it: ``raw_consume_events_per_s``, the
  physical reference. The worker's ``/metrics`` give ``changelog_bytes_per_rating`` (key and value bytes written
  to the tables' changelogs per learned rating) and each batch stage's microseconds per rating
  (``learn_us_per_rating``).
* latency: after a warm-up, ratings offered at a fixed rate (1,000/s and 5,000/s by default); ``latency_p99_ms`` /
  ``latency_5k_p99_ms`` are from a rating's send to the arrival of the first list that covers it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from tqdm import tqdm

from stream.admin import KEEP_EVERYTHING_MS, create_topics, make_producer
from stream.catalogue import publish_catalogue
from stream.settings import Settings
from wnnrec.datasets import Dataset
from wnnrec.deployment import (
    ListCollector,
    covered_rate,
    delete_topics_of,
    fresh_settings,
    process_rss_mib,
    start_worker,
    stop_worker,
    wait_until_serving,
)
from wnnrec.replay import replay

PHASES = ("throughput", "latency")
#: Messages the producer probe times (:mod:`wnnrec.bench.producer`), each the size of the run's mean list.
PRODUCER_MESSAGES = 20_000


async def _raw_consume_rate(settings: Settings, expected: int) -> float:
    """Messages per second of a bare aiokafka consumer reading the ratings topic from the beginning."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        settings.ratings_topic,
        bootstrap_servers=settings.bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        **settings.aiokafka_options(),
    )
    await consumer.start()
    try:
        count, start = 0, 0.0
        while count < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10000)
            if not start and batches:
                start = time.perf_counter()
            count += sum(len(r) for r in batches.values())
        return count / (time.perf_counter() - start)
    finally:
        await consumer.stop()


def _wait_for_lists(
    collector: ListCollector,
    worker: subprocess.Popen[bytes],
    expected: set[int],
    timeout: float,
    log_path: str,
    progress: bool,
) -> None:
    deadline = time.monotonic() + timeout
    with tqdm(total=len(expected), desc="lists", unit="ev", disable=not progress, mininterval=0.5) as bar:
        while time.monotonic() < deadline:
            done = len(expected.intersection(collector.arrivals))
            bar.update(done - bar.n)
            if done >= len(expected):
                return
            if worker.poll() is not None:
                raise RuntimeError(f"the worker died (code {worker.returncode}); see {log_path}")
            time.sleep(0.1)


def _run_probe(module: str, arguments: list[str], settings: Settings, timeout: float) -> dict[str, Any]:
    """Run ``python -m module arguments... OUT.json`` with ``settings``' environment until it writes OUT.json; the
    document (the probes: :mod:`wnnrec.bench.ceiling`, :mod:`wnnrec.bench.producer`)."""
    with tempfile.TemporaryDirectory() as folder:
        out, log_path = os.path.join(folder, "probe.json"), os.path.join(folder, "probe.log")
        process = subprocess.Popen(
            [sys.executable, "-m", module, *arguments, out],
            env=dict(os.environ, **settings.to_env()),
            stdout=open(log_path, "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while not os.path.exists(out):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{module} did not finish: " + open(log_path).read()[-2000:])
                time.sleep(0.1)
            time.sleep(0.05)
            document: dict[str, Any] = json.loads(open(out).read())
        finally:
            stop_worker(process)
        return document


def _ceiling_rate(settings: Settings, n: int, timeout: float, batch_delivery: bool) -> float:
    """events/s of the bare faust agent (:mod:`wnnrec.bench.ceiling`) draining the ratings topic under a fresh group, on
    the per-message path or the batch path."""
    ceiling = dataclasses.replace(
        settings, app_id=f"{settings.app_id}-bare-{'batch' if batch_delivery else 'msg'}", batch_delivery=batch_delivery
    )
    doc = _run_probe("wnnrec.bench.ceiling", [str(n)], ceiling, timeout)
    return float(doc["events"] / (doc["last"] - doc["first"]))


def producer_cost(settings: Settings, messages: int, size: int, timeout: float = 300.0) -> dict[str, float]:
    """What one output message of ``size`` bytes costs faust's producer with the worker's settings
    (:mod:`wnnrec.bench.producer`): process CPU and wall microseconds per message, and the CPU microseconds of a bare
    aiokafka producer."""
    doc = _run_probe("wnnrec.bench.producer", [str(messages), str(size)], settings, timeout)
    return {
        "producer_us_per_message": doc["cpu_s"] / doc["messages"] * 1e6,
        "producer_wall_us_per_message": doc["wall_s"] / doc["messages"] * 1e6,
        "raw_producer_us_per_message": doc["raw_cpu_s"] / doc["messages"] * 1e6,
        "producer_message_bytes": float(size),
    }


def worker_costs(settings: Settings) -> dict[str, Any]:
    """What a running worker's ``/metrics`` says each learned rating cost: microseconds in each batch stage,
    changelog bytes (key and value) our producer wrote, per table and in all, and messages produced, per topic (and
    changelog) and in all; and the share of the touched users with a stored state that the cache held."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    ratings, stage_s, changelog, messages, lookups = 0.0, {}, {}, {}, {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "wnnrec_ratings_total":
                ratings = sample.value
            elif sample.name == "wnnrec_stage_seconds_sum":
                stage_s[sample.labels["stage"]] = sample.value
            elif sample.name == "wnnrec_changelog_bytes_total":
                changelog[sample.labels["table"]] = sample.value
            elif sample.name == "wnnrec_messages_total":
                messages[sample.labels["to"]] = sample.value
            elif sample.name == "wnnrec_user_lookups_total":
                lookups[sample.labels["found_in"]] = sample.value
    per = max(ratings, 1.0)
    return {
        "ratings_learned": int(ratings),
        "stage_us_per_rating": {stage: seconds * 1e6 / per for stage, seconds in sorted(stage_s.items())},
        "changelog_bytes_per_rating_by_table": {table: b / per for table, b in sorted(changelog.items())},
        "changelog_bytes_per_rating": sum(changelog.values()) / per,
        "output_messages_per_rating_by_topic": {to: m / per for to, m in sorted(messages.items())},
        "output_messages_per_rating": sum(messages.values()) / per,
        "cache_hit_share": cache_hit_share(lookups),
    }


def kill_worker(process: subprocess.Popen[bytes]) -> None:
    """Stop a worker as a crash does: SIGKILL, no clean shutdown."""
    process.kill()
    process.wait()


def ready_after_wipe(settings: Settings, log_path: str, timeout: float) -> float:
    """Seconds from starting a worker with an empty state folder (wiped: only the changelogs hold its tables) to the
    first list of a new rating: start-up, the tables' recovery from their changelogs and the item statistics
    re-derived. The worker is stopped after."""
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    # Until stopped: the first list may well cover a rating the killed worker had not committed, not the warm-up.
    collector = ListCollector.started(settings, expected=10**12, from_end=True)
    started = time.monotonic()
    worker = start_worker(settings, log_path)
    try:
        wait_until_serving(settings, worker, collector, timeout)
        return time.monotonic() - started
    finally:
        stop_worker(worker)
        collector.stop_requested = True
        collector.join(10)


def cache_hit_share(lookups: Mapping[str, float]) -> float | None:
    """Of the touched users that had a stored state, the share found in the worker's cache (None if none had)."""
    stored = lookups.get("cache", 0.0) + lookups.get("table", 0.0)
    return lookups.get("cache", 0.0) / stored if stored else None


def drain(
    settings: Settings,
    n_events: int,
    timeout: float,
    log_path: str,
    progress: bool,
    stop: Callable[[subprocess.Popen[bytes]], None] = stop_worker,
) -> tuple[list[float], float | None, ListCollector, dict[str, Any]]:
    """Start one worker on topics that already hold events ``0 .. n_events - 1`` and wait until lists cover them
    all. Returns the first list arrival of each covered event (in event order), the worker's RSS at the end, the
    collector and :func:`worker_costs`. The worker is then stopped with ``stop``; its state folder is left for the
    caller."""
    collector = ListCollector.started(settings, expected=n_events)
    worker = start_worker(settings, log_path)
    try:
        _wait_for_lists(collector, worker, set(range(n_events)), timeout, log_path, progress)
        rss = process_rss_mib(worker.pid)
        # The item-statistics changes of the last batches are published once the oldest is old enough.
        time.sleep(settings.share_publish_max_age_s + settings.share_publish_interval_s + 0.5)
        costs = worker_costs(settings)
    finally:
        stop(worker)
        collector.stop_requested = True
        collector.join(10)
    return [collector.arrivals[e] for e in range(n_events) if e in collector.arrivals], rss, collector, costs


def _throughput_phase(
    base: Settings, dataset: Dataset, limit: int | None, progress: bool, log_path: str
) -> dict[str, Any]:
    settings = fresh_settings(base, "tput")
    n = min(limit or dataset.n_ratings, dataset.n_ratings)
    create_topics(settings, retention_ms=KEEP_EVERYTHING_MS)
    publish_catalogue(settings, dataset, progress=False)
    stats = replay(settings, dataset, limit=n, progress=progress)
    try:
        covered, rss, collector, costs = drain(settings, n, max(300.0, n / 100), log_path, progress)
    finally:
        shutil.rmtree(settings.state_dir, ignore_errors=True)
    rate = covered_rate(covered)
    timeline = np.bincount((np.array(covered) - min(covered)).astype(int)).tolist() if covered else []
    try:
        ceiling = _ceiling_rate(settings, n, timeout=max(300.0, n / 100), batch_delivery=False)
        batch_ceiling = _ceiling_rate(settings, n, timeout=max(300.0, n / 100), batch_delivery=True)
        raw = asyncio.run(_raw_consume_rate(settings, n))
        message_bytes = round(collector.message_bytes / max(collector.messages, 1))
        producer = producer_cost(settings, PRODUCER_MESSAGES, message_bytes)
    finally:
        delete_topics_of(settings)
    return {
        "n_events": n,
        "ratings_covered": len(covered),
        "lists_received": collector.lists,
        "events_per_s": rate,
        "framework_ceiling_events_per_s": ceiling,
        "batch_path_ceiling_events_per_s": batch_ceiling,
        "raw_consume_events_per_s": raw,
        **producer,
        "produce_events_per_s": stats.rate,
        "worker_rss_mib": rss,
        **costs,
        "covered_per_second": timeline,
    }


def _latency_phase(
    base: Settings, dataset: Dataset, n: int, rate: float, progress: bool, log_path: str
) -> dict[str, Any]:
    settings = fresh_settings(base, "lat")
    create_topics(settings, retention_ms=KEEP_EVERYTHING_MS)
    publish_catalogue(settings, dataset, progress=False)
    collector = ListCollector.started(settings, expected=10**12)
    worker = start_worker(settings, log_path)
    try:
        wait_until_serving(settings, worker, collector)
        sent: dict[int, float] = {}
        # A client that has not sent yet first fetches metadata and connects (about 100 ms): not the stream's
        # latency, so the clock starts with a producer that knows the topic.
        producer = make_producer(settings)
        producer.partitions_for(settings.ratings_topic)
        try:
            replay(
                settings,
                dataset,
                limit=n,
                max_rate=rate,
                progress=progress,
                producer=producer,
                on_send=lambda e, t: sent.__setitem__(e, t),
            )
        finally:
            producer.close()
        _wait_for_lists(collector, worker, set(sent), max(120.0, n / 200), log_path, progress=False)
    finally:
        stop_worker(worker)
        collector.stop_requested = True
        collector.join(10)
        shutil.rmtree(settings.state_dir, ignore_errors=True)
        delete_topics_of(settings)
    received = {e: t for e, t in collector.arrivals.items() if e in sent}
    latencies = np.array([received[e] - sent[e] for e in received]) * 1e3
    return {
        "n_events": n,
        "ratings_covered": len(received),
        "offered_rate": rate,
        "latency_p50_ms": float(np.percentile(latencies, 50)) if len(latencies) else None,
        "latency_p99_ms": float(np.percentile(latencies, 99)) if len(latencies) else None,
    }


def bench_pipeline(
    base: Settings,
    dataset: Dataset,
    limit: int | None = None,
    latency_rates: tuple[float, ...] = (1000.0, 5000.0),
    latency_events: int = 20000,
    progress: bool = True,
    phases: tuple[str, ...] = PHASES,
    rounds: int = 3,
) -> dict[str, Any]:
    """Run the phases; returns the JSON document (the issue's keys, plus each phase's details).

    The throughput phase runs ``rounds`` times (the worker, then the bare agent, on the round's own topics) and
    reports medians: this machine's speed varies by a third from minute to minute, the ratio within a round less.
    """
    log_path = os.path.join(tempfile.gettempdir(), f"wnnrec-bench-worker-{os.getpid()}.log")
    result: dict[str, Any] = {
        "partitions": base.partitions,
        "batch_max": base.batch_max,
        "list_messages": base.list_messages,
        "batch_linger_s": base.batch_linger_s,
        "fetch_max_wait_s": base.fetch_max_wait_s,
        "max_poll_records": base.max_poll_records,
        "batch_delivery": base.batch_delivery,
        "delivery_pipeline_depth": base.delivery_pipeline_depth,
        "worker_log": log_path,
    }
    if "throughput" in phases:
        runs = [_throughput_phase(base, dataset, limit, progress, log_path) for _ in range(rounds)]

        def median(key: str) -> float:
            return float(np.median([run[key] for run in runs]))

        rate, ceiling, batch_ceiling, raw = (
            median("events_per_s"),
            median("framework_ceiling_events_per_s"),
            median("batch_path_ceiling_events_per_s"),
            median("raw_consume_events_per_s"),
        )
        result.update(
            events_per_s=rate,
            framework_ceiling_events_per_s=ceiling,
            ratio_vs_framework_ceiling=rate / ceiling,
            ratio_vs_framework_ceiling_by_round=[
                run["events_per_s"] / run["framework_ceiling_events_per_s"] for run in runs
            ],
            batch_path_ceiling_events_per_s=batch_ceiling,
            ratio_vs_batch_path_ceiling=rate / batch_ceiling,
            ratio_vs_batch_path_ceiling_by_round=[
                run["events_per_s"] / run["batch_path_ceiling_events_per_s"] for run in runs
            ],
            raw_consume_events_per_s=raw,
            ratio_vs_raw_consume=rate / raw,
            producer_us_per_message=median("producer_us_per_message"),
            producer_wall_us_per_message=median("producer_wall_us_per_message"),
            raw_producer_us_per_message=median("raw_producer_us_per_message"),
            changelog_bytes_per_rating=median("changelog_bytes_per_rating"),
            output_messages_per_rating=median("output_messages_per_rating"),
            learn_us_per_rating=float(np.median([run["stage_us_per_rating"].get("learn", 0.0) for run in runs])),
            worker_rss_mib=median("worker_rss_mib"),
            throughput_runs=runs,
        )
    if "latency" in phases:
        for rate in latency_rates:
            run = _latency_phase(base, dataset, min(latency_events, limit or latency_events), rate, progress, log_path)
            prefix = "latency" if rate == 1000.0 else f"latency_{rate / 1000:g}k"
            result[f"{prefix}_p50_ms"] = run["latency_p50_ms"]
            result[f"{prefix}_p99_ms"] = run["latency_p99_ms"]
            result[f"{prefix}_run"] = run
    return result
