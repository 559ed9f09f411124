"""Address faust tables to the right partition while an agent works on a micro-batch.

A faust table picks the partition of a read or write (its RocksDB column and its changelog partition) from the
*current event*, a context variable faust sets to the event the stream last yielded. A batch from
``Stream.take_events`` holds events of several partitions, but the current event is only the last one, so a write
for a user of another partition would land in the wrong RocksDB partition and changelog partition. faust 0.15 has
no public API to write a table key for a given partition (``Table.send_changelog(partition, ...)`` sends the
changelog message but does not update the local store), so this module sets faust's context variable to an event
of the right partition for the duration of the table operations, and restores it after. This is the one place that
touches faust's private ``_current_event``; ``tests/stream/test_partition_context.py`` pins its behaviour.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

from faust import streams as faust_streams


@contextlib.contextmanager
def acting_for(event: Any) -> Iterator[None]:
    """Make ``event`` faust's current event inside the block (so tables read and write its partition)."""
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)
