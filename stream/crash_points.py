"""Crash points for the fault suite: a worker started with ``WNNREC_CRASH_AT=<point>:<n>`` kills itself with
SIGKILL (no shutdown, no flush, no commit: what ``kill -9`` does) the n-th time it reaches ``<point>``. Points sit
where a signal sent from outside could not land reliably, such as between two writes of one batch.

Without the variable (always, outside the fault suite) :data:`ARMED` is empty and the agent checks nothing else.

Points:

``between-segment-and-manifest``
    A batch that writes a user's segments has sent them and seen them delivered, and has not sent the user's
    manifest (:mod:`stream.user_layout`).
"""

from __future__ import annotations

import collections
import os
import signal

BETWEEN_SEGMENT_AND_MANIFEST = "between-segment-and-manifest"


def _armed() -> dict[str, int]:
    spec = os.environ.get("WNNREC_CRASH_AT", "")
    point, _, nth = spec.partition(":")
    return {point: int(nth or 1)} if point else {}


#: point -> the visit that crashes; empty unless $WNNREC_CRASH_AT is set
ARMED = _armed()
_reached: collections.Counter = collections.Counter()


def due(point: str) -> bool:
    """Count a visit of ``point``; True on the visit the environment names."""
    if point not in ARMED:
        return False
    _reached[point] += 1
    return _reached[point] == ARMED[point]


def crash(point: str) -> None:
    """Die now, as ``kill -9`` would."""
    print(f"crash point {point!r} reached: SIGKILL", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
