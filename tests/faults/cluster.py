"""A worker on a cluster of three brokers: what it creates there, and what losing a broker costs it.

    deploy/kafka/cluster start
    python -m tests.faults.cluster --json results/cluster_replication.json
    deploy/kafka/cluster stop --wipe

With ``KAFKA_BOOTSTRAP_SERVERS`` naming the three brokers of ``deploy/kafka/cluster`` (whose brokers give a topic
created without settings one replica and ``min.insync.replicas`` 1, so a topic that relies on those shows):

1. publishes the MovieLens catalogue, replays the first ratings and starts a worker, which leaves replication to the
   cluster (no ``--replication-factor``), then waits for lists covering every rating;
2. describes every topic of the deployment with Kafka's own ``TopicCommand``: the input and output topics, the
   tables' changelogs and faust's internal topics; each must have three replicas on every partition and
   ``min.insync.replicas`` 2;
3. kills a broker (``kill -9``), replays the next ratings and waits for lists covering them: the worker goes on with
   two replicas of three in sync; then starts the broker again.

The JSON holds every topic's replication and the seconds from the kill to the lists of the ratings sent after it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stream.admin import KEEP_EVERYTHING_MS, create_topics
from stream.catalogue import publish_catalogue
from stream.settings import Settings
from wnnrec.datasets import load_dataset
from wnnrec.deployment import (
    ListCollector,
    delete_topics_of,
    fresh_settings,
    start_worker,
    stop_worker,
    wait_until_serving,
)
from wnnrec.replay import replay

KAFKA = Path(__file__).resolve().parents[2] / "deploy" / "kafka"


def describe_topics(bootstrap: str, prefixes: tuple[str, ...]) -> dict[str, dict]:
    """Every topic whose name starts with one of ``prefixes``: its partitions' replica counts and its
    ``min.insync.replicas`` (None when the topic has no setting of its own: the broker's default applies), as
    Kafka's ``TopicCommand --describe`` prints them."""
    text = subprocess.run(
        [str(KAFKA / "tool"), "topics", "--describe", "--bootstrap-server", bootstrap],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    topics: dict[str, dict] = {}
    for line in text.splitlines():
        head = re.match(
            r"Topic: (\S+)\tTopicId: \S+\tPartitionCount: (\d+)\tReplicationFactor: (\d+)\tConfigs: ?(.*)", line
        )
        if head and head.group(1).startswith(prefixes):
            configs = dict(part.split("=", 1) for part in head.group(4).split(",") if "=" in part)
            in_sync = configs.get("min.insync.replicas")
            topics[head.group(1)] = {
                "partitions": int(head.group(2)),
                "replication_factor": int(head.group(3)),
                "min_insync_replicas": None if in_sync is None else int(in_sync),
                "replicas_per_partition": [],
            }
            continue
        part = re.match(r"\tTopic: (\S+)\tPartition: \d+\tLeader: \S+\tReplicas: (\S+)\tIsr: (\S+)", line)
        if part and part.group(1) in topics:
            topics[part.group(1)]["replicas_per_partition"].append(len(part.group(2).split(",")))
    return topics


def wait_covered(collector: ListCollector, event_ids: set[int], timeout: float, worker: subprocess.Popen) -> float:
    """Seconds until the collector has a list covering every one of ``event_ids``."""
    start = time.monotonic()
    while not event_ids <= set(collector.arrivals):
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with code {worker.returncode}")
        if time.monotonic() - start > timeout:
            missing = len(event_ids - set(collector.arrivals))
            raise TimeoutError(f"{missing} of {len(event_ids)} ratings not covered by a list within {timeout:.0f} s")
        time.sleep(0.25)
    return time.monotonic() - start


def run(bootstrap: str, ratings: int, kill_node: int, timeout: float) -> dict:
    dataset = load_dataset(None)
    state = Path(tempfile.mkdtemp(prefix="wnnrec-cluster-"))
    settings = fresh_settings(Settings(bootstrap=bootstrap, state_dir=state, web_port=6181, partitions=4), "cluster")
    create_topics(settings, retention_ms=KEEP_EVERYTHING_MS)  # a MovieLens replay: 1997 timestamps
    publish_catalogue(settings, dataset, progress=False)
    collector = ListCollector.started(settings, expected=10**9)
    worker = start_worker(settings, str(state / "worker.log"))
    report: dict = {"bootstrap": bootstrap, "ratings_before_kill": ratings, "ratings_after_kill": ratings}
    try:
        wait_until_serving(settings, worker, collector)
        replay(settings, dataset, limit=ratings, progress=False)
        report["first_lists_s"] = wait_covered(collector, set(range(ratings)), timeout, worker)
        topics = describe_topics(bootstrap, (settings.topic_prefix, settings.app_id))
        report["topics"] = topics
        report["every_topic_three_replicas"] = bool(topics) and all(
            t["replication_factor"] == 3 and set(t["replicas_per_partition"]) == {3} for t in topics.values()
        )
        report["every_topic_min_insync_2"] = bool(topics) and all(
            t["min_insync_replicas"] == 2 for t in topics.values()
        )
        subprocess.run([str(KAFKA / "cluster"), "kill", str(kill_node)], check=True)
        killed = time.monotonic()
        replay(settings, dataset, limit=ratings, offset=ratings, progress=False)
        wait_covered(collector, set(range(ratings, 2 * ratings)), timeout, worker)
        report["lists_after_kill_s"] = time.monotonic() - killed
        report["killed_node"] = kill_node
        report["worker_alive"] = worker.poll() is None
    finally:
        stop_worker(worker)
        collector.stop_requested = True
        collector.join(10)
        subprocess.run([str(KAFKA / "cluster"), "start-node", str(kill_node)], check=False)
        delete_topics_of(settings)
    report["passed"] = bool(
        report.get("every_topic_three_replicas")
        and report.get("every_topic_min_insync_2")
        and report.get("worker_alive")
    )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratings", type=int, default=2000, help="ratings replayed before the kill, and after (2000)")
    parser.add_argument("--kill-node", type=int, default=3, choices=(1, 2, 3), help="the broker killed (3)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the lists (300)")
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    args = parser.parse_args(argv)
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    if len(bootstrap.split(",")) < 3:
        parser.error("set KAFKA_BOOTSTRAP_SERVERS to the three brokers of deploy/kafka/cluster start")
    report = run(bootstrap, args.ratings, args.kill_node, args.timeout)
    summary = {k: v for k, v in report.items() if k != "topics"}
    print(json.dumps(summary, indent=2))
    for name, topic in sorted(report.get("topics", {}).items()):
        print(
            f"{name}: {topic['partitions']} partitions x {topic['replication_factor']} replicas, "
            f"min.insync.replicas {topic['min_insync_replicas']}"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
