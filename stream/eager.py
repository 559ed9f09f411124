"""Running a coroutine eagerly: its first step now, in the caller, and only what is left after its first wait as an
awaitable, as Python 3.12's eager tasks do (this project runs on 3.11).

faust's fetcher hands each fetched record to its handler under mode's ``Service.wait_first``, which makes four
tasks and an ``asyncio.wait`` per record (:meth:`stream.faust_compat.Consumer.wait_first`). The handler nearly always
finishes without waiting for anything (it puts the record into a queue that has room), so running its first step
directly costs a function call instead.

>>> async def answer():
...     return 42
>>> start(answer())
(True, 42)
>>> import asyncio
>>> async def later():
...     await asyncio.sleep(0)
...     return 7
>>> finished, rest = start(later())
>>> finished, asyncio.run(rest)
(False, 7)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


def start(coroutine: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run ``coroutine`` up to its first wait: ``(True, its value)`` if it finished (its exception, if it raised,
    propagates), else ``(False, a coroutine of the rest)`` to await or to run as a task."""
    try:
        waiting_on = coroutine.send(None)
    except StopIteration as finished:
        return True, finished.value
    return False, _rest(coroutine, waiting_on)


async def _rest(coroutine: Coroutine[Any, Any, Any], waiting_on: Any) -> Any:
    """Drive a coroutine stepped by hand, from what it waits on (a future, or None: it yielded to the loop once),
    the way an asyncio task drives one: its next step once that is done, where it finds the result, the exception or
    the cancellation itself; a cancellation of this task cancels what it waits on, as a task's does."""
    while True:
        thrown: BaseException | None = None
        if waiting_on is None:
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError as cancelled:
                thrown = cancelled  # nothing to cancel: the coroutine gets the cancellation thrown in, as in a task
        elif asyncio.isfuture(waiting_on):
            waiting_on._asyncio_future_blocking = False  # what a task does with a future its coroutine yields
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await waiting_on  # its outcome reaches the coroutine when it resumes (Future.__await__)
        else:
            thrown = RuntimeError(f"a coroutine yielded {waiting_on!r}, which asyncio cannot wait for")
        try:
            waiting_on = coroutine.send(None) if thrown is None else coroutine.throw(thrown)
        except StopIteration as finished:
            return finished.value
