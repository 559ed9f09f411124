"""What a user's network derives from its stored pairs, compiled: the taste window (a CUSUM scan), the Q states and
the Z tables of the window, one appended pair, and pairs moved to new cells (the compiled parts of
:class:`wnn.derivation.Derivation`; its numpy code is the reference).

Tables are int32 (3, cells): pair count, residual units (1/256 star) and likes per cell. Cell ``n`` of an item under
Q state ``q`` is ``cell_base[item, n] + state_shift[q, n]``. Everything here is integer arithmetic but the CUSUM,
which repeats :func:`wnn.taste_change.step`'s float operations in its order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from wnn.kernels.pooled import baseline

#: Residual units per star.
_QUANTUM = 1.0 / 256.0


@njit(cache=True, nogil=True)
def window_step(
    window: np.ndarray, residual_units: int, allowance: float, threshold: float, units: np.ndarray, prior: float
) -> bool:
    """:func:`wnn.taste_change.step` in place on ``window`` (float64: start, total, pairs, rise, rise_min, fall,
    fall_min, rise_from, fall_from, seen); ``units`` holds every residual so far. Returns whether it restarted."""
    total, count = window[1], window[2]
    rise, rise_min, fall, fall_min = window[3], window[4], window[5], window[6]
    seen = int(window[9])
    excess = residual_units * _QUANTUM - (total * _QUANTUM) / (count + prior)
    if rise - rise_min == 0.0:
        window[7] = seen
    if fall - fall_min == 0.0:
        window[8] = seen
    rise = rise + (excess - allowance)
    rise_min = min(rise_min, rise)
    fall = fall + (-excess - allowance)
    fall_min = min(fall_min, fall)
    seen += 1
    if rise - rise_min > threshold or fall - fall_min > threshold:
        start = int(window[7] if rise - rise_min > threshold else window[8])
        restart_total = 0
        for p in range(start, seen):
            restart_total += units[p]
        window[0], window[1], window[2] = start, restart_total, seen - start
        window[3] = window[4] = window[5] = window[6] = 0.0
        window[7] = window[8] = window[9] = seen
        return True
    window[1], window[2] = total + residual_units, count + 1
    window[3], window[4], window[5], window[6] = rise, rise_min, fall, fall_min
    window[9] = seen
    return False


@njit(cache=True, nogil=True)
def scan(units: np.ndarray, allowance: float, threshold: float, prior: float) -> np.ndarray:
    """The window after every residual in order (:func:`wnn.taste_change.scan`): :func:`window_step` pair by pair,
    written out with the window in local variables (the same operations in the same order; ten times faster than
    calling the step, which reads and writes the window array at every pair)."""
    start, total, count = 0.0, 0.0, 0.0
    rise, rise_min, fall, fall_min = 0.0, 0.0, 0.0, 0.0
    rise_from, fall_from = 0.0, 0.0
    seen = 0
    for p in range(len(units)):
        residual = units[p]
        excess = residual * _QUANTUM - (total * _QUANTUM) / (count + prior)
        if rise - rise_min == 0.0:
            rise_from = float(seen)
        if fall - fall_min == 0.0:
            fall_from = float(seen)
        rise = rise + (excess - allowance)
        rise_min = min(rise_min, rise)
        fall = fall + (-excess - allowance)
        fall_min = min(fall_min, fall)
        seen += 1
        if rise - rise_min > threshold or fall - fall_min > threshold:
            first = int(rise_from if rise - rise_min > threshold else fall_from)
            restart_total = 0
            for q in range(first, seen):
                restart_total += units[q]
            start, total, count = float(first), float(restart_total), float(seen - first)
            rise = rise_min = fall = fall_min = 0.0
            rise_from = fall_from = float(seen)
        else:
            total = total + residual
            count = count + 1
    window = np.empty(10)
    window[0], window[1], window[2] = start, total, count
    window[3], window[4], window[5], window[6] = rise, rise_min, fall, fall_min
    window[7], window[8], window[9] = rise_from, fall_from, seen
    return window


@njit(cache=True, nogil=True)
def rebuild_tables(
    table: np.ndarray,
    cell_base: np.ndarray,
    state_shift: np.ndarray,
    items: np.ndarray,
    units: np.ndarray,
    liked: np.ndarray,
    channels: np.ndarray,
    q_before: np.ndarray,
) -> int:
    """Count the window's pairs (``items``, ``units``, ``liked``, oldest first) into ``table`` from zero, replaying
    Q from zero (``channels``: each item's Q channel bits); fills ``q_before`` and returns Q after the last pair.
    A ``table`` of no columns (a network that keeps none) only replays Q."""
    table[:] = 0
    m = cell_base.shape[1] if table.shape[1] else 0
    q = 0
    for p in range(len(items)):
        item = items[p]
        q_before[p] = q
        like = 1 if liked[p] else 0
        for n in range(m):
            cell = cell_base[item, n] + state_shift[q, n]
            table[0, cell] += 1
            table[1, cell] += units[p]
            table[2, cell] += like
        ch = channels[item]
        q = (q & ~ch) | (ch if liked[p] else 0)
    return q


@njit(cache=True, nogil=True)
def write_pair(
    table: np.ndarray, cell_base: np.ndarray, state_shift: np.ndarray, item: int, q: int, units: int, like: bool
) -> None:
    """Count one pair in the cells it addresses under Q ``q``."""
    for n in range(cell_base.shape[1]):
        cell = cell_base[item, n] + state_shift[q, n]
        table[0, cell] += 1
        table[1, cell] += units
        table[2, cell] += 1 if like else 0


@njit(cache=True, nogil=True)
def move_pairs(
    table: np.ndarray,
    old_cells: np.ndarray,
    new_cells: np.ndarray,
    old_units: np.ndarray,
    new_units: np.ndarray,
    liked: np.ndarray,
) -> None:
    """Take each pair out of its ``old_cells`` (k, M) with its old residual and put it in its ``new_cells`` with its
    new one (:meth:`wnn.memory.CountingMemory.move`)."""
    for p in range(old_cells.shape[0]):
        like = 1 if liked[p] else 0
        for n in range(old_cells.shape[1]):
            old, new = old_cells[p, n], new_cells[p, n]
            table[0, old] -= 1
            table[1, old] -= old_units[p]
            table[2, old] -= like
            table[0, new] += 1
            table[1, new] += new_units[p]
            table[2, new] += like


@njit(cache=True, nogil=True)
def changed_positions(stamps: np.ndarray, synced: int, items: np.ndarray, n: int) -> np.ndarray:
    """Positions of the first ``n`` pairs whose item changed after generation ``synced`` (``stamps``: each item's
    latest change, :class:`wnn.item_versions.ItemVersions`): one pass over the pairs, whatever the number of items
    that changed."""
    positions = np.empty(n, np.int64)
    k = 0
    for position in range(n):
        item = items[position]
        if item < len(stamps) and stamps[item] > synced:
            positions[k] = position
            k += 1
    return positions[:k]


@njit(cache=True, nogil=True)
def reread_pairs(
    positions: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    units: np.ndarray,
    codes: np.ndarray,
    counts: np.ndarray,
    sums: np.ndarray,
    constants: np.ndarray,
    dynamic_codes: np.ndarray,
    moved: np.ndarray,
    old_units: np.ndarray,
    old_codes: np.ndarray,
) -> tuple[int, bool]:
    """Read the pairs at ``positions`` again against the item statistics now: each one's residual units (against
    its item's baseline, rounded half to even, as :func:`wnn.residuals.residual_units`) and its item's code. The
    columns ``units`` and ``codes`` take the new values; the pairs that moved are listed in ``moved`` with their old
    values. Returns how many moved and whether a residual did."""
    k = 0
    residual_moved = False
    for position in positions:
        item = items[position]
        new_units = np.int32(np.rint((np.float64(ratings[position]) - baseline(counts, sums, item, constants)) * 256.0))
        new_code = dynamic_codes[item]
        if new_units != units[position] or new_code != codes[position]:
            residual_moved = residual_moved or new_units != units[position]
            moved[k], old_units[k], old_codes[k] = position, units[position], codes[position]
            units[position], codes[position] = new_units, new_code
            k += 1
    return k, residual_moved


@njit(cache=True, nogil=True)
def move_reread_pairs(
    table: np.ndarray,
    moved: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    like_threshold: float,
    units: np.ndarray,
    q_before: np.ndarray,
    old_units: np.ndarray,
    old_codes: np.ndarray,
    static_addresses: np.ndarray,
    code_cells: np.ndarray,
    cell_base: np.ndarray,
    state_shift: np.ndarray,
) -> None:
    """Take each pair of ``moved`` (positions; ``old_units`` and ``old_codes`` what it was written with) out of the
    cells its old code addressed and count it in the cells it addresses now (``code_cells``: each code's share of
    every neuron's first cell, neuron offsets included; :meth:`wnn.item_space.ItemSpace.code_cells`)."""
    for k in range(len(moved)):
        position = moved[k]
        item, q = items[position], q_before[position]
        like = 1 if ratings[position] >= like_threshold else 0
        for n in range(cell_base.shape[1]):
            old = static_addresses[item, n] + code_cells[old_codes[k], n] + state_shift[q, n]
            new = cell_base[item, n] + state_shift[q, n]
            table[0, old] -= 1
            table[1, old] -= old_units[k]
            table[2, old] -= like
            table[0, new] += 1
            table[1, new] += units[position]
            table[2, new] += like


@njit(cache=True, nogil=True)
def append_pair(
    units: np.ndarray,
    codes: np.ndarray,
    q_before: np.ndarray,
    position: int,
    item: int,
    rating: float,
    like_threshold: float,
    counts: np.ndarray,
    sums: np.ndarray,
    constants: np.ndarray,
    dynamic_codes: np.ndarray,
    table: np.ndarray,
    cell_base: np.ndarray,
    state_shift: np.ndarray,
    channels: np.ndarray,
    state: int,
    window: np.ndarray,
    detect: bool,
    allowance: float,
    threshold: float,
    prior: float,
) -> tuple[int, bool]:
    """Fold in the pair just stored at ``position`` (item ``item``, float32 value ``rating``) in one call: its
    residual against the item's baseline now and its item's code into the columns, Q before it, its cells counted
    in ``table`` (a network that keeps one; one of no columns otherwise), and one step of the taste window when
    ``detect``. Returns Q after the pair and whether the window restarted: its start moved
    (:meth:`wnn.derivation.Derivation.append` in the reference; a detector that fires back to the start it had
    changes neither the tables nor the drift flag)."""
    residual = int(np.rint((np.float64(rating) - baseline(counts, sums, item, constants)) * 256.0))
    liked = rating >= like_threshold
    units[position], codes[position], q_before[position] = residual, dynamic_codes[item], state
    if table.shape[1]:
        write_pair(table, cell_base, state_shift, item, state, residual, liked)
    channel = channels[item]
    state = (state & ~channel) | (channel if liked else 0)
    if not detect:
        return state, False
    start = window[0]
    window_step(window, residual, allowance, threshold, units[: position + 1], prior)
    return state, window[0] != start


#: What :func:`patch_pairs` leaves to its caller.
PATCHED, COUNT_AFRESH = 0, 1


@njit(cache=True, nogil=True)
def patch_pairs(
    positions: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    n: int,
    units: np.ndarray,
    codes: np.ndarray,
    q_before: np.ndarray,
    counts: np.ndarray,
    sums: np.ndarray,
    constants: np.ndarray,
    dynamic_codes: np.ndarray,
    window: np.ndarray,
    detect: bool,
    allowance: float,
    threshold: float,
    prior: float,
    table: np.ndarray,
    like_threshold: float,
    static_addresses: np.ndarray,
    code_cells: np.ndarray,
    cell_base: np.ndarray,
    state_shift: np.ndarray,
) -> int:
    """Re-read the pairs at ``positions`` (whose items changed) in one call, with the reference's decisions
    (:meth:`wnn.derivation.Derivation._patch` and ``_to_move``): :func:`reread_pairs`; the taste window scanned again
    if a residual moved; then, for a network that keeps a table, the moved pairs inside the window taken from their
    old cells to their new ones (:func:`move_reread_pairs`). Returns :data:`COUNT_AFRESH` where the window's start
    moved or more than a quarter of its pairs did (the caller counts the window afresh), else :data:`PATCHED`."""
    k = len(positions)
    moved, old_units, old_codes = np.empty(k, np.int64), np.empty(k, np.int32), np.empty(k, np.uint32)
    k, residual_moved = reread_pairs(
        positions, items, ratings, units, codes, counts, sums, constants, dynamic_codes, moved, old_units, old_codes
    )
    if not k:
        return PATCHED
    if residual_moved and detect:
        start = window[0]
        window[:] = scan(units[:n], allowance, threshold, prior)
        if window[0] != start:
            return COUNT_AFRESH
    if not table.shape[1]:
        return PATCHED  # reads add up the pairs' columns, which hold the new values; Q reads no residual or code
    window_start = int(window[0])
    inside = 0
    for j in range(k):
        if moved[j] >= window_start:
            moved[inside], old_units[inside], old_codes[inside] = moved[j], old_units[j], old_codes[j]
            inside += 1
    if not inside:
        return PATCHED
    if inside * 4 > n - window_start:
        return COUNT_AFRESH  # many pairs moved: counting the window afresh is cheaper than moving them
    move_reread_pairs(
        table, moved[:inside], items, ratings, like_threshold, units, q_before, old_units[:inside],
        old_codes[:inside], static_addresses, code_cells, cell_base, state_shift,
    )  # fmt: skip
    return PATCHED
