"""The worker's agent: it moves bytes between Kafka and :meth:`stream.processor.StreamProcessor.process_batch`.

The agent gets each partition's records of a consumer fetch as one event (:mod:`stream.faust_compat`; without batch
delivery it gathers single messages with ``Stream.take_events``). For each batch it:

1. holds it back during a rebalance (the tables may not be recovered; :mod:`stream.worker.watchdog` reads what it
   skipped again once the rebalance ends);
2. admits the records that continue each partition's offsets and reads a partition again from a hole
   (:mod:`stream.offsets`);
3. hands the admitted records to the processor, writes the changed user states to the table and sends the lists,
   drift records and dead letters;
4. gives the batch to the delivery pipeline (:mod:`stream.delivery`), which marks its input processed once its
   outputs are delivered, and goes on to the next without waiting for that.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from faust.types import TP

from stream import crash_points
from stream.batch import BatchOutput, Incoming
from stream.faust_compat import InputRecord, acting_for, records_of, write_table
from stream.user_layout import split_key
from stream.worker.context import Worker

#: One input record with the event that brought it (tables address partitions through an event).
Record = tuple[Any, InputRecord]


def register(worker: Worker) -> Any:
    """Start the agent on ``worker.app``, reading the ratings topic; returns faust's agent."""

    @worker.app.agent(worker.topics.ratings)
    async def process(stream: Any) -> None:
        await consume(worker, stream)

    return process


async def consume(worker: Worker, stream: Any) -> None:
    """The agent's loop: every batch of the stream, in order."""
    settings = worker.settings
    # On the batch path every event is one fetch's records of a partition, processed as soon as it arrives; on the
    # per-message path (and in test_context()) take_events gathers single messages into micro-batches.
    events_per_step = 1 if settings.batch_delivery else settings.batch_max
    async for events in stream.take_events(events_per_step, within=settings.batch_linger_s):
        arrived = time.monotonic()
        if not worker.catalogue_ready.is_set():
            await worker.catalogue_ready.wait()
        records = [(event, record) for event in events for record in records_of(event)]
        if worker.rebalancing:
            worker.clock.last_batch_at = arrived
            hold_back(worker, records)
            continue
        worker.clock.batch_since = arrived
        took = await process_records(worker, records)
        worker.clock.batch_since = None
        # Only input the agent took is progress: a partition read again after a hole whose awaited offset never
        # comes gets nothing but skipped messages, and the stall watchdog must still see it stalled.
        if took:
            worker.clock.last_batch_at = time.monotonic()


def hold_back(worker: Worker, records: list[Record]) -> None:
    """Skip what arrives during a rebalance, noting the first skipped offset of each partition.

    Until the rebalance ends the tables may not be recovered, and whatever arrives may be left over from the previous
    generation. faust's post-recovery seek brings most of it again, but not what was fetched after that seek and
    before the rebalance ended: those partitions are read again once it has."""
    worker.continuity.dropped_in_rebalance += len(records)
    skipped = worker.skipped_in_rebalance
    for _, record in records:
        skipped[record.partition] = min(skipped.get(record.partition, record.offset), record.offset)


async def admit(worker: Worker, positions: list[tuple[int, int]], generation: int) -> list[int]:
    """The indexes of the records at ``positions`` (partition, offset) that continue their partitions' offsets; a
    partition with a hole before its records is read again from the hole (unless a rebalance has begun a new
    generation meanwhile)."""
    consumer, topic = worker.app.consumer, worker.settings.ratings_topic
    starts = {
        partition: await consumer.start_offset(TP(topic, partition))
        for partition in worker.continuity.unknown_partitions(positions)
    }
    admitted, holes = worker.continuity.admit(positions, starts.get)
    if holes and worker.app.consumer_generation_id == generation:
        await worker.read_again(holes)
    return admitted


