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
import collections
import dataclasses
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from typing import Any

import numpy as np
from tqdm import tqdm

from stream.admin import create_topics, delete_run_topics, make_producer
from stream.catalogue import publish_catalogue
from stream.messages import rating_message
from stream.settings import Settings
from wnnrec.datasets import Dataset
from wnnrec.replay import replay

PHASES = ("throughput", "latency")
#: The user of the ratings that probe whether a worker is serving; never part of a measurement.
WARMUP_USER = "__warmup__"


class ListCollector(threading.Thread):
    """Consumes the recommendations topic in a background thread and notes when each event's list arrived."""

    def __init__(self, settings: Settings, expected: int) -> None:
        super().__init__(daemon=True)
        self.settings, self.expected = settings, expected
        self.arrivals: dict[int, float] = {}  # event id of each rating a list covered -> first arrival
        self.coverage: collections.Counter[int] = collections.Counter()  # event id -> lists that covered it
        self.repeats_by_partition: collections.Counter[int] = collections.Counter()  # partition -> second coverings
        # event id -> (partition, input offset) as its first list gave them (lists share their input's partition)
        self.input_positions: dict[int, tuple[int, int]] = {}
        self.lists = 0
        self.ready = threading.Event()
        self.stop_requested = False
        self.error: BaseException | None = None

    @classmethod
    def started(cls, settings: Settings, expected: int) -> ListCollector:
        """A collector that is already consuming (or raises what stopped it)."""
        collector = cls(settings, expected)
        collector.start()
        collector.ready.wait(60)
        if collector.error:
            raise collector.error
        return collector

    def run(self) -> None:
        try:
            asyncio.run(self._consume())
        except BaseException as exc:  # surfaced to the caller
            self.error = exc
            self.ready.set()

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        # No consumer group: the partitions are assigned by hand, so a run leaves no group behind (and the first
        # run on a fresh broker logs no group-coordinator errors).
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
            fetch_max_wait_ms=5,
            **self.settings.aiokafka_options(),
        )
        await consumer.start()
        try:
            topic = self.settings.recommendations_topic
            await consumer.topics()  # metadata, for partitions_for_topic
            partitions = consumer.partitions_for_topic(topic) or set(range(self.settings.partitions))
            consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
            await consumer.seek_to_beginning()
            self.ready.set()
            while not self.stop_requested and len(self.arrivals) < self.expected:
                batches = await consumer.getmany(timeout_ms=100, max_records=5000)
                now = time.perf_counter()
                for tp, records in batches.items():
                    self.lists += len(records)
                    for record in records:
                        for covered in json.loads(record.value).get("events", ()):
                            if covered["cause"] == "rating":
                                self.arrivals.setdefault(covered["event_id"], now)
                                self.input_positions.setdefault(covered["event_id"], (tp.partition, covered["offset"]))
                                self.coverage[covered["event_id"]] += 1
                                if self.coverage[covered["event_id"]] > 1:
                                    self.repeats_by_partition[tp.partition] += 1
        finally:
            await consumer.stop()


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


