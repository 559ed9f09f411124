"""A run of one user's new ratings, predicted and learned in one compiled call: the compiled form of predicting each
rating's item and then :func:`wnn.contributions.learn_event` of it, rating after rating
(:func:`wnn.contributions.learn_run` calls it).

Per rating it does what the per-rating path does, with the same kernels in the same order: the prediction
(:func:`wnn.kernels.pooled.predict_item` or :func:`~wnn.kernels.pooled.predict_from_window`), the user-centred value,
the item side (:func:`wnn.kernels.item_statistics.learn_rating`), the pair's columns and the network's derived state
(:func:`wnn.kernels.derivation.append_pair`). Whatever the per-rating path does in Python, it leaves to its caller,
and it stops where that is needed, saying why in a set of flags:

* before a rating whose item the user already holds (:data:`HELD`: the item's new statistics move those pairs, which
  :meth:`wnn.derivation.Derivation.reconcile` patches) or when the pair block is full (:data:`NO_ROOM`);
* after a rating that restarted the taste window or crossed the size from which the network keeps tables
  (:data:`REBUILD_TABLES`), that put the user over the size limit (:data:`EVICT`), or whose transition found its
  next-item row full with no room left in the arena to move it to (:data:`ROW_IS_FULL`).

Popularity (an exact Python integer) and the candidate order are the caller's too: nothing here reads them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from wnn.kernels.derivation import append_pair, rebuild_tables
from wnn.kernels.item_statistics import learn_rating
from wnn.kernels.next_items import ROW_FULL
from wnn.kernels.pooled import HIGH, LOW, PRIOR_MEAN, USER_PRIOR, baseline, predict_from_window, predict_item

#: Why :func:`learn_run` stopped (flags; 0: the run is done).
REBUILD_TABLES, EVICT, ROW_IS_FULL, HELD, NO_ROOM = 1, 2, 4, 8, 16

#: Residual units per star.
_QUANTUM = 1.0 / 256.0


@njit(cache=True, nogil=True)
def _holds(items: np.ndarray, n: int, item: int) -> bool:
    for p in range(n):  # noqa: SIM110 (a compiled loop: no generator)
        if items[p] == item:
            return True
    return False


@njit(cache=True, nogil=True)
def learn_run(
    first: int,
    run_items: np.ndarray,
    run_ratings: np.ndarray,
    run_times: np.ndarray,
    run_event_ids: np.ndarray,
    predictions: np.ndarray,
    centred_values: np.ndarray,
    restarts: np.ndarray,
    pairs_before: np.ndarray,
    event_ids: np.ndarray,
    items: np.ndarray,
    ratings: np.ndarray,
    times: np.ndarray,
    units: np.ndarray,
    codes: np.ndarray,
    q_before: np.ndarray,
    n: int,
    rating_total: float,
    newest_id: int,
    state: int,
    window: np.ndarray,
    table: np.ndarray,
    scratch: np.ndarray,
    state_shift: np.ndarray,
    like_threshold: float,
    detect: bool,
    allowance: float,
    threshold: float,
    prior: float,
    table_from_pairs: int,
    max_pairs: int,
    item_stamps: np.ndarray,
    generation: int,
    counts: np.ndarray,
    sums: np.ndarray,
    projection: np.ndarray,
    vector_sums: np.ndarray,
    centred_sums: np.ndarray,
    scaled_vector: np.ndarray,
    vector_units: np.ndarray,
    constants: np.ndarray,
    popularity_thresholds: np.ndarray,
    mean_thresholds: np.ndarray,
    code_cells: np.ndarray,
    neuron_offsets: np.ndarray,
    static_addresses: np.ndarray,
    dynamic_codes: np.ndarray,
    cell_base: np.ndarray,
    addresses: np.ndarray,
    channels: np.ndarray,
    next_keys: np.ndarray,
    next_values: np.ndarray,
    row_start: np.ndarray,
    row_length: np.ndarray,
    row_totals: np.ndarray,
    row_room: np.ndarray,
    row_used: np.ndarray,
    previous: int,
) -> tuple[int, int, float, int, int, int]:
    """Learn ``run_*[first:]`` (items, ratings, event times, event ids) in order, each rating's item predicted first,
    into a network of ``n`` pairs reconciled with the item space.

    The pair columns are the network's block; ``rating_total`` is the sum of its ratings, ``newest_id`` its largest
    event id, ``state`` Q after its last pair, ``window`` its taste window (updated in place), ``table`` its Z tables
    if it keeps them (else, given a ``scratch`` table, the window is counted into it first, so that each prediction
    reads cells instead of adding up the window's pairs: the same integers), and ``previous`` its last pair's item
    (-1: none). Each rating advances the items' change stamps (``item_stamps``, at ``generation``).

    Fills ``predictions``, ``centred_values``, ``restarts`` and ``pairs_before`` at the ratings' positions; returns
    the position after the last rating done, Q after it, the rating total, the flags of why it stopped, the
    generation and the largest event id.
    """
    pair_cells, pair_units, pair_liked = np.zeros((0, 0), np.int64), np.zeros(0, np.int32), np.zeros(0, np.bool_)
    keeps_table = table.shape[1] > 0
    counted = table
    if not keeps_table and scratch.shape[1]:
        start = int(window[0])
        liked = ratings[start:n] >= like_threshold
        rebuild_tables(
            scratch, cell_base, state_shift, items[start:n], units[start:n], liked, channels, q_before[start:n].copy()
        )
        counted = scratch
    user_prior, prior_mean = constants[USER_PRIOR], constants[PRIOR_MEAN]
    for k in range(first, len(run_items)):
        item, rating = run_items[k], np.float64(np.float32(run_ratings[k]))
        if n == len(items):
            return k, state, rating_total, NO_ROOM, generation, newest_id
        if _holds(items, n, item):
            return k, state, rating_total, HELD, generation, newest_id
        pairs_before[k] = n
        # The prediction before the rating (wnn.prediction.predict).
        if n == 0:
            value = baseline(counts, sums, item, constants)
            low, high = constants[LOW], constants[HIGH]
            predictions[k] = low if value < low else (high if value > high else value)
        elif counted.shape[1]:
            predictions[k] = predict_item(
                counted, pair_cells, pair_units, pair_liked, cell_base, item, state_shift[state], counts, sums,
                constants,
            )[0]  # fmt: skip
        else:
            predictions[k] = predict_from_window(
                items, ratings, like_threshold, units, q_before, int(window[0]), n, cell_base, state_shift, state,
                item, counts, sums, constants,
            )[0]  # fmt: skip
        # The user-centred value (wnn.residuals.centred_rating), then the item side (ItemSpace.update).
        centred = np.rint((rating - (rating_total + user_prior * prior_mean) / (n + user_prior)) / _QUANTUM) * _QUANTUM
        centred_values[k] = centred
        transition = learn_rating(
            counts, sums, projection, vector_sums, centred_sums, item, rating, centred, scaled_vector, vector_units,
            constants, popularity_thresholds, mean_thresholds, code_cells, neuron_offsets, static_addresses,
            dynamic_codes, cell_base, addresses, next_keys, next_values, row_start, row_length, row_totals, row_room,
            row_used, previous,
        )  # fmt: skip
        generation += 1
        item_stamps[item] = generation
        # The pair (PairLog.append), then the network's derived state (Derivation.append).
        event_id = run_event_ids[k]
        event_ids[n], items[n], ratings[n], times[n] = event_id, item, rating, run_times[k]
        newest_id = max(newest_id, event_id)
        rating_total += ratings[n]
        state, restarted = append_pair(
            units, codes, q_before, n, item, rating, like_threshold, counts, sums, constants, dynamic_codes, counted,
            cell_base, state_shift, channels, state, window, detect, allowance, threshold, prior,
        )  # fmt: skip
        n += 1
        restarts[k] = restarted
        previous = item
        flags = 0
        if restarted or keeps_table != (n - int(window[0]) > table_from_pairs):
            flags |= REBUILD_TABLES
        if n > max_pairs:
            flags |= EVICT
        if transition == ROW_FULL:
            flags |= ROW_IS_FULL
        if flags:
            return k + 1, state, rating_total, flags, generation, newest_id
    return len(run_items), state, rating_total, 0, generation, newest_id
