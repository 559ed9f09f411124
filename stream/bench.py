"""``wnnrec bench pipeline``: the whole product on a real broker, against a raw aiokafka consumer of the same topic.

Two runs, each on fresh topics with one worker process:

* throughput: all of ML-100K produced as fast as the broker takes it; ``events_per_s`` counts from the first rating
  produced to the last recommendation list received. In the same run, a plain aiokafka consumer then reads the same
  ratings topic from the start: ``raw_consume_events_per_s``, the ceiling any consumer on this machine has.
* latency: ratings offered at a fixed rate (1,000/s by default); ``latency_p50_ms`` / ``latency_p99_ms`` are from
  a rating's send to its list's arrival.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import numpy as np

from stream.replay import ensure_topics, make_producer, replay
from stream.schemas import rating_message
from stream.settings import Settings
from wnn.data import Dataset


PHASES = ("throughput", "latency")
#: The user of the ratings that probe whether a worker is serving; never part of a measurement.
WARMUP_USER = "__warmup__"


class ListCollector(threading.Thread):
    """Consumes the recommendations topic in a background thread and notes when each event's list arrived."""

    def __init__(self, settings: Settings, expected: int) -> None:
        super().__init__(daemon=True)
        self.settings, self.expected = settings, expected
        self.arrivals: dict[int, float] = {}  # event id of each rating a list covered -> first arrival
        self.lists = 0
        self.ready = threading.Event()
        self.stop_requested = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._consume())
        except BaseException as exc:  # surfaced to the caller
            self.error = exc
            self.ready.set()

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(self.settings.recommendations_topic, bootstrap_servers=self.settings.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    group_id=f"bench-lists-{uuid.uuid4().hex[:8]}", fetch_max_wait_ms=5)
        await consumer.start()
        try:
            await consumer.seek_to_beginning()
            self.ready.set()
            while not self.stop_requested and len(self.arrivals) < self.expected:
                batches = await consumer.getmany(timeout_ms=100, max_records=5000)
                now = time.perf_counter()
                for records in batches.values():
                    self.lists += len(records)
                    for record in records:
                        for covered in json.loads(record.value).get("events", ()):
                            if covered["cause"] == "rating":
                                self.arrivals.setdefault(covered["event_id"], now)
        finally:
            await consumer.stop()


async def _raw_consume_rate(settings: Settings, expected: int) -> float:
    """Messages per second of a bare aiokafka consumer reading the ratings topic from the beginning."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(settings.ratings_topic, bootstrap_servers=settings.bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=f"bench-raw-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    try:
        count, start = 0, None
        while count < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10000)
            if start is None and batches:
                start = time.perf_counter()
            count += sum(len(r) for r in batches.values())
        return count / (time.perf_counter() - start)
    finally:
        await consumer.stop()


def start_worker(settings: Settings, log_path: str) -> subprocess.Popen:
    """``wnnrec worker`` as a child process with these settings."""
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=settings.bootstrap, WNNREC_APP_ID=settings.app_id,
               WNNREC_TOPIC_PREFIX=settings.topic_prefix, WNNREC_PARTITIONS=str(settings.partitions),
               WNNREC_STATE_DIR=str(settings.state_dir), WNNREC_WEB_PORT=str(settings.web_port))
    if settings.data:
        env["WNNREC_DATA_FOLDER"] = settings.data
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "stream.cli", "worker", "--loglevel", "warning"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_worker(process: subprocess.Popen, timeout: float = 30.0) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_until_serving(settings: Settings, process: subprocess.Popen, collector: ListCollector,
                       timeout: float = 120.0) -> None:
    """Send a warm-up rating until its list comes back: the worker is then assigned, recovered and processing."""
    producer = make_producer(settings)
    deadline = time.monotonic() + timeout
    warm_id = -1
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the worker exited with code {process.returncode} before serving")
        producer.send(settings.ratings_topic, key=WARMUP_USER.encode(),
                      value=rating_message(WARMUP_USER, "__warmup_item__", 3.0, 0, event_id=warm_id))
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
    """``base`` with a new app id, topic prefix and state folder, so a run never meets an earlier one's data."""
    run = f"{tag}-{uuid.uuid4().hex[:8]}"
    return dataclasses.replace(base, app_id=f"wnnrec-{run}", topic_prefix=f"{run}.",
                               state_dir=base.state_dir / run)


def _run_phase(base: Settings, dataset: Dataset, tag: str, limit: int | None, max_rate: float | None,
               progress: bool, log_path: str, raw: bool) -> dict:
    settings = fresh_settings(base, tag)
    n = min(limit or dataset.n_ratings, dataset.n_ratings)
    ensure_topics(settings, [settings.ratings_topic, settings.recommendations_topic], settings.partitions)
    collector = ListCollector(settings, expected=n + 1)
    collector.start()
    collector.ready.wait(60)
    if collector.error:
        raise collector.error
    worker = start_worker(settings, log_path)
    try:
        wait_until_serving(settings, worker, collector)
        warm = set(collector.arrivals)
        sent: dict[int, float] = {}
        stats = replay(settings, dataset, limit=n, max_rate=max_rate, progress=progress,
                       on_send=lambda e, t: sent.__setitem__(e, t))
        deadline = time.monotonic() + max(120.0, n / 500)
        while time.monotonic() < deadline and len(set(collector.arrivals) - warm) < n:
            if worker.poll() is not None:
                raise RuntimeError(f"the worker died (code {worker.returncode}); see {log_path}")
            time.sleep(0.1)
        collector.stop_requested = True
        received = {e: t for e, t in collector.arrivals.items() if e in sent}
        latencies = np.array([received[e] - sent[e] for e in received]) * 1e3
        result = {
            "n_events": n, "lists_received": len(received),
            "events_per_s": len(received) / (max(received.values()) - stats.first_send) if received else 0.0,
            "produce_events_per_s": stats.rate, "offered_rate": max_rate,
            "latency_p50_ms": float(np.percentile(latencies, 50)) if len(latencies) else None,
            "latency_p99_ms": float(np.percentile(latencies, 99)) if len(latencies) else None,
        }
    finally:
        stop_worker(worker)
        collector.stop_requested = True
        collector.join(10)
        shutil.rmtree(settings.state_dir, ignore_errors=True)
    if raw:
        result["raw_consume_events_per_s"] = asyncio.run(_raw_consume_rate(settings, n))
    return result


def bench_pipeline(base: Settings, dataset: Dataset, limit: int | None = None, latency_rate: float = 1000.0,
                   latency_events: int = 10000, progress: bool = True, phases: tuple[str, ...] = PHASES) -> dict:
    """Run the phases; returns the JSON document (keys of the issue, plus each phase's details)."""
    log_path = os.path.join(tempfile.gettempdir(), f"wnnrec-bench-worker-{os.getpid()}.log")
    result: dict = {"partitions": base.partitions, "worker_log": log_path}
    if "throughput" in phases:
        throughput = _run_phase(base, dataset, "tput", limit, None, progress, log_path, raw=True)
        result.update(events_per_s=throughput["events_per_s"],
                      raw_consume_events_per_s=throughput["raw_consume_events_per_s"],
                      ratio_vs_raw_consume=throughput["events_per_s"] / throughput["raw_consume_events_per_s"],
                      throughput_run=throughput)
    if "latency" in phases:
        latency = _run_phase(base, dataset, "lat", min(latency_events, limit or latency_events), latency_rate,
                             progress, log_path, raw=False)
        result.update(latency_p50_ms=latency["latency_p50_ms"], latency_p99_ms=latency["latency_p99_ms"],
                      latency_offered_rate=latency_rate, latency_run=latency)
    return result