def start_worker(
    settings: Settings, log_path: str, env: dict[str, str] | None = None, loglevel: str = "warning"
) -> subprocess.Popen[bytes]:
    """``wnnrec worker`` as a child process with these settings, logging at ``loglevel`` to ``log_path``, with any
    extra environment."""
    env = dict(os.environ, **settings.to_env(), **(env or {}))
    log = open(log_path, "ab")
    return subprocess.Popen(
        [sys.executable, "-m", "wnnrec", "worker", "--loglevel", loglevel],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_worker(process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_serving(
    settings: Settings, process: subprocess.Popen[bytes], collector: ListCollector, timeout: float = 120.0
) -> None:
    """Send a warm-up rating until its list comes back: the worker is then assigned, recovered and processing."""
    producer = make_producer(settings)
    deadline = time.monotonic() + timeout
    warm_id = -1
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited with code {process.returncode} before serving")
        producer.send(
            settings.ratings_topic,
            key=WARMUP_USER.encode(),
            value=rating_message(WARMUP_USER, "__warmup_item__", 3.0, 0, event_id=warm_id),
        )
        producer.flush()
        for _ in range(20):
            if warm_id in collector.arrivals:
                producer.close()
                return
            time.sleep(0.25)
        warm_id -= 1
    producer.close()
    raise TimeoutError(f"the worker did not answer within {timeout:.0f} s")


def fresh_settings(base: Settings, tag: str) -> Settings:
    """``base`` with a new app id, topic prefix and state folder, so a run never meets an earlier one's data, and
    a fresh API token unless ``base`` has one."""
    run = f"{tag}-{uuid.uuid4().hex[:8]}"
    token = base.api_token or (None if base.api_token_file or base.insecure_no_auth else secrets.token_urlsafe(24))
    return dataclasses.replace(
        base, app_id=f"wnnrec-{run}", topic_prefix=f"{run}.", state_dir=base.state_dir / run, api_token=token
    )


def delete_topics_of(settings: Settings) -> None:
    """Delete a finished run's topics (changelogs included), so benchmarks and tests leave the broker as they found
    it: thousands of leftover partitions made a shared broker measurably slower."""
    try:
        delete_run_topics(settings)
    except Exception as exc:  # a cleanup must not hide the run's own result or error
        print(f"warning: could not delete the topics of {settings.topic_prefix}*: {exc}", file=sys.stderr)


def api_get(settings: Settings, path: str, timeout: float = 10.0) -> Any:
    """GET one of a worker's API paths with its token; the decoded JSON answer."""
    request = urllib.request.Request(f"http://127.0.0.1:{settings.web_port}{path}")
    token = settings.resolved_api_token()
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _process_rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


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


def _ceiling_rate(settings: Settings, n: int, timeout: float, batch_delivery: bool) -> float:
    """events/s of the bare faust agent (:mod:`wnnrec.bench.ceiling`) draining the ratings topic under a fresh group, on
    the per-message path or the batch path."""
    ceiling = dataclasses.replace(
        settings, app_id=f"{settings.app_id}-bare-{'batch' if batch_delivery else 'msg'}", batch_delivery=batch_delivery
    )
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "ceiling.json")
        log = open(os.path.join(folder, "ceiling.log"), "wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "wnnrec.bench.ceiling", str(n), out],
            env=dict(os.environ, **ceiling.to_env()),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while not os.path.exists(out):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "the bare faust agent did not finish: "
                        + open(os.path.join(folder, "ceiling.log")).read()[-2000:]
                    )
                time.sleep(0.1)
            time.sleep(0.05)
            doc = json.loads(open(out).read())
        finally:
            stop_worker(process)
        return doc["events"] / (doc["last"] - doc["first"])


def worker_costs(settings: Settings) -> dict[str, Any]:
    """What a running worker's ``/metrics`` says each learned rating cost: microseconds in each batch stage, and
    changelog bytes (key and value) our producer wrote, per table and in all."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    ratings, stage_s, changelog = 0.0, {}, {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "wnnrec_ratings_total":
                ratings = sample.value
            elif sample.name == "wnnrec_stage_seconds_sum":
                stage_s[sample.labels["stage"]] = sample.value
            elif sample.name == "wnnrec_changelog_bytes_total":
                changelog[sample.labels["table"]] = sample.value
    per = max(ratings, 1.0)
    return {
        "ratings_learned": int(ratings),
        "stage_us_per_rating": {stage: seconds * 1e6 / per for stage, seconds in sorted(stage_s.items())},
        "changelog_bytes_per_rating_by_table": {table: b / per for table, b in sorted(changelog.items())},
        "changelog_bytes_per_rating": sum(changelog.values()) / per,
    }


def drain(
    settings: Settings, n_events: int, timeout: float, log_path: str, progress: bool
) -> tuple[list[float], float | None, ListCollector, dict[str, Any]]:
    """Start one worker on topics that already hold events ``0 .. n_events - 1`` and wait until lists cover them
    all. Returns the first list arrival of each covered event (in event order), the worker's RSS at the end, the
    collector and :func:`worker_costs`. The worker is stopped; its state folder is left for the caller."""
    collector = ListCollector.started(settings, expected=n_events)
    worker = start_worker(settings, log_path)
    try:
        _wait_for_lists(collector, worker, set(range(n_events)), timeout, log_path, progress)
        rss = _process_rss_mib(worker.pid)
        time.sleep(settings.share_publish_interval_s + 0.5)  # the item-statistics shares of the last batches
        costs = worker_costs(settings)
    finally:
        stop_worker(worker)
        collector.stop_requested = True
        collector.join(10)
    return [collector.arrivals[e] for e in range(n_events) if e in collector.arrivals], rss, collector, costs


def covered_rate(covered: list[float]) -> float:
    """Events per second from the first list to the last."""
    return len(covered) / (max(covered) - min(covered)) if len(covered) > 1 else 0.0


def _throughput_phase(
    base: Settings, dataset: Dataset, limit: int | None, progress: bool, log_path: str
) -> dict[str, Any]:
    settings = fresh_settings(base, "tput")
    n = min(limit or dataset.n_ratings, dataset.n_ratings)
    create_topics(settings)
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
        "produce_events_per_s": stats.rate,
        "worker_rss_mib": rss,
        **costs,
        "covered_per_second": timeline,
    }


def _latency_phase(
    base: Settings, dataset: Dataset, n: int, rate: float, progress: bool, log_path: str
) -> dict[str, Any]:
    settings = fresh_settings(base, "lat")
    create_topics(settings)
    publish_catalogue(settings, dataset, progress=False)
    collector = ListCollector.started(settings, expected=10**12)
    worker = start_worker(settings, log_path)
    try:
        wait_until_serving(settings, worker, collector)
        sent: dict[int, float] = {}
        replay(
            settings, dataset, limit=n, max_rate=rate, progress=progress, on_send=lambda e, t: sent.__setitem__(e, t)
        )
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
            changelog_bytes_per_rating=median("changelog_bytes_per_rating"),
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
