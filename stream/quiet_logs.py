"""One log line per state change, not one per retry.

While a broker is down, aiokafka retries every few milliseconds and logs an error each time ("Unable connect to
node with id 1: ..."), and a few other messages in turn: 150,000–190,000 lines in half a minute. :class:`RepeatFilter`
lets each message template of a logger through once per :attr:`RepeatFilter.window_s` and counts the rest, so an
outage costs a few lines a minute.

>>> import logging
>>> log = logging.getLogger("demo"); log.propagate = False
>>> seen = []
>>> handler = logging.Handler(); handler.emit = lambda record: seen.append(record.getMessage())
>>> log.addHandler(handler); log.addFilter(RepeatFilter())
>>> for _ in range(1000):
...     log.error("Unable connect to node with id %s: %s", 1, "refused")
...     log.warning("Heartbeat failed: coordinator %s is not available", 1)
...     log.warning(f"producer buffer full size {_ + 200}")   # numbers formatted in by the caller
>>> log.warning("connected")
>>> seen  # doctest: +NORMALIZE_WHITESPACE
['Unable connect to node with id 1: refused', 'Heartbeat failed: coordinator 1 is not available',
 'producer buffer full size 200', 'connected']
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

#: Prefixes of the loggers of the Kafka clients and the framework a worker runs (they log under module names).
NOISY_PREFIXES = ("aiokafka", "faust", "mode", "kafka")


_NUMBERS = re.compile(r"\d+(?:\.\d+)?")


class RepeatFilter(logging.Filter):
    """Lets each message template of a logger through once per window; counts the rest and says how many were
    dropped with the template's next appearance after the window."""

    def __init__(self, window_s: float = 60.0) -> None:
        super().__init__()
        self.window_s = window_s
        self._seen: dict[tuple[Any, ...], list[Any]] = {}  # (template, level) -> [first time in window, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        # Some callers format their numbers into the message ("producer buffer full size 274"): one template.
        key = (_NUMBERS.sub("#", str(record.msg)), record.levelno)
        now = time.monotonic()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.window_s:
            seen[1] += 1
            return False
        if seen is not None and seen[1]:
            record.msg = f"{record.msg} (and {seen[1]} more like it in the last {now - seen[0]:.0f} s)"
        self._seen[key] = [now, 0]
        if len(self._seen) > 1000:  # templates are few; this bounds memory if a caller formats its own text
            self._seen.clear()
        return True


def quiet_kafka_client_logs(window_s: float = 60.0) -> int:
    """Install :class:`RepeatFilter` on the Kafka client loggers (call it after the clients are imported: a
    filter acts on its own logger only, not on records its children propagate). Returns how many loggers."""
    # Imported so that their module loggers exist before the filters go on.
    import aiokafka.consumer.fetcher
    import aiokafka.consumer.group_coordinator
    import aiokafka.producer.sender  # noqa: F401

    names = [name for name in list(logging.root.manager.loggerDict) if name.startswith(NOISY_PREFIXES)]
    for name in names:
        logging.getLogger(name).addFilter(RepeatFilter(window_s))
    return len(names)
