"""``wnnrec run --embedded``: the worker's agent, in this process, without Kafka.

For a machine without Java or Maven (so without a local broker): the same faust app and agent as ``wnnrec worker``,
driven through faust's ``test_context()`` (the agent reads from an in-memory channel; the tables are in memory). Its
outputs are caught where the agent hands them to the producer, and the broker-side calls the agent makes (the
committed offset of a partition) are answered locally (:func:`without_broker`, which the agent's unit tests use
too). The summary says "embedded, no Kafka": it
shows the model and the agent's logic at work, not the engine's throughput on a broker.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from stream.messages import drift_records_of, lists_of, rating_message
from stream.settings import Settings
from stream.worker import create_worker
from stream.worker.offline import without_broker
from wnnrec.datasets import Dataset
from wnnrec.run_report import prequential_mae, summarize

#: A run's summary, drift records, list arrival times and (send time, latency ms) per rating.
JobResult = tuple[dict[str, Any], list[dict[str, Any]], list[float], list[tuple[float, float]]]


def embedded_job(dataset: Dataset, n: int) -> JobResult:
    """Run the first ``n`` ratings through the agent in process; the run's summary, drift records, list arrival
    times and (send time, latency ms) per rating."""
    return asyncio.run(_run(dataset, min(n, dataset.n_ratings)))


async def _run(dataset: Dataset, n: int) -> JobResult:
    with tempfile.TemporaryDirectory(prefix="wnnrec-embedded-") as state_dir:
        # test_context() delivers single messages: the agent gathers them as on the per-message path.
        settings = Settings(
            state_dir=Path(state_dir),
            topic_prefix="embedded.",
            api_token=secrets.token_urlsafe(24),
            batch_delivery=False,
            rating_scale=dataset.scale,
        )
        worker = create_worker(settings, store="memory://")
        worker.processor.add_catalogue(dataset)  # the catalogue, as the items topic would bring it
        outputs: dict[str, list[dict[str, Any]]] = {name: [] for name in worker.topics.outputs}
        arrivals: dict[int, float] = {}

        def sink(name: str, key: bytes | None, value: bytes, partition: int | None) -> None:
            if name not in outputs:
                return  # table changelogs: the tables are in memory
            doc = json.loads(value)
            outputs[name].append(doc)
            if name == "recommendations":
                now = time.perf_counter()
                for listed in lists_of(doc):
                    for event in listed["events"]:
                        arrivals.setdefault(event["event_id"], now)

        without_broker(worker, sink)
        users, items = dataset.user_ids, dataset.item_ids
        sent_at: dict[int, float] = {}
        agent = worker.agent
        first = time.perf_counter()
        async with agent.test_context() as context:
            for e in tqdm(range(n), desc="embedded", unit="rating", mininterval=0.5):
                user = users[dataset.users[e]]
                sent_at[e] = time.perf_counter()
                await context.put(
                    rating_message(
                        user, items[dataset.items[e]], float(dataset.ratings[e]), int(dataset.timestamps[e]), event_id=e
                    ),
                    key=user.encode(),
                )
            for _ in range(3000):  # the last batch is processed after put returns
                if len(arrivals) >= n:
                    break
                await asyncio.sleep(0.01)
        records = [record for doc in outputs["drift-metrics"] for record in drift_records_of(doc)]
        latencies = [(sent_at[e], (t - sent_at[e]) * 1000.0) for e, t in arrivals.items() if e in sent_at]
        summary = summarize(
            records,
            outputs["ratings-dlq"],
            n,
            len(arrivals),
            len(outputs["recommendations"]),
            [ms for _, ms in latencies],
            max(arrivals.values(), default=first) - first,
            prequential_mae(dataset, n),
            embedded=True,
        )
        return summary, records, list(arrivals.values()), latencies
