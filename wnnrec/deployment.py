"""A worker run as a child process for the benchmarks, the main job and the integration tests: its settings on fresh
topics, its start and stop, its HTTP API, and the lists it publishes, collected.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from typing import Any

from stream.admin import delete_run_topics, make_producer
from stream.messages import lists_of, rating_message
from stream.settings import Settings

#: The user of the ratings that probe whether a worker is serving; never part of a measurement.
WARMUP_USER = "__warmup__"


class ListCollector(threading.Thread):
    """Consumes the recommendations topic in a background thread and notes when each event's list arrived."""

    def __init__(self, settings: Settings, expected: int, from_end: bool = False) -> None:
        super().__init__(daemon=True)
        self.settings, self.expected = settings, expected
        self.from_end = from_end  # only lists that arrive after it started
        self.arrivals: dict[int, float] = {}  # event id of each rating a list covered -> first arrival
        self.coverage: collections.Counter[int] = collections.Counter()  # event id -> lists that covered it
        self.repeats_by_partition: collections.Counter[int] = collections.Counter()  # partition -> second coverings
        # event id -> (partition, input offset) as its first list gave them (lists share their input's partition)
        self.input_positions: dict[int, tuple[int, int]] = {}
        self.lists = 0  # user lists (a list batch holds several)
        self.messages = 0
        self.message_bytes = 0  # the messages' values, in all
        self.ready = threading.Event()
        self.stop_requested = False
        self.error: BaseException | None = None

    @classmethod
    def started(cls, settings: Settings, expected: int, from_end: bool = False) -> ListCollector:
        """A collector that is already consuming (or raises what stopped it): every list on the topic, or with
        ``from_end`` only those that arrive after it started."""
        collector = cls(settings, expected, from_end)
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
            await (consumer.seek_to_end() if self.from_end else consumer.seek_to_beginning())
            self.ready.set()
            while not self.stop_requested and len(self.arrivals) < self.expected:
                batches = await consumer.getmany(timeout_ms=100, max_records=5000)
                now = time.perf_counter()
                for tp, records in batches.items():
                    self.messages += len(records)
                    for record in records:
                        self.message_bytes += len(record.value)
                        for listed in lists_of(json.loads(record.value)):
                            self.lists += 1
                            self._cover(tp.partition, listed["events"], now)
        finally:
            await consumer.stop()

    def _cover(self, partition: int, events: list[dict[str, Any]], now: float) -> None:
        for covered in events:
            if covered["cause"] == "rating":
                self.arrivals.setdefault(covered["event_id"], now)
                self.input_positions.setdefault(covered["event_id"], (partition, covered["offset"]))
                self.coverage[covered["event_id"]] += 1
                if self.coverage[covered["event_id"]] > 1:
                    self.repeats_by_partition[partition] += 1


def start_worker(
    settings: Settings, log_path: str, env: dict[str, str] | None = None, loglevel: str = "warning"
) -> subprocess.Popen[bytes]:
    """``wnnrec worker`` as a child process with these settings, logging at ``loglevel`` to ``log_path``, with any
    extra environment."""
    env = {**os.environ, **settings.to_env(), **(env or {})}  # the extra environment overrides the settings
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
            if not collector.is_alive():
                producer.close()
                reason = collector.error or "it had every list it expected"
                raise RuntimeError(f"the list collector stopped before the warm-up's list came ({reason})")
            time.sleep(0.25)
        warm_id -= 1
    producer.close()
    raise TimeoutError(f"the worker did not answer within {timeout:.0f} s")


def fresh_settings(base: Settings, tag: str) -> Settings:
    """``base`` with a new app id, topic prefix and state folder, so a run never meets an earlier one's data, and
    fresh API tokens (read and erase) unless ``base`` has them."""
    run = f"{tag}-{uuid.uuid4().hex[:8]}"
    fresh = not (base.api_token_file or base.insecure_no_auth)
    token = base.api_token or (secrets.token_urlsafe(24) if fresh else None)
    erase = base.api_erase_token or (secrets.token_urlsafe(24) if fresh and not base.api_erase_token_file else None)
    return dataclasses.replace(
        base,
        app_id=f"wnnrec-{run}",
        topic_prefix=f"{run}.",
        state_dir=base.state_dir / run,
        api_token=token,
        api_erase_token=erase,
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


def process_rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def covered_rate(covered: list[float]) -> float:
    """Events per second from the first list to the last."""
    return len(covered) / (max(covered) - min(covered)) if len(covered) > 1 else 0.0
