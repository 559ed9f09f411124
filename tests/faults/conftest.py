"""Harness of the fault suite (``make test-faults``): real broker, real worker processes, and the checks every case
ends with.

The reference is what an uninterrupted run must end with, and it does not depend on timing: every rating of the
slice stored exactly once in its user's state, minus the forgotten ones; every item's count and rating sum equal to
those ratings'; and the worker's live item statistics equal to what its stored users derive (projections included,
exactly: they are sums of integers).
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from stream.admin import KEEP_EVERYTHING_MS, create_topics, make_producer
from stream.messages import rating_message
from stream.processor import StreamProcessor
from stream.settings import Settings
from stream.user_layout import MANIFEST_VERSIONS, manifest_of, split_key
from stream.user_state import UserState
from wnn import user_codec
from wnn.state_format import load_document
from wnnrec.deployment import ListCollector, api_get, delete_topics_of, fresh_settings, start_worker, stop_worker
from wnnrec.run import read_topic

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kafka"


def slice_events(dataset, n: int, start: int = 0) -> list[tuple[str, str, float, int, int]]:
    """``(user, item, rating, ts, event_id)`` of ratings ``start .. start+n`` in time order."""
    return [
        (
            dataset.user_ids[dataset.users[e]],
            dataset.item_ids[dataset.items[e]],
            float(dataset.ratings[e]),
            int(dataset.timestamps[e]),
            e,
        )
        for e in range(start, start + n)
    ]


class Deployment:
    """Fresh topics, a collector of every list, and worker processes that can be killed."""

    def __init__(self, bootstrap: str, tmp_path: Path, tag: str, web_port: int, batch_max: int = 200) -> None:
        base = Settings(
            bootstrap=bootstrap,
            state_dir=tmp_path / "state",
            web_port=web_port,
            partitions=4,
            batch_max=batch_max,
            data=None,
        )
        self.settings = fresh_settings(base, tag)
        self.tmp_path = tmp_path
        create_topics(self.settings, retention_ms=KEEP_EVERYTHING_MS)  # a MovieLens replay: 1997 timestamps
        self.collector = ListCollector.started(self.settings, expected=10**12)
        self.workers: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, str] = {}
        self.ports: dict[str, int] = {}

    def start(
        self,
        name: str = "w1",
        web_port: int | None = None,
        state_dir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen:
        import dataclasses

        settings = dataclasses.replace(
            self.settings, web_port=web_port or self.settings.web_port, state_dir=state_dir or self.settings.state_dir
        )
        self.logs[name] = str(self.tmp_path / f"{name}.log")
        self.ports[name] = settings.web_port
        self.workers[name] = start_worker(settings, self.logs[name], env)
        return self.workers[name]

    def kill(self, name: str) -> None:
        """kill -9: no shutdown, no flush, no commit."""
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers[name].wait()

    def alive(self, name: str) -> bool:
        return self.workers[name].poll() is None

    def close(self) -> None:
        for process in self.workers.values():
            stop_worker(process)
        self.collector.stop_requested = True
        self.collector.join(10)
        delete_topics_of(self.settings)

    def produce(self, messages, max_rate: float | None = None, **producer_options) -> None:
        """``(key bytes or None, value bytes)`` pairs onto the ratings topic, optionally paced."""
        producer = make_producer(self.settings, **producer_options)
        start = time.perf_counter()
        for k, (key, value) in enumerate(messages):
            if max_rate:
                wait = start + k / max_rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            producer.send(self.settings.ratings_topic, key=key, value=value)
        producer.flush()
        producer.close()

    def wait_covered(self, event_ids, timeout: float = 180.0, what: str = "lists") -> float:
        """Wait until lists cover all ``event_ids``; returns the seconds it took."""
        wanted = set(event_ids)
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if wanted.issubset(self.collector.arrivals):
                return time.monotonic() - start
            time.sleep(0.2)
        missing = sorted(wanted - set(self.collector.arrivals))
        health = {name: self.health(name) for name in self.workers}  # rebalancing? recovering? owned? counters
        for name, process in self.workers.items():  # a stuck worker writes its threads' and tasks' stacks to its log
            if process.poll() is None:
                with open(self.logs[name], "a") as log:
                    log.write(f"\n[fault harness] timed out; /health: {health[name]}\n")
                os.kill(process.pid, signal.SIGQUIT)
                os.kill(process.pid, signal.SIGUSR1)
        time.sleep(2)
        tails = {name: open(log).read()[-12000:] for name, log in self.logs.items()}
        raise AssertionError(
            f"timed out waiting for {what}: {len(missing)} not covered (e.g. {missing[:5]}); /health: {health}; "
            f"worker logs: {tails}"
        )

    def committed_offsets(self) -> dict[int, int]:
        """The worker group's committed offset of each ratings partition (0 where none was committed yet)."""
        from kafka.admin import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.settings.bootstrap, **self.settings.kafka_python_options())
        try:
            committed = admin.list_group_offsets({self.settings.faust_id: None})[self.settings.faust_id]
        finally:
            admin.close()
        offsets = {
            tp.partition: meta.offset for tp, meta in committed.items() if tp.topic == self.settings.ratings_topic
        }
        return {partition: offsets.get(partition, 0) for partition in range(self.settings.partitions)}

    def health(self, name: str) -> dict | str:
        """A worker's ``/health`` (open without a token), or why it did not answer."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[name]}/health", timeout=5) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:  # 503 while rebalancing or recovering: the body says which
            return json.loads(error.read())
        except OSError as error:
            return f"no answer: {error}"

    def resume_time(self, since: float, covered_before: int, timeout: float = 120.0) -> float:
        """Seconds from ``since`` (time.monotonic) until a list covers a rating not covered before."""
        while time.monotonic() - since < timeout:
            if len(self.collector.arrivals) > covered_before:
                return time.monotonic() - since
            time.sleep(0.05)
        raise AssertionError("processing did not resume")

    def wait_balanced(self, web_ports: list[int], timeout: float = 60.0) -> dict[int, list[int]]:
        """Wait until the workers behind ``web_ports`` own disjoint, non-empty sets of partitions that cover them
        all (a settled group); returns the partitions each owns."""
        deadline = time.monotonic() + timeout
        while True:
            owned = {}
            for port in web_ports:
                try:
                    owned[port] = self.item_stats(port)["owned_partitions"]
                except Exception:  # not serving yet
                    owned[port] = []
            every = [p for parts in owned.values() for p in parts]
            if all(owned.values()) and sorted(every) == list(range(self.settings.partitions)):
                return owned
            if time.monotonic() > deadline:
                raise AssertionError(f"the group did not settle within {timeout:.0f} s: {owned}")
            time.sleep(0.2)

    def item_stats(self, web_port: int | None = None) -> dict:
        settings = dataclasses.replace(self.settings, web_port=web_port or self.settings.web_port)
        return api_get(settings, "/item-stats", timeout=30)

    def stored_users(self) -> dict[bytes, bytes]:
        """The latest value of every key of the user table's changelog (a key whose latest message is a tombstone is
        absent): what a recovery restores."""
        topic = self.settings.changelog_topic("user-wnn")
        latest: dict[bytes, bytes] = {}
        for key, value in read_topic(self.settings, topic, raw=True):
            if value is None:
                latest.pop(key, None)
            else:
                latest[key] = value
        return latest

    def writes_ahead_of_their_manifest(self) -> list[bytes]:
        """Keys of the user table's changelog that hold more than their user's manifest names: a segment longer
        than the manifest's count for it, or one the manifest does not name (what a crash between a segment write
        and its manifest write leaves)."""
        stored = self.stored_users()
        space = StreamProcessor().space
        ahead = []
        for key, value in sorted(stored.items()):
            user_key, kind, seq = split_key(key)
            if kind != "segment":
                continue
            manifest = stored.get(user_key)
            if manifest is None:
                ahead.append(key)
                continue
            _, seqs, counts, _, _ = manifest_of(
                load_document(manifest, MANIFEST_VERSIONS, None, "manifest"), space.config.fingerprint()
            )
            named = dict(zip(seqs, counts))
            if seq not in named or user_codec.decode_segment(value, space).n > named[seq]:
                ahead.append(key)
        return ahead

    def dead_letters(self) -> list[dict]:
        return read_topic(self.settings, self.settings.dlq_topic)


def ratings_of(events) -> list[tuple[bytes, bytes]]:
    return [(user.encode(), rating_message(user, item, rating, ts, event_id=e)) for user, item, rating, ts, e in events]


def check_against_uninterrupted(
    deployment: Deployment, events, forgotten: set[int] = frozenset(), web_port: int | None = None, catalogue=None
) -> dict:
    """The end state must be what an uninterrupted run ends with. Returns the counts it checked."""
    expected: dict[str, set[int]] = collections.defaultdict(set)
    for user, _, _, _, e in events:
        if e not in forgotten:
            expected[user].add(e)
    reference = StreamProcessor(catalogue=catalogue)
    stored = deployment.stored_users()
    lost = twice = resurrected = 0
    for user, wanted in expected.items():
        state = UserState.load(stored.get, user.encode(), reference.space, 10**6)
        assert state is not None, f"user {user} has no stored state"
        ids = [p["event_id"] for p in state.wnn.pairs()]
        twice += len(ids) - len(set(ids))
        lost += len(wanted - set(ids))
        resurrected += len(set(ids) & forgotten)
    # item statistics: counts and sums against the ratings, projections against what the stored users derive
    counts: collections.Counter = collections.Counter()
    sums: collections.Counter = collections.Counter()
    for _, item, rating, _, e in events:
        if e not in forgotten:
            counts[item] += 1
            sums[item] += rating
    live = deployment.item_stats(web_port)["items"]
    count_diff = sum(counts[i] != live.get(i, {}).get("count", 0) for i in set(counts) | set(live))
    sum_diff = sum(sums[i] != live.get(i, {}).get("sum", 0.0) for i in set(sums) | set(live))
    derived = reference.derived_shares(sorted(stored.items()))
    projection: dict[str, np.ndarray] = collections.defaultdict(
        lambda: np.zeros(reference.config.collab_bits, dtype=np.int64)
    )
    for shares in derived.values():
        for idx, share in shares.items():
            projection[str(reference.space.key(idx))] += share.projection
    projection_diff = sum(not np.array_equal(projection[i], np.array(live[i]["projection"])) for i in live)
    result = {
        "users": len(expected),
        "ratings": sum(map(len, expected.values())),
        "lost": lost,
        "learned_twice": twice,
        "resurrected": resurrected,
        "item_count_differences": count_diff,
        "item_sum_differences": sum_diff,
        "item_projection_differences": projection_diff,
    }
    assert (lost, twice, resurrected, count_diff, sum_diff, projection_diff) == (0, 0, 0, 0, 0, 0), result
    return result


def broker_is_ours() -> bool:
    """Whether the broker was started by deploy/kafka/start (only then may a test stop and start it)."""
    probe = subprocess.run(["bash", "-c", f"source {DEPLOY}/common.sh && kafka_running_pid"], capture_output=True)
    return probe.returncode == 0 and probe.stdout.strip() != b""


@pytest.fixture
def deployment_factory(kafka_bootstrap, tmp_path):
    made: list[Deployment] = []

    def make(tag: str, web_port: int, **kwargs) -> Deployment:
        deployment = Deployment(kafka_bootstrap, tmp_path, tag, web_port, **kwargs)
        made.append(deployment)
        return deployment

    yield make
    for deployment in made:
        deployment.close()


#: Measured numbers of the suite, written to $WNNREC_FAULTS_JSON when it is set (``make test-faults`` does).
REPORT: dict = {}


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("WNNREC_FAULTS_JSON")
    if path and REPORT:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(REPORT, indent=2) + "\n")
