"""Where a user's taste changed: a two-sided CUSUM over their residual ratings, derived from the stored pairs.

The counting memory weighs a rating from two years ago the same as one from a minute ago, so on its own it follows a
change of taste only as fast as new pairs outnumber old ones. This detector finds the change instead: each new
pair's residual (rating minus the item baseline when it was learned) is compared with the user's mean residual over
the current window, and the excess accumulates in two CUSUM sums, one for a rise and one for a fall. When either
passes ``threshold`` the window restarts at the pair where that sum last left zero (the change point's estimate):
the network's tables then hold only the pairs from there on, and the older pairs stay stored (listed, forgettable,
counted in the global item statistics) but no longer vote.

The window is a pure function of the stored residuals, in order. Learning applies :func:`step` once per pair;
forgetting, eviction and loading replay it with :func:`scan`. Both run the same float64 arithmetic on the same
values, so a forget leaves exactly the window that learning without the pair would have produced.

River's :class:`~river.drift.PageHinkley` tests the same kind of mean shift, but it does not say where the change
began, which is what lets us keep the pairs already learned after it; and its update costs several microseconds,
paid on every rating (this step is a few float operations).

>>> state = WindowState()
>>> for residual in [1.0] * 20 + [-2.0] * 4:
...     state = step(state, residual, allowance=0.5, threshold=4.0)
>>> state.start     # the window restarted at the first of the negative residuals
20
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


#: Pseudo-count of the window's reference mean, pulling it toward zero while the window holds few pairs. Small, so
#: that a window just restarted at a change takes the new level as its reference at once (with the bias neuron's 6,
#: the first pairs after a restart kept looking like a change and restarted the window again).
REFERENCE_PRIOR = 1.0


class WindowState(NamedTuple):
    """The detector after some pairs: the window's first pair, its residual sum and pair count, the two CUSUM sums
    and the pair at which each last left zero, and how many pairs were seen."""

    start: int = 0
    total: float = 0.0
    count: int = 0
    rise: float = 0.0
    fall: float = 0.0
    rise_from: int = 0
    fall_from: int = 0
    seen: int = 0


def step(state: WindowState, residual: float, allowance: float, threshold: float,
         prior: float = REFERENCE_PRIOR) -> WindowState:
    """Fold in the next pair's residual, compared with the window's mean shrunk toward zero by ``prior``.

    The returned state's ``start`` moves forward when a change is detected; the caller then rebuilds its tables from
    the pairs ``start..seen-1``.
    """
    start, total, count, rise, fall, rise_from, fall_from, seen = state
    excess = residual - total / (count + prior)
    if rise == 0.0:
        rise_from = seen
    if fall == 0.0:
        fall_from = seen
    rise = max(0.0, rise + excess - allowance)
    fall = max(0.0, fall - excess - allowance)
    total += residual
    count += 1
    seen += 1
    if rise > threshold or fall > threshold:
        start = rise_from if rise > threshold else fall_from
        # The new window holds the pairs start..seen-1; their sum is re-added by the caller's scan of the residuals.
        return WindowState(start, float("nan"), seen - start, 0.0, 0.0, seen, seen, seen)
    return WindowState(start, total, count, rise, fall, rise_from, fall_from, seen)


def restarted(state: WindowState, residuals: np.ndarray) -> WindowState:
    """Complete a state whose window just restarted (``total`` is NaN): its residual sum over ``start..seen-1``.
    ``residuals`` may run past ``seen`` (a growing buffer): only that range is read, and only on a restart."""
    if state.total == state.total:  # not NaN: no restart
        return state
    window = residuals[state.start: state.seen].astype(np.float64)
    return state._replace(total=float(window.sum()))


def scan(residuals: np.ndarray, allowance: float, threshold: float, prior: float = REFERENCE_PRIOR) -> WindowState:
    """The detector after every residual in order: what learning them one by one with :func:`step` leaves.

    A Python loop over the user's pairs (a cumulative sum with data-dependent restarts does not vectorise); it runs
    on a forget, an eviction and a load, never per learned rating.
    """
    state = WindowState()
    for residual in residuals.astype(np.float64).tolist():
        state = restarted(step(state, residual, allowance, threshold, prior), residuals)
    return state
