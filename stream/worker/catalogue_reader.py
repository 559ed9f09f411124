"""The worker's catalogue reader: the ``items`` topic is read whole before the first rating, then followed.

See :mod:`stream.catalogue`. Without a broker (``test_context()``, ``--embedded``) there is nothing to follow: the
caller hands the processor its catalogue and the agent does not wait.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging

from stream import catalogue
from stream.contracts import DEAD_LETTERS
from stream.worker.context import Worker

log = logging.getLogger(__name__)

#: Seconds before a failed reader starts again from the top.
RETRY_S = 1.0


def register(worker: Worker) -> None:
    """Follow the catalogue topic in a task of ``worker.app``."""

    @worker.app.task
    async def follow_items() -> None:
        await follow(worker)


async def follow(worker: Worker) -> None:
    """Read the catalogue into the processor and keep reading it; the catalogue must not take the worker down."""
    topic = worker.settings.items_topic
    while True:
        try:
            await catalogue.follow(
                worker.settings, functools.partial(apply_item, worker), functools.partial(caught_up, worker)
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error("reading the catalogue topic %s failed (%r); reading it again", topic, exc)
            await asyncio.sleep(RETRY_S)


async def apply_item(worker: Worker, key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
    """One catalogue message into the processor; a refused one goes to the dead-letter topic with its reason."""
    letter = worker.processor.on_item(key, value, partition, offset)
    if letter is not None:
        reason = json.loads(letter)["reason"]
        log.warning("%s[%d]@%d refused: %s", worker.settings.items_topic, partition, offset, reason)
        await worker.topics.output(DEAD_LETTERS).send(key=key, value=letter)
        worker.metrics.observe_sent(DEAD_LETTERS.name, 1)


def caught_up(worker: Worker, messages: int) -> None:
    """The reader reached the catalogue's end: the agent may start."""
    if not messages:
        log.warning(
            "the catalogue topic %s is empty: items have no content bits until `wnnrec catalogue publish`",
            worker.settings.items_topic,
        )
    log.info("catalogue: %d messages read, %d items described", messages, len(worker.processor.descriptions))
    worker.catalogue_ready.set()
