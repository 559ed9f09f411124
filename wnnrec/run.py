"""``wnnrec run`` (``make run``): the main job end to end on a real broker, with a summary of what came out.

It starts the broker with ``deploy/kafka/start`` unless one already answers, starts one worker on fresh topics,
replays MovieLens-100K, waits for every list, reads the drift and dead-letter topics back, prints a summary, writes a
report folder (:mod:`wnnrec.run_report`), and stops what it started and deletes the run's topics and state, Ctrl-C
included. ``--embedded`` runs the same agents in process, without Kafka (:mod:`wnnrec.embedded`).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from stream.admin import KEEP_EVERYTHING_MS, BrokerUnavailable, create_topics, delete_run_topics
from stream.catalogue import publish_catalogue
from stream.messages import drift_records_of
from stream.settings import Settings
from wnnrec.datasets import Dataset, load_dataset
from wnnrec.deployment import WARMUP_USER, ListCollector, fresh_settings, start_worker, stop_worker, wait_until_serving
from wnnrec.embedded import JobResult
from wnnrec.replay import replay
from wnnrec.run_report import prequential_mae, summarize

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "kafka"


def broker_answers(settings: Settings) -> bool:
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        KafkaAdminClient(
            bootstrap_servers=settings.bootstrap,
            bootstrap_timeout_ms=3000,
            request_timeout_ms=3000,
            **settings.kafka_python_options(),
        ).close()
        return True
    except KafkaError:
        return False


def read_topic(settings: Settings, topic: str, raw: bool = False, positions: bool = False) -> list[Any]:
    """Every JSON value currently in ``topic`` (with ``raw``: every ``(key, value)`` as bytes; with ``positions``
    too: ``(partition, offset, key, value)``), in partition order."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        enable_auto_commit=False,
        group_id=None,
        **settings.kafka_python_options(),
        consumer_timeout_ms=2000,
    )
    partitions = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or [])]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    end = consumer.end_offsets(partitions)
    values: list[Any] = []
    while any(consumer.position(tp) < end[tp] for tp in partitions):
        for records in consumer.poll(timeout_ms=1000).values():
            values.extend(
                ((r.partition, r.offset, r.key, r.value) if positions else (r.key, r.value))
                if raw
                else json.loads(r.value)
                for r in records
            )
    consumer.close()
    return values


def _can_start_a_broker() -> str | None:
    """None if deploy/kafka/start can run here, else what is missing."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    return None if not missing else f"{' and '.join(missing)} not found on PATH"


def main_job(
    base: Settings,
    data: str | None = None,
    limit: int | None = None,
    report_dir: str | None = None,
    embedded: bool = False,
    before_cleanup: Callable[[Settings], None] | None = None,
) -> int:
    """Run the main job and write its report; returns 0 when every rating was covered by a list.
    ``before_cleanup`` is called with the run's settings before its topics are deleted (tests read them there)."""
    from wnnrec.run_report import summary_text, write_report

    dataset = load_dataset(data)
    report_dir = report_dir or f"runs/{time.strftime('%Y%m%d-%H%M%S')}"
    if embedded:
        from wnnrec.embedded import embedded_job

        summary, records, arrivals, latencies = embedded_job(dataset, limit or EMBEDDED_RATINGS)
    else:
        summary, records, arrivals, latencies = _on_kafka(base, dataset, limit, before_cleanup)
    folder = write_report(report_dir, summary, records, arrivals, latencies, dataset.scale)
    print(summary_text(summary))
    print(f"report: {folder}/report.md (summary.json and plots beside it)")
    return 0 if summary["ratings_covered_by_lists"] == summary["ratings_replayed"] else 1


#: Ratings of the ``--embedded`` run (all agents in one process, no broker): a slice, not the whole stream.
EMBEDDED_RATINGS = 5000


