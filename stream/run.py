"""``wnnrec run`` (``make run``): the main job end to end on a real broker, with a summary of what came out.

It starts the broker with ``deploy/kafka/start`` unless one already answers, starts one worker on fresh topics,
replays MovieLens-100K, waits for every list, reads the drift and dead-letter topics, prints a summary and stops
what it started.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

from tqdm import tqdm

from stream.bench import (WARMUP_USER, ListCollector, fresh_settings, start_worker, stop_worker,
                          wait_until_serving)
from stream.replay import BrokerUnavailable, ensure_topics, replay
from stream.settings import Settings
from wnn.data import load_dataset

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "kafka"


def broker_answers(settings: Settings) -> bool:
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        KafkaAdminClient(bootstrap_servers=settings.bootstrap, bootstrap_timeout_ms=3000,
                         request_timeout_ms=3000).close()
        return True
    except KafkaError:
        return False


def read_topic(settings: Settings, topic: str, raw: bool = False) -> list:
    """Every JSON value currently in ``topic`` (with ``raw``: every ``(key, value)`` as bytes), in partition
    order."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap, enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=2000)
    partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    end = consumer.end_offsets(partitions)
    values = []
    while any(consumer.position(tp) < end[tp] for tp in partitions):
        for records in consumer.poll(timeout_ms=1000).values():
            values.extend((r.key, r.value) if raw else json.loads(r.value) for r in records)
    consumer.close()
    return values


def main_job(base: Settings, data: str | None = None, limit: int | None = None, json_path: str | None = None) -> int:
    dataset = load_dataset(data)
    started_broker = False
    if not broker_answers(base):
        print(f"no broker at {base.bootstrap}: starting one with {DEPLOY / 'start'}")
        subprocess.run([str(DEPLOY / "start")], check=True, stdout=subprocess.DEVNULL)
        started_broker = True
        if not broker_answers(base):
            raise BrokerUnavailable(f"deploy/kafka/start ran but {base.bootstrap} does not answer")
    settings = fresh_settings(base, "run")
    n = min(limit or dataset.n_ratings, dataset.n_ratings)
    log_path = str(Path(settings.state_dir).with_suffix(".log"))
    Path(settings.state_dir).parent.mkdir(parents=True, exist_ok=True)
    ensure_topics(settings, settings.topics, settings.partitions)
    collector = ListCollector.started(settings, expected=n + 1)
    worker = start_worker(settings, log_path)
    try:
        wait_until_serving(settings, worker, collector)
        warm = len(collector.arrivals)
        stats = replay(settings, dataset, limit=n)
        deadline = time.monotonic() + max(300.0, n / 200)
        with tqdm(total=n, desc="lists", unit="list") as bar:
            while len(collector.arrivals) - warm < n and time.monotonic() < deadline and worker.poll() is None:
                time.sleep(0.2)
                bar.update(len(collector.arrivals) - warm - bar.n)
            bar.update(len(collector.arrivals) - warm - bar.n)
        lists = len(collector.arrivals) - warm  # ratings covered by a list
        last = max(collector.arrivals.values()) if collector.arrivals else stats.first_send
        time.sleep(settings.drift_interval_s + 1)  # let the last global drift window be reported
    finally:
        stop_worker(worker)
        collector.stop_requested = True
        collector.join(10)
    user_drift = [d for d in read_topic(settings, settings.drift_topic)
                  if d.get("kind") == "user" and d["user"] != WARMUP_USER]
    drift = [record for d in user_drift for record in d["records"]]
    dead = read_topic(settings, settings.dlq_topic)
    summary = {
        "ratings_replayed": n, "ratings_covered_by_lists": lists, "lists_emitted": collector.lists,
        "dlq_messages": len(dead),
        "drift_metrics": len(drift), "drift_flags": sum(1 for d in drift if d["drift"]),
        "users_flagged": len({d["user"] for d in user_drift if any(r["drift"] for r in d["records"])}),
        "mean_abs_error_before_learning": round(sum(abs(d["error"]) for d in drift) / max(len(drift), 1), 4),
        "events_per_s": round(lists / (last - stats.first_send), 1) if lists else 0.0,
        "topics_prefix": settings.topic_prefix, "worker_log": log_path,
    }
    print(json.dumps(summary, indent=2))
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(settings.state_dir, ignore_errors=True)
    if started_broker:
        subprocess.run([str(DEPLOY / "stop")], check=False, stdout=subprocess.DEVNULL)
    return 0 if lists == n else 1
