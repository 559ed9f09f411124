"""Where a user's taste changed: a two-sided CUSUM over their residual ratings, derived from the stored pairs.

The counting memory weighs a rating from two years ago the same as one from a minute ago, so on its own it follows a
change of taste only as fast as new pairs outnumber old ones. This detector finds the change instead: each pair's
residual (rating minus the item's baseline) is compared with the user's mean residual over the current window, and
the excess accumulates in two CUSUM statistics, one for a rise and one for a fall. When either passes ``threshold``
the window restarts at the pair where that statistic last left zero (the change point's estimate): the network's
tables then hold only the pairs from there on, and the older pairs stay stored (listed, forgettable, counted in the
global item statistics) but no longer vote.

Each statistic is kept in Lindley form, ``S_t - min(0, min_k<=t S_k)`` with ``S`` the running sum of the increments
``excess - allowance`` (equal to the recursion ``max(0, r + excess - allowance)`` in exact arithmetic). Written so,
a whole run of pairs is a cumulative sum and a running minimum: :func:`scan` reads a user's residuals with a few
vectorised operations per window (a residual change anywhere forces a rescan), and :func:`step` folds in one pair with
the same float operations in the same order. So ``scan`` of a sequence equals ``step`` applied pair by pair, bit for
bit: a forget, or a change of an item's baseline, leaves exactly the window that learning the pairs as they are now
would have produced. Residuals are integers in units of 1/256 star, so the window's mean is exact.

River's :class:`~river.drift.PageHinkley` tests the same kind of mean shift, but it does not say where the change
began, which is what lets us keep the pairs already learned after it; and it cannot be rescanned in a vectorised way.

>>> units = np.array([256] * 20 + [-512] * 4)   # +1 star, then -2 stars
>>> scan(units, allowance=0.5, threshold=4.0).start     # the window restarted at the first negative residual
20
>>> state = WindowState()
>>> for u in units.tolist():
...     state = step(state, u, 0.5, 4.0, units)
>>> state == scan(units, 0.5, 4.0)
True
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: Pseudo-count of the window's reference mean, pulling it toward zero while the window holds few pairs. Small, so
#: that a window just restarted at a change takes the new level as its reference at once (with the bias neuron's 6,
#: the first pairs after a restart kept looking like a change and restarted the window again).
REFERENCE_PRIOR = 1.0

#: Residual units per star.
_QUANTUM = 1.0 / 256.0


class WindowState(NamedTuple):
    """The detector after ``seen`` pairs: the window's first pair, its residual sum (units) and pair count, each
    statistic's running sum and running minimum (its value is the difference), the pair at which each last left
    zero."""

    start: int = 0
    total: int = 0
    pairs: int = 0
    rise: float = 0.0
    rise_min: float = 0.0
    fall: float = 0.0
    fall_min: float = 0.0
    rise_from: int = 0
    fall_from: int = 0
    seen: int = 0

    @property
    def rise_statistic(self) -> float:
        return self.rise - self.rise_min

    @property
    def fall_statistic(self) -> float:
        return self.fall - self.fall_min


def _restart(start: int, seen: int, units: np.ndarray) -> WindowState:
    """A window restarted at ``start`` after ``seen`` pairs: it holds pairs ``start..seen-1``, statistics at zero."""
    return WindowState(start, int(units[start:seen].sum()), seen - start, 0.0, 0.0, 0.0, 0.0, seen, seen, seen)


def step(
    state: WindowState,
    residual_units: int,
    allowance: float,
    threshold: float,
    units: np.ndarray,
    prior: float = REFERENCE_PRIOR,
) -> WindowState:
    """Fold in the next pair's residual (integer units of 1/256 star). ``units`` holds every residual so far (read
    only when the window restarts, to sum the new window)."""
    start, total, count, rise, rise_min, fall, fall_min, rise_from, fall_from, seen = state
    excess = residual_units * _QUANTUM - (total * _QUANTUM) / (count + prior)
    if rise - rise_min == 0.0:
        rise_from = seen
    if fall - fall_min == 0.0:
        fall_from = seen
    rise = rise + (excess - allowance)
    rise_min = min(rise_min, rise)
    fall = fall + (-excess - allowance)
    fall_min = min(fall_min, fall)
    seen += 1
    if rise - rise_min > threshold or fall - fall_min > threshold:
        return _restart(rise_from if rise - rise_min > threshold else fall_from, seen, units)
    return WindowState(
        start, total + residual_units, count + 1, rise, rise_min, fall, fall_min, rise_from, fall_from, seen
    )


def scan(units: np.ndarray, allowance: float, threshold: float, prior: float = REFERENCE_PRIOR) -> WindowState:
    """The detector after every residual (integer units) in order: what :func:`step` leaves, pair by pair."""
    units = np.asarray(units, dtype=np.int64)
    state = WindowState()
    while state.seen < len(units):
        state = _scan_window(state, units, allowance, threshold, prior)
    return state


def _scan_window(
    state: WindowState, units: np.ndarray, allowance: float, threshold: float, prior: float
) -> WindowState:
    """Run the detector from ``state`` until the window restarts or the residuals end (vectorised)."""
    start, total, count, rise0, rise_min0, fall0, fall_min0, rise_from0, fall_from0, seen = state
    u = units[seen:]
    n = len(u)
    totals_before = total + np.concatenate(([0], np.cumsum(u)[:-1]))
    excess = u * _QUANTUM - (totals_before * _QUANTUM) / (count + np.arange(n) + prior)
    rise = np.cumsum(np.concatenate(([rise0], excess - allowance)))
    rise_min = np.minimum.accumulate(np.concatenate(([rise_min0], rise[1:])))
    fall = np.cumsum(np.concatenate(([fall0], -excess - allowance)))
    fall_min = np.minimum.accumulate(np.concatenate(([fall_min0], fall[1:])))
    rise_stat, fall_stat = rise - rise_min, fall - fall_min  # [0] is the state's, [t + 1] after pair seen + t
    positions = seen + np.arange(n)
    rise_from = np.maximum.accumulate(np.where(rise_stat[:-1] == 0.0, positions, rise_from0))
    fall_from = np.maximum.accumulate(np.where(fall_stat[:-1] == 0.0, positions, fall_from0))
    fired = np.flatnonzero((rise_stat[1:] > threshold) | (fall_stat[1:] > threshold))
    if len(fired):
        t = int(fired[0])
        restart_at = rise_from[t] if rise_stat[t + 1] > threshold else fall_from[t]
        return _restart(int(restart_at), seen + t + 1, units)
    return WindowState(
        start,
        total + int(u.sum()),
        count + n,
        float(rise[-1]),
        float(rise_min[-1]),
        float(fall[-1]),
        float(fall_min[-1]),
        int(rise_from[-1]),
        int(fall_from[-1]),
        seen + n,
    )
