"""The worker's global drift aggregates between two ``kind: "global"`` reports on the drift-metrics topic."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any


@dataclasses.dataclass
class DriftWindow:
    """Global aggregates of the drift metrics since the last report, and the running totals.

    >>> window = DriftWindow()
    >>> window.observe("u1", 0.5, drift=True)
    >>> window.observe("u2", 1.5, drift=False)
    >>> report, window = window.report("worker-1")
    >>> report["mae"], report["drift_flags"], window.events_total
    (1.0, 1, 2)
    """

    started: float = dataclasses.field(default_factory=time.monotonic)
    events: int = 0
    abs_error: float = 0.0
    sq_error: float = 0.0
    drift_flags: int = 0
    users_drifting: set[str] = dataclasses.field(default_factory=set)
    taste_shift: float = 0.0
    taste_reports: int = 0
    events_total: int = 0
    drift_flags_total: int = 0
    abs_error_total: float = 0.0

    def observe(self, user: str, abs_error: float, drift: bool) -> None:
        """One rating's prediction error, and whether learning it flagged a drift."""
        self.events += 1
        self.events_total += 1
        self.abs_error += abs_error
        self.abs_error_total += abs_error
        self.sq_error += abs_error * abs_error
        if drift:
            self.drift_flags += 1
            self.drift_flags_total += 1
            self.users_drifting.add(user)

    def observe_taste_shift(self, shift: float) -> None:
        """A user's taste shift after a batch (:meth:`wnn.network.UserWNN.taste_shift`)."""
        self.taste_shift += shift
        self.taste_reports += 1

    def report(self, worker: str) -> tuple[dict[str, Any], DriftWindow]:
        """The ``global`` report's fields for this window (``worker`` names the worker), and the next window, which
        carries the totals on."""
        events = max(self.events, 1)
        report = {
            "worker": worker,
            "window_s": round(time.monotonic() - self.started, 3),
            "events": self.events,
            "mae": round(self.abs_error / events, 5),
            "rmse": round(math.sqrt(self.sq_error / events), 5),
            "drift_flags": self.drift_flags,
            "users_drifting": len(self.users_drifting),
            "mean_taste_shift": round(self.taste_shift / max(self.taste_reports, 1), 5),
            "events_total": self.events_total,
            "drift_flags_total": self.drift_flags_total,
        }
        carried = DriftWindow(
            events_total=self.events_total,
            drift_flags_total=self.drift_flags_total,
            abs_error_total=self.abs_error_total,
        )
        return report, carried
