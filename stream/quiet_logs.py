"""One log line per state change, not one per retry.

While a broker is down, aiokafka retries every few milliseconds and logs an error each time ("Unable connect to
node with id 1: ..."): 150,000–190,000 lines in half a minute. :class:`RepeatFilter` lets the first record of each
message template through, drops identical repeats, and when the template stops repeating (another message from
the same logger, or :attr:`RepeatFilter.window_s` later) logs once how many were dropped.

>>> import logging
>>> log = logging.getLogger("demo"); log.propagate = False
>>> seen = []
>>> handler = logging.Handler(); handler.emit = lambda record: seen.append(record.getMessage())
>>> log.addHandler(handler); log.addFilter(RepeatFilter())
>>> for _ in range(1000):
...     log.error("Unable connect to node with id %s: %s", 1, "refused")
>>> log.warning("connected")
>>> seen
['Unable connect to node with id 1: refused', '... the previous message repeated 999 times', 'connected']
"""

from __future__ import annotations

import logging
import time

#: Prefixes of the loggers of the Kafka clients a worker runs (aiokafka logs under its module names).
NOISY_PREFIXES = ("aiokafka", "faust.transport", "kafka")


class RepeatFilter(logging.Filter):
    """Drops repeats of the last message template of a logger; reports how many when it changes."""

    def __init__(self, window_s: float = 60.0) -> None:
        super().__init__()
        self.window_s = window_s
        self._last: dict[str, tuple[object, float]] = {}
        self._dropped: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        template = (record.msg, record.levelno)
        last = self._last.get(name)
        now = time.monotonic()
        if last is not None and last[0] == template and now - last[1] < self.window_s:
            self._dropped[name] = self._dropped.get(name, 0) + 1
            return False
        dropped = self._dropped.pop(name, 0)
        self._last[name] = (template, now)
        if dropped:
            summary = logging.LogRecord(name, record.levelno, record.pathname, record.lineno,
                                        "... the previous message repeated %d times", (dropped,), None)
            for handler in logging.getLogger(name).handlers or logging.getLogger().handlers:
                if summary.levelno >= handler.level:
                    handler.handle(summary)
        return True


def quiet_kafka_client_logs(window_s: float = 60.0) -> int:
    """Install :class:`RepeatFilter` on the Kafka client loggers (call it after the clients are imported: a
    filter acts on its own logger only, not on records its children propagate). Returns how many loggers."""
    import aiokafka.consumer.fetcher  # noqa: F401  (make sure the module loggers exist)
    import aiokafka.consumer.group_coordinator  # noqa: F401
    import aiokafka.producer.sender  # noqa: F401

    names = [name for name in list(logging.root.manager.loggerDict) if name.startswith(NOISY_PREFIXES)]
    for name in names:
        logging.getLogger(name).addFilter(RepeatFilter(window_s))
    return len(names)