def _on_kafka(
    base: Settings,
    dataset: Dataset,
    limit: int | None,
    before_cleanup: Callable[[Settings], None] | None = None,
) -> JobResult:
    started_broker = False
    if not broker_answers(base):
        missing = _can_start_a_broker()
        if missing:
            raise BrokerUnavailable(
                f"no Kafka broker at {base.bootstrap}, and none can be started here ({missing}; install Java 17+ "
                "and Maven, e.g. `apt install openjdk-17-jre-headless maven`). `wnnrec run --embedded` runs the "
                f"same agents in-process on {EMBEDDED_RATINGS:,} ratings, without Kafka."
            )
        print(f"no broker at {base.bootstrap}: starting one with {DEPLOY / 'start'}", flush=True)
        subprocess.run([str(DEPLOY / "start")], check=True, stdout=subprocess.DEVNULL)
        started_broker = True
        if not broker_answers(base):
            raise BrokerUnavailable(f"deploy/kafka/start ran but {base.bootstrap} does not answer")
    settings = dataclasses.replace(fresh_settings(base, "run"), rating_scale=dataset.scale)  # the worker rates on it
    n = min(limit or dataset.n_ratings, dataset.n_ratings)
    log_path = str(Path(settings.state_dir).with_suffix(".log"))
    worker = collector = None
    sent_at: dict[int, float] = {}
    try:
        Path(settings.state_dir).parent.mkdir(parents=True, exist_ok=True)
        create_topics(settings, retention_ms=KEEP_EVERYTHING_MS)
        publish_catalogue(settings, dataset, progress=False)
        collector = ListCollector.started(settings, expected=n + 1)
        worker = start_worker(settings, log_path)
        wait_until_serving(settings, worker, collector)
        warm = set(collector.arrivals)
        stats = replay(settings, dataset, limit=n, on_send=lambda e, t: sent_at.__setitem__(e, t))
        deadline = time.monotonic() + max(300.0, n / 200)
        with tqdm(total=n, desc="lists", unit="rating") as bar:
            while len(collector.arrivals) - len(warm) < n and time.monotonic() < deadline and worker.poll() is None:
                time.sleep(0.2)
                bar.update(len(collector.arrivals) - len(warm) - bar.n)
            bar.update(len(collector.arrivals) - len(warm) - bar.n)
        arrivals = {e: t for e, t in collector.arrivals.items() if e not in warm}
        stop_worker(worker)
        worker = None
        records = [
            record
            for doc in read_topic(settings, settings.drift_topic)
            for record in drift_records_of(doc)
            if record["user"] != WARMUP_USER
        ]
        dead = read_topic(settings, settings.dlq_topic)
        latencies = [(sent_at[e], (t - sent_at[e]) * 1000.0) for e, t in arrivals.items() if e in sent_at]
        last = max(arrivals.values(), default=stats.first_send)
        summary = summarize(
            records,
            dead,
            n,
            len(arrivals),
            collector.lists - len(warm),
            [ms for _, ms in latencies],
            last - stats.first_send,
            prequential_mae(dataset, n),
        )
        summary.update(topic_prefix=settings.topic_prefix, worker_log=log_path)
        if before_cleanup is not None:
            before_cleanup(settings)
        return summary, records, list(arrivals.values()), latencies
    finally:  # also on Ctrl-C: stop what this run started, and leave no topic or state behind
        if worker is not None:
            stop_worker(worker)
        if collector is not None:
            collector.stop_requested = True
            collector.join(10)
        try:
            deleted = delete_run_topics(settings)
            print(f"deleted the run's {len(deleted)} topics ({settings.topic_prefix}*)")
        except Exception as exc:  # the broker may be what failed
            print(f"could not delete the run's topics ({settings.topic_prefix}*): {exc}")
        shutil.rmtree(settings.state_dir, ignore_errors=True)
        if started_broker:
            subprocess.run([str(DEPLOY / "stop"), "--wipe"], check=False, stdout=subprocess.DEVNULL)
