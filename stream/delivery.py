"""Pipelined delivery: the agent takes the next batch while the last one's outputs are on their way to the broker.

A batch's input may be committed only once everything it wrote (table changelogs, lists, drift records, dead
letters) is delivered. Waiting for that before taking the next batch cost most of a batch's time at low rates.
:class:`DeliveryPipeline` instead keeps the batches whose outputs are in flight, oldest first, and marks a batch's
input processed (``mark(partition, next_offset)``) when its outputs *and every earlier batch's* are delivered, so
what is committed is always a prefix of what is done, even when deliveries complete out of order.

When one output fails (the producer gave up: a broker outage longer than its delivery timeout), no later batch is
marked either: the pipeline forgets every batch in flight, calls ``on_failure`` and stays *halted*, tracking and
marking nothing, until :meth:`DeliveryPipeline.resume`. The worker reads its partitions again from the last marked
offsets and resumes the pipeline once its input guard expects exactly those offsets; the batches processed after
the failed one come again, and the processor recognises their ratings by event id (duplicates rewrite the user's
state and re-send the list, so what was not delivered is delivered then). Drift records of those ratings are not
sent again.

>>> import asyncio
>>> async def demo():
...     marked = []
...     pipeline = DeliveryPipeline(lambda p, o: marked.append((p, o)), on_failure=print, depth=2)
...     first, second = asyncio.get_running_loop().create_future(), asyncio.get_running_loop().create_future()
...     pipeline.add({0: 10}, [first])
...     pipeline.add({0: 20, 1: 5}, [second])
...     second.set_result(None)          # the later batch is delivered first: nothing is marked yet
...     await asyncio.sleep(0)
...     before = list(marked)
...     first.set_result(None)
...     await asyncio.sleep(0)
...     return before, marked
>>> asyncio.run(demo())
([], [(0, 10), (0, 20), (1, 5)])
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import time
from collections.abc import Callable, Iterable
from typing import Any


@dataclasses.dataclass(eq=False)
class _InFlight:
    marks: dict[int, int]
    waiting: int
    epoch: int
    since: float


class DeliveryPipeline:
    """Batches whose outputs are in flight, oldest first (see the module docstring).

    Parameters
    ----------
    mark
        Called with ``(partition, next_offset)`` for each partition of a batch once it and every earlier batch are
        delivered.
    on_failure
        Called with the exception when an output of a batch in flight fails; the pipeline is empty by then.
    depth
        Batches that may be in flight while the agent processes the next; :meth:`wait_for_room` holds the agent
        beyond that. 0: the agent waits for each batch's delivery.
    """

    def __init__(
        self, mark: Callable[[int, int], None], on_failure: Callable[[BaseException], None], depth: int = 8
    ) -> None:
        self._mark = mark
        self._on_failure = on_failure
        self.depth = depth
        self._batches: collections.deque[_InFlight] = collections.deque()
        self._epoch = 0
        self._room = asyncio.Event()
        self._room.set()
        self.delivered = 0
        self.failures = 0
        self.halted = False

    @property
    def in_flight(self) -> int:
        return len(self._batches)

    def oldest_age_s(self) -> float:
        """How long the oldest batch in flight has waited for its outputs (0 when none is)."""
        return time.monotonic() - self._batches[0].since if self._batches else 0.0

    def add(self, marks: dict[int, int], outputs: Iterable[asyncio.Future[Any]]) -> None:
        """A processed batch: the next offset of each of its partitions, and the futures of everything it sent.
        While halted (after a failure, until :meth:`resume`) a batch is not tracked: its input is read again."""
        if self.halted:
            return
        outputs = list(outputs)
        batch = _InFlight(dict(marks), len(outputs), self._epoch, time.monotonic())
        self._batches.append(batch)
        self._update_room()
        if not outputs:
            self._advance()
        for future in outputs:
            future.add_done_callback(functools.partial(self._on_done, batch))

    async def wait_for_room(self) -> None:
        """Return once no more than ``depth`` batches are in flight."""
        while len(self._batches) > self.depth:
            await self._room.wait()

    def reset(self) -> None:
        """Forget every batch in flight without marking it (a rebalance: marks of the old generation are void)."""
        self._epoch += 1
        self._batches.clear()
        self._update_room()

    def resume(self) -> None:
        """Track and mark batches again (the input after the last marked offsets is being read again)."""
        self.halted = False

    def _on_done(self, batch: _InFlight, future: asyncio.Future[Any]) -> None:
        if batch.epoch != self._epoch:
            return  # forgotten by a reset or an earlier failure
        error = asyncio.CancelledError() if future.cancelled() else future.exception()
        if error is not None:
            self.failures += 1
            self.reset()
            self.halted = True
            self._on_failure(error)
            return
        batch.waiting -= 1
        if batch.waiting == 0 and batch is self._batches[0]:
            self._advance()

    def _advance(self) -> None:
        while self._batches and self._batches[0].waiting == 0:
            batch = self._batches.popleft()
            self.delivered += 1
            for partition, next_offset in batch.marks.items():
                self._mark(partition, next_offset)
        self._update_room()

    def _update_room(self) -> None:
        if len(self._batches) > self.depth:
            self._room.clear()
        else:
            self._room.set()
