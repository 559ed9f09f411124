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

from typing import Any

import numpy as np
from numba import njit

from wnn.kernels.derivation import append_pair, rebuild_tables
from wnn.kernels.item_statistics import learn_rating
from wnn.kernels.next_items import ROW_FULL
from wnn.kernels.pooled import HIGH, LOW, PRIOR_MEAN, USER_PRIOR, baseline, predict_from_window, predict_item

#: Why :func:`learn_run` stopped (flags; 0: the run is done).
REBUILD_TABLES, EVICT, ROW_IS_FULL, HELD, NO_ROOM = 1, 2, 4, 8, 16

#: The pair columns a run writes (:meth:`wnn.pairs.PairLog.room`), in the order :func:`learn_run` takes them.
PAIR_COLUMNS = ("event_ids", "items", "ratings", "ts", "units", "codes", "q_before")

#: Groups of a run's arguments: arrays, and arrays with the settings that go with them.
Arrays = tuple[np.ndarray, ...]
Fields = tuple[Any, ...]

#: Residual units per star.
_QUANTUM = 1.0 / 256.0


@njit(cache=True, nogil=True)
def _holds(items: np.ndarray, n: int, item: int) -> bool:
    for p in range(n):  # noqa: SIM110 (a compiled loop: no generator)
        if items[p] == item:
            return True
    return False


@njit(cache=True, nogil=True)
def _prediction(
    n: int,
    counted: np.ndarray,
    pair_columns: tuple[np.ndarray, np.ndarray, np.ndarray],
    pairs: Arrays,
    window_start: int,
    like_threshold: float,
    item: int,
    state: int,
    state_shift: np.ndarray,
    cell_base: np.ndarray,
    counts: np.ndarray,
    sums: np.ndarray,
    constants: np.ndarray,
) -> float:
    """The network's rating of ``item`` before it learns it (:func:`wnn.prediction.predict`): the item's baseline
    held within the scale for a network without pairs, else read from the ``counted`` tables, else added up from the
    taste window's pairs."""
    if n == 0:
        value = baseline(counts, sums, item, constants)
        low, high = constants[LOW], constants[HIGH]
        return low if value < low else (high if value > high else value)
    if counted.shape[1]:
        pair_cells, pair_units, pair_liked = pair_columns
        return predict_item(
            counted, pair_cells, pair_units, pair_liked, cell_base, item, state_shift[state], counts, sums, constants
        )[0]
    _, items, ratings, _, units, _, q_before = pairs
    return predict_from_window(
        items, ratings, like_threshold, units, q_before, window_start, n, cell_base, state_shift, state, item, counts,
        sums, constants,
    )[0]  # fmt: skip


@njit(cache=True, nogil=True)
def _stop_flags(restarted: bool, tables_kept: bool, window_size: int, table_from_pairs: int, over_limit: bool,
                transition: int) -> int:  # fmt: skip
    """Why the run stops after a rating (0: it goes on): the tables are to be counted afresh (the taste window
    restarted, or crossed the size from which tables are kept), the size limit is passed, the next-item row is full."""
    flags = 0
    if restarted or tables_kept != (window_size > table_from_pairs):
        flags |= REBUILD_TABLES
    if over_limit:
        flags |= EVICT
    if transition == ROW_FULL:
        flags |= ROW_IS_FULL
    return flags


@njit(cache=True, nogil=True)
def learn_run(first: int, run: Arrays, out: Arrays, pairs: Arrays, n: int, rating_total: float, newest_id: int,
              network: Fields, space: Fields, previous: int) -> tuple[int, int, float, int, int, int]:  # fmt: skip
    """Learn ``run[k]`` for ``k`` from ``first`` on (``run``: items, ratings, event times, event ids) in order, each
    rating's item predicted first, into a network of ``n`` pairs reconciled with the item space. Fills ``out``
    (predictions, centred values, restart flags, pairs before) at the ratings' positions.

    ``pairs`` are the network's pair columns (:meth:`wnn.pairs.PairLog.room`: event ids, items, ratings, times,
    units, codes, Q before), ``rating_total`` the sum of its ratings and ``newest_id`` its largest event id;
    ``network`` is what :meth:`wnn.derivation.Derivation.run_kernel_arguments` gives (Q after the last pair, the taste
    window, updated in place, the tables or none, a scratch table or none: a network without tables has its window
    counted into the scratch first, so that each prediction reads cells: the same integers); ``space`` is what
    :meth:`wnn.item_space.ItemSpace.run_kernel_arguments` gives, and ``previous`` the last pair's item (-1: none).
    Each rating advances the items' change stamps. Returns the position after the last rating done, Q after it, the
    rating total, the flags of why it stopped, the generation and the largest event id.
    """
    run_items, run_ratings, run_times, run_event_ids = run
    predictions, centred_values, restarts, pairs_before = out
    event_ids, items, ratings, times, units, codes, q_before = pairs
    (state, window, table, scratch, state_shift, like_threshold, detect, allowance, threshold, prior, table_from_pairs,
     max_pairs) = network  # fmt: skip
    (item_stamps, generation, counts, sums, projection, vector_sums, centred_sums, scaled_vector, vector_units,
     constants, popularity_thresholds, mean_thresholds, code_cells, neuron_offsets, static_addresses, dynamic_codes,
     cell_base, addresses, channels, next_keys, next_values, row_start, row_length, row_totals, row_room,
     row_used) = space  # fmt: skip
    pair_columns = (np.zeros((0, 0), np.int64), np.zeros(0, np.int32), np.zeros(0, np.bool_))
    tables_kept, counted = table.shape[1] > 0, table
    if not tables_kept and scratch.shape[1]:
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
        predictions[k] = _prediction(
            n, counted, pair_columns, pairs, int(window[0]), like_threshold, item, state, state_shift, cell_base,
            counts, sums, constants,
        )  # fmt: skip
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
        state, restarts[k] = append_pair(
            units, codes, q_before, n, item, rating, like_threshold, counts, sums, constants, dynamic_codes, counted,
            cell_base, state_shift, channels, state, window, detect, allowance, threshold, prior,
        )  # fmt: skip
        n += 1
        previous = item
        flags = _stop_flags(restarts[k], tables_kept, n - int(window[0]), table_from_pairs, n > max_pairs, transition)
        if flags:
            return k + 1, state, rating_total, flags, generation, newest_id
    return len(run_items), state, rating_total, 0, generation, newest_id
