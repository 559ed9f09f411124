"""A worker without a broker: its agent driven through faust's ``test_context()``, its outputs handed to a sink.

For ``wnnrec run --embedded`` (a machine without Java or Maven) and the agent's unit tests: the same app and agent as
a real worker, with every broker-side call answered in this process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from stream.worker.context import Worker

#: Where :func:`without_broker` hands a write: (output topic name or ``changelog:<table>``, key, value, partition).
Sink = Callable[[str, "bytes | None", bytes, "int | None"], None]


def without_broker(worker: Worker, sink: Sink) -> None:
    """Answer in this process every broker-side call the worker's agent makes, for ``test_context()``.

    faust's ``test_context()`` feeds the agent from an in-memory channel and runs no consumer thread and no
    producer. The output topics and the tables' changelog messages go to ``sink`` instead, each returning a future
    that is already delivered (so the delivery pipeline marks the batch), and a partition's committed offset is 0.
    """

    def delivered() -> asyncio.Future[Any]:
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    def send_to(name: str) -> Callable[..., asyncio.Future[Any]]:
        def send_soon(
            key: bytes | None = None, value: bytes = b"", partition: int | None = None, **kwargs: Any
        ) -> asyncio.Future[Any]:
            sink(name, key, value, partition)
            return delivered()

        return send_soon

    def changelog_of(table: Any) -> Callable[..., asyncio.Future[Any]]:
        def send_changelog(
            partition: int, key: bytes | None, value: bytes, *args: Any, **kwargs: Any
        ) -> asyncio.Future[Any]:
            sink(f"changelog:{table.name}", key, value, partition)
            return delivered()

        return send_changelog

    for name, topic in worker.topics.outputs.items():
        topic.send_soon = send_to(name)
    for table in worker.tables:
        table.send_changelog = changelog_of(table)

    async def start_offset(tp: Any) -> int:  # nothing was committed: the in-memory channel starts at 0
        return 0

    worker.app.consumer.start_offset = start_offset
