"""Crash points for the fault suite: a worker started with ``WNNREC_CRASH_AT=<point>:<n>`` (the ``crash_at``
setting, which :func:`arm` takes) kills itself with
SIGKILL (no shutdown, no flush, no commit: what ``kill -9`` does) the first time it reaches ``<point>`` after it
has processed ``n`` inputs. Points sit where a signal sent from outside could not land reliably, such as between two
writes of one batch. Counting inputs, not visits, makes the crash land at the same place in a stream however the
stream was cut into batches.

Unarmed (always, outside the fault suite) :data:`ARMED` is empty and the agent checks nothing else.

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


#: point -> the inputs to process before it crashes; empty unless armed
ARMED: dict[str, int] = {}
_processed: collections.Counter[str] = collections.Counter()


def arm(spec: str) -> None:
    """Arm the crash point of ``spec`` (``POINT:INPUTS``; empty: none)."""
    point, _, after = spec.partition(":")
    ARMED.clear()
    if point:
        ARMED[point] = int(after or 0)


def processed(point: str, inputs: int) -> None:
    """Count inputs processed on the way to ``point``."""
    if point in ARMED:
        _processed[point] += inputs


def due(point: str) -> bool:
    """Whether reaching ``point`` now is to crash: it is armed, and enough inputs were processed."""
    return point in ARMED and _processed[point] >= ARMED[point]


def crash(point: str) -> None:
    """Die now, as ``kill -9`` would."""
    print(f"crash point {point!r} reached: SIGKILL", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
