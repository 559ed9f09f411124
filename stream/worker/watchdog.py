"""The worker's watchdogs: input that stopped arriving, and input skipped during a rebalance, is read again.

* :func:`read_again_if_stalled`: when the agent has taken no input for :data:`STALL_S` (messages it skipped as
  read before a seek do not count) while an owned partition has input beyond what the agent expects, every owned
  partition is read again from there, and the flow-control state is logged (a stall means some fetch path stopped
  delivering, or delivers only what comes after an offset that never arrives).
* :func:`seek_skipped_partitions`: what a batch skipped during a rebalance and faust's post-recovery seek did not
  bring again is read again once the rebalance ends.
"""

from __future__ import annotations

import asyncio
import logging
import time

from stream.worker.context import Worker

log = logging.getLogger(__name__)

#: The stall watchdog reads again when no input reached the agent for this long while an owned partition had
#: more, and it checks this often.
STALL_S = 5.0
STALL_CHECK_S = 1.0
#: A batch still running after this long no longer holds the watchdog back (the agent may be stuck inside it).
BUSY_LIMIT_S = 60.0
#: A rebalance still going on after this long is logged (and again every as long), with the consumer's flow state.
LONG_REBALANCE_S = 30.0
#: How often the worker looks for partitions skipped during a rebalance.
SKIPPED_CHECK_S = 1.0


def register(worker: Worker) -> None:
    """Start both watchdogs as timers of ``worker.app``."""

    @worker.app.timer(interval=SKIPPED_CHECK_S)
    async def seek_skipped() -> None:
        await seek_skipped_partitions(worker)

    @worker.app.timer(interval=STALL_CHECK_S)
    async def stall_check() -> None:
        await read_again_if_stalled(worker)


async def seek_skipped_partitions(worker: Worker) -> None:
    skipped_in_rebalance = worker.skipped_in_rebalance
    if not skipped_in_rebalance or worker.rebalancing:
        return
    skipped = {
        partition: offset
        for partition, offset in skipped_in_rebalance.items()
        if worker.continuity.expected.get(partition, -1) <= offset
    }  # the others were read again since
    skipped_in_rebalance.clear()
    if skipped:
        # Every owned partition goes back to where the agent expects it (or to its committed offset), which is at
        # or before what was skipped: seeking to the skipped offset itself would step over what came before.
        log.info(
            "partitions %s of %s: reading again, input was skipped during the rebalance",
            sorted(skipped),
            worker.settings.ratings_topic,
        )
        await worker.read_again([])


def stalled_for(worker: Worker, now: float) -> bool:
    """Whether the agent has waited for input long enough to look for a stall: no rebalance going on, no input for
    :data:`STALL_S`, and no batch in progress (or one stuck beyond :data:`BUSY_LIMIT_S`).

    What counts is the time since input last reached the agent, less the time the agent spent inside a batch:
    processing it and waiting for room in the delivery pipeline (a broker outage holds deliveries, and so the
    agent, there). Deliveries still in flight while the agent waits for input are not a stall of input."""
    clock = worker.clock
    if worker.rebalancing:
        # A rebalance (and its table recovery) that does not end keeps every input away from the agent and this
        # watchdog quiet: say so, with what the worker is waiting for (the fault suite saw one).
        since = clock.rebalancing_since = clock.rebalancing_since or now
        if now - since > LONG_REBALANCE_S and now - clock.rebalance_warned_at > LONG_REBALANCE_S:
            clock.rebalance_warned_at = now
            log.warning(
                "still rebalancing after %.0f s (recovering: %s); flow: %s",
                now - since,
                worker.recovering,
                worker.app.consumer.flow_report(),
            )
        return False
    clock.rebalancing_since = clock.rebalance_warned_at = 0.0
    if now - clock.last_batch_at < STALL_S:
        return False
    # a slow batch (or one waiting for room to deliver during a broker outage) is not a stall
    return clock.batch_since is None or now - clock.batch_since >= BUSY_LIMIT_S


async def read_again_if_stalled(worker: Worker) -> None:
    if not stalled_for(worker, time.monotonic()):
        return
    owned = worker.owned_ratings_partitions()
    if not owned:
        return
    consumer, continuity = worker.app.consumer, worker.continuity
    try:
        ends = await asyncio.wait_for(consumer.end_offsets(*owned), timeout=STALL_S)
    except TimeoutError:
        log.warning("stall check: the consumer thread did not answer within %.0f s", STALL_S)
        return
    starts = {
        tp.partition: await consumer.start_offset(tp) for tp in owned if continuity.next_offset(tp.partition) is None
    }
    behind = continuity.behind({tp.partition: end for tp, end in ends.items()}, starts.__getitem__)
    if not behind:
        return
    continuity.stalls += 1
    log.warning(
        "no input reached the agent for %.0f s while partitions %s of %s have more (next expected, log end: %s); "
        "reading them again. Flow: %s",
        time.monotonic() - worker.clock.last_batch_at,
        sorted(behind),
        worker.settings.ratings_topic,
        behind,
        consumer.flow_report(),
    )
    worker.clock.last_batch_at = time.monotonic()
    await worker.read_again([])