async def process_records(worker: Worker, records: list[Record]) -> bool:
    """Admit, process and send one batch, and hand its outputs to the delivery pipeline; whether any of its records
    was admitted (the others were skipped: read before a seek, or after a hole)."""
    generation = worker.app.consumer_generation_id
    positions = [(record.partition, record.offset) for _, record in records]
    admitted = await admit(worker, positions, generation)
    expected = worker.continuity.expected
    processed = {partition: expected[partition] for partition, _ in positions if partition in expected}
    representative: dict[int, Any] = {}  # partition -> one of its events: tables address partitions by the event
    batch = []
    for index in admitted:
        event, (partition, offset, key, value, _) = records[index]
        representative[partition] = event
        batch.append(Incoming(key, value, partition, offset))
    started = time.perf_counter()
    out = worker.processor.process_batch(
        batch, lambda key, partition: read_user(worker, representative, key, partition)
    )
    learned = time.perf_counter()
    if crash_points.ARMED:
        await crash_between_segment_and_manifest(worker, out.states, representative, len(batch))
    outputs = write_states(worker, out, representative)
    written = time.perf_counter()
    outputs += send_outputs(worker, out)
    # Only input whose outputs (table changelogs included) are delivered may be committed: the pipeline marks the
    # batch's unbroken runs processed once its outputs and every earlier batch's are (stream.delivery). A crash before
    # that redelivers the batch, whose ratings the processor recognises by event id.
    if worker.app.consumer_generation_id == generation:
        worker.delivery.add(processed, outputs)
    sent = time.perf_counter()
    now = time.time()
    for index in admitted:  # each input's age as its output (its list, or its dead letter) goes out
        worker.metrics.input_age_seconds.observe(now - records[index][1].timestamp)
    await worker.delivery.wait_for_room()
    waited = time.perf_counter()
    observe_batch(worker, len(batch), out, learned - started, written - learned, sent - written, waited - sent)
    return bool(admitted)


def read_user(worker: Worker, representative: dict[int, Any], key: bytes, partition: int) -> bytes | None:
    """A user-table value, read from the partition's store."""
    with acting_for(representative[partition]):
        value: bytes | None = worker.tables.users.get(key)
        return value


def write_states(worker: Worker, out: BatchOutput, representative: dict[int, Any]) -> list[asyncio.Future[Any]]:
    """Write the batch's changed user-table keys; the changelog deliveries' futures."""
    users = worker.tables.users
    futures = [write_table(users, representative[partition], key, value) for partition, key, value in out.states]
    worker.metrics.observe_changelog("user-wnn", out.states)
    return futures


def send_outputs(worker: Worker, out: BatchOutput) -> list[asyncio.Future[Any]]:
    """Send the batch's messages to their output topics (lists, drift records, dead letters); the futures of their
    deliveries."""
    futures = []
    for name, messages in out.messages.items():
        topic = worker.topics.outputs[name]
        for key, value in messages:
            futures.append(topic.send_soon(key=key, value=value))
        worker.metrics.observe_sent(name, len(messages))
    return futures


def observe_batch(
    worker: Worker, inputs: int, out: BatchOutput, learn_s: float, write_s: float, send_s: float, wait_s: float
) -> None:
    metrics = worker.metrics
    metrics.batch_events.observe(inputs)
    metrics.lists_sent.inc(out.lists)
    for stage, seconds in (("learn", learn_s), ("table_write", write_s), ("send", send_s), ("delivery_wait", wait_s)):
        metrics.stage_seconds.labels(stage).observe(seconds)


async def crash_between_segment_and_manifest(
    worker: Worker, writes: list[tuple[int, bytes, bytes | None]], representative: dict[int, Any], inputs: int
) -> None:
    """The fault suite's crash point (stream.crash_points): once enough inputs were processed, on the first batch
    whose first user's writes include a segment, deliver those writes up to the user's manifest, then die."""
    crash_points.processed(crash_points.BETWEEN_SEGMENT_AND_MANIFEST, inputs)
    kinds = [parsed[1] if (parsed := split_key(key)) else "" for _, key, _ in writes]
    first = kinds.index("manifest") if "manifest" in kinds else 0
    if "segment" not in kinds[:first] or not crash_points.due(crash_points.BETWEEN_SEGMENT_AND_MANIFEST):
        return
    users = worker.tables.users
    await asyncio.gather(
        *(write_table(users, representative[partition], key, value) for partition, key, value in writes[:first])
    )
    crash_points.crash(crash_points.BETWEEN_SEGMENT_AND_MANIFEST)
